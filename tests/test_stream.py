"""Streaming ingest: a PBF clipped to an area in GeoParquet equals read_osm on that area."""

from __future__ import annotations

import pandas as pd
import pyarrow.parquet as pq
import pytest
import shapely
from conftest import shared_file

from siting.sources import ingest
from siting.sources.osm import read_osm
from siting.sources.stream import (
    LAYERS,
    clip_osm,
    clip_to_parquet,
    read_osm_parquet,
    store_meta,
)

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


@pytest.mark.parametrize("method", ["ingest", "osmium"])
def test_streamed_clip_matches_read_osm_and_is_reused(tmp_path, method):
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    full = read_osm(pbf)
    expected = clip_osm(full, BBOX)
    assert 0 < len(expected.streets) < len(full.streets)
    store = clip_to_parquet(pbf, BBOX, tmp_path / "store", method=method, flush_rows=5_000)
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


def _same_store(a, b) -> None:
    """Every layer of two stores: rows in `_row` order, columns, values, dtypes, geometry."""
    x_all, y_all = read_osm_parquet(a, keep_row=True), read_osm_parquet(b, keep_row=True)
    for name in LAYERS:
        x, y = getattr(x_all, name), getattr(y_all, name)
        assert list(x.columns) == list(y.columns), name
        assert len(x) == len(y), name
        assert shapely.equals_exact(x.geometry.values, y.geometry.values, 0).all(), name
        for col in x.columns.drop("geometry"):
            assert str(x[col].dtype) == str(y[col].dtype), (name, col)
            pd.testing.assert_series_equal(
                x[col].astype(object), y[col].astype(object), check_names=False
            )


def _row_groups(path) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


@pytest.mark.skipif(not ingest.available(), reason="the one-pass reader's decoder is missing")
def test_ingested_store_in_chunks_is_the_in_memory_store(tmp_path, helsinki_pbf):
    """The streamed store, handed on in many small chunks, holds read_osm's layers: the
    same rows in the same `_row` order, columns, dtypes and geometries."""
    mem = clip_to_parquet(helsinki_pbf, None, tmp_path / "mem", method="memory")
    streamed = clip_to_parquet(
        helsinki_pbf, None, tmp_path / "ing", method="ingest", flush_rows=500
    )
    # several chunks were written (each chunk is at least one row group; the ways of this
    # small extract are in one block, its address nodes in several)
    assert _row_groups(streamed / "addresses.parquet") >= 2
    assert store_meta(streamed)["method"] == "ingest"
    _same_store(streamed, mem)
    # a bounding box read finds the same features in both stores
    box = (24.935, 60.165, 24.945, 60.172)
    _same_layers(read_osm_parquet(streamed, box), read_osm_parquet(mem, box))
    # nothing half-written is left beside the store
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ing", "mem"]


@pytest.mark.skipif(not ingest.available(), reason="the one-pass reader's decoder is missing")
def test_ingest_into_a_store_that_exists_replaces_it_whole(tmp_path, helsinki_pbf, monkeypatch):
    """A failed ingest leaves the earlier store as it was and no temporary folder."""
    out = clip_to_parquet(helsinki_pbf, None, tmp_path / "store", method="ingest")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}

    def broken(*args, **kwargs):
        raise RuntimeError("disk gone")

    monkeypatch.setattr(ingest, "stream_layers", broken)
    with pytest.raises(RuntimeError, match="disk gone"):
        clip_to_parquet(helsinki_pbf, None, out, method="ingest", overwrite=True)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["store"]


@pytest.mark.skipif(not ingest.available(), reason="the one-pass reader's decoder is missing")
def test_a_write_failing_on_the_writer_thread_fails_the_ingest_cleanly(
    tmp_path, helsinki_pbf, monkeypatch
):
    """The store's writer thread fails on a later chunk: the ingest raises that error, no
    write goes on after it, and no temporary folder is left."""
    import threading

    calls = []
    real = pq.ParquetWriter.write_table

    def failing(self, table, *args, **kwargs):
        calls.append(threading.current_thread().name)
        if len(calls) == 5:
            raise OSError("no space left on device")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    with pytest.raises(OSError, match="no space left"):
        clip_to_parquet(helsinki_pbf, None, tmp_path / "store", method="ingest", flush_rows=500)
    assert list(tmp_path.iterdir()) == []
    assert all(name.startswith("siting-store") for name in calls)  # written on the thread
    n = len(calls)
    assert not any(t.name.startswith("siting-store") for t in threading.enumerate())
    assert len(calls) == n


