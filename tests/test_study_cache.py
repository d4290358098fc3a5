"""The layer, demand and result-set caches: a warm run hits them and gives the cold run's
ranking byte for byte; anything that shapes an entry misses; a damaged entry is ignored and
written again; the folder stays bounded and XML inputs leave nothing behind."""

from __future__ import annotations

import logging
import os
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

import siting
from siting import Study, cachedir, runcache, studycache
from siting.cli import main


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SITING_CACHE_DIR", str(folder))
    return folder


def _ranking_bytes(results, out: Path) -> bytes:
    results.to_files(out, map_html=False)
    return (out / "ranking.csv").read_bytes()


def _hits(results) -> tuple[float, float, float]:
    t = results.timings_s
    return t["graph_cache_hit"], t["layers_cache_hit"], t["demand_cache_hit"]


def test_warm_run_hits_the_layer_and_demand_caches_with_identical_ranking(
    helsinki_pbf, cache, tmp_path
):
    study = Study(osm_path=helsinki_pbf)
    cold = siting.run(study)
    assert _hits(cold) == (0.0, 0.0, 0.0)
    assert len(list(cache.glob("layers-*.zip"))) == 1
    assert len(list(cache.glob("demand-*.zip"))) == 1
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporaries left
    warm = siting.run(study)
    assert _hits(warm) == (1.0, 1.0, 1.0)
    assert _ranking_bytes(cold, tmp_path / "cold") == _ranking_bytes(warm, tmp_path / "warm")
    # the frames the caches return are the ones computed
    assert list(warm.buildings.columns) == list(cold.buildings.columns)
    assert warm.buildings.geometry.geom_equals_exact(cold.buildings.geometry, tolerance=0).all()
    assert warm.street_density.equals(cold.street_density)
    assert warm.notes == cold.notes

    # the graph cache gone, the layers entry still holds the streets to build it from
    for entry in cache.glob("streetgraph-*.npz"):
        entry.unlink()
    rebuilt = siting.run(study)
    assert _hits(rebuilt)[:2] == (0.0, 1.0)
    assert _ranking_bytes(rebuilt, tmp_path / "rebuilt") == _ranking_bytes(cold, tmp_path / "c2")


def test_a_change_that_shapes_an_entry_misses_it(helsinki_pbf, cache, tmp_path):
    study = Study(osm_path=helsinki_pbf)
    siting.run(study)
    # another CRS shapes the projected layers (and so the graph and the demand)
    other_crs = siting.run(study.replace(crs="EPSG:32635"))
    assert _hits(other_crs) == (0.0, 0.0, 0.0)
    # a demand parameter: layers and graph hit, the estimate is made again
    taller = siting.run(study.with_params(floor_height_m=3.2))
    assert _hits(taller) == (1.0, 1.0, 0.0)
    assert len(list(cache.glob("demand-*.zip"))) == 3
    # the same bytes under another name hit; changed bytes miss
    copy = tmp_path / "copy.osm.pbf"
    copy.write_bytes(helsinki_pbf.read_bytes())
    assert studycache.layers_key(copy, None) == studycache.layers_key(helsinki_pbf, None)
    changed = tmp_path / "changed.osm.pbf"
    changed.write_bytes(helsinki_pbf.read_bytes() + b"\0")
    assert studycache.layers_key(changed, None) != studycache.layers_key(helsinki_pbf, None)


def test_another_siting_or_library_version_misses(helsinki_pbf, monkeypatch):
    key = studycache.layers_key(helsinki_pbf, None)
    monkeypatch.setattr(cachedir, "_FINGERPRINT", ["another siting"])
    assert studycache.layers_key(helsinki_pbf, None) != key


