"""Several sites on one network (issue 15): siting.portfolio and `siting run --portfolio K`."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

import siting
from siting import Study
from siting.config import COOLING_TYPES
from siting.errors import ConfigError, InputDataError
from siting.portfolios import _dispatch, _dispatch_many, _Engine, _value, portfolio
from siting.stages.candidates import size_sources
from siting.stages.operate import demand_shape


def _results(table: pd.DataFrame, study: Study, weather: pd.Series) -> SimpleNamespace:
    return SimpleNamespace(
        sites=table, study=study, weather=weather, mode="existing_network", series=None
    )


def _one_network(demo_results, n: int, served_mwh: float, must_run_mwh: float = 0.0):
    """`n` copies of the demo's best site on one network of `served_mwh` a year."""
    best = demo_results.sites[demo_results.sites["feasible"]].iloc[[0]]
    rows = pd.concat([best] * n, ignore_index=True)
    rows["site_id"] = [f"twin-{i}" for i in range(n)]
    rows["network_id"] = np.nan
    rows["tap_area_id"] = "small"
    rows["served_demand_mwh_per_yr"] = served_mwh
    rows["must_run_flat_mwh_per_yr"] = must_run_mwh
    rows["must_run_solar_mwh_per_yr"] = 0.0
    return _results(rows, demo_results.study, demo_results.weather)


def test_two_equal_sites_share_a_small_network(demo_results):
    p = demo_results.study.params
    one = demo_results.sites[demo_results.sites["feasible"]].iloc[0]
    # a network that takes about what one site offers over a year: the second is curtailed
    served = float(one["available_heat_mwh_per_yr"])
    res = _one_network(demo_results, 2, served)
    chosen = portfolio(res, 2)
    first, second = chosen.sites.iloc[0], chosen.sites.iloc[1]
    assert first["standalone_delivered_heat_mwh_per_yr"] == pytest.approx(
        second["standalone_delivered_heat_mwh_per_yr"]
    )
    assert first["marginal_delivered_heat_mwh_per_yr"] == pytest.approx(
        first["standalone_delivered_heat_mwh_per_yr"]
    )
    assert (
        second["marginal_delivered_heat_mwh_per_yr"]
        < 0.8 * second["standalone_delivered_heat_mwh_per_yr"]
    )
    assert second["marginal_homes_served"] < second["standalone_homes_served"]
    assert second["marginal_co2_avoided_t_per_yr"] < second["standalone_co2_avoided_t_per_yr"]
    assert second["marginal_lcoh_eur_per_mwh"] > second["standalone_lcoh_eur_per_mwh"]
    # hour by hour the two never deliver more than the network takes
    demand = demand_shape(demo_results.weather.to_numpy(), p, p.network_loss_share) * served
    assert chosen.network_demand_mw[chosen.network_of[0]] == pytest.approx(demand)
    total = chosen.hourly_delivered_mw.sum(axis=0)
    assert (total <= demand * (1 + 1e-9) + 1e-9).all()
    assert total.sum() == pytest.approx(
        chosen.sites["marginal_delivered_heat_mwh_per_yr"].sum(), rel=1e-9
    )
    assert (total >= demand * 0.999).mean() > 0.3  # together they fill it in many hours
    frame = chosen.to_frame()
    assert frame["site_id"].iloc[-1] == "total"
    assert frame["marginal_delivered_heat_mwh_per_yr"].iloc[-1] == pytest.approx(total.sum())
    assert frame["standalone_delivered_heat_mwh_per_yr"].iloc[-1] > total.sum()


def test_must_run_supply_is_served_first(demo_results):
    p = demo_results.study.params
    one = demo_results.sites[demo_results.sites["feasible"]].iloc[0]
    served = 2.0 * float(one["available_heat_mwh_per_yr"])
    must_run = 0.4 * served
    chosen = portfolio(_one_network(demo_results, 3, served, must_run), 3)
    demand = demand_shape(demo_results.weather.to_numpy(), p, p.network_loss_share) * served
    left = chosen.network_demand_mw[chosen.network_of[0]]
    must = demand - left
    flat = must_run / len(demand)  # MW, flat, capped by the demand in each hour
    assert must == pytest.approx(np.minimum(flat, demand))
    assert must.sum() < must_run
    total = chosen.hourly_delivered_mw.sum(axis=0)
    assert (total + must <= demand * (1 + 1e-9) + 1e-9).all()
    shared = chosen.sites["heat_shared_away_mwh_per_yr"].to_numpy()
    assert shared[0] == pytest.approx(0.0, abs=1e-6) and (shared[1:] > 0).all()


def test_first_pick_and_standalone_claims_are_the_rankings(demo_results):
    chosen = portfolio(demo_results, 3)
    ranking = demo_results.sites.set_index("site_id")
    for _, row in chosen.sites.iterrows():
        ranked = ranking.loc[row["site_id"]]
        for name in ("delivered_heat_mwh_per_yr", "lcoh_eur_per_mwh", "npv_eur"):
            assert row[f"standalone_{name}"] == pytest.approx(ranked[name], rel=1e-9)
    head = chosen.sites.iloc[0]
    assert head["marginal_delivered_heat_mwh_per_yr"] == pytest.approx(
        head["standalone_delivered_heat_mwh_per_yr"], rel=1e-12
    )
    # sites on different networks of the demo (OSM pipes vs DH area) do not compete
    nets = chosen.network_of
    for i, net in enumerate(nets):
        if net not in nets[:i]:
            row = chosen.sites.iloc[i]
            assert row["heat_shared_away_mwh_per_yr"] == pytest.approx(0.0, abs=1e-6)


