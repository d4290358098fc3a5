"""`siting.area.project_in_place` and `Area.from_osm(consume=True)` give what `to_crs` gives."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from siting import area as area_mod
from siting.area import Area, project_in_place
from siting.sources.osm import OsmData

UTM32 = pyproj.CRS.from_epsg(25832)


def _frame(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x = 12.4 + rng.random(n) * 0.2
    y = 55.7 + rng.random(n) * 0.1
    geoms = shapely.buffer(shapely.points(x, y), 0.0002, quad_segs=2)
    geoms[::7] = None  # missing geometries stay missing
    return gpd.GeoDataFrame(
        {"id": np.arange(n), "building": ["yes"] * n}, geometry=geoms, crs="EPSG:4326"
    )


def test_project_in_place_equals_to_crs_in_chunks(monkeypatch):
    monkeypatch.setattr(area_mod, "PROJECT_CHUNK_ROWS", 7)  # many chunks, a short last one
    gdf = _frame(100)
    gdf.attrs["source"] = "test"
    expected = gdf.to_crs(UTM32)
    originals = gdf.geometry.values._data.copy()
    out = project_in_place(gdf, UTM32)
    assert out is gdf  # the frame itself, its columns not copied
    assert out.crs.equals(UTM32) and list(out.columns) == list(expected.columns)
    assert out.attrs == {"source": "test"}
    got = out.geometry.values._data
    want = expected.geometry.values._data
    assert (shapely.is_missing(got) == shapely.is_missing(want)).all()
    assert (shapely.to_wkb(got) == shapely.to_wkb(want)).all()  # bit for bit
    present = ~shapely.is_missing(originals)
    assert not any(a is b for a, b in zip(got[present], originals[present], strict=True))


def test_project_in_place_same_crs_is_to_crs():
    gdf = _frame(10).to_crs(UTM32)
    before = shapely.to_wkb(gdf.geometry.values._data)
    out = project_in_place(gdf, UTM32)
    assert (shapely.to_wkb(out.geometry.values._data) == before).all()


def _osm(n: int) -> OsmData:
    streets = gpd.GeoDataFrame(
        {"highway": ["residential"] * n},
        geometry=shapely.linestrings(
            np.stack([np.linspace(12.4, 12.6, n), np.linspace(55.7, 55.8, n)], -1)
            .repeat(2, axis=0)
            .reshape(n, 2, 2)
            + [[0, 0], [0.001, 0.0005]]
        ),
        crs="EPSG:4326",
    )
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")
    return OsmData(
        streets=streets,
        buildings=_frame(n, 1).dropna(subset=["geometry"]).reset_index(drop=True),
        heat_pipes=empty,
        heat_plants=empty,
        landuse=_frame(5, 2).iloc[:3].reset_index(drop=True),
        data_centers=empty,
        source="test",
    )


@pytest.mark.parametrize("crs", [None, "EPSG:25832"])
def test_from_osm_consume_equals_copy(crs):
    expected = Area.from_osm(_osm(50), crs=crs)
    osm = _osm(50)
    got = Area.from_osm(osm, crs=crs, consume=True)
    assert got.buildings is osm.buildings  # projected in place
    assert shapely.equals_exact(got.boundary, expected.boundary, 0)
    assert got.crs.equals(expected.crs)
    for name in ("streets", "buildings", "landuse", "railways", "power", "exclusions"):
        a, b = getattr(got, name), getattr(expected, name)
        assert a.crs.equals(b.crs), name
        wkb_a = shapely.to_wkb(a.geometry.values._data)
        assert (wkb_a == shapely.to_wkb(b.geometry.values._data)).all(), name


def test_from_osm_does_not_consume_shared_layers():
    osm = _osm(20)
    osm.landuse = osm.buildings  # one frame in two layers: projecting it twice would be wrong
    Area.from_osm(osm, crs="EPSG:25832", consume=True)
    assert osm.buildings.crs.equals("EPSG:4326")  # left as given


def test_drop_rows_keeps_columns_dtypes_and_crs():
    area = Area.from_osm(_osm(30), crs="EPSG:25832")
    before = area.buildings
    area.drop_rows("buildings")
    after = area.buildings
    assert len(after) == 0 and len(before) == 25  # 30, less the missing geometries
    assert set(after.columns) == set(before.columns)
    assert {c: after[c].dtype for c in after.columns} == {c: before[c].dtype for c in before}
    assert after.crs.equals(before.crs) and after.geometry.name == before.geometry.name
    # nothing shared: the empty frame holds no view of the old rows
    assert not np.may_share_memory(after.geometry.values._data, before.geometry.values._data)


def test_from_osm_leaves_a_layer_already_in_the_target_crs_spelt_apart(tmp_path):
    """A layer in the study CRS read back from a file (GeoParquet's PROJJSON: equal, not
    "exactly the same" to pyproj) is taken as it is, not projected onto itself point by
    point (a tiled run's estimated buildings)."""
    osm = _osm(30)
    sweref = pyproj.CRS.from_epsg(3006)  # a tiled run hands its workers the CRS as WKT
    osm.buildings.to_crs(pyproj.CRS.from_wkt(sweref.to_wkt())).to_parquet(tmp_path / "b.pq")
    buildings = gpd.read_parquet(tmp_path / "b.pq")
    assert buildings.crs == sweref and not buildings.crs.is_exact_same(sweref)
    osm.buildings = buildings
    got = Area.from_osm(osm, crs="EPSG:3006")
    assert got.buildings.crs.is_exact_same(got.crs)
    # the very geometries given: nothing was transformed
    assert all(
        a is b
        for a, b in zip(got.buildings.geometry.values, buildings.geometry.values, strict=True)
    )
    assert got.streets.crs.is_exact_same(got.crs)  # a lon/lat layer is still projected