@pytest.mark.parametrize("damage", ["truncated", "flipped"])
@pytest.mark.parametrize("kind", ["layers", "demand"])
def test_a_damaged_entry_is_ignored_and_written_again(
    helsinki_pbf, cache, tmp_path, kind, damage, caplog
):
    study = Study(osm_path=helsinki_pbf)
    cold = siting.run(study)
    (entry,) = cache.glob(f"{kind}-*.zip")
    data = bytearray(entry.read_bytes())
    if damage == "truncated":  # as by a full disk or a kill
        data = data[: len(data) // 2]
    else:  # one byte of a layer's values changed: only the CRC can tell
        data[len(data) // 3] ^= 0x01
    entry.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="siting.studycache"):
        again = siting.run(study)
    assert any("damaged" in r.getMessage() for r in caplog.records)
    index = {"layers": 1, "demand": 2}[kind]
    assert _hits(again)[index] == 0.0
    assert _ranking_bytes(again, tmp_path / "a") == _ranking_bytes(cold, tmp_path / "c")
    assert zipfile.ZipFile(entry).testzip() is None  # written again, whole
    assert _hits(siting.run(study))[index] == 1.0


def test_cli_warm_run_publishes_the_cached_set(helsinki_pbf, cache, tmp_path, capsys, caplog):
    args = ["run", "--osm", str(helsinki_pbf), "--no-map"]
    assert main([*args, "--out", str(tmp_path / "cold")]) == 0
    assert "ranked" in capsys.readouterr().out
    (entry,) = cache.glob("results-*")
    assert main([*args, "--out", str(tmp_path / "warm")]) == 0
    assert "from the cache" in capsys.readouterr().out
    for name in ("ranking.csv", "results.gpkg", "heat_density.tif"):
        assert (tmp_path / "warm" / name).read_bytes() == (tmp_path / "cold" / name).read_bytes()
    assert not (tmp_path / "warm" / "map.html").exists()
    # the map asked for: another set, computed
    assert main([*args[:-1], "-q", "--out", str(tmp_path / "map")]) == 0
    assert (tmp_path / "map" / "map.html").exists()
    assert len(list(cache.glob("results-*"))) == 2

    # a damaged cached file: warned, the study runs again, the entry is whole again
    ranking = entry / "ranking.csv"
    ranking.write_bytes(ranking.read_bytes()[:100])
    with caplog.at_level(logging.WARNING, logger="siting.runcache"):
        assert main([*args, "-q", "--out", str(tmp_path / "again")]) == 0
    assert any("damaged" in r.getMessage() for r in caplog.records)
    cold = (tmp_path / "cold" / "ranking.csv").read_bytes()
    assert (tmp_path / "again" / "ranking.csv").read_bytes() == cold
    assert ranking.read_bytes() == cold


def test_run_key_follows_inputs_and_their_content_and_ignores_the_output_folder(tmp_path):
    osm = tmp_path / "a.osm.pbf"
    osm.write_bytes(b"x" * 100)
    shp = tmp_path / "net.shp"
    shp.write_bytes(b"shape")
    (tmp_path / "net.dbf").write_bytes(b"table")
    study = Study(osm_path=osm, network_path=shp, out_dir=tmp_path / "one")
    outputs = {"map": True, "self_contained": True, "geoparquet": False}
    key = runcache.run_key(study, outputs)
    assert key == runcache.run_key(study.replace(out_dir=tmp_path / "two"), outputs)
    assert key != runcache.run_key(study, {**outputs, "map": False})
    assert key != runcache.run_key(study.with_params(discount_rate=0.05), outputs)
    osm.write_bytes(b"y" * 100)  # the same path, other bytes
    assert key != runcache.run_key(study, outputs)
    osm.write_bytes(b"x" * 100)
    assert key == runcache.run_key(study, outputs)
    # the same bytes elsewhere: outputs show the path (an unnamed study is named after it)
    moved = tmp_path / "moved.osm.pbf"
    moved.write_bytes(osm.read_bytes())
    assert key != runcache.run_key(study.replace(osm_path=moved), outputs)
    (tmp_path / "net.dbf").write_bytes(b"other table")  # a shapefile's side file changed
    assert key != runcache.run_key(study, outputs)
    assert runcache.run_key(study.replace(sites_path=tmp_path), outputs) is None  # a folder
    assert runcache.run_key(study.replace(sites_path=tmp_path / "no.csv"), outputs) is None


def test_evict_removes_the_least_recently_used_entries_only(tmp_path):
    folder = tmp_path / "cache"
    (folder / "osm").mkdir(parents=True)
    now = time.time()
    sizes = {"layers-a.zip": 400, "demand-b.zip": 300, "streetgraph-c.npz": 200}
    for age, (name, size) in enumerate(sizes.items()):
        (folder / name).write_bytes(b"x" * size)
        os.utime(folder / name, (now - 100 + age, now - 100 + age))  # a is the oldest
    (folder / "results-d").mkdir()
    (folder / "results-d" / "ranking.csv").write_bytes(b"x" * 100)
    (folder / "notes.txt").write_bytes(b"x" * 5000)  # not siting's: never removed
    (folder / ".layers-dead.zip.tmp").write_bytes(b"x")  # a killed run's temporary
    os.utime(folder / ".layers-dead.zip.tmp", (now - 7200, now - 7200))
    (folder / ".demand-live.zip.tmp").write_bytes(b"x")  # a write under way
    keep = folder / "layers-a.zip"
    cachedir.evict(folder, keep=keep, limit=750)
    left = sorted(p.name for p in folder.iterdir())
    assert left == [
        ".demand-live.zip.tmp",
        "layers-a.zip",
        "notes.txt",
        "osm",
        "results-d",
        "streetgraph-c.npz",
    ]


def test_max_cache_size_from_the_environment(monkeypatch, caplog):
    monkeypatch.setenv("SITING_CACHE_MAX_MB", "1.5")
    assert cachedir.max_bytes() == 1_500_000
    monkeypatch.setenv("SITING_CACHE_MAX_MB", "lots")
    with caplog.at_level(logging.WARNING, logger="siting.cachedir"):
        assert cachedir.max_bytes() == cachedir.DEFAULT_MAX_MB * 1_000_000
    assert "SITING_CACHE_MAX_MB" in caplog.text


@pytest.fixture(scope="module")
def helsinki_xml(helsinki_pbf, tmp_path_factory) -> Path:
    """The demo extract as OSM XML (written by libosmium)."""
    import osmium

    xml = tmp_path_factory.mktemp("xml") / "helsinki.osm"
    writer = osmium.SimpleWriter(str(xml))
    try:
        for obj in osmium.FileProcessor(str(helsinki_pbf)):
            writer.add(obj)
    finally:
        writer.close()
    return xml


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """$TMPDIR (and Python's cached temporary folder) set to an empty folder."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def test_xml_extract_hits_the_caches_and_leaves_nothing_behind(
    helsinki_xml, cache, tmp_path, private_tmp
):
    """An OSM XML extract is re-encoded once; later runs hit every cache, and three runs
    leave the temporary folder and the cache folder as the second run left them."""
    xml, tmp = helsinki_xml, private_tmp

    def listing() -> list[str]:
        return sorted(str(p.relative_to(tmp_path)) for p in (tmp, cache) for p in p.rglob("*"))

    study = Study(osm_path=xml)
    first = siting.run(study)
    assert _hits(first) == (0.0, 0.0, 0.0)
    second = siting.run(study)
    assert _hits(second) == (1.0, 1.0, 1.0)
    after_second = listing()
    assert _hits(siting.run(study)) == (1.0, 1.0, 1.0)
    assert listing() == after_second
    assert len(list((cache / "osm").iterdir())) == 1  # the one re-encoded copy
    assert not [name for name in after_second if "/." in name]  # no temporaries
    assert _ranking_bytes(first, tmp_path / "a") == _ranking_bytes(second, tmp_path / "b")
    args = ["run", "--osm", str(xml), "--no-map", "-q"]
    assert main([*args, "--out", str(tmp_path / "c1")]) == 0
    assert main([*args, "--out", str(tmp_path / "c2")]) == 0
    assert len(list(cache.glob("results-*"))) == 1
    cold = (tmp_path / "c1" / "ranking.csv").read_bytes()
    assert (tmp_path / "c2" / "ranking.csv").read_bytes() == cold


def test_xml_without_a_writable_cache_leaves_no_temporary_files(
    helsinki_xml, tmp_path, private_tmp, monkeypatch
):
    """Without a cache folder the XML is re-encoded to a temporary PBF on each run; what was
    read from that path (pyrosm keeps reads under $TMPDIR) goes with it."""
    from siting.sources.osm import read_osm

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SITING_CACHE_DIR", str(blocker / "cache"))
    for _ in range(2):
        assert len(read_osm(helsinki_xml).buildings) > 0
    assert [p for p in private_tmp.rglob("*") if p.is_file()] == []


def test_a_hit_shows_the_warnings_of_the_run_once(
    helsinki_pbf, cache, tmp_path, monkeypatch, caplog
):
    """Warnings the study logged are kept with its files and logged again on a hit."""
    import siting.pipeline

    original = siting.pipeline.served_demand_mwh

    def warns(*args, **kwargs):
        logging.getLogger("siting.stages.networks").warning("a warning the study logs")
        return original(*args, **kwargs)

    monkeypatch.setattr(siting.pipeline, "served_demand_mwh", warns)
    args = ["run", "--osm", str(helsinki_pbf), "--no-map", "-q"]
    for out in ("cold", "warm"):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert main([*args, "--out", str(tmp_path / out)]) == 0
        said = [r for r in caplog.records if r.getMessage() == "a warning the study logs"]
        assert [(r.name, r.levelno) for r in said] == [("siting.stages.networks", logging.WARNING)]
    assert len(list(cache.glob("results-*"))) == 1


def test_entries_keep_dtypes_and_refuse_what_they_cannot_keep(tmp_path, monkeypatch):
    """Text with gaps, categories, nullable integers, missing and empty geometries and attrs
    come back as they were; an object column of numbers (Arrow would make it int64), text
    with NaN for gaps (None would come back) or attrs JSON would change are not stored."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    kept = gpd.GeoDataFrame(
        {
            "name": pd.Series(["a", None, "c"], dtype=object),
            "note": pd.Series([None, None, "late"], dtype=object),  # text in the last chunk
            "kind": pd.Categorical(["x", "y", "x"]),
            "levels": pd.array([1, None, 3], dtype="Int64"),
            "geometry": [shapely.Point(1, 2), None, shapely.Polygon()],
        },
        crs="EPSG:25832",
    )
    kept.attrs = {"warnings": {"building:levels": 2}}
    assert kept["name"].dtype == object  # as pyrosm's readers give text
    path = tmp_path / "layers-x.zip"
    monkeypatch.setattr(studycache, "CHUNK_ROWS", 2)  # two row groups
    assert studycache._write_entry(path, {"kept": kept}, {}) == path
    frames, _ = studycache._read_entry(path)
    pd.testing.assert_frame_equal(frames["kept"], kept)
    assert frames["kept"]["name"].dtype == object and frames["kept"]["name"][1] is None
    assert frames["kept"].crs == kept.crs and frames["kept"].attrs == kept.attrs

    numbers = kept.assign(name=pd.Series([1, None, 3], dtype=object))
    assert studycache._write_entry(tmp_path / "layers-y.zip", {"n": numbers}, {}) is None
    nan_gap = kept.assign(name=pd.Series(["a", float("nan"), "c"], dtype=object))
    assert studycache._write_entry(tmp_path / "layers-w.zip", {"w": nan_gap}, {}) is None
    tupled = kept.copy()
    tupled.attrs = {"filter": ("a", "b")}  # JSON gives a list back
    assert studycache._write_entry(tmp_path / "layers-z.zip", {"t": tupled}, {}) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["layers-x.zip"]


