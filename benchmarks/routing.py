"""Routing benchmark: siting's one-pass search vs one networkx search per site.

Usage::

    python benchmarks/routing.py --edges 1000000 --sites 10000
    python benchmarks/routing.py --osm ../shared/data/osm/copenhagen_north_lyngby_2022.osm.pbf \
        --sites 2000

The graph is a synthetic perturbed street grid of about `--edges` edges (random street
classes), or a real OSM extract. Both methods run on the same graph, network points and
sites in the same process. siting: build the sparse cost graph once (reported as load),
then `connect_from_network` + `route_sites` (costs and lengths for every site, route
lines for the 50 cheapest, as the map draws). Baseline: networkx `multi_source_dijkstra`
from the network's street nodes to each site, timed on a random subsample of sites and
extrapolated to all of them (said so in the output). Prints medians over `--repeats`
runs, the speed-up, peak memory (max RSS), the time to write the built graph to the
on-disk cache and read it back (what a second study on the same extract pays instead of
read + build), and ends with one JSON line.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely

from siting import cache
from siting.config import Params
from siting.routing import StreetGraph, connect_from_network, route_sites

CLASSES = np.array(["residential", "service", "tertiary", "secondary", "primary", "unclassified"])
CLASS_P = np.array([0.45, 0.2, 0.12, 0.1, 0.08, 0.05])


def synthetic_streets(n_edges: int, spacing_m: float = 60.0, seed: int = 1) -> gpd.GeoDataFrame:
    """A perturbed grid with about `n_edges` edges (two per node), random street classes."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n_edges / 2)))
    ii, jj = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    xy = np.column_stack([ii.ravel(), jj.ravel()]) * spacing_m
    xy += rng.uniform(-0.2, 0.2, xy.shape) * spacing_m
    idx = (ii * side + jj).ravel()
    right = idx[(ii < side - 1).ravel()]
    up = idx[(jj < side - 1).ravel()]
    u = np.concatenate([right, up])
    v = np.concatenate([right + side, up + 1])
    keep = rng.random(len(u)) > 0.03  # a few missing links, like real streets
    u, v = u[keep][:n_edges], v[keep][:n_edges]
    coords = np.stack([xy[u], xy[v]], axis=1)
    lines = shapely.linestrings(coords)
    return gpd.GeoDataFrame(
        {"u": u, "v": v, "highway": rng.choice(CLASSES, len(u), p=CLASS_P)},
        geometry=lines,
        crs="EPSG:25832",
    )


def osm_streets(path: Path) -> gpd.GeoDataFrame:
    from siting.sources.osm import read_osm

    osm = read_osm(path)
    return osm.streets.to_crs(osm.streets.estimate_utm_crs())


