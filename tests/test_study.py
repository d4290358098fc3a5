"""End-to-end studies on real OSM extracts: ranking, files, determinism."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import shared_file

import siting
import siting.recovery
from siting import Study
from siting.ranking import RANKING_COLUMNS

REQUIRED = [
    "site_id",
    "rank",
    "lcoh_eur_per_mwh",
    "homes_served",
    "delivered_heat_mwh_per_yr",
    "recovered_heat_mw",
    "cop",
    "route_length_m",
    "pipe_dn",
    "capex_eur",
    "npv_eur",
    "co2_avoided_t_per_yr",
    "erf",
    "geometry",
]


def test_demo_uses_osm_heat_pipes_and_ranks_sites(demo_results):
    r = demo_results
    assert r.mode == "existing_network"
    assert r.network is not None and (r.network["kind"] == "pipe").sum() >= 10
    sites = r.sites
    assert set(REQUIRED) <= set(sites.columns)
    assert len(sites) >= 5
    assert list(sites["rank"]) == list(range(1, len(sites) + 1))
    ok = sites[sites["feasible"]]
    assert len(ok) >= 3
    # feasible sites come first, by LCOH ascending
    assert sites["feasible"].iloc[: len(ok)].all()
    assert (np.diff(ok["lcoh_eur_per_mwh"].to_numpy()) >= 0).all()
    assert (ok["route_length_m"] > 0).all() and (ok["pipe_dn"] >= 100).all()
    assert (ok["capex_eur"] > ok["pipe_capex_eur"]).all()
    # route geometry length agrees with the reported route length
    routes = r.routes.set_index("site_id")
    for _, row in ok.head(5).iterrows():
        assert routes.loc[row.site_id, "geometry"].length == pytest.approx(
            row.route_length_m, rel=0.02, abs=2.0
        )


def test_demo_numbers_follow_the_model(demo_results):
    """Hourly mode (default): each feasible site obeys MODEL.md's balances hour by hour."""
    p = siting.Params()
    ok = demo_results.sites[demo_results.sites["feasible"]]
    assert set(ok["cooling"]) >= {"air_coil", "liquid"}
    assert (ok["recovery_model"] == "hourly").all()
    for _, row in ok.iterrows():
        f_cap = p.capture_fraction[row.cooling]
        assert row.recovered_heat_mw == pytest.approx(f_cap * row.it_load_mw * 0.8)
        # energy balance: heat-pump output = DC heat reused + heat-pump electricity
        assert row.heat_pump_delivered_mwh_per_yr == pytest.approx(
            row.reused_heat_mwh_per_yr + row.heat_pump_electricity_mwh_per_yr, rel=1e-9
        )
        assert row.reused_heat_mwh_per_yr + row.wasted_heat_mwh_per_yr == pytest.approx(
            row.recovered_heat_mw * 8760
        )
        assert row.delivered_heat_mwh_per_yr == pytest.approx(
            row.heat_pump_delivered_mwh_per_yr * row.transfer_efficiency
        )
        assert 0 < row.utilisation <= 1
        assert row.delivered_heat_mwh_per_yr <= demo_results.network_demand_mwh_per_yr + 1e-6
        assert row.homes_served == np.floor(row.delivered_heat_mwh_per_yr / 14.0)
        assert row.erf == pytest.approx(row.reused_heat_mwh_per_yr / row.dc_energy_mwh_per_yr)
        assert row.meets_enefg_2026 == (row.erf >= 0.10)
        assert row.co2_avoided_t_per_yr > 0
        parts = (
            row.lcoh_capital_eur_per_mwh
            + row.lcoh_om_eur_per_mwh
            + row.lcoh_electricity_eur_per_mwh
        )
        assert parts == pytest.approx(row.lcoh_eur_per_mwh, rel=1e-9)
    # a 1-2 MW site's heat stays below the network's summer load: all of it is used
    # (less the heat pump's planned maintenance: availability 0.95, MODEL.md §8.1)
    small = ok[ok["it_load_mw"] <= 2]
    assert len(small) and np.allclose(small["utilisation"], small["utilisation"].iloc[0])
    assert 0.94 <= small["utilisation"].iloc[0] < 1.0
    # the 30 MW site outgrows the network in summer: it wastes heat and ranks lower
    big = ok.set_index("site_id").loc["hel-7"]
    assert big.utilisation < 0.9 and big.wasted_heat_mwh_per_yr > 0
    assert big.utilisation < small["utilisation"].min()
    assert "exceeds" in big.absorption_note  # flagged: summer takes less than its heat pump
    # liquid cooling lifts from 50 °C: a better COP than air-coil's, but a real machine's
    # (MODEL.md §8.1: between 4 and 7), with a preheat exchanger doing part of the lift
    by_cooling = ok.groupby("cooling")[["cop", "cop_system", "preheat_share"]].first()
    assert 4.0 <= by_cooling.loc["liquid", "cop"] <= 7.0
    assert by_cooling.loc["liquid", "cop"] > by_cooling.loc["air_coil", "cop"]
    assert (
        by_cooling.loc["liquid", "preheat_share"] > 0 == by_cooling.loc["air_coil", "preheat_share"]
    )
    assert by_cooling.loc["liquid", "cop_system"] > by_cooling.loc["liquid", "cop"]
    assert np.isfinite(ok["cop"]).all()  # no source is hot enough for direct exchange
    # the site outside the extract stays in the table, last, with its reason
    last = demo_results.sites.iloc[-1]
    assert not last.feasible and "outside" in last.reason


