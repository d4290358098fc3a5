"""Regional benchmark: a synthetic region, one process vs a tiled run on 2 Dask workers.

    python benchmarks/regional.py                      # 100k buildings / 200k edges (~3 min)
    python benchmarks/regional.py --buildings 1000000  # the full 1M / 2M region

The region is generated, not shipped: a street grid of G x G nodes 100 m apart (2 G² street
segments, every 10th line `secondary`, the rest `residential`), one 12 m x 12 m house per
block ((G-1)² buildings, 1 in 2,000 an 50 m x 50 m industrial building: the candidate
sites) and a heat pipe along every 20th street line, in Denmark (EPSG:25832 -> lon/lat).
It is written once as a GeoParquet store (:func:`siting.sources.stream.write_osm_parquet`).

Each mode runs in its own process so its peak memory (max RSS) is its own:
* single: `siting.run` on the whole region in one process;
* tiled: `siting.tiles.run_tiled` with `--tiles` grid tiles on a LocalCluster of 2 worker
  processes of 1 thread each; peak RSS of each worker and of the client process.
The memory a single process needs per building and per street edge is fitted from the
single runs and extrapolated to the machine's RAM (the limit that stops one process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

SPACING_M = 100.0
ORIGIN = (500_000.0, 6_150_000.0)  # EPSG:25832, central Jutland


def synthetic_osm(n_buildings: int):
    """OsmData of a grid region with about `n_buildings` buildings and twice as many edges."""
    from siting.sources.osm import OsmData, _empty

    g = int(np.ceil(np.sqrt(n_buildings))) + 1
    ids = np.arange(g * g, dtype=np.int64).reshape(g, g) + 1
    xs = ORIGIN[0] + SPACING_M * np.arange(g)
    ys = ORIGIN[1] + SPACING_M * np.arange(g)
    # horizontal and vertical segments between neighbouring nodes
    u = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    v = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    ri, ci = np.divmod(u - 1, g)
    rj, cj = np.divmod(v - 1, g)
    coords = np.stack(
        [np.column_stack([xs[ci], ys[ri]]), np.column_stack([xs[cj], ys[rj]])], axis=1
    )
    line_no = np.where(ri == rj, ri, ci)
    highway = np.where(line_no % 10 == 0, "secondary", "residential")
    streets = gpd.GeoDataFrame(
        {
            "u": u,
            "v": v,
            "highway": highway,
            "length": SPACING_M,
            "id": np.arange(len(u), dtype=np.int64) + 1,
            "osm_type": "way",
        },
        geometry=shapely.linestrings(coords),
        crs="EPSG:25832",
    )
    # one building per block, centred; every 2,000th is a large industrial building
    bx, by = np.meshgrid(xs[:-1] + SPACING_M / 2, ys[:-1] + SPACING_M / 2)
    bx, by = bx.ravel()[:n_buildings], by.ravel()[:n_buildings]
    industrial = np.arange(len(bx)) % 2000 == 1000
    half = np.where(industrial, 25.0, 6.0)
    buildings = gpd.GeoDataFrame(
        {
            "id": np.arange(len(bx), dtype=np.int64) + 10**9,
            "building": np.where(industrial, "industrial", "house"),
            "osm_type": "way",
            "tags": None,
        },
        geometry=shapely.box(bx - half, by - half, bx + half, by + half),
        crs="EPSG:25832",
    )
    rows = np.arange(0, g, 20)
    pipes = gpd.GeoDataFrame(
        {"id": np.arange(len(rows)) + 1, "man_made": "pipeline", "substance": "hot_water"},
        geometry=[shapely.LineString([(xs[0], ys[r] + 10), (xs[-1], ys[r] + 10)]) for r in rows],
        crs="EPSG:25832",
    )
    wgs = "EPSG:4326"
    return OsmData(
        streets=streets.to_crs(wgs),
        buildings=buildings.to_crs(wgs),
        heat_pipes=pipes.to_crs(wgs),
        heat_plants=_empty(),
        landuse=_empty(),
        data_centers=_empty(),
        source=f"synthetic grid, {len(bx)} buildings",
        railways=_empty(),
    )


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _study(store: Path):
    from siting import Params, Study

    # routes up to 5 km: the tiles' overlap (default_overlap_m) is 5.5 km
    return Study(
        osm_path=store,
        use_cache=False,
        max_generated_sites=10_000,
        params=Params(max_route_length_m=5_000.0),
    )


def child_single(store: Path) -> dict:
    from siting.sources.stream import read_osm_parquet
    from siting.study import run

    t = time.perf_counter()
    osm = read_osm_parquet(store)
    res = run(_study(store), osm=osm)
    return {
        "wall_s": time.perf_counter() - t,
        "peak_mb": _peak_mb(),
        "sites": len(res.sites),
        "feasible": int(res.sites["feasible"].sum()),
    }


def child_tiled(store: Path, n_tiles: int, workdir: Path) -> dict:
    from dask.distributed import Client, LocalCluster

    from siting.tiles import make_tiles, run_tiled

    study = _study(store)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = Client(cluster)
    try:
        t = time.perf_counter()
        tiles = make_tiles(store, n=n_tiles, params=study.params)
        res = run_tiled(study, tiles, client=client, workdir=workdir)
        wall = time.perf_counter() - t
        workers = client.run(_peak_mb)
    finally:
        client.close()
        cluster.close()
    return {
        "wall_s": wall,
        "peak_mb_workers": sorted(workers.values()),
        "peak_mb_client": _peak_mb(),
        "sites": len(res.sites),
        "feasible": int(res.sites["feasible"].sum()),
        "failed_tiles": len(res.failed_tiles),
        "unverified": len(res.unverified_sites),
        "overlap_m": float(tiles["overlap_m"].iloc[0]),
    }


def _child(args: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--buildings", type=int, default=100_000)
    ap.add_argument("--tiles", type=int, default=4)
    ap.add_argument("--skip-single", action="store_true", help="only the tiled run")
    ap.add_argument("--child", choices=["single", "tiled"], help=argparse.SUPPRESS)
    ap.add_argument("--store", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child == "single":
        print(json.dumps(child_single(a.store)))
        return
    if a.child == "tiled":
        print(json.dumps(child_tiled(a.store, a.tiles, a.workdir)))
        return

    from siting.sources.stream import write_osm_parquet

    total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {os.cpu_count()} cores, {total_gib:.0f} GiB")
    with tempfile.TemporaryDirectory(prefix="siting-regional-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        osm = synthetic_osm(a.buildings)
        store = write_osm_parquet(osm, tmp / "store", osm_sha256=f"synthetic-{a.buildings}")
        n_b, n_e = len(osm.buildings), len(osm.streets)
        del osm
        print(
            f"region: {n_b:,} buildings, {n_e:,} street edges (made in "
            f"{time.perf_counter() - t:.0f} s)"
        )
        rows = []
        if not a.skip_single:
            s = _child(["--child", "single", "--store", str(store)])
            print(
                f"single process: {s['wall_s']:.0f} s, peak {s['peak_mb']:,.0f} MB, "
                f"{s['sites']} sites ({s['feasible']} feasible)"
            )
            rows.append(("single", s))
        d = _child(
            [
                "--child",
                "tiled",
                "--store",
                str(store),
                "--tiles",
                str(a.tiles),
                "--workdir",
                str(tmp / "work"),
            ]
        )
        print(
            f"{a.tiles} tiles on 2 workers: {d['wall_s']:.0f} s, worker peaks "
            f"{', '.join(f'{m:,.0f}' for m in d['peak_mb_workers'])} MB, client "
            f"{d['peak_mb_client']:,.0f} MB, {d['sites']} sites ({d['feasible']} feasible, "
            f"{d['failed_tiles']} failed tiles, {d['unverified']} unverified, overlap "
            f"{d['overlap_m']:.0f} m)"
        )
        if not a.skip_single:
            per_b = (s["peak_mb"] - 250.0) / n_b  # ~250 MB: interpreter and libraries
            limit = total_gib * 1024 / per_b
            print(
                f"single process: {per_b * 1024:.1f} KB per building (with its 2 street "
                f"edges); {total_gib:.0f} GiB holds ~{limit / 1e6:.1f} M buildings / "
                f"{2 * limit / 1e6:.1f} M edges"
            )


if __name__ == "__main__":
    main()
