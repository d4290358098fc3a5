"""The power grid, land and capacity of generated sites, and each site's grid connection
(issue 15): siting.sources.power, siting.sources.sites, stage connect_grid, price, ranking."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import shared_file

import siting
from siting import Params, Study
from siting.errors import ConfigError, InputDataError
from siting.ranking import pareto_front, rank_sites
from siting.sources.osm import read_osm
from siting.sources.power import substations, voltage_kv
from siting.sources.sites import exclusion_zones, generate_sites
from siting.stages.grid import ALONG_ROADS, STRAIGHT_LINE, voltage_threshold_kv

UTM = "EPSG:32632"
LYNGBY = ("osm", "copenhagen_north_lyngby_2022.osm.pbf")


# --------------------------------------------------------------------------- reading


def test_voltage_tags_read_as_the_highest_level_in_kv():
    got = voltage_kv(["400000;132000;50000;10000", "10000;400", "?;1650", "132 kV", None, "", "x"])
    assert got[:4] == pytest.approx([400.0, 10.0, 1.65, 132.0])
    assert np.isnan(got[4:]).all()


def test_lyngby_power_layer_holds_every_mapped_substation():
    """Counted independently with pyosmium: every power=substation node and way is read."""
    import osmium

    pbf = shared_file(*LYNGBY)
    n_sub = sum(
        1
        for kind in (osmium.osm.NODE, osmium.osm.WAY)
        for obj in osmium.FileProcessor(str(pbf), kind)
        if obj.tags.get("power") == "substation"
    )
    osm = read_osm(pbf, streets=False)
    assert (osm.power["power"] == "substation").sum() == n_sub >= 160  # issue: "160+"
    lines = osm.power[osm.power["power"].isin(["line", "cable"])]
    kv = voltage_kv(lines["voltage"].tolist())
    assert (kv == 132).sum() >= 14 and (kv == 50).sum() >= 17  # issue's line counts
    crs = osm.buildings.estimate_utm_crs()
    subs = substations(osm.power.to_crs(crs))
    top = subs.loc[subs["voltage_kv"].idxmax()]
    assert top["voltage_kv"] == 400 and top["voltage"] == "400000;132000;50000;10000"
    assert set(osm.exclusions["exclusion"]) >= {"residential", "water", "nature_reserve"}


def test_untagged_substation_takes_the_voltage_of_the_lines_ending_at_it():
    power = gpd.GeoDataFrame(
        {
            "id": [1, 2, 3, 4],
            "osm_type": ["way", "way", "way", "node"],
            "power": ["substation", "line", "line", "substation"],
            "voltage": [None, "132000", "400000", "50000;10000"],
            "name": ["A", "", "", "B"],
        },
        geometry=[
            shapely.box(0, 0, 40, 40),
            shapely.LineString([(55, 20), (3000, 20)]),  # ends 15 m from A
            shapely.LineString([(-500, 300), (500, 300)]),  # passes 260 m away
            shapely.Point(5000, 0),
        ],
        crs=UTM,
    )
    subs = substations(power).set_index("name")
    assert subs.loc["A", "voltage_kv"] == 132 and subs.loc["A", "voltage_source"] == "lines"
    assert subs.loc["B", "voltage_kv"] == 50 and subs.loc["B", "voltage_source"] == "tag"
    assert subs.loc["B", "substation_id"] == "node/4"


def test_voltage_threshold_follows_the_sourced_size_classes():
    # UK practice (the parameter's source): 33 kV class from 10 MW, 132 kV from 50 MW,
    # 275/400 kV from 200 MW; below 10 MW medium voltage
    p = Params()
    got = voltage_threshold_kv(np.array([0.5, 9.9, 10.0, 49.0, 60.0, 250.0]), p)
    assert list(got) == [10, 10, 30, 30, 110, 220]
    with pytest.raises(ConfigError, match="grid_voltage_kv_by_mw"):
        Params(grid_voltage_kv_by_mw={"ten": 10.0})


# --------------------------------------------------------------------------- land, capacity


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=UTM)


def _zones(rows: list[tuple[str, shapely.Geometry]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"exclusion": [k for k, _ in rows]}, geometry=[g for _, g in rows], crs=UTM
    )


def test_capacity_follows_usable_land_and_exclusions_drop_sites(tmp_path):
    box = shapely.box
    landuse = _frame(
        [  # 30 ha: 60 MW at 2 MW/ha; 80 ha: capped at 100 MW; 20 ha half under a lake
            {"id": 1, "landuse": "industrial", "geometry": box(0, 0, 600, 500)},
            {"id": 2, "landuse": "industrial", "geometry": box(2000, 0, 2800, 1000)},
            {"id": 3, "landuse": "commercial", "geometry": box(5000, 0, 5400, 500)},
            {"id": 4, "landuse": "industrial", "geometry": box(8000, 0, 8300, 300)},
        ]
    )
    buildings = _frame(
        [  # a warehouse in a residential area, and one on its own in the open
            {"id": 10, "building": "warehouse", "geometry": box(12000, 0, 12060, 50)},
            {"id": 11, "building": "warehouse", "geometry": box(15000, 0, 15060, 50)},
        ]
    )
    empty = _frame([{"geometry": box(0, 0, 1, 1)}]).iloc[:0]
    zones = _zones(
        [
            ("water", box(5000, 250, 5400, 500)),  # the north half of parcel 3
            ("residential", box(11900, -100, 12200, 200)),
        ]
    )
    # the user's own layer (flood zones) covers parcel 4
    flood = tmp_path / "flood.geojson"
    gpd.GeoDataFrame(geometry=[box(7900, -100, 8400, 400)], crs=UTM).to_crs(4326).to_file(flood)
    study = Study(exclusion_path=flood)
    zones_all = pd.concat([zones, exclusion_zones(None, study, UTM)], ignore_index=True).pipe(
        gpd.GeoDataFrame, geometry="geometry", crs=UTM
    )
    sites = generate_sites(buildings, landuse, empty, study, None, zones_all)
    sites = sites.set_index("site_id")
    assert set(sites.index) == {"osm-way-1", "osm-way-2", "osm-way-3", "osm-way-11"}
    assert sites.loc["osm-way-1", "it_load_mw"] == pytest.approx(60.0)
    assert sites.loc["osm-way-1", "qualified_by"] == "landuse=industrial"
    assert sites.loc["osm-way-2", "it_load_mw"] == pytest.approx(100.0)
    assert "capped at 100 MW" in sites.loc["osm-way-2", "capacity_basis"]
    assert sites.loc["osm-way-3", "site_area_m2"] == pytest.approx(100_000.0)  # half of 20 ha
    assert sites.loc["osm-way-3", "it_load_mw"] == pytest.approx(20.0)
    assert sites.loc["osm-way-11", "it_load_mw"] == pytest.approx(3000 / 1e4 * 2.0)
    assert sites.loc["osm-way-11", "qualified_by"] == "building=warehouse"
    note = " ".join(sites.attrs["notes"])
    assert "2 OSM candidate site(s) left out" in note and "residential 1" in note
    assert "user 1" in note
    # a density of 0 gives every site the flat default (the earlier behaviour)
    flat = generate_sites(buildings, landuse, empty, Study(site_it_density_mw_per_ha=0), None)
    assert (flat["it_load_mw"] == Study().default_it_load_mw).all()


def test_one_site_per_parcel_named_after_a_building_on_it():
    box = shapely.box
    landuse = _frame([{"id": 1, "landuse": "industrial", "geometry": box(0, 0, 600, 500)}])
    buildings = _frame(
        [
            {
                "id": 10,
                "building": "office",
                "name": "Acme A/S",
                "geometry": box(400, 300, 460, 360),
            },
            {"id": 11, "building": "warehouse", "geometry": box(2000, 0, 2060, 50)},
        ]
    )
    empty = _frame([{"geometry": box(0, 0, 1, 1)}]).iloc[:0]
    sites = generate_sites(buildings, landuse, empty, Study(), None).set_index("site_id")
    assert "osm-way-10" not in sites.index  # same parcel as osm-way-1: one site
    assert sites.loc["osm-way-1", "label"] == "Industrial parcel, Acme A/S"
    assert sites.loc["osm-way-1", "it_load_mw"] == pytest.approx(30.0 * 2.0)  # 30 ha


def test_bad_exclusion_settings_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="site_exclusions"):
        Study(site_exclusions=("lava",))
    with pytest.raises(InputDataError, match="does not exist"):
        exclusion_zones(None, Study(exclusion_path=tmp_path / "nope.geojson"), UTM)
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(10, 55)], crs=4326).to_file(points)
    with pytest.raises(InputDataError, match="no polygons"):
        exclusion_zones(None, Study(exclusion_path=points), UTM)


# --------------------------------------------------------------------------- Lyngby


@pytest.fixture(scope="module")
def lyngby():
    return siting.run(Study(osm_path=shared_file(*LYNGBY), out_dir="unused"))


def test_lyngby_sites_carry_substation_distance_and_voltage(lyngby):
    s = lyngby.sites
    assert len(s) >= 10
    assert s["substation_id"].astype(str).str.len().gt(0).all()
    assert np.isfinite(s["grid_distance_m"]).all()
    # each connects at or above the voltage its grid demand needs
    assert (s["substation_voltage_kv"] >= s["grid_voltage_min_kv"]).all()
    assert set(s["grid_voltage_min_kv"]) >= {10.0, 30.0, 110.0}
    big = s[s["grid_voltage_min_kv"] >= 110]
    assert (big["substation_name"] == "Glentegård transformerstation").all()
    # along the streets is never shorter than the straight line
    roads = s["grid_distance_basis"] == ALONG_ROADS
    assert roads.sum() >= len(s) // 2
    assert (s.loc[roads, "grid_distance_m"] >= s.loc[roads, "grid_straight_line_m"] - 1).all()
    # the grid demand and the grid connection's own CAPEX and LCOH line
    p = lyngby.study.params
    demand = s["it_load_mw"] * p.pue + s["heat_pump_mw"] / s["cop_system"]
    assert s["grid_demand_mw"].to_numpy() == pytest.approx(demand.to_numpy())
    capex = 3_300.0 * s["grid_demand_mw"] * s["grid_distance_m"] / 1000.0
    ok = s["feasible"].astype(bool)
    assert s.loc[ok, "grid_capex_eur"].to_numpy() == pytest.approx(capex[ok].to_numpy())
    terms = s[
        [
            "lcoh_capital_eur_per_mwh",
            "lcoh_om_eur_per_mwh",
            "lcoh_electricity_eur_per_mwh",
            "lcoh_grid_eur_per_mwh",
        ]
    ].sum(axis=1)
    assert terms[ok].to_numpy() == pytest.approx(s.loc[ok, "lcoh_eur_per_mwh"].to_numpy())
    assert (s.loc[ok, "lcoh_grid_eur_per_mwh"] > 0).all()
    cost = s["annual_cost_eur_per_yr"] / s["delivered_heat_mwh_per_yr"]
    assert cost[ok].to_numpy() == pytest.approx(s.loc[ok, "lcoh_eur_per_mwh"].to_numpy())


def test_lyngby_capacities_differ_by_parcel_and_the_top_is_not_the_shortest_route(lyngby):
    s = lyngby.sites
    assert s["it_load_mw"].nunique() >= len(s) - 1
    assert s["it_load_mw"].max() > 10 * s["it_load_mw"].min()
    expected = np.minimum(s["site_area_m2"] / 10_000 * 2.0, 100.0)
    assert s["it_load_mw"].to_numpy() == pytest.approx(expected.to_numpy())
    assert s["qualified_by"].str.match(r"(landuse|building|telecom)=").all()
    ok = s[s["feasible"].astype(bool)]
    top = ok.head(3)
    assert top["route_length_m"].min() > ok["route_length_m"].min()
    rho = ok["rank"].corr(ok["route_length_m"], method="spearman")
    assert rho < 0.5  # rank is not route length in disguise
    assert not any(n.startswith("All candidates have the same IT load") for n in lyngby.notes)
    assert any("left out on excluded land" in n for n in lyngby.notes)


def test_far_sites_are_flagged_not_dropped_and_straight_lines_say_so(lyngby):
    study = lyngby.study.replace(
        params=lyngby.study.params.replace(
            grid_max_distance_m=1_000.0, grid_distance_method="straight_line"
        )
    )
    res = siting.run(study)
    s = res.sites.set_index("site_id")
    base = lyngby.sites.set_index("site_id")
    assert set(s.index) == set(base.index)
    assert (s["grid_distance_basis"] == STRAIGHT_LINE).all()
    assert s["grid_distance_m"].to_numpy() == pytest.approx(s["grid_straight_line_m"].to_numpy())
    far = s["grid_distance_m"] > 1_000.0
    assert far.any() and (~s.loc[far, "grid_within_reach"]).all()
    assert s.loc[far, "grid_flag"].str.contains("beyond grid_max_distance_m").all()
    assert s.loc[far, "feasible"].astype(bool).sum() == base.loc[far, "feasible"].sum()
    assert res.grid_lines is not None and len(res.grid_lines) == len(s)


# --------------------------------------------------------------------------- ranking


def test_pareto_front_and_score_include_grid_distance_and_homes():
    t = pd.DataFrame(
        {
            "site_id": ["a", "b", "c", "d"],
            "feasible": True,
            "lcoh_eur_per_mwh": [30.0, 31.0, 32.0, 29.0],
            "homes_served": [100, 100, 90, 50],
            "grid_distance_m": [5_000.0, 500.0, 600.0, np.nan],
            "route_length_m": [100.0, 100.0, 100.0, 100.0],
            "co2_avoided_t_per_yr": [1.0, 1.0, 1.0, 1.0],
        }
    )
    front = dict(zip(t["site_id"], pareto_front(t), strict=True))
    # b is worse than a on LCOH but 4.5 km nearer the grid: on the front; c is dominated by b
    assert front == {"a": True, "b": True, "c": False, "d": True}
    two_d = dict(zip(t["site_id"], pareto_front(t, minimise="lcoh_eur_per_mwh"), strict=True))
    assert not two_d["b"]
    ranked = rank_sites(t, "score", {"grid_distance": 1.0})
    assert list(ranked["site_id"]) == ["b", "c", "a", "d"]  # unknown grid scores last


def test_score_weights_accept_grid_distance():
    study = Study(ranking="score", score_weights={"lcoh": 0.5, "grid_distance": 0.5})
    assert study.score_weights["grid_distance"] == 0.5
    assert "grid_distance" in Study().score_weights
    json.dumps(Study().score_weights)  # plain numbers, YAML/JSON friendly


# --------------------------------------------------------------------------- map, report


def test_map_and_report_show_each_sites_grid_connection(lyngby):
    import re

    from matplotlib.colors import to_hex

    from siting import maps
    from siting.locator import locator_map_figure
    from siting.maps.colours import _GRID_COLOR
    from siting.report import _summary, _table

    m = lyngby.map(top_n_routes=5)
    page = m.get_root().render()
    (legend_box,) = [c for c in m._children.values() if isinstance(c, maps._Legend)]
    assert "Power grid" in page
    # the substations the top sites use, and every other of at least 30 kV
    assert page.count("siting-substation-icon") >= 3
    assert "Glentegård transformerstation, 400 kV" in page
    top5 = lyngby.sites.head(5)
    name = top5["substation_name"].iloc[0]
    # the cable's tooltip (GeoJSON: non-ASCII escaped)
    assert re.search(r"Grid: #1 [^\"]* to " + re.escape(json.dumps(name)[1:-1]), page)
    assert f"Grid: {top5['grid_distance_m'].iloc[0] / 1000:,.1f} km" in page  # the popup
    legend = re.search(r'data-layer="Power grid" data-colors="([^"]*)"', legend_box.html)
    assert legend and legend[1] == _GRID_COLOR
    others = re.findall(r'data-layer="(?!Power grid)[^"]*" data-colors="([^"]*)"', legend_box.html)
    assert len(others) >= 2
    assert all(_GRID_COLOR not in colours.split() for colours in others)
    columns, rows = _table(top5)
    titles = [c["title"] for c in columns]
    assert "Grid km" in titles and "Grid kV" in titles
    kv = rows[0]["cells"][titles.index("Grid kV")]
    assert float(kv) == top5["substation_voltage_kv"].iloc[0]
    assert "kV substation" in _summary(lyngby)
    fig = locator_map_figure(lyngby, top5)
    ax = fig.axes[0]
    grid_colour = [c for c in ax.collections if len(c.get_edgecolor())]
    assert any(to_hex(c.get_edgecolor()[0]) == _GRID_COLOR for c in grid_colour)
