"""Buildings kept as parts go to the GeoPackage as stored WKB, and their heat cells come
from centroid files: both must give what the whole frame gives (bytes, cells)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import pytest
import shapely

from siting.building_parts import BuildingParts, write_centroids
from siting.errors import InputDataError
from siting.raster import CellSums, centroid_xy
from siting.results import _plain_columns, multi_wkb, write_gpkg_layers

CRS = "EPSG:25832"


SINGLE = [
    "POINT (1 2)",
    "LINESTRING (0 0, 1 1, 2 0)",
    "POLYGON ((0 0, 10 0, 10 10, 0 10, 0 0), (2 2, 3 2, 3 3, 2 2))",
]
MULTI_OF = {0: shapely.multipoints, 1: shapely.multilinestrings, 3: shapely.multipolygons}


@pytest.mark.parametrize("wkt", SINGLE)
@pytest.mark.parametrize("byte_order", [0, 1])
def test_multi_wkb_is_shapelys_multi_of_one(wkt, byte_order):
    geom = shapely.from_wkt(wkt)
    want = shapely.to_wkb(MULTI_OF[shapely.get_type_id(geom)]([geom]), byte_order=byte_order)
    (got,) = multi_wkb(pa.array([shapely.to_wkb(geom, byte_order=byte_order)])).to_pylist()
    assert got == want
    assert shapely.from_wkb(got).equals(shapely.from_wkb(want))


def test_multi_wkb_of_a_mixed_array_with_nulls_and_3d():
    rng = np.random.default_rng(3)
    geoms = [shapely.from_wkt(w) for w in SINGLE]
    geoms += [
        shapely.from_wkt("MULTIPOLYGON (((0 0, 1 0, 1 1, 0 0)))"),
        shapely.from_wkt("POLYGON Z ((0 0 1, 1 0 1, 1 1 1, 0 0 1))"),  # ISO 3D: left alone
        None,
    ]
    picks, orders = rng.integers(0, len(geoms), 500), rng.integers(0, 2, 500)
    given, want = [], []
    for k, order in zip(picks, orders, strict=True):
        g = geoms[k]
        wkb = None if g is None else shapely.to_wkb(g, byte_order=int(order), flavor="iso")
        given.append(wkb)
        single = g is not None and not g.has_z and shapely.get_type_id(g) in MULTI_OF
        multi = MULTI_OF[shapely.get_type_id(g)]([g]) if single else None
        want.append(shapely.to_wkb(multi, byte_order=int(order)) if single else wkb)
    arr = pa.array(given, pa.binary())
    assert multi_wkb(arr).to_pylist() == want
    assert multi_wkb(arr.slice(7, 100)).to_pylist() == want[7:107]  # an offset array


def _translate(geoms: np.ndarray) -> np.ndarray:
    """The geometries shifted 60 m east (a second polygon beside each)."""
    return shapely.transform(geoms, lambda c: c + [60.0, 0.0])


def _buildings(n: int, seed: int) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(500_000, 520_000, n), rng.uniform(6_170_000, 6_190_000, n)
    boxes = shapely.box(x, y, x + rng.uniform(5, 40, n), y + rng.uniform(5, 40, n))
    # every third a multipolygon: the layer then promotes the others
    two = shapely.multipolygons(np.stack([boxes, _translate(boxes)], axis=1))
    geoms = np.where(np.arange(n) % 3 == 0, two, boxes)
    return gpd.GeoDataFrame(
        {
            "osm_id": np.arange(n, dtype=np.int64),
            "heat_demand_mwh_per_yr": rng.uniform(0, 300, n).round(3),
            "use": pd.array(rng.choice(["residential", "office", None], n), dtype=object),
        },
        geometry=geoms,
        crs=CRS,
    )


@pytest.fixture
def parts(tmp_path):
    frames = [_buildings(n, seed) for seed, n in enumerate((700, 1, 1300))]
    paths, cents = [], []
    for k, frame in enumerate(frames):
        paths.append(tmp_path / f"part{k}.parquet")
        frame.to_parquet(paths[-1], write_covering_bbox=True)  # as the tiles write them
        cents.append(tmp_path / f"part{k}-centroids.parquet")
        write_centroids(cents[-1], *centroid_xy(np.asarray(frame.geometry.values)))
    whole = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=CRS)
    return BuildingParts(paths, CRS, centroid_paths=cents), whole


def test_gpkg_layer_from_stored_wkb_is_the_whole_frames(parts, tmp_path):
    bp, whole = parts
    assert bp.geometry_type() == ("MultiPolygon", True)
    got, want = tmp_path / "parts.gpkg", tmp_path / "whole.gpkg"
    write_gpkg_layers(got, {"buildings": bp})
    write_gpkg_layers(want, {"buildings": _plain_columns(whole)})
    a = pyogrio.read_dataframe(got, fid_as_index=True)
    b = pyogrio.read_dataframe(want, fid_as_index=True)
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert (a.geometry.to_wkb() == b.geometry.to_wkb()).all()
    assert pyogrio.read_info(got)["geometry_type"] == "MultiPolygon"
    assert "bbox" not in a.columns  # the covering column stays out of the layer


def test_cells_from_centroid_files_are_the_polygons_bit_for_bit(parts):
    bp, whole = parts
    want = CellSums()
    want.add(whole)
    got = bp.cell_sums()
    np.testing.assert_array_equal(got.key, want.key)
    np.testing.assert_array_equal(got.total, want.total)  # exact: same order of adds
    np.testing.assert_array_equal(got.n, want.n)
    # another grid, in the buildings' own CRS
    coarse = CellSums(250.0, CRS)
    coarse.add(whole)
    np.testing.assert_array_equal(bp.cell_sums(250.0, None).total, coarse.total)


def test_a_centroid_file_of_other_buildings_is_refused(parts, tmp_path):
    bp, _ = parts
    write_centroids(bp.centroid_paths[0], np.zeros(3), np.zeros(3))
    with pytest.raises(InputDataError, match="centroids for the 700 buildings"):
        bp.cell_sums()


def test_columns_with_text_as_categories_hold_the_same_values(parts):
    bp, whole = parts
    cols = ["use", "heat_demand_mwh_per_yr", "osm_id"]
    plain = bp.read_columns(cols)
    compact = bp.read_columns(cols, text_as_category=True)
    assert isinstance(compact["use"].dtype, pd.CategoricalDtype)
    assert list(compact["use"].cat.categories) == sorted(whole["use"].dropna().unique())

    def text(col: pd.Series) -> list:
        return col.astype(object).where(col.notna(), "<missing>").tolist()

    assert text(compact["use"]) == text(plain["use"])
    assert compact["use"].isna().sum() == whole["use"].isna().sum() > 0
    pd.testing.assert_frame_equal(compact.drop(columns="use"), plain.drop(columns="use"))
    pd.testing.assert_series_equal(
        compact["use"].value_counts().sort_index(),
        plain["use"].value_counts().sort_index(),
        check_index_type=False,
        check_categorical=False,
    )
