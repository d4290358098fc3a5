"""Country benchmark: a synthetic country of N x N copies of a real extract, single vs tiled.

    python benchmarks/country.py                 # N = 4 and 8, single and tiled
    python benchmarks/country.py --n 16 --only tiled --tiles 64   # default: 16 tiles
    python benchmarks/country.py --n 8 --only ingest   # the readers alone

The country is generated, never committed: N x N copies of
`../shared/data/osm/copenhagen_north_lyngby_2022.osm.pbf` (2 MB, ~20 k buildings), each
shifted by whole extract widths/heights (plus a 1 km gap) and given fresh ids (every object
renumbered densely per type, copy k taking ids k * count + 1 ...), written as one sorted
PBF in a temp folder (`$SITING_COUNTRY_DIR`, default `<tmp>/siting-country`, reused by
later runs). Two processes write the copies; the parts are concatenated blob by blob.

Each measured run is its own process, so its peak RSS is its own; every run prints one
JSON line:

* `ingest`: the file read by libosmium alone (decode only; with node locations, i.e.
  way geometries assembled in C++: the limit of any reader), by the siting ingest
  (:func:`siting.sources.ingest.ingest_pbf`) and, up to `--pyrosm-max-mb`, by pyrosm
  (`read_osm`'s old path), in MB/s of PBF;
* `store`: the streamed store build of a tiled run (`siting.sources.stream.ingest_to_parquet`:
  read, post-processed and written to GeoParquet chunk by chunk) in MB/s of PBF, peak RSS;
* `single`: `siting.run` in one process on the PBF, then `Results.to_files` (with map);
* `tiled`: `run_tiled` with `--tiles` grid tiles on a LocalCluster of 2 single-threaded
  worker processes; peak RSS of the client and of each worker.

Caches (street graph, pyrosm's, the ingest store) are fresh for every run. With
``SITING_RSS_LOG=<file>`` the single run appends each stage's seconds and RSS now/peak
(MB) to that file, then the same for the whole run and for `to_files`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parent.parent / "shared" / "data" / "osm" / "copenhagen_north_lyngby_2022.osm.pbf"
MODES = ("ingest", "store", "single", "tiled")  # each run in its own process
GAP_DEG = 0.015  # ~1 km between copies: no street joins two copies

# --------------------------------------------------------------------------- generation

_SRC: dict = {}  # the source extract as plain lists, loaded once (inherited by fork)


def _load_source(path: Path) -> dict:
    import numpy as np
    import osmium

    nodes, ways, rels = [], [], []
    for o in osmium.FileProcessor(str(path)):
        tags = [(t.k, t.v) for t in o.tags]
        if o.is_node():
            nodes.append((o.id, o.location.lon, o.location.lat, tags))
        elif o.is_way():
            ways.append((o.id, [n.ref for n in o.nodes], tags))
        else:
            rels.append((o.id, [(m.type, m.ref, m.role) for m in o.members], tags))
    # dense ids per type over every id the file has or refers to (missing members stay missing)
    node_ids = {n[0] for n in nodes} | {r for w in ways for r in w[1]}
    node_ids |= {m[1] for r in rels for m in r[1] if m[0] == "n"}
    way_ids = {w[0] for w in ways} | {m[1] for r in rels for m in r[1] if m[0] == "w"}
    rel_ids = {r[0] for r in rels} | {m[1] for r in rels for m in r[1] if m[0] == "r"}
    maps = {
        k: {old: i + 1 for i, old in enumerate(sorted(ids))}
        for k, ids in (("n", node_ids), ("w", way_ids), ("r", rel_ids))
    }
    lon = np.array([n[1] for n in nodes])
    lat = np.array([n[2] for n in nodes])
    return {
        "nodes": [(maps["n"][n[0]], n[3]) for n in nodes],
        "lon": lon,
        "lat": lat,
        "ways": [(maps["w"][w[0]], [maps["n"][r] for r in w[1]], w[2]) for w in ways],
        "rels": [
            (maps["r"][r[0]], [(t, maps[t][ref], role) for t, ref, role in r[1]], r[2])
            for r in rels
        ],
        "count": {k: len(v) for k, v in maps.items()},
        "bounds": (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())),
    }


def _copy_shift(k: int, n: int) -> tuple[float, float]:
    x0, y0, x1, y1 = _SRC["bounds"]
    i, j = divmod(k, n)
    return j * (x1 - x0 + GAP_DEG), i * (y1 - y0 + GAP_DEG)


def _write_part(job: tuple[str, int, int, str]) -> str:
    """Write one object type of copy `k` (of an n x n grid) to its own PBF."""
    import osmium

    kind, k, n, out = job
    m = osmium.osm.mutable
    c = _SRC["count"]
    Path(out).unlink(missing_ok=True)
    with osmium.SimpleWriter(out) as w:
        if kind == "n":
            dx, dy = _copy_shift(k, n)
            off = k * c["n"]
            lons = (_SRC["lon"] + dx).tolist()
            lats = (_SRC["lat"] + dy).tolist()
            for (nid, tags), x, y in zip(_SRC["nodes"], lons, lats, strict=True):
                w.add_node(m.Node(id=nid + off, location=(x, y), tags=tags))
        elif kind == "w":
            off, noff = k * c["w"], k * c["n"]
            for wid, refs, tags in _SRC["ways"]:
                w.add_way(m.Way(id=wid + off, nodes=[r + noff for r in refs], tags=tags))
        else:
            off = {t: k * c[t] for t in "nwr"}
            for rid, members, tags in _SRC["rels"]:
                mem = [(t, ref + off[t], role) for t, ref, role in members]
                w.add_relation(m.Relation(id=rid + off["r"], members=mem, tags=tags))
    return out


def _blobs(path: Path, skip_header: bool) -> bytes:
    """The file's raw blobs (length, BlobHeader, Blob), without the OSMHeader blob if asked."""
    data = path.read_bytes()
    if not skip_header:
        return data
    hlen = int.from_bytes(data[:4], "big")
    header = data[4 : 4 + hlen]
    from siting.sources.osm import _blob_datasize

    return data[4 + hlen + _blob_datasize(header) :]


