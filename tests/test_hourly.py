"""Hourly heat-recovery model (siting.hourly): golden cases, energy balance, limits, storage."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_file
from hypothesis import given, settings
from hypothesis import strategies as st

from siting.errors import ConfigError
from siting.hourly import (
    heat_pump_availability_profile,
    hourly_recovery,
    load_duration_curve,
    monthly_totals,
    network_demand_profile,
    plot_load_duration,
    supply_temperature_curve,
    unit_count,
)
from siting.recovery import annual_recovery, carnot_cop, heat_pump_operation, lorenz_cop
from siting.sources.weather import read_weather, typical_danish_year

H = 8760
REL = 1e-9


@pytest.fixture(scope="module")
def typical():
    return typical_danish_year()


def _site(**kw):
    """Keyword arguments of a 5 MW air-cooled site on a 75/40 network, overridable."""
    base = dict(
        capture_fraction=0.95,
        utilisation_it=0.8,
        source_in_c=27.0,
        source_out_c=17.0,
        return_c=40.0,
        supply_c=75.0,
    )
    base.update(kw)
    return base


# --- MODEL.md s7 golden cases through the hourly path --------------------------------------------

# (name, IT MW, f_cap, u_it, source in/out, return, supply, u, expected COP)
GOLDEN = [
    ("odense", 100_000 / H, 1.0, 1.0, 27.0, 17.0, 37.5, 75.0, 1.0, 4.85),
    ("dea", 10.0, 1.0, 1.0, 25.0, 15.0, 35.0, 70.0, 1.0, 5.05),
    ("generic", 12.0, 0.95, 1.0, 30.0, 20.0, 40.0, 75.0, 0.75, 5.13),
]


@pytest.mark.parametrize("flat", ["scaled_demand", "on_off_demand"])
@pytest.mark.parametrize(
    ("name", "p_it", "f_cap", "u_it", "s_in", "s_out", "ret", "sup", "u", "cop_exp"), GOLDEN
)
def test_golden_cases_equal_annual_model(
    flat, name, p_it, f_cap, u_it, s_in, s_out, ret, sup, u, cop_exp
):
    cop = lorenz_cop(s_in, s_out, ret, sup)
    assert cop == pytest.approx(cop_exp, abs=0.01 if name != "odense" else 0.25)
    annual = annual_recovery(
        p_it, capture_fraction=f_cap, utilisation_it=u_it, pue=1.2, cop=cop, annual_utilisation=u
    )
    q_del = annual.delivered_heat_mw
    if flat == "scaled_demand":  # network takes exactly u of the deliverable heat every hour
        demand = np.full(H, u * q_del)
    else:  # network takes everything in u * 8760 hours and nothing in the rest
        demand = np.where(np.arange(H) < round(u * H), 2.0 * q_del, 0.0)
    r = hourly_recovery(
        p_it,
        np.full(H, 5.0),
        demand,
        **_site(
            capture_fraction=f_cap,
            utilisation_it=u_it,
            source_in_c=s_in,
            source_out_c=s_out,
            return_c=ret,
            supply_c=sup,
        ),
        pue=1.2,
    )
    for field in (
        "recovered_heat_mwh_per_yr",
        "delivered_heat_mwh_per_yr",
        "electricity_mwh_per_yr",
        "reused_heat_mwh_per_yr",
        "dc_energy_mwh_per_yr",
        "erf",
    ):
        assert r[field] == pytest.approx(annual[field], rel=REL), field
    for level in (2026, 2027, 2028):
        assert r[f"meets_enefg_{level}"] == annual[f"meets_enefg_{level}"]
    assert r.utilisation == pytest.approx(u, rel=REL)
    assert r.cop_effective == pytest.approx(cop, rel=REL)
    assert r.storage_gain_mwh_per_yr == 0.0


def test_golden_generic_case_numbers():
    """MODEL.md s7 case 3 figures, from the hourly path alone."""
    q_del = 12 * 0.95 * 5.126496 / 4.126496
    r = hourly_recovery(
        12.0,
        np.full(H, 0.0),
        np.full(H, 0.75 * q_del),
        **_site(utilisation_it=1.0, source_in_c=30, source_out_c=20, supply_c=75),
        pue=1.2,
    )
    assert r.cop_effective == pytest.approx(5.13, abs=0.005)
    assert r.recovered_heat_mwh_per_yr == pytest.approx(99_864, rel=1e-6)
    assert r.delivered_heat_mwh_per_yr == pytest.approx(93_049, rel=0.01)
    assert r.electricity_mwh_per_yr == pytest.approx(18_151, rel=0.01)
    assert r.reused_heat_mwh_per_yr == pytest.approx(74_898, rel=0.001)
    assert r.erf == pytest.approx(0.594, abs=0.001)
    assert r.meets_enefg_2028 is True


# --- network demand and supply temperature --------------------------------------------------------


def test_demand_profile_sums_and_shapes(typical):
    d = network_demand_profile(typical, 120_000.0)
    assert d.shape == (H,) and d.sum() == pytest.approx(120_000.0, rel=1e-12)
    assert d.min() == pytest.approx(0.2 * 120_000 / H)  # warmest hours: hot water only
    many = network_demand_profile(typical, np.array([1.0, 5e4, 0.0]), dhw_share=0.3)
    assert many.shape == (3, H)
    np.testing.assert_allclose(many.sum(axis=1), [1.0, 5e4, 0.0], rtol=1e-12)
    assert network_demand_profile(typical, [1e4, 2e4], dtype=np.float32).dtype == np.float32
    flat = network_demand_profile(typical, 8760.0, dhw_share=1.0)
    np.testing.assert_allclose(flat, 1.0)


def test_demand_higher_in_january_than_july_real_weather():
    weather = read_weather(shared_file("weather", "DNK_Copenhagen.061800_IWEC.epw"))
    d = network_demand_profile(weather, 100_000.0)
    monthly = monthly_totals(d, weather.index)
    assert monthly.sum() == pytest.approx(100_000.0)
    assert monthly[0] > 3 * monthly[6]
    assert monthly.argmax() in (0, 1) and monthly.argmin() in (6, 7)


def test_demand_profile_errors(typical):
    with pytest.raises(ConfigError, match="dhw_share"):
        network_demand_profile(typical, 1.0, dhw_share=1.5)
    with pytest.raises(ConfigError, match="never drops below"):
        network_demand_profile(np.full(24, 25.0), 1.0)
    with pytest.raises(ConfigError, match="annual_mwh"):
        network_demand_profile(typical, -1.0)


def test_supply_temperature_curve():
    t = supply_temperature_curve([-30.0, -12.0, 1.5, 15.0, 30.0])
    np.testing.assert_allclose(t, [80.0, 80.0, 75.0, 70.0, 70.0])
    with pytest.raises(ConfigError, match="t_outdoor_cold_c"):
        supply_temperature_curve([0.0], t_outdoor_cold_c=20)


# --- hourly limits --------------------------------------------------------------------------------


def test_site_below_summer_base_load_uses_everything(typical):
    demand = network_demand_profile(typical, 200_000.0)  # summer base 4.6 MW
    r = hourly_recovery(2.0, typical, demand, **_site(supply_c=None))
    assert r.available_heat_mwh_per_yr < demand.min() * H
    assert r.utilisation == 1.0
    assert r.delivered_heat_mwh_per_yr == r.available_heat_mwh_per_yr


def test_large_site_is_limited_by_demand_and_weather_curve(typical):
    demand = network_demand_profile(typical, 50_000.0)
    r = hourly_recovery(10.0, typical, demand, **_site(supply_c=None), return_hourly=True)
    h = r.hourly
    assert 0.0 < r.utilisation < 0.6
    assert np.all(h["delivered_mw"] <= demand + 1e-12)
    # weather-compensated supply: COP best in the warmest hour, worst in the coldest
    assert h["cop"][typical.values.argmax()] > h["cop"][typical.values.argmin()]
    months = monthly_totals(h["delivered_mw"], typical.index)
    assert months[0] > months[6]


def test_direct_exchange_needs_no_electricity():
    # liquid cooling 50 -> 40 degC into a 4th-generation 45/25 network: no heat pump needed
    r = hourly_recovery(
        3.0,
        np.zeros(48),
        np.full(48, 100.0),
        **_site(source_in_c=50, source_out_c=40, return_c=25, supply_c=45),
        return_hourly=True,
    )
    assert r.electricity_mwh_per_yr == 0.0 and np.isinf(r.cop_effective)
    assert r.delivered_heat_mwh_per_yr == pytest.approx(r.recovered_heat_mwh_per_yr)
    assert np.all(np.isinf(r.hourly["cop"]))


def test_heat_pump_cap_binds():
    r = hourly_recovery(10.0, np.zeros(100), np.full(100, 1e3), **_site(), heat_pump_max_mw=2.0)
    assert r.peak_delivered_mw == pytest.approx(2.0)
    assert r.delivered_heat_mwh_per_yr == pytest.approx(200.0)
    assert r.full_load_hours == pytest.approx(100.0)
    assert r.wasted_heat_mwh_per_yr > 0


def test_share_max_limits_the_share_of_network_load():
    r = hourly_recovery(10.0, np.zeros(10), np.full(10, 4.0), **_site(), share_max=0.25)
    assert r.delivered_heat_mwh_per_yr == pytest.approx(10.0)


def test_jesper_is_selectable_and_more_conservative(typical):
    demand = network_demand_profile(typical, 1e5)
    kw = dict(**_site(supply_c=None), return_hourly=True)
    lor = hourly_recovery(5.0, typical, demand, **kw)
    jes = hourly_recovery(5.0, typical, demand, cop_model="jesper", **kw)
    assert jes.cop_effective < lor.cop_effective
    assert jes.electricity_mwh_per_yr > lor.electricity_mwh_per_yr
    with pytest.raises(ConfigError, match="cop_model"):
        hourly_recovery(5.0, typical, demand, cop_model="carnot", **_site())


def test_hourly_utilisation_it_profile():
    u = np.where(np.arange(48) % 2 == 0, 0.5, 1.0)
    r = hourly_recovery(4.0, np.zeros(48), 1e3, **_site(utilisation_it=u), return_hourly=True)
    assert r.recovered_heat_mwh_per_yr == pytest.approx(0.95 * 4.0 * 36)
    assert r.dc_energy_mwh_per_yr == pytest.approx(4.0 * 1.2 * 36)
    src = r.hourly["source_used_mw"]
    np.testing.assert_allclose(src, 0.95 * 4.0 * u)


def test_vectorised_equals_site_by_site_and_float32_is_close(typical):
    rng = np.random.default_rng(1)
    n = 37
    p_it = rng.uniform(1, 30, n)
    demand = network_demand_profile(typical, rng.uniform(1e4, 3e5, n))
    kw = dict(
        capture_fraction=rng.choice([0.95, 0.8], n),
        utilisation_it=0.8,
        source_in_c=rng.choice([27.0, 50.0], n),
        source_out_c=17.0,
        return_c=rng.choice([35.0, 40.0], n),
        storage_mwh=rng.choice([0.0, 20.0], n),
        heat_pump_max_mw=rng.uniform(2, 40, n),
        share_max=rng.uniform(0.3, 1.0, n),
    )
    many = hourly_recovery(p_it, typical, demand, **kw, chunk_sites=5)
    one = [
        hourly_recovery(
            p_it[i],
            typical,
            demand[i],
            **{k: (v[i] if isinstance(v, np.ndarray) else v) for k, v in kw.items()},
        )
        for i in (0, 17, 36)
    ]
    for j, i in enumerate((0, 17, 36)):
        for key, value in one[j].to_dict().items():
            if key != "hours":
                tol = 1e-12 * one[j].recovered_heat_mwh_per_yr  # round-off of near-zero fields
                assert many[key][i] == pytest.approx(value, rel=1e-12, abs=tol, nan_ok=True), key
    single = hourly_recovery(p_it, typical, demand, **kw, dtype=np.float32)
    np.testing.assert_allclose(
        single.delivered_heat_mwh_per_yr, many.delivered_heat_mwh_per_yr, rtol=1e-5
    )


def test_scalar_site_gives_floats():
    r = hourly_recovery(5.0, np.zeros(24), 10.0, **_site(), return_hourly=True)
    assert isinstance(r.delivered_heat_mwh_per_yr, float)
    assert isinstance(r.meets_enefg_2026, bool)
    assert r.hourly["delivered_mw"].shape == (24,)
    assert set(r.to_dict()) >= {"erf", "wasted_heat_mwh_per_yr", "storage_gain_mwh_per_yr"}


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(supply_c=35.0), "supply_c is below return_c at site 0, hour 0"),
        (dict(source_in_c=10.0), "source_in_c is below source_out_c"),
        (dict(capture_fraction=1.5), "capture_fraction=1.5"),
        (dict(utilisation_it=np.zeros(24)), "utilisation_it"),
        (dict(storage_mwh=-1.0), "storage_mwh"),
        (dict(supply_c=np.full(23, 75.0)), r"supply_c has shape \(23,\)"),
        (dict(source_in_c=-10.0, source_out_c=-20.0, supply_c=190.0, eta=0.1), "COP drops"),
    ],
)
def test_errors_name_the_input(kw, match):
    with pytest.raises(ConfigError, match=match):
        hourly_recovery(5.0, np.zeros(24), 10.0, **_site(**kw))


def test_negative_demand_and_bad_it_load():
    with pytest.raises(ConfigError, match="network_demand_mw"):
        hourly_recovery(5.0, np.zeros(24), -np.ones(24), **_site())
    with pytest.raises(ConfigError, match="it_load_mw"):
        hourly_recovery([5.0, 0.0], np.zeros(24), 1.0, **_site())


# --- storage --------------------------------------------------------------------------------------


def test_storage_moves_surplus_to_deficit_within_the_day():
    # direct exchange (COP inf) keeps the arithmetic exact: 2 MW of heat every hour.
    # Day 1: 6 h with demand 0 (surplus 2 MW), 6 h with demand 4 MW (deficit 2 MW), rest 2 MW.
    # Day 2: only surplus hours -> whatever is charged never leaves the tank, so is not made.
    demand = np.r_[np.zeros(6), np.full(6, 4.0), np.full(12, 2.0), np.zeros(24)]
    kw = _site(source_in_c=50, source_out_c=40, return_c=25, supply_c=45, capture_fraction=1.0)
    kw["utilisation_it"] = 1.0
    no = hourly_recovery(2.0, np.zeros(48), demand, **kw)
    assert no.delivered_heat_mwh_per_yr == pytest.approx(24.0 + 12.0)
    tank = hourly_recovery(2.0, np.zeros(48), demand, **kw, storage_mwh=5.0, return_hourly=True)
    assert tank.storage_gain_mwh_per_yr == pytest.approx(5.0)
    assert tank.delivered_heat_mwh_per_yr == pytest.approx(41.0)
    h = tank.hourly
    assert h["produced_mw"].sum() == pytest.approx(h["delivered_mw"].sum())
    np.testing.assert_allclose(h["produced_mw"][24:], 0.0)  # day 2: nothing needed
    assert np.all(h["delivered_mw"] <= demand + 1e-12)
    big = hourly_recovery(2.0, np.zeros(48), demand, **kw, storage_mwh=100.0)
    assert big.storage_gain_mwh_per_yr == pytest.approx(12.0)  # all 12 MWh of deficit


# --- properties -----------------------------------------------------------------------------------

temps = st.floats(-25.0, 30.0)


@st.composite
def cases(draw):
    n_h = draw(st.sampled_from([24, 48, 72]))
    n_s = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    outdoor = rng.uniform(-20, 25, n_h)
    s_out = rng.uniform(5, 45, n_s)
    ret = rng.uniform(20, 60, n_s)
    kw = dict(
        capture_fraction=rng.uniform(0.5, 1.0, n_s),
        utilisation_it=rng.uniform(0.2, 1.0, n_h),
        source_in_c=s_out + rng.uniform(0, 15, n_s),
        source_out_c=s_out,
        return_c=ret,
        supply_c=ret.max() + rng.uniform(0, 40, n_h),
        eta=rng.uniform(0.3, 0.7, n_s),
        share_max=rng.uniform(0.1, 1.0, n_s),
        storage_mwh=rng.choice([0.0, rng.uniform(0, 30)], n_s),
        cop_model=draw(st.sampled_from(["lorenz", "jesper", "practical"])),
    )
    if draw(st.booleans()):
        kw["heat_pump_max_mw"] = rng.uniform(0.5, 20, n_s)
    demand = rng.uniform(0, 15, (n_s, n_h)) * rng.integers(0, 2, (n_s, n_h))
    return rng.uniform(1, 20, n_s), outdoor, demand, kw


@settings(max_examples=60, deadline=None)
@given(cases())
def test_energy_balance_and_carnot_every_hour(case):
    import warnings

    p_it, outdoor, demand, kw = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Jesper range warnings for extreme draws
        r = hourly_recovery(p_it, outdoor, demand, **kw, return_hourly=True)
    h = r.hourly
    q_src = (kw["capture_fraction"] * p_it)[:, None] * kw["utilisation_it"][None, :]
    tol = 1e-9 * (1 + q_src.max())
    # balance: heat made = source heat used + electricity, and never more source than captured
    np.testing.assert_allclose(h["produced_mw"], h["source_used_mw"] + h["electricity_mw"])
    assert np.all(h["source_used_mw"] <= q_src + tol)
    assert np.all(h["electricity_mw"] >= 0) and np.all(h["source_used_mw"] >= -tol)
    # limits: network share and heat-pump cap
    assert np.all(h["delivered_mw"] <= demand * kw["share_max"][:, None] + tol)
    assert np.all(h["produced_mw"] <= r.heat_pump_max_mw[:, None] + tol)
    # the tank only shifts heat within a day
    days = h["produced_mw"].reshape(len(p_it), -1, 24).sum(2)
    np.testing.assert_allclose(days, h["delivered_mw"].reshape(len(p_it), -1, 24).sum(2), atol=tol)
    # COP never above Carnot at the hour's log-mean temperatures
    carnot = carnot_cop(
        kw["source_in_c"][:, None],
        kw["source_out_c"][:, None],
        kw["return_c"][:, None],
        kw["supply_c"][None, :],
    )
    assert np.all(h["cop"] <= carnot * (1 + 1e-12))
    assert np.all(h["cop"] > 1)
    # annual totals are the sums of the hours
    np.testing.assert_allclose(r.delivered_heat_mwh_per_yr, h["delivered_mw"].sum(1))
    np.testing.assert_allclose(
        r.reused_heat_mwh_per_yr + r.wasted_heat_mwh_per_yr, r.recovered_heat_mwh_per_yr
    )


@settings(max_examples=40, deadline=None)
@given(cases(), st.floats(0.0, 40.0), st.floats(0.0, 15.0), st.floats(1.0, 3.0))
def test_monotonicity(case, extra_storage, warmer_supply, bigger_cap):
    import warnings

    p_it, outdoor, demand, kw = case
    kw = {**kw, "cop_model": "lorenz"}
    kw.setdefault("heat_pump_max_mw", np.full(len(p_it), 5.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = hourly_recovery(p_it, outdoor, demand, **kw, return_hourly=True)
        more_store = hourly_recovery(
            p_it, outdoor, demand, **{**kw, "storage_mwh": kw["storage_mwh"] + extra_storage}
        )
        bigger = hourly_recovery(
            p_it, outdoor, demand, **{**kw, "heat_pump_max_mw": kw["heat_pump_max_mw"] * bigger_cap}
        )
        hotter = hourly_recovery(
            p_it,
            outdoor,
            demand,
            **{**kw, "supply_c": kw["supply_c"] + warmer_supply},
            return_hourly=True,
        )
    tol = 1e-9 * (1 + base.delivered_heat_mwh_per_yr)
    assert np.all(more_store.delivered_heat_mwh_per_yr >= base.delivered_heat_mwh_per_yr - tol)
    assert np.all(bigger.delivered_heat_mwh_per_yr >= base.delivered_heat_mwh_per_yr - tol)
    assert np.all(hotter.hourly["cop"] <= base.hourly["cop"] * (1 + 1e-12))


@settings(max_examples=30, deadline=None)
@given(st.lists(temps, min_size=24, max_size=24), st.floats(0.0, 0.9), st.floats(1.0, 1e6))
def test_demand_profile_properties(outdoor, dhw, annual):
    outdoor = np.asarray(outdoor)
    if (17.0 - outdoor).clip(0).sum() == 0:
        outdoor[0] = 0.0
    d = network_demand_profile(outdoor, annual, dhw_share=dhw)
    assert d.sum() == pytest.approx(annual, rel=1e-9)
    order = np.argsort(outdoor)
    assert np.all(np.diff(d[order]) <= 1e-9 * annual)  # colder hour never less demand


# --- figure helpers -------------------------------------------------------------------------------


def test_load_duration_and_monthly_totals(typical):
    demand = network_demand_profile(typical, 60_000.0)
    r = hourly_recovery([4.0, 8.0], typical, demand, **_site(supply_c=None), return_hourly=True)
    dur, deliv, avail = load_duration_curve(r.hourly["delivered_mw"], r.hourly["available_mw"])
    assert dur[0] == 1 and dur[-1] == H and deliv.shape == (2, H)
    assert np.all(np.diff(deliv, axis=1) <= 0) and np.all(np.diff(avail, axis=1) <= 0)
    np.testing.assert_allclose(deliv.sum(1), r.delivered_heat_mwh_per_yr)
    months = monthly_totals(r.hourly["delivered_mw"], typical.index)
    assert months.shape == (2, 12)
    np.testing.assert_allclose(months.sum(1), r.delivered_heat_mwh_per_yr)
    with pytest.raises(ConfigError, match="same shape"):
        load_duration_curve(np.zeros(3), np.zeros(4))
    with pytest.raises(ConfigError, match="index has"):
        monthly_totals(np.zeros(5), typical.index)


def test_plot_load_duration(typical):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    demand = network_demand_profile(typical, 60_000.0)
    r = hourly_recovery(8.0, typical, demand, **_site(supply_c=None), return_hourly=True)
    fig, ax = plt.subplots()
    plot_load_duration(ax, r.hourly["delivered_mw"], r.hourly["available_mw"], label="site A")
    assert len(ax.lines) == 2
    plt.close(fig)


def test_per_site_supply_curves_match_single_runs(typical):
    """A (sites, hours) supply array takes the per-chunk COP path; same answers per site."""
    sup = np.stack(
        [
            supply_temperature_curve(typical),
            supply_temperature_curve(typical, t_supply_cold_c=60, t_supply_warm_c=50),
        ]
    )
    demand = network_demand_profile(typical, np.array([4e4, 9e4]))
    kw = _site(supply_c=sup, storage_mwh=[10.0, 0.0])
    both = hourly_recovery([6.0, 3.0], typical, demand, **kw)
    for i in range(2):
        one = hourly_recovery(
            [6.0, 3.0][i],
            typical,
            demand[i],
            **{**kw, "supply_c": sup[i], "storage_mwh": kw["storage_mwh"][i]},
        )
        assert both.delivered_heat_mwh_per_yr[i] == pytest.approx(one.delivered_heat_mwh_per_yr)
        assert both.electricity_mwh_per_yr[i] == pytest.approx(one.electricity_mwh_per_yr)
    assert both.cop_effective[1] > both.cop_effective[0]  # 60/50 network beats 80/70


def test_partial_last_day_and_leap_year_length():
    outdoor = np.linspace(-5, 20, 8784 + 5)  # leap year plus 5 hours: last block has no tank
    demand = network_demand_profile(outdoor, 3e4)
    r = hourly_recovery(5.0, outdoor, demand, **_site(supply_c=None), storage_mwh=20.0)
    assert r.hours == 8789
    assert r.recovered_heat_mwh_per_yr == pytest.approx(0.95 * 5 * 0.8 * 8789)


# --- MODEL.md s8.1: practical heat pump, availability, part load, must-run, prices ----------------


def test_new_options_off_reproduce_the_old_model(typical):
    demand = network_demand_profile(typical, np.array([6e4, 2e5]))
    kw = _site(supply_c=None, storage_mwh=[0.0, 10.0])
    old = hourly_recovery([4.0, 9.0], typical, demand, **kw)
    off = hourly_recovery(
        [4.0, 9.0],
        typical,
        demand,
        **kw,
        cop_model="lorenz",
        availability=np.ones(H),
        units=None,
        must_run_mw=0.0,
    )
    for key, value in old.to_dict().items():
        np.testing.assert_array_equal(off[key], value, err_msg=key)
    assert np.all(off.must_run_mwh_per_yr == 0) and np.all(
        off.displaced_by_must_run_mwh_per_yr == 0
    )
    assert np.all(np.isnan(old.electricity_price_weighted_eur_per_mwh))


def test_practical_model_hour_by_hour_equals_heat_pump_operation():
    supply = np.array([60.0, 70.0, 80.0, 90.0])
    kw = _site(source_in_c=50.0, source_out_c=40.0, return_c=40.0, supply_c=supply)
    r = hourly_recovery(5.0, np.zeros(4), 1e3, **kw, cop_model="practical", return_hourly=True)
    op = heat_pump_operation(50.0, 40.0, 40.0, supply)
    np.testing.assert_allclose(r.hourly["cop"], op.cop, rtol=1e-12)
    np.testing.assert_allclose(r.hourly["exchanger_mw"], r.hourly["produced_mw"] * op.preheat_share)
    q_src = 0.95 * 5.0 * 0.8
    np.testing.assert_allclose(r.hourly["produced_mw"], op.delivered_heat_mw * q_src, rtol=1e-12)
    assert r.exchanger_heat_mwh_per_yr == pytest.approx((op.exchanger_heat_mw * q_src).sum())
    assert r.heat_pump_heat_mwh_per_yr == pytest.approx((op.heat_pump_heat_mw * q_src).sum())
    assert r.electricity_mwh_per_yr == pytest.approx((op.electricity_mw * q_src).sum())
    # the machine's own COP over the year, and the combination's (better: the exchanger is free)
    assert r.cop_heat_pump == pytest.approx(r.heat_pump_heat_mwh_per_yr / r.electricity_mwh_per_yr)
    assert r.cop_effective > r.cop_heat_pump
    assert np.all(r.hourly["cop"] > 1) and np.all(np.isfinite(r.hourly["cop"]))


def test_practical_direct_exchange_only_with_the_approach():
    kw = _site(source_in_c=48.0, source_out_c=38.0, return_c=25.0, supply_c=np.array([45.0, 45.1]))
    r = hourly_recovery(2.0, np.zeros(2), 1e3, **kw, cop_model="practical", return_hourly=True)
    assert np.isinf(r.hourly["cop"][0]) and np.isfinite(r.hourly["cop"][1])
    assert r.hourly["electricity_mw"][0] == 0 and r.hourly["electricity_mw"][1] > 0
    # the textbook Lorenz rule calls both hours direct exchange
    lor = hourly_recovery(2.0, np.zeros(2), 1e3, **kw, return_hourly=True)
    assert np.all(np.isinf(lor.hourly["cop"]))


def test_availability_profile_block_and_mean():
    p = heat_pump_availability_profile(H, 0.95)
    assert p.mean() == pytest.approx(0.95, rel=1e-12)
    block = slice(27 * 168, 31 * 168)  # weeks 28-31: 8 July to 4 August
    assert np.all(p[: block.start] == 1.0) and np.all(p[block.stop :] == 1.0)
    assert np.all(p[block] == pytest.approx(1 - 0.05 * H / (4 * 168)))
    # a block too short for the loss: a full outage there, the rest spread over the year
    short = heat_pump_availability_profile(H, 0.9, maintenance_weeks=2)
    assert short.mean() == pytest.approx(0.9, rel=1e-12)
    assert np.all(short[27 * 168 : 29 * 168] == 0.0) and short[0] < 1.0
    assert np.all(heat_pump_availability_profile(100, 1.0) == 1.0)
    # a series shorter than the block start: the loss is a flat derating
    np.testing.assert_allclose(heat_pump_availability_profile(48, 0.95), 0.95)
    for bad in (dict(availability=1.2), dict(maintenance_weeks=-1), dict(maintenance_start_week=0)):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            heat_pump_availability_profile(H, **{"availability": 0.95, **bad})


def test_availability_cuts_heat_pump_hours_but_not_direct_exchange():
    big = np.full(H, 1e4)  # the network always takes everything
    kw = _site(utilisation_it=1.0)
    full = hourly_recovery(5.0, np.zeros(H), big, **kw)
    part = hourly_recovery(5.0, np.zeros(H), big, **kw, availability=0.95, return_hourly=True)
    # constant COP and load: the heat pump runs at its (peak) size times the hourly availability
    assert part.delivered_heat_mwh_per_yr == pytest.approx(0.95 * full.delivered_heat_mwh_per_yr)
    july = part.hourly["delivered_mw"][27 * 168 + 10]
    assert july == pytest.approx(full.peak_delivered_mw * (1 - 0.05 * H / 672))
    assert part.utilisation == pytest.approx(0.95)
    direct = _site(source_in_c=50, source_out_c=40, return_c=25, supply_c=45)
    a = hourly_recovery(5.0, np.zeros(H), big, **direct)
    b = hourly_recovery(5.0, np.zeros(H), big, **direct, availability=0.9)
    assert b.delivered_heat_mwh_per_yr == a.delivered_heat_mwh_per_yr
    with pytest.raises(ConfigError, match="availability"):
        hourly_recovery(5.0, np.zeros(H), big, **kw, availability=np.ones(10))


def test_minimum_part_load_of_one_unit():
    # 4 MW heat pump in 2 units: one unit's minimum is 25 % of 2 MW = 0.5 MW
    demand = np.array([0.4, 0.6, 3.0, 0.49, 0.5, 10.0])
    kw = _site()
    r = hourly_recovery(
        10.0, np.zeros(6), demand, **kw, heat_pump_max_mw=4.0, units=2, return_hourly=True
    )
    np.testing.assert_allclose(r.hourly["delivered_mw"], [0.0, 0.6, 3.0, 0.0, 0.5, 4.0])
    one = hourly_recovery(10.0, np.zeros(6), demand, **kw, heat_pump_max_mw=4.0, units=1)
    assert one.delivered_heat_mwh_per_yr == pytest.approx(3.0 + 4.0)  # minimum 1 MW
    # without units there is no minimum load (the old model)
    free = hourly_recovery(10.0, np.zeros(6), demand, **kw, heat_pump_max_mw=4.0)
    assert free.delivered_heat_mwh_per_yr == pytest.approx(demand.sum() - 6.0)
    # direct exchange has no minimum load
    direct = _site(source_in_c=50, source_out_c=40, return_c=25, supply_c=45)
    d = hourly_recovery(10.0, np.zeros(6), demand, **direct, heat_pump_max_mw=4.0, units=1)
    assert d.delivered_heat_mwh_per_yr == pytest.approx(free.delivered_heat_mwh_per_yr)
    assert unit_count([2.0, 5.0, 25.0, 0.0]).tolist() == [1, 1, 5, 1]
    for bad, match in ((dict(units=0), "units"), (dict(units=1.5), "units")):
        with pytest.raises(ConfigError, match=match):
            hourly_recovery(10.0, np.zeros(6), demand, **kw, **bad)
    with pytest.raises(ConfigError, match="min_part_load"):
        hourly_recovery(10.0, np.zeros(6), demand, **kw, units=1, min_part_load=1.0)


def test_must_run_serves_the_load_first():
    demand = np.array([10.0, 10.0, 4.0, 2.0])
    must_run = np.array([3.0, 3.0, 3.0, 3.0])
    kw = _site(utilisation_it=1.0)
    q = 0.95 * 5.0 * lorenz_cop(27, 17, 40, 75) / (lorenz_cop(27, 17, 40, 75) - 1)  # ~6 MW
    r = hourly_recovery(5.0, np.zeros(4), demand, **kw, must_run_mw=must_run, share_max=0.5)
    # site share 0.5 of what the must-run producer leaves: 3.5, 3.5, 0.5, 0
    assert r.delivered_heat_mwh_per_yr == pytest.approx(7.5)
    assert r.must_run_mwh_per_yr == pytest.approx(3 + 3 + 3 + 2)
    # without it the site would take 0.5 * demand = 5, 5, 2, 1 (all below q)
    assert q > 5
    assert r.displaced_by_must_run_mwh_per_yr == pytest.approx(13.0 - 7.5)
    # per-site must-run on per-site demand takes the chunked path: same numbers
    two = hourly_recovery(
        [5.0, 5.0],
        np.zeros(4),
        np.stack([demand, demand]),
        **kw,
        must_run_mw=np.stack([must_run, np.zeros(4)]),
        share_max=0.5,
    )
    assert two.delivered_heat_mwh_per_yr.tolist() == pytest.approx([7.5, 13.0])
    assert two.displaced_by_must_run_mwh_per_yr.tolist() == pytest.approx([5.5, 0.0])
    with pytest.raises(ConfigError, match="must_run_mw"):
        hourly_recovery(5.0, np.zeros(4), demand, **kw, must_run_mw=-1.0)


def test_electricity_price_weighted_by_the_heat_pumps_consumption(typical):
    demand = network_demand_profile(typical, 8e4)
    price = np.where(typical.index.month.isin([12, 1, 2]), 150.0, 40.0)  # winter expensive
    r = hourly_recovery(
        6.0,
        typical,
        demand,
        **_site(supply_c=None),
        electricity_price_eur_per_mwh=price,
        storage_mwh=5.0,
        return_hourly=True,
    )
    el = r.hourly["electricity_mw"]
    assert r.electricity_cost_eur_per_yr == pytest.approx((el * price).sum(), rel=1e-9)
    weighted = (el * price).sum() / el.sum()
    assert r.electricity_price_weighted_eur_per_mwh == pytest.approx(weighted, rel=1e-9)
    # the heat pump runs more in winter, so it pays more than the time average
    assert r.electricity_price_weighted_eur_per_mwh > price.mean()
    flat = hourly_recovery(
        6.0, typical, demand, **_site(supply_c=None), electricity_price_eur_per_mwh=70.0
    )
    assert flat.electricity_price_weighted_eur_per_mwh == pytest.approx(70.0)
    with pytest.raises(ConfigError, match="electricity_price"):
        hourly_recovery(6.0, typical, demand, **_site(), electricity_price_eur_per_mwh=np.nan)


def test_hourly_source_temperature_series(typical):
    # a source that runs warmer in summer (free cooling off): 27 +- 3 degC, 10 K drop
    s_in = 27.0 + 3.0 * np.cos(2 * np.pi * (np.arange(H) / H - 0.55))
    demand = network_demand_profile(typical, np.array([5e4, 9e4, 2e5]))
    kw = _site(source_in_c=s_in, source_out_c=s_in - 10.0, supply_c=None)
    r = hourly_recovery(
        [3.0, 5.0, 8.0], typical, demand, **kw, cop_model="practical", return_hourly=True
    )
    sup = supply_temperature_curve(typical)
    expect = heat_pump_operation(s_in, s_in - 10.0, 40.0, sup).cop
    np.testing.assert_allclose(r.hourly["cop"][1], expect, rtol=1e-12)
    # per-site constant temperatures, and a (sites, hours) array, agree with single-site runs
    s_site = np.array([27.0, 50.0, 35.0])
    per_site = hourly_recovery(
        [3.0, 5.0, 8.0],
        typical,
        demand,
        **_site(source_in_c=s_site, source_out_c=s_site - 10, supply_c=None),
        cop_model="practical",
    )
    full = np.tile(s_site[:, None], (1, H))
    chunked = hourly_recovery(
        [3.0, 5.0, 8.0],
        typical,
        demand,
        **_site(source_in_c=full, source_out_c=full - 10, supply_c=None),
        cop_model="practical",
    )
    for i in range(3):
        one = hourly_recovery(
            [3.0, 5.0, 8.0][i],
            typical,
            demand[i],
            **_site(source_in_c=s_site[i], source_out_c=s_site[i] - 10, supply_c=None),
            cop_model="practical",
        )
        for res in (per_site, chunked):
            assert res.delivered_heat_mwh_per_yr[i] == pytest.approx(
                one.delivered_heat_mwh_per_yr, rel=1e-12
            )
            assert res.exchanger_heat_mwh_per_yr[i] == pytest.approx(
                one.exchanger_heat_mwh_per_yr, rel=1e-12, abs=1e-9
            )
    with pytest.raises(ConfigError, match="source_in_c is below"):
        hourly_recovery(3.0, typical, demand[0], **_site(source_in_c=s_in, source_out_c=s_in + 1))


def test_it_load_profile_may_have_idle_hours():
    u = np.r_[np.zeros(12), np.ones(12)]
    r = hourly_recovery(4.0, np.zeros(24), 1e3, **_site(utilisation_it=u))
    assert r.recovered_heat_mwh_per_yr == pytest.approx(0.95 * 4.0 * 12)
    assert r.dc_energy_mwh_per_yr == pytest.approx(4.0 * 1.2 * 12)


@st.composite
def operation_cases(draw):
    n_h = draw(st.sampled_from([24, 48]))
    n_s = draw(st.integers(1, 3))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    s_out = rng.uniform(10, 50, n_s)
    kw = dict(
        capture_fraction=rng.uniform(0.5, 1.0, n_s),
        utilisation_it=rng.uniform(0.0, 1.0, n_h),
        source_in_c=s_out + rng.uniform(3, 15, n_s),
        source_out_c=s_out,
        return_c=rng.uniform(20, 50, n_s),
        supply_c=55.0 + rng.uniform(0, 35, n_h),
        share_max=rng.uniform(0.1, 1.0, n_s),
        cop_model="practical",
        heat_pump_max_mw=rng.uniform(0.5, 20, n_s),
        availability=rng.uniform(0.0, 1.0, n_h),
        units=rng.integers(1, 5, n_s),
        min_part_load=draw(st.floats(0.0, 0.9)),
        must_run_mw=rng.uniform(0, 10, n_h),
        electricity_price_eur_per_mwh=rng.uniform(-50, 300, n_h),
    )
    demand = rng.uniform(0, 15, (n_s, n_h)) * rng.integers(0, 2, (n_s, n_h))
    return rng.uniform(1, 20, n_s), demand, kw


@settings(max_examples=60, deadline=None)
@given(operation_cases())
def test_property_operation_limits(case):
    p_it, demand, kw = case
    n_h = demand.shape[1]
    r = hourly_recovery(p_it, np.zeros(n_h), demand, **kw, return_hourly=True)
    h = r.hourly
    tol = 1e-9 * (1 + demand.max() + r.heat_pump_max_mw.max() * 10)
    net = np.maximum(demand - kw["must_run_mw"], 0) * kw["share_max"][:, None]
    assert np.all(h["delivered_mw"] <= net + tol)
    direct = np.isinf(h["cop"])
    cap = r.heat_pump_max_mw[:, None] * np.where(direct, 1.0, kw["availability"])
    assert np.all(h["produced_mw"] <= cap + tol)
    # a heat pump runs at one unit's minimum load or not at all
    thr = kw["min_part_load"] * r.heat_pump_max_mw / kw["units"]
    d = h["delivered_mw"]
    assert np.all(direct | (d == 0) | (d >= thr[:, None] * (1 - 1e-12)))
    np.testing.assert_allclose(h["produced_mw"], h["source_used_mw"] + h["electricity_mw"])
    assert np.all(h["exchanger_mw"] <= h["produced_mw"] + tol)
    # must-run never makes the site deliver more
    assert np.all(r.displaced_by_must_run_mwh_per_yr >= -tol)
    served = np.minimum(kw["must_run_mw"], demand).sum(axis=1)
    np.testing.assert_allclose(r.must_run_mwh_per_yr, served, rtol=1e-9, atol=tol)
    cost = (h["electricity_mw"] * kw["electricity_price_eur_per_mwh"]).sum(axis=1)
    np.testing.assert_allclose(r.electricity_cost_eur_per_yr, cost, rtol=1e-9, atol=tol * 300)
    assert np.all(np.isfinite(h["cop"][~direct])) and np.all(h["cop"] > 1)
