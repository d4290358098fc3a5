"""One-at-a-time sensitivity on the demo study."""

from __future__ import annotations

import pytest

import siting
from siting.errors import ConfigError


@pytest.fixture(scope="module")
def sens(helsinki_osm, tmp_path_factory):
    study = siting.demo_study(tmp_path_factory.mktemp("sens"))
    return siting.sensitivity(
        study,
        params=["electricity_price_eur_per_mwh", "eta_practical", "pipe_cost_factor"],
        site_id="hel-5",  # air-coil: its heat pump is below the COP cap, so eta moves it
        osm=helsinki_osm,
    )


def test_directions_follow_the_physics_and_prices(sens):
    t = sens.table.set_index(["parameter", "end"])["lcoh_eur_per_mwh"]
    base = sens.base_lcoh_eur_per_mwh
    # dearer electricity raises the LCOH; a better heat pump (higher eta) lowers it
    assert (
        t["electricity_price_eur_per_mwh", "low"]
        < base
        < t["electricity_price_eur_per_mwh", "high"]
    )
    assert t["eta_practical", "high"] < base < t["eta_practical", "low"]
    # pipe cost can only move the LCOH the way the factor goes
    assert t["pipe_cost_factor", "low"] <= base <= t["pipe_cost_factor", "high"]
    assert len(sens.table) == 6


def test_tornado_and_stability(sens):
    fig = sens.tornado()
    ax = fig.axes[0]
    assert len(ax.patches) == 6  # low and high bar per parameter
    assert sens.site_id in ax.get_xlabel()
    s = sens.stability.set_index("site_id")["top3_share"]
    assert s.between(0, 1).all()
    assert s.iloc[0] == 1.0  # the best site stays in the top 3 over these ranges
    assert s[sens.site_id] == 0.0  # the 20 MW air-coil site (hel-5) never reaches it
    assert s["hel-9"] == 0.0  # the infeasible site never does


def test_unknown_parameter_is_named(helsinki_osm, tmp_path):
    with pytest.raises(ConfigError, match="not_a_param"):
        siting.sensitivity(siting.demo_study(tmp_path), params=["not_a_param"], osm=helsinki_osm)


def test_repricing_equals_a_full_rerun(helsinki_osm, demo_results, tmp_path):
    """Economics-only parameters re-price the table; that must equal re-running the study."""
    study = siting.demo_study(tmp_path)
    fast = siting.sensitivity(
        demo_results, params=["discount_rate", "heat_pump_capex_factor"], osm=helsinki_osm
    )
    for _, row in fast.table.iterrows():
        p = study.params.replace(**{row.parameter: row.value})
        full = siting.run(study.replace(params=p), osm=helsinki_osm).sites.set_index("site_id")
        assert row.lcoh_eur_per_mwh == pytest.approx(
            full.loc[fast.site_id, "lcoh_eur_per_mwh"], rel=1e-9
        )
        assert row.top3 == ",".join(full.query("feasible").index[:3])