def make_country(n: int, folder: Path | None = None, source: Path = SOURCE) -> Path:
    """`country-<n>x<n>.osm.pbf` in `folder` (made once; reused while the source is the same)."""
    import osmium

    folder = Path(folder or os.environ.get("SITING_COUNTRY_DIR") or _default_dir())
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"country-{n}x{n}.osm.pbf"
    stamp = folder / f"country-{n}x{n}.json"
    key = {"source": str(source), "size": source.stat().st_size, "n": n, "gap": GAP_DEG}
    if out.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == key:
        return out
    t = time.perf_counter()
    _SRC.update(_load_source(source))
    parts = folder / f"parts-{n}"
    parts.mkdir(exist_ok=True)
    jobs = [(kind, k, n, str(parts / f"{kind}{k:05d}.pbf")) for kind in "nwr" for k in range(n * n)]
    with mp.get_context("fork").Pool(2) as pool:
        files = pool.map(_write_part, jobs, chunksize=1)
    # one header carrying the whole country's box (readers use it for the bounds)
    x0, y0, x1, y1 = _SRC["bounds"]
    dx, dy = _copy_shift(n * n - 1, n)
    header = osmium.io.Header()
    header.add_box(
        osmium.osm.Box(osmium.osm.Location(x0, y0), osmium.osm.Location(x1 + dx, y1 + dy))
    )
    head = parts / "header.pbf"
    head.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(head), 4096, header):
        pass
    tmp = out.with_suffix(".tmp")
    with tmp.open("wb") as fh:
        fh.write(head.read_bytes())
        for f in files:
            fh.write(_blobs(Path(f), skip_header=True))
    os.replace(tmp, out)
    shutil.rmtree(parts)
    stamp.write_text(json.dumps(key))
    print(
        f"# made {out} ({out.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s",
        file=sys.stderr,
    )
    return out


def _default_dir() -> Path:
    return Path(tempfile.gettempdir()) / "siting-country"


# --------------------------------------------------------------------------- measured runs


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rate(path: Path, seconds: float) -> float:
    return round(path.stat().st_size / 1e6 / seconds, 2)


def libosmium_limits(pbf: Path) -> dict:
    """MB/s of libosmium alone: decode only, and decode + node locations (C++ handlers only)."""
    import osmium

    t = time.perf_counter()
    osmium.apply(
        osmium.io.Reader(str(pbf)), osmium.NodeLocationsForWays(osmium.index.create_map("flex_mem"))
    )
    with_loc = time.perf_counter() - t
    t = time.perf_counter()
    osmium.apply(osmium.io.Reader(str(pbf)))
    decode = time.perf_counter() - t
    return {
        "libosmium_decode_mb_s": _rate(pbf, decode),
        "libosmium_locations_mb_s": _rate(pbf, with_loc),
    }