@pytest.mark.skipif(not ingest.available(), reason="the one-pass reader's decoder is missing")
def test_ingested_chunks_of_ways_match_on_a_real_extract(tmp_path, monkeypatch):
    """One block a batch: the ways of many batches, added on two threads out of order,
    are handed on in file order, chunk by chunk."""
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    mem = clip_to_parquet(pbf, None, tmp_path / "mem", method="memory")
    monkeypatch.setattr(ingest, "BATCH_BLOBS", 1)
    streamed = clip_to_parquet(pbf, None, tmp_path / "ing", method="ingest", flush_rows=4_000)
    assert _row_groups(streamed / "buildings.parquet") >= 2
    assert _row_groups(streamed / "streets.parquet") >= 2
    _same_store(streamed, mem)


@pytest.mark.skipif(not ingest.available(), reason="the one-pass reader's decoder is missing")
def test_ingested_data_centers_come_last_as_read_osm_puts_them(tmp_path, monkeypatch):
    """read_osm appends the buildings tagged data_center to the data-center layer; the
    streamed store does it once, after the last chunk, so the order is read_osm's."""
    from test_ingest import _square, _write

    objs = []
    for k in range(40):  # buildings over several blocks, every tenth a data center
        objs += _square(1_000 + 10 * k, 12.50 + 0.002 * k, 55.70)
    objs += [("n", (50, (12.53, 55.71), {"telecom": "data_center", "name": "Node DC"}))]
    objs += [("n", (60_000 + i, (12.6, 55.6 + i * 1e-6), {})) for i in range(9_000)]
    objs.sort(key=lambda o: o[1][0])  # a sorted file: nodes by id, then the ways
    for k in range(40):
        ring = [1_000 + 10 * k + i for i in (0, 1, 2, 3, 0)]
        tags = {"building": "data_center" if k % 10 == 0 else "yes"}
        objs.append(("w", (10 + k, ring, tags)))
    # a block of streets, then a data center mapped as a way: a later chunk than the
    # buildings tagged data_center, yet before them in read_osm's layer
    objs += [("w", (100 + i, [1_000, 1_011], {"highway": "residential"})) for i in range(8_100)]
    objs.append(("w", (9_000, [1_020, 1_021, 1_022, 1_020], {"telecom": "data_center"})))
    path = tmp_path / "dc.osm.pbf"
    _write(path, objs)
    mem = clip_to_parquet(path, None, tmp_path / "mem", method="memory")
    monkeypatch.setattr(ingest, "BATCH_BLOBS", 1)
    streamed = clip_to_parquet(path, None, tmp_path / "ing", method="ingest", flush_rows=1)
    _same_store(streamed, mem)
    dc = read_osm_parquet(streamed).data_centers
    assert list(dc["id"]) == [50, 9_000, 10, 20, 30, 40]


def test_layer_coordinates_for_hulls(tmp_path, helsinki_pbf):
    """A layer's vertices without its features: all of them, or those of the features whose
    box meets an area's (a superset of the features meeting the area itself)."""
    import numpy as np

    from siting.sources.stream import read_layer_coordinates

    store = clip_to_parquet(helsinki_pbf, None, tmp_path / "s", method="memory")
    streets = read_osm_parquet(store, layers=("streets",)).streets
    whole = read_layer_coordinates(store, "streets")
    want = shapely.get_coordinates(streets.geometry.values)
    np.testing.assert_array_equal(np.sort(whole, axis=0), np.sort(want, axis=0))
    area = shapely.Point(24.94, 60.168).buffer(0.004)
    some = read_layer_coordinates(store, "streets", area)
    inside = shapely.get_coordinates(read_osm_parquet(store, area, ("streets",)).streets.geometry)
    assert 0 < len(inside) <= len(some) < len(whole)
    assert {tuple(c) for c in inside} <= {tuple(c) for c in some}
    assert read_layer_coordinates(store, "no_such_layer").shape == (0, 2)