def test_annual_shortcut_follows_the_model(helsinki_osm, tmp_path):
    """recovery_model='annual': delivered = Q_del x 8760 x u less route losses (MODEL.md §3)."""
    p = siting.Params(recovery_model="annual", cop_model="lorenz")  # MODEL.md §2-3 as written
    study = siting.demo_study(tmp_path).replace(params=p)
    ok = siting.run(study, osm=helsinki_osm).sites.query("feasible")
    for _, row in ok.iterrows():
        cop = siting.recovery.lorenz_cop(
            p.source_in_c[row.cooling], p.source_out_c[row.cooling], 40, 75, eta=0.5
        )
        assert row.cop == pytest.approx(cop)
        offered = row.recovered_heat_mw * cop / (cop - 1) * 8760 * 0.75
        assert row.heat_pump_delivered_mwh_per_yr == pytest.approx(offered)
        assert 0.9 * offered < row.delivered_heat_mwh_per_yr < offered
        f_cap = p.capture_fraction[row.cooling]
        assert row.erf == pytest.approx(f_cap * 0.75 / 1.2, rel=1e-6)  # Q_src*u / E_DC


def test_hourly_network_demand_and_storage(helsinki_osm, tmp_path):
    """A bigger network takes more of a big site's heat; storage never delivers less."""
    base = siting.demo_study(tmp_path)
    small = siting.run(base, osm=helsinki_osm).sites.set_index("site_id")
    p_big = siting.Params(network_annual_demand_mwh=2_000_000)
    big = siting.run(base.replace(params=p_big), osm=helsinki_osm).sites.set_index("site_id")
    assert big.loc["hel-7", "utilisation"] > small.loc["hel-7", "utilisation"] + 0.1
    small_site = big.loc["hel-4", "utilisation"]  # 1 MW: only the maintenance weeks lost
    assert big.loc["hel-7", "utilisation"] == pytest.approx(small_site, abs=0.01)
    p_tank = siting.Params(storage_mwh=50.0)
    tank = siting.run(base.replace(params=p_tank), osm=helsinki_osm).sites.set_index("site_id")
    ids = small.index[small["feasible"]]
    assert (
        tank.loc[ids, "delivered_heat_mwh_per_yr"]
        >= small.loc[ids, "delivered_heat_mwh_per_yr"] - 1e-6
    ).all()
    # a site whose heat is sometimes above, sometimes below the load within a day gains
    assert tank.loc[ids, "storage_gain_mwh_per_yr"].max() > 0
    assert (tank.loc[ids, "storage_gain_mwh_per_yr"] >= 0).all()