def child_ingest(pbf: Path, pyrosm_max_mb: float) -> dict:
    """The readers on the whole file: libosmium's limits, the siting ingest, pyrosm."""
    out: dict = {"mode": "ingest", **libosmium_limits(pbf)}
    try:
        from siting.sources.ingest import read_layers
    except ImportError:  # an older tree without the one-pass reader
        read_layers = None
    if read_layers is not None:
        t = time.perf_counter()
        layers = read_layers(pbf)
        seconds = time.perf_counter() - t
        out["ingest_s"] = round(seconds, 2)
        out["ingest_mb_s"] = _rate(pbf, seconds)
        out["ingest_peak_mb"] = round(_peak_mb())
        out["buildings"] = len(layers["buildings"]) if layers["buildings"] is not None else 0
        del layers
    if pbf.stat().st_size / 1e6 <= pyrosm_max_mb:
        from siting.sources import osm as osm_mod

        # pyrosm's seven reads, as read_osm made them before the one-pass reader
        read = getattr(osm_mod, "_pyrosm_layers", None)
        t = time.perf_counter()
        if read is not None:
            read(pbf, str(pbf), True)
        else:  # an older tree: read_osm is pyrosm
            osm_mod._read_pbf(pbf, source=str(pbf))
        seconds = time.perf_counter() - t
        out["pyrosm_s"] = round(seconds, 2)
        out["pyrosm_mb_s"] = _rate(pbf, seconds)
    return out


def child_store(pbf: Path, out_dir: Path) -> dict:
    """The streamed store build of a tiled run (`ingest_to_parquet`), in its own process."""
    from siting.sources.stream import ingest_to_parquet

    t = time.perf_counter()
    store = ingest_to_parquet(pbf, out_dir / "store")
    seconds = time.perf_counter() - t
    size = sum(f.stat().st_size for f in store.iterdir())
    return {
        "mode": "store",
        "store_s": round(seconds, 2),
        "store_mb_s": _rate(pbf, seconds),
        "peak_mb": round(_peak_mb()),
        "store_mb": round(size / 1e6, 1),
    }


def child_single(pbf: Path, out_dir: Path, with_map: bool) -> dict:
    """`siting.run` in this process on the PBF, then the output files."""
    from siting import Study
    from siting.study import run

    study = Study(osm_path=pbf, out_dir=out_dir, name=pbf.stem)
    t = time.perf_counter()
    res = run(study)
    t_run = time.perf_counter() - t
    _log_rss("run", t_run)
    files = res.to_files(out_dir, map_html=with_map)
    wall = time.perf_counter() - t
    _log_rss("to_files", wall - t_run)
    from siting.pipeline import STAGES

    per_m = res.n_buildings / 1e6
    stage_s = {f"{s}_s": res.timings_s.get(f"{s}_s", 0.0) for s in STAGES}
    stage_s["outputs_s"] = wall - t_run
    return {
        "mode": "single",
        # item 4 of issue 16: what each stage costs per million buildings
        "s_per_million_buildings": {k: round(v / per_m, 1) for k, v in stage_s.items()},
        "wall_s": round(wall, 1),
        "outputs_s": round(wall - t_run, 1),
        "peak_mb": round(_peak_mb()),
        "stages_s": {k: round(v, 2) for k, v in res.timings_s.items() if k.endswith("_s")},
        "sites": len(res.sites),
        "feasible": int(res.sites["feasible"].sum()),
        "buildings": res.n_buildings,
        "out_mb": {k: round(Path(p).stat().st_size / 1e6, 1) for k, p in files.items()},
    }


def _log_rss(name: str, seconds: float) -> None:
    """A line in `$SITING_RSS_LOG` (the per-stage memory profile), where the tree has one."""
    try:
        from siting.pipeline import log_rss
    except ImportError:  # an older tree
        return
    log_rss(name, seconds)


def child_tiled(pbf: Path, out_dir: Path, n_tiles: int | None, with_map: bool) -> dict:
    """`run_tiled` with `n_tiles` grid tiles (None: the default count) on a LocalCluster of
    2 one-thread processes."""
    from dask.distributed import Client, LocalCluster

    from siting import Study
    from siting.tiles import default_tile_count, make_tiles, run_tiled

    study = Study(osm_path=pbf, out_dir=out_dir, name=pbf.stem)
    if n_tiles is None:  # the library's default: forked tiles where the extract allows
        from siting.forktiles import forked_tile_count

        n_forked = forked_tile_count(study)
        if n_forked is not None:
            return _forked(study, pbf, out_dir, n_forked, with_map)
    n_tiles = n_tiles or default_tile_count(study)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    try:
        t = time.perf_counter()
        tiles = make_tiles(study, n=n_tiles, params=study.params)
        res = run_tiled(study, tiles, client=client, workdir=out_dir / "tiles")
        t_run = time.perf_counter() - t
        workers = client.run(_peak_mb)
    finally:
        client.close()
        cluster.close()
    return _tiled_summary(res, out_dir, with_map, t_run, n_tiles, workers.values(), "dask")


