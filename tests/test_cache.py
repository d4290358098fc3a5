"""The street-graph cache: a second study on the same extract skips the street parse and
the graph build, gives identical results, and survives a damaged entry."""

from __future__ import annotations

import logging

import pandas as pd
import pytest
from conftest import shared_file

import siting
from siting import Study, cache


def _table(results) -> pd.DataFrame:
    return pd.DataFrame(results.sites.drop(columns="geometry")).reset_index(drop=True)


def test_second_study_hits_the_cache_with_identical_results(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache"))
    study = Study(osm_path=shared_file("osm", "odense_se_2025.osm.pbf"), out_dir=tmp_path)
    first = siting.run(study)
    assert first.timings_s["graph_cache_hit"] == 0.0
    entries = list((tmp_path / "cache").glob("streetgraph-*.npz"))
    assert len(entries) == 1
    assert not list((tmp_path / "cache").glob("*.tmp"))  # written atomically, nothing left
    with caplog.at_level(logging.INFO, logger="siting"):
        second = siting.run(study)
    assert second.timings_s["graph_cache_hit"] == 1.0
    assert any("street graph from the cache" in r.getMessage() for r in caplog.records)
    pd.testing.assert_frame_equal(_table(first), _table(second))
    assert first.routes.geometry.equals(second.routes.geometry)

    # other graph parameters are another entry
    dearer = study.replace(params=study.params.replace(crossing_cost_eur=50_000.0))
    assert siting.run(dearer).timings_s["graph_cache_hit"] == 0.0
    assert len(list((tmp_path / "cache").glob("streetgraph-*.npz"))) == 2

    # a damaged entry is rebuilt with a warning, and the results do not change
    entries[0].write_bytes(b"not a zip file")
    with caplog.at_level(logging.WARNING, logger="siting.cache"):
        third = siting.run(study)
    assert third.timings_s["graph_cache_hit"] == 0.0
    assert any("damaged" in r.getMessage() for r in caplog.records)
    pd.testing.assert_frame_equal(_table(first), _table(third))
    assert siting.run(study).timings_s["graph_cache_hit"] == 1.0


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache"))
    study = Study(osm_path=shared_file("osm", "odense_se_2025.osm.pbf"), use_cache=False)
    r = siting.run(study)
    assert "graph_cache_hit" in r.timings_s and r.timings_s["graph_cache_hit"] == 0.0
    assert not (tmp_path / "cache").exists()


def test_key_follows_file_content_and_parameters(tmp_path):
    a = tmp_path / "a.osm.pbf"
    b = tmp_path / "b.osm.pbf"
    a.write_bytes(b"x" * (3 << 20))  # several hash chunks
    b.write_bytes(b"x" * (3 << 20))
    args = ({"residential": 1.5}, ("footway",), 0.0, None)
    assert cache.graph_key(a, *args) == cache.graph_key(b, *args)  # content, not name
    b.write_bytes(b"x" * (3 << 20) + b"y")
    assert cache.graph_key(a, *args) != cache.graph_key(b, *args)
    assert cache.graph_key(a, *args) != cache.graph_key(a, {"residential": 2.0}, *args[1:])
    assert cache.graph_key(a, *args) != cache.graph_key(a, *args[:3], "EPSG:25832")
    with pytest.raises(FileNotFoundError):
        cache.graph_key(tmp_path / "missing.pbf", *args)


def test_xml_extract_is_encoded_once_and_hits_the_graph_cache(tmp_path, monkeypatch):
    """An .osm.gz is re-encoded to PBF once, kept under its SHA-256 (found again from another
    path), and a second study on it takes the street graph from the cache."""
    import shutil

    from siting.cachedir import file_sha256

    monkeypatch.setenv("SITING_CACHE_DIR", str(tmp_path / "cache"))
    xml = shared_file("osm", "copenhagen_north_lyngby_2022.osm.gz")
    copy = shutil.copy(xml, tmp_path / "lyngby-copy.osm.gz")
    study = Study(osm_path=xml, out_dir=tmp_path / "a")
    first = siting.run(study)
    encoded = list((tmp_path / "cache" / "osm").glob("*.osm.pbf"))
    assert [p.name for p in encoded] == [f"xml-{file_sha256(xml)[:40]}.osm.pbf"]
    stamp = encoded[0].stat().st_mtime_ns
    second = siting.run(study.replace(osm_path=copy, out_dir=tmp_path / "b"))
    assert second.timings_s["graph_cache_hit"] == 1.0
    assert encoded[0].stat().st_mtime_ns == stamp  # reused, not written again
    assert len(list((tmp_path / "cache" / "osm").iterdir())) == 1  # nothing piles up
    pd.testing.assert_frame_equal(_table(first), _table(second))


def test_background_writes_run_in_order_and_a_run_waits_for_them(caplog):
    """write_later runs the writes one at a time, in order, off the calling thread;
    wait_for_writes waits for all and raises (or with raising=False logs) what one raised."""
    import threading
    import time

    from siting import cachedir

    done: list[tuple[int, bool]] = []

    def write(i: int) -> None:
        time.sleep(0.02)
        done.append((i, threading.current_thread() is threading.main_thread()))

    for i in range(3):
        cachedir.write_later(write, i)
    cachedir.wait_for_writes()
    assert done == [(0, False), (1, False), (2, False)]

    def broken() -> None:
        raise ValueError("a bug in a cache write")

    cachedir.write_later(broken)
    cachedir.write_later(write, 3)
    with pytest.raises(ValueError, match="a bug"):
        cachedir.wait_for_writes()
    assert done[-1] == (3, False)  # the write after the failing one still ran
    cachedir.write_later(broken)
    with caplog.at_level(logging.ERROR, logger="siting.cachedir"):
        cachedir.wait_for_writes(raising=False)
    assert any("a bug in a cache write" in r.getMessage() for r in caplog.records)
    cachedir.wait_for_writes()  # nothing pending any more
