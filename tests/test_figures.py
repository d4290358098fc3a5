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


def _feasible(results):
    return results.sites[results.sites["feasible"]].reset_index(drop=True)


def _run(results, rows, mode, **kw):
    from siting.stages.operate import run_hourly

    r = results
    return run_hourly(
        rows, r.study.params, r.weather, r.network_demand_mwh_per_yr, mode, True, **kw
    )


@pytest.mark.parametrize("case", ["must_run", "shared_row", "local_network"])
def test_sites_run_together_alone_get_what_each_gets_by_itself(demo_results, case):
    """run_hourly(alone=True) on many sites: each site's hours and totals are those of the
    site run by itself, bit for bit (the shared-row path would differ in the last bits)."""
    rows = _feasible(demo_results)
    assert len(rows) >= 3
    kw, mode = {}, demo_results.mode
    if case == "shared_row":  # without must-run supply: one demand row scaled by share_max
        kw["must_run"] = False
    elif case == "local_network":  # each site its own connected demand, 10x apart
        mode = "new_local_network"
        rows = rows.assign(connected_demand_mwh_per_yr=np.geomspace(2e3, 2e4, len(rows)))
    together = _run(demo_results, rows, mode, alone=True, **kw)
    for i in range(len(rows)):
        single = _run(demo_results, rows.iloc[i : i + 1].reset_index(drop=True), mode, **kw)
        for key in ("available_mw", "delivered_mw", "electricity_mw", "cop"):
            assert np.array_equal(together.result.hourly[key][i], single.result.hourly[key][0])
        assert (
            together.result.delivered_heat_mwh_per_yr[i]
            == (single.result.delivered_heat_mwh_per_yr[0])
        )
        assert together.served[i] == single.served[0] and together.keep[i] == single.keep[0]
    if case != "must_run":  # where the flag matters: the shared row gives other last bits
        shared = _run(demo_results, rows, mode, **kw).result.hourly["delivered_mw"]
        assert not np.array_equal(shared, together.result.hourly["delivered_mw"])


def test_monthly_svgs_are_the_per_site_charts(demo_results):
    """The map's charts from one run are the text each site's own chart has."""
    from siting.figures import monthly_svg, monthly_svgs, rows_hourly

    rows = _feasible(demo_results)
    svgs = monthly_svgs(demo_results, rows)
    frames = rows_hourly(demo_results, rows)
    assert len(svgs) == len(frames) == len(rows)
    for i, site_id in enumerate(rows["site_id"]):
        own = site_hourly(demo_results, site_id)
        assert frames[i].equals(own)
        assert svgs[i] == monthly_svg(own)
    assert len(set(svgs)) == len(svgs)  # the sites' charts differ: not one chart repeated