def _synthetic(n: int, seed: int, served_mwh: float, study: Study):
    """`n` routed candidates of random size and cooling on one network (as the benchmark)."""
    rng = np.random.default_rng(seed)
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"s{i:02d}" for i in range(n)],
            "name": "",
            "origin": "synthetic",
            "it_load_mw": rng.uniform(1.0, 25.0, n).round(1),
            "cooling": rng.choice(COOLING_TYPES, n),
        },
        geometry=shapely.points(rng.uniform(0, 5_000, (n, 2))),
        crs="EPSG:25832",
    )
    t = size_sources(sites, study.params)
    route_m = rng.uniform(100.0, 6_000.0, n)
    t["mode"] = "existing_network"
    t["route_length_m"] = route_m
    t["route_cost_eq_m"] = route_m * rng.uniform(1.0, 2.0, n)
    t["transfer_efficiency"] = (1 - 0.03 * route_m / 1000.0) * 0.95
    t["connection_station"] = True
    t["network_source"] = "file"
    t["served_demand_mwh_per_yr"] = served_mwh
    t["must_run_flat_mwh_per_yr"] = 0.1 * served_mwh
    t["must_run_solar_mwh_per_yr"] = 0.0
    t["lcoh_eur_per_mwh"] = np.nan
    return t


@pytest.mark.parametrize("objective", ["npv", "delivered_heat", "lcoh"])
def test_greedy_against_the_exact_search_on_small_cases(demo_results, objective):
    """The exact search is exact (every ordered set tried here independently, one site
    after the other) and the method's gap against it is measured: under 5 % here."""
    study = Study()
    weather = demo_results.weather
    gaps = []
    for seed in range(3):
        table = _synthetic(5, seed, served_mwh=200_000.0, study=study)
        res = _results(table, study, weather)
        chosen = portfolio(res, 3, objective)
        assert chosen.method == "greedy" and chosen.gap is not None
        engine = _Engine(table, study.params, weather, "existing_network", None)
        # every ordered set, run step by step in one batch (not the search's depth-first walk)
        sequences = [list(seq) for seq in itertools.permutations(range(len(table)), 3)]
        brute = max(_dispatch_many(engine, sequences, objective))
        # the batched runs give what one-by-one dispatch gives
        first = _value(_dispatch(engine, sequences[0])[0], objective)
        assert _dispatch_many(engine, sequences[:1], objective)[0] == pytest.approx(first)
        assert chosen.exact_value == pytest.approx(brute, rel=1e-9)
        assert chosen.exact_value >= chosen.value - 1e-9 * abs(brute)
        assert chosen.value >= chosen.greedy_value - 1e-9 * abs(brute)  # repairs never hurt
        assert chosen.gap == pytest.approx(
            (chosen.exact_value - chosen.value) / abs(chosen.exact_value), abs=1e-9
        )
        best = portfolio(res, 3, objective, exact=True)
        assert best.method == "exact" and best.value == pytest.approx(brute, rel=1e-9)
        gaps.append(chosen.gap)
    assert max(gaps) < 0.05, gaps


def test_portfolio_inputs_are_checked(demo_results):
    n_ok = int(demo_results.sites["feasible"].sum())
    with pytest.raises(InputDataError, match="feasible sites"):
        portfolio(demo_results, n_ok + 1)
    with pytest.raises(ConfigError, match="objective"):
        portfolio(demo_results, 2, objective="profit")
    with pytest.raises(ConfigError, match="whole number"):
        portfolio(demo_results, 0)
    with pytest.raises(ConfigError, match="exact_limit"):
        portfolio(demo_results, 3, exact=True, exact_limit=5)
    greedy_only = portfolio(demo_results, 2, exact=False)
    assert greedy_only.gap is None and "not computed" in greedy_only.method_text


def test_cli_writes_portfolio_csv(tmp_path, helsinki_pbf, capsys):
    from siting.cli import main

    sites = siting.demo_study().sites_path
    out = tmp_path / "run"
    code = main(
        [
            "run",
            "--osm",
            str(helsinki_pbf),
            "--sites",
            str(sites),
            "--out",
            str(out),
            "--no-map",
            "--portfolio",
            "2",
        ]
    )
    assert code == 0
    table = pd.read_csv(out / "portfolio.csv")
    assert list(table["site_id"].iloc[-1:]) == ["total"]
    assert len(table) == 3
    for col in (
        "marginal_delivered_heat_mwh_per_yr",
        "marginal_homes_served",
        "marginal_co2_avoided_t_per_yr",
        "marginal_lcoh_eur_per_mwh",
        "standalone_delivered_heat_mwh_per_yr",
        "method",
        "optimality_gap",
    ):
        assert col in table
    assert table["method"].str.startswith("greedy").all()
    assert "portfolio of 2" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        main(["run", "--osm", str(helsinki_pbf), "--portfolio", "0"])
    assert exc.value.code == 2
    assert "K must be a whole number >= 1" in capsys.readouterr().err