def test_files_written_atomically(demo_results, tmp_path):
    files = demo_results.to_files(tmp_path / "out")
    assert {p.name for p in (tmp_path / "out").iterdir()} == {
        ".siting-manifest.json",  # the published set (siting.outputs)
        "ranking.csv",
        "results.gpkg",
        "heat_density.tif",
        "map.html",
    }
    table = pd.read_csv(files["ranking"])
    assert list(table.columns[: len(RANKING_COLUMNS)]) == RANKING_COLUMNS
    assert len(table) == len(demo_results.sites)
    b = gpd.read_file(files["gpkg"], layer="buildings")
    assert {"floor_area_m2", "dwellings", "heat_demand_mwh_per_yr"} <= set(b.columns)
    assert len(gpd.read_file(files["gpkg"], layer="sites")) == len(table)
    assert len(gpd.read_file(files["gpkg"], layer="routes")) == int(table["feasible"].sum())
    from siting.raster import read_heat_density

    grid, _, crs, unit = read_heat_density(files["heat_density"])
    assert crs.to_epsg() == 3035 and unit == "MWh/ha/yr"
    total = demo_results.buildings["heat_demand_mwh_per_yr"].sum()
    assert grid.sum() == pytest.approx(total, rel=1e-5)  # 1 ha cells: MWh/ha = MWh
    html = files["map"].read_text()
    assert "OpenStreetMap contributors" in html
    assert demo_results.sites["site_id"].iloc[0] in html


def test_same_input_same_ranking(helsinki_osm, tmp_path):
    a = siting.run(siting.demo_study(tmp_path), osm=helsinki_osm)
    b = siting.run(siting.demo_study(tmp_path), osm=helsinki_osm)
    cols = ["site_id", "rank", "lcoh_eur_per_mwh", "homes_served", "route_length_m"]
    pd.testing.assert_frame_equal(
        pd.DataFrame(a.sites[cols]), pd.DataFrame(b.sites[cols]), check_exact=True
    )


def test_score_ranking_option(helsinki_osm, tmp_path):
    study = siting.demo_study(tmp_path).replace(ranking="score")
    r = siting.run(study, osm=helsinki_osm)
    ok = r.sites[r.sites["feasible"]]
    assert ok["score"].between(0, 1).all()
    assert (np.diff(ok["score"].to_numpy()) <= 0).all()


def test_sites_file_with_loads_and_an_unreachable_site(helsinki_osm, tmp_path):
    import shapely

    pts = gpd.GeoSeries(
        [
            shapely.Point(24.9410, 60.1690),  # central, near Helen's pipes
            shapely.Point(24.9450, 60.1720),
            shapely.Point(25.2000, 60.1700),  # ~14 km east: outside the extract
        ],
        crs="EPSG:4326",
    )
    sites = gpd.GeoDataFrame(
        {"site_id": ["a", "b", "far"], "it_load_mw": [2.0, 20.0, 5.0]}, geometry=pts
    )
    path = tmp_path / "sites.geojson"
    sites.to_file(path)
    study = siting.demo_study(tmp_path).replace(sites_path=path)
    r = siting.run(study, osm=helsinki_osm)
    s = r.sites.set_index("site_id")
    assert not s.loc["far", "feasible"] and s.loc["far", "rank"] == 3
    assert "outside" in s.loc["far", "reason"]
    # 10x the IT load: 10x the recovered heat and a bigger pipe
    assert s.loc["b", "recovered_heat_mw"] == pytest.approx(10 * s.loc["a", "recovered_heat_mw"])
    assert s.loc["b", "pipe_dn"] > s.loc["a", "pipe_dn"]


def test_odense_new_local_network():
    """Without the registry, SE Odense has no network and no DH area: new local networks."""
    path = shared_file("osm", "odense_se_2025.osm.pbf")
    r = siting.run(Study(osm_path=path, use_builtin_registry=False))
    assert r.mode == "new_local_network"
    ok = r.sites[r.sites["feasible"]]
    assert len(ok) >= 1
    lhd = ok["delivered_heat_mwh_per_yr"] / ok["route_length_m"]
    # the network kept is viable: connected demand per metre of trench >= 1.5 MWh/m/yr
    assert (ok["linear_heat_density_mwh_per_m"] >= 1.5).all()
    assert (lhd > 0).all()
    assert (ok["buildings_connected"] >= 1).all()
    assert (ok["delivered_heat_mwh_per_yr"] <= ok["available_heat_mwh_per_yr"]).all()


def test_lyngby_existing_network_from_osm_pipeline():
    path = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    r = siting.run(Study(osm_path=path))
    assert len(r.buildings) > 15_000
    assert r.mode == "existing_network"
    assert r.sites["feasible"].sum() >= 5
    assert r.sites["site_id"].is_unique


