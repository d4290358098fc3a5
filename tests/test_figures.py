"""Per-site hourly operation and figures agree with the ranking's annual totals."""

from __future__ import annotations

import numpy as np
import pytest

from siting.errors import ConfigError
from siting.figures import site_figure, site_hourly


def test_site_hourly_sums_to_the_table(demo_results):
    for site_id in ("hel-1", "hel-7"):
        row = demo_results.sites.set_index("site_id").loc[site_id]
        h = site_hourly(demo_results, site_id)
        assert len(h) == 8760
        assert h["delivered_mw"].sum() == pytest.approx(row.delivered_heat_mwh_per_yr, rel=1e-6)
        assert h["electricity_mw"].sum() == pytest.approx(
            row.heat_pump_electricity_mwh_per_yr, rel=1e-6
        )
        # never more than the network asks for, never more than the heat pump can make
        assert (h["delivered_mw"] <= h["network_demand_mw"] + 1e-9).all()
        assert (h["delivered_mw"] <= h["available_mw"] + 1e-9).all()
    # the 30 MW site is demand-limited in summer: July delivers far less than January
    h7 = site_hourly(demo_results, "hel-7")
    monthly = h7["delivered_mw"].groupby(h7.index.month).sum()
    assert monthly[7] < 0.5 * monthly[1]


def test_site_figure_and_errors(demo_results):
    fig = site_figure(demo_results)
    assert len(fig.axes) == 2
    assert len(fig.axes[0].lines) == 3 and len(fig.axes[1].patches) == 24
    with pytest.raises(ConfigError, match="hel-9"):
        site_hourly(demo_results, "hel-9")  # outside the area: no operation
    with pytest.raises(ConfigError, match="nope"):
        site_hourly(demo_results, "nope")
    assert np.isfinite(fig.axes[0].get_ylim()).all()


def test_popups_carry_monthly_charts(demo_results):
    """Each top site's popup has a monthly SVG whose bars follow its hourly operation."""
    from siting.figures import monthly_svg

    html = demo_results.map().get_root().render()
    assert html.count('class="siting-monthly"') == int(demo_results.sites["feasible"].sum())
    svg = monthly_svg(site_hourly(demo_results, "hel-7"))
    # 12 months x 2 bars; July's delivered bar (demand-limited) is shorter than January's
    import re

    heights = [float(h) for h in re.findall(r'height="([0-9.]+)" fill="#d94801"', svg)]
    assert len(heights) == 12 and heights[6] < 0.5 * heights[0]