def max_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--edges", type=int, default=200_000, help="synthetic grid edges")
    ap.add_argument("--sites", type=int, default=1_000)
    ap.add_argument("--osm", type=Path, help="use a real OSM extract instead of the grid")
    ap.add_argument("--network-points", type=int, default=2_000, help="points along DH pipes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--baseline-sample", type=int, default=20, help="sites timed with networkx")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)

    t = time.perf_counter()
    streets = osm_streets(args.osm) if args.osm else synthetic_streets(args.edges)
    t_read = time.perf_counter() - t
    t = time.perf_counter()
    graph = StreetGraph.from_streets(streets, excluded=Params().excluded_highways)
    t_build = time.perf_counter() - t
    minx, miny = graph.xy.min(axis=0)
    maxx, maxy = graph.xy.max(axis=0)
    # the DH network: a few pipes across the area, densified to connection points
    n_pipes = 8
    ends = rng.uniform([minx, miny], [maxx, maxy], size=(n_pipes, 2, 2))
    frac = np.linspace(0, 1, max(args.network_points // n_pipes, 2))
    net_xy = (ends[:, :1, :] + frac[None, :, None] * (ends[:, 1:, :] - ends[:, :1, :])).reshape(
        -1, 2
    )
    sites_xy = rng.uniform([minx, miny], [maxx, maxy], size=(args.sites, 2))
    print(
        f"graph: {graph.n_nodes:,} nodes, {graph.n_edges:,} edges "
        f"({'OSM ' + str(args.osm) if args.osm else 'synthetic grid'}); "
        f"{len(net_xy):,} network points, {args.sites:,} sites"
    )
    print(f"load: read {t_read:.2f} s, sparse graph build {t_build:.2f} s (excluded below)")
    with tempfile.TemporaryDirectory() as tmp:
        hull = shapely.MultiPoint(graph.xy).convex_hull
        t = time.perf_counter()
        saved = cache.save_graph("bench", graph, hull, folder=Path(tmp))
        t_save = time.perf_counter() - t
        t = time.perf_counter()
        cache.load_graph("bench", folder=Path(tmp))
        t_cache = time.perf_counter() - t
        size_mb = saved.stat().st_size / 1e6
    print(
        f"cache: write {t_save:.2f} s ({size_mb:,.0f} MB), load {t_cache:.2f} s "
        f"instead of read + build {t_read + t_build:.2f} s"
    )

    times = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        conn = connect_from_network(graph, net_xy, max_snap_m=500.0)
        routed = route_sites(graph, conn, sites_xy, max_snap_m=500.0, max_geometries=50)
        times.append(time.perf_counter() - t)
    siting_s = statistics.median(times)
    rss_siting = max_rss_mb()
    n_ok = int((routed.status == "ok").sum())
    print(
        f"siting: median {siting_s:.3f} s over {args.repeats} runs "
        f"(min {min(times):.3f}, max {max(times):.3f}); {n_ok:,} sites routed; "
        f"peak RSS so far {rss_siting:,.0f} MB"
    )

    # baseline: the same graph in networkx, one multi-source search per site
    t = time.perf_counter()
    nxg = nx.Graph()
    nxg.add_weighted_edges_from(
        zip(graph.edge_u.tolist(), graph.edge_v.tolist(), graph.edge_cost.tolist(), strict=True),
        weight="cost",
    )
    t_nx_build = time.perf_counter() - t
    src_nodes, _ = graph.snap(net_xy)
    sources = {int(s) for s in src_nodes if s in nxg}
    site_nodes, _ = graph.snap(sites_xy)
    sample = rng.choice(
        len(site_nodes), size=min(args.baseline_sample, len(site_nodes)), replace=False
    )
    per_site = []
    for k in sample:
        target = int(site_nodes[k])
        t = time.perf_counter()
        try:
            nx.multi_source_dijkstra(nxg, sources, target=target, weight="cost")
        except nx.NetworkXNoPath:
            pass
        per_site.append(time.perf_counter() - t)
    nx_per_site = statistics.median(per_site)
    nx_total = nx_per_site * args.sites
    speedup = nx_total / siting_s
    print(
        f"networkx: graph build {t_nx_build:.2f} s; median {nx_per_site * 1000:.1f} ms per site "
        f"over a random sample of {len(sample)} sites, extrapolated x {args.sites:,} sites = "
        f"{nx_total:.1f} s"
    )
    print(f"speed-up: {speedup:.0f}x; peak RSS {max_rss_mb():,.0f} MB (after networkx)")
    print(
        f"machine: {platform.processor() or platform.machine()}, {_cpus()} cores, Python "
        f"{platform.python_version()}"
    )
    print(
        json.dumps(
            {
                "edges": int(graph.n_edges),
                "sites": int(args.sites),
                "siting_s": round(siting_s, 4),
                "networkx_per_site_s": round(nx_per_site, 5),
                "speedup": round(speedup, 1),
                "load_s": round(t_read + t_build, 3),
                "cache_load_s": round(t_cache, 3),
                "peak_rss_mb": round(rss_siting, 1),
            }
        )
    )


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