def test_xml_and_pbf_give_the_same_study():
    xml = shared_file("osm", "aarhus_center_2021.osm")
    pbf = shared_file("osm", "aarhus_center_2021.osm.pbf")
    a = siting.run(Study(osm_path=xml)).sites
    b = siting.run(Study(osm_path=pbf)).sites
    cols = ["site_id", "rank", "delivered_heat_mwh_per_yr", "route_length_m"]
    pd.testing.assert_frame_equal(pd.DataFrame(a[cols]), pd.DataFrame(b[cols]))


def test_weather_file_scales_demand_and_hourly_operation(helsinki_osm, demo_results, tmp_path):
    """Helsinki's colder year (HDD17 4374 vs ~2960 in the typical Danish year) raises demand."""
    epw = shared_file("weather", "FIN_Helsinki.029740_IWEC.epw")
    study = siting.demo_study(tmp_path).replace(weather_path=epw)
    r = siting.run(study, osm=helsinki_osm)
    assert len(r.weather) == 8760 and r.weather.min() < -15
    ratio = (
        r.buildings["heat_demand_mwh_per_yr"].sum()
        / demo_results.buildings["heat_demand_mwh_per_yr"].sum()
    )
    expected = 0.2 + 0.8 * 4374 / 2956  # dhw share + space heating x HDD ratio (PROVENANCE)
    assert ratio == pytest.approx(expected, rel=0.03)
    assert any("degree-days" in n for n in r.notes)
    # a bigger network demand lets the 30 MW site sell more of its heat
    big = r.sites.set_index("site_id").loc["hel-7"]
    base = demo_results.sites.set_index("site_id").loc["hel-7"]
    assert big.utilisation > base.utilisation


def test_street_heat_density_layer(demo_results, tmp_path):
    """Streets carry the demand of the buildings beside them; viable ones are on the map."""
    lhd = demo_results.street_density
    total = demo_results.buildings["heat_demand_mwh_per_yr"].sum()
    assert lhd["heat_demand_mwh_per_yr"].sum() == pytest.approx(
        total - lhd.attrs["unassigned_mwh_per_yr"], rel=1e-6
    )
    assert lhd.attrs["unassigned_mwh_per_yr"] < 0.05 * total
    ok = lhd["length_m"] > 0
    assert np.allclose(
        lhd.loc[ok, "linear_heat_density_mwh_per_m"],
        lhd.loc[ok, "heat_demand_mwh_per_yr"] / lhd.loc[ok, "length_m"],
    )
    assert (lhd["viable"] == (lhd["linear_heat_density_mwh_per_m"] >= 1.5)).all()
    html = demo_results.map().get_root().render()
    assert "Streets worth a pipe" in html
    files = demo_results.to_files(tmp_path / "o", map_html=False)
    layer = gpd.read_file(files["gpkg"], layer="street_heat_density")
    assert len(layer) == int((lhd["heat_demand_mwh_per_yr"] > 0).sum())


def test_osm_heat_pipes_away_from_streets_fall_back_to_local_networks(helsinki_osm, tmp_path):
    """Stray OSM heat pipes no street reaches do not fail a default study (issue 2 checks)."""
    import dataclasses

    import shapely

    far = gpd.GeoDataFrame(
        geometry=[shapely.LineString([(25.30, 60.30), (25.31, 60.30)])], crs="EPSG:4326"
    )  # ~25 km north-east of the extract
    osm = dataclasses.replace(helsinki_osm, heat_pipes=far)
    no_areas = siting.demo_study(tmp_path).replace(params=siting.Params(dh_areas=False))
    r = siting.run(no_areas, osm=osm)
    assert r.mode == "new_local_network"
    assert any("set aside" in n for n in r.notes)
    # by default the heat-density DH areas stand in for the unusable pipes
    r = siting.run(siting.demo_study(tmp_path), osm=osm)
    assert r.mode == "existing_network"
    ok = r.sites[r.sites["feasible"]]
    assert len(ok) and (ok["network_source"] == "heat_density_areas").all()
    # the same pipes given as the user's own network file are an error naming the problem
    path = tmp_path / "far.geojson"
    far.to_file(path)
    with pytest.raises(siting.SitingError, match="km from the streets"):
        siting.run(siting.demo_study(tmp_path).replace(network_path=path), osm=helsinki_osm)
