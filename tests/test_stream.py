"""Streaming ingest: a PBF clipped to an area in GeoParquet equals read_osm on that area."""

from __future__ import annotations

import shapely
from conftest import shared_file

from siting.sources.osm import read_osm
from siting.sources.stream import LAYERS, clip_osm, clip_to_parquet, read_osm_parquet

BBOX = (12.52, 55.755, 12.57, 55.785)  # a quarter of the Lyngby extract


def _same_layers(a, b) -> None:
    for name in LAYERS:
        x, y = getattr(a, name), getattr(b, name)
        assert len(x) == len(y), name
        assert set(x.columns) == set(y.columns), name
        assert shapely.equals_exact(x.geometry.values, y.geometry.values, 0).all(), name
    assert (
        a.streets[["u", "v", "highway"]].values == b.streets[["u", "v", "highway"]].values
    ).all()


def test_streamed_clip_matches_read_osm_and_is_reused(tmp_path):
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    full = read_osm(pbf)
    expected = clip_osm(full, BBOX)
    assert 0 < len(expected.streets) < len(full.streets)
    store = clip_to_parquet(pbf, BBOX, tmp_path / "store", method="stream")
    _same_layers(expected, read_osm_parquet(store))
    # a polygon read of the store = the same polygon clipped from read_osm
    poly = shapely.Point(12.545, 55.77).buffer(0.01)
    _same_layers(clip_osm(full, poly), read_osm_parquet(store, poly))
    # written once: a second call with the same file and area returns the store untouched
    stamp = (store / "streets.parquet").stat().st_mtime_ns
    assert clip_to_parquet(pbf, BBOX, store) == store
    assert (store / "streets.parquet").stat().st_mtime_ns == stamp
    # the in-memory method gives the same store content
    mem = clip_to_parquet(pbf, BBOX, tmp_path / "mem", method="memory")
    _same_layers(read_osm_parquet(store), read_osm_parquet(mem))