def _tiled_summary(res, out_dir, with_map, t_run, n_tiles, workers, backend) -> dict:
    """Write a tiled run's files; its JSON line (wall time with the outputs)."""
    t = time.perf_counter()
    files = res.to_files(out_dir, map_html=with_map)
    outputs = time.perf_counter() - t
    return {
        "mode": "tiled",
        "backend": backend,
        "tiles": n_tiles,
        "wall_s": round(t_run + outputs, 1),
        "outputs_s": round(outputs, 1),
        "peak_mb_client": round(_peak_mb()),
        "peak_mb_workers": sorted(round(v) for v in workers),
        "stages_s": {k: round(v, 2) for k, v in res.timings_s.items()},
        "sites": len(res.sites),
        "feasible": int(res.sites["feasible"].sum()),
        "failed_tiles": len(res.failed_tiles),
        "unverified": len(res.unverified_sites),
        "buildings": res.n_buildings,
        "out_mb": {k: round(Path(p).stat().st_size / 1e6, 1) for k, p in files.items()},
    }


def _forked(study, pbf: Path, out_dir: Path, n_tiles: int, with_map: bool) -> dict:
    """`run_forked`: one read, one forked process per tile (the default below 160 MB); its
    "workers" peak is the largest tile process's (RSS: with what it shares with the first)."""
    from siting.forktiles import run_forked

    t = time.perf_counter()
    res = run_forked(study, n=n_tiles, workdir=out_dir / "tiles")
    t_run = time.perf_counter() - t
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return _tiled_summary(res, out_dir, with_map, t_run, n_tiles, [children], "forked")


def _run_child(args: list[str], env: dict[str, str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False, env=env
    )
    if out.returncode:
        return {"error": out.stderr[-2000:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[4, 8], help="copies per side")
    ap.add_argument("--only", choices=MODES, nargs="+")
    ap.add_argument(
        "--tiles", type=int, help="grid tiles (default: siting.tiles.default_tile_count)"
    )
    ap.add_argument("--repeat", type=int, default=1, help="runs per mode (medians reported)")
    ap.add_argument("--map", action="store_true", help="also write map.html")
    ap.add_argument("--pyrosm-max-mb", type=float, default=40.0)
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--pbf", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "ingest":
        print(json.dumps(child_ingest(a.pbf, a.pyrosm_max_mb)))
        return
    if a.child == "single":
        print(json.dumps(child_single(a.pbf, a.out, a.map)))
        return
    if a.child == "store":
        print(json.dumps(child_store(a.pbf, a.out)))
        return
    if a.child == "tiled":
        print(json.dumps(child_tiled(a.pbf, a.out, a.tiles, a.map)))
        return

    modes = a.only or list(MODES)
    for n in a.n:
        pbf = make_country(n)
        size_mb = round(pbf.stat().st_size / 1e6, 1)
        for mode in modes:
            runs = []
            for _ in range(a.repeat):
                with tempfile.TemporaryDirectory(prefix="siting-country-run-") as tmp:
                    # fresh caches: street graph, pyrosm's results (in the temp folder)
                    env = {**os.environ, "SITING_CACHE_DIR": tmp, "TMPDIR": tmp}
                    args = ["--child", mode, "--pbf", str(pbf), "--out", f"{tmp}/out"]
                    args += ["--pyrosm-max-mb", str(a.pyrosm_max_mb)]
                    if mode == "tiled" and a.tiles:
                        args += ["--tiles", str(a.tiles)]
                    if a.map:
                        args.append("--map")
                    t = time.perf_counter()
                    res = _run_child(args, env)
                    res["process_s"] = round(time.perf_counter() - t, 1)
                    runs.append(res)
            row = {"n": n, "copies": n * n, "pbf_mb": size_mb, **runs[-1]}
            if a.repeat > 1:
                keys = ("wall_s", "ingest_mb_s", "store_mb_s", "libosmium_locations_mb_s")
                for key in (*keys, "process_s"):
                    vals = [r[key] for r in runs if key in r]
                    if vals:
                        row[key] = statistics.median(vals)
                        row[f"{key}_runs"] = vals
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