def test_file_hash_is_remembered_only_for_files_not_just_changed(tmp_path, monkeypatch):
    """The hash memo serves a file whose times are older than the clock's tick; a file
    rewritten within the same tick (same size, maybe the same times) is hashed again."""
    monkeypatch.setattr(cachedir, "_SHA_MEMO", {})
    path = tmp_path / "extract.osm.pbf"
    path.write_bytes(b"a" * 64)
    first = cachedir.file_sha256(path)
    path.write_bytes(b"b" * 64)  # same size, likely the same coarse mtime and ctime
    assert cachedir.file_sha256(path) != first
    assert cachedir._SHA_MEMO == {}  # just written: not remembered
    monkeypatch.setattr(cachedir, "RACY_S", -60.0)  # as if the file were a minute old
    digest = cachedir.file_sha256(path)
    assert list(cachedir._SHA_MEMO.values()) == [digest]
    assert cachedir.file_sha256(path) == digest  # from the memo


def test_a_result_set_too_large_for_the_cache_is_not_kept(
    helsinki_pbf, cache, tmp_path, monkeypatch
):
    monkeypatch.setenv("SITING_CACHE_MAX_MB", "0.4")  # a quarter: 100 kB
    args = ["run", "--osm", str(helsinki_pbf), "--no-map", "-q"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert (tmp_path / "a" / "results.gpkg").stat().st_size > 100_000
    assert not list(cache.glob("results-*"))
    monkeypatch.setenv("SITING_CACHE_MAX_MB", "2048")
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert len(list(cache.glob("results-*"))) == 1


def test_graph_key_follows_the_code_fingerprint(helsinki_pbf, monkeypatch):
    from siting import cache

    args = ({"residential": 1.5}, ("footway",), 0.0, None)
    key = cache.graph_key(helsinki_pbf, *args)
    monkeypatch.setattr(cachedir, "_FINGERPRINT", ["another siting"])
    assert cache.graph_key(helsinki_pbf, *args) != key


def test_an_entry_over_a_quarter_of_the_bound_is_not_written(tmp_path, monkeypatch):
    """A country's layers would cost seconds to write and evict every other entry."""
    import geopandas as gpd
    import shapely

    from siting import studycache

    gdf = gpd.GeoDataFrame(
        {"a": range(2_000)}, geometry=shapely.points(range(2_000), range(2_000)), crs=3857
    )
    monkeypatch.setenv("SITING_CACHE_MAX_MB", "1")  # a quarter: 256 KB; the frame ~48 KB
    assert studycache._write_entry(tmp_path / "small.zip", {"x": gdf}, {}) is not None
    big = gpd.GeoDataFrame(
        {"a": range(20_000)}, geometry=shapely.points(range(20_000), range(20_000)), crs=3857
    )  # ~480 KB
    assert studycache._write_entry(tmp_path / "big.zip", {"x": big}, {}) is None
    assert not (tmp_path / "big.zip").exists()
    assert not list(tmp_path.glob("*.tmp"))
