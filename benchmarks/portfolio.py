"""Benchmark the portfolio: K = 10 of 2,000 candidate sites on one network, hourly.

Not a test. Run with ``python benchmarks/portfolio.py [--sites N] [--k K]``; prints the wall
time, the peak memory (Python allocations via tracemalloc, and the process's peak resident
set) and one JSON line. The candidates are synthetic but run through the study's own
stages: `size_sources` sizes each (IT load 1-40 MW, three cooling types), each gets a route
(length, transfer efficiency) to one network of 2 TWh/yr with 300 GWh/yr of must-run
supply, and :func:`siting.portfolios.portfolio` chooses K greedily, every step running all
remaining candidates hour by hour against the demand the sites before them left.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
import tracemalloc
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import shapely

from siting.config import COOLING_TYPES, Params, Study
from siting.portfolios import portfolio
from siting.sources.weather import typical_danish_year
from siting.stages.candidates import size_sources


def candidates(n: int, p: Params, seed: int = 0) -> gpd.GeoDataFrame:
    """`n` sized, routed candidate sites on one existing network (the ranking's columns)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 20_000, (n, 2))
    sites = gpd.GeoDataFrame(
        {
            "site_id": [f"s{i:05d}" for i in range(n)],
            "name": "",
            "origin": "synthetic",
            "it_load_mw": rng.uniform(1.0, 40.0, n).round(1),
            "cooling": rng.choice(COOLING_TYPES, n),
        },
        geometry=shapely.points(xy),
        crs="EPSG:25832",
    )
    t = size_sources(sites, p)
    route_m = rng.uniform(100.0, 6_000.0, n)
    t["mode"] = "existing_network"
    t["route_length_m"] = route_m
    t["route_cost_eq_m"] = route_m * rng.uniform(1.0, 2.0, n)
    t["transfer_efficiency"] = (1 - 0.03 * route_m / 1000.0) * 0.95
    t["connection_station"] = True
    t["network_source"] = "file"
    t["served_demand_mwh_per_yr"] = 2.0e6
    t["must_run_flat_mwh_per_yr"] = 3.0e5
    t["must_run_solar_mwh_per_yr"] = 0.0
    t["grid_distance_m"] = rng.uniform(200.0, 9_000.0, n)
    t["grid_demand_mw"] = t["it_load_mw"] * p.pue
    t["lcoh_eur_per_mwh"] = np.nan  # not needed: the portfolio runs and prices every site
    return gpd.GeoDataFrame(t, geometry=sites.geometry.values, crs=sites.crs)


def chosen_runs(chosen) -> int:
    """Site-years the hourly model ran (every candidate of every step, swaps included)."""
    return int(getattr(chosen, "runs", 0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=10)
    args = ap.parse_args()
    study = Study()
    table = candidates(args.sites, study.params)
    results = SimpleNamespace(
        sites=table,
        study=study,
        weather=typical_danish_year(),
        mode="existing_network",
        series=None,
    )
    tracemalloc.start()
    t0 = time.perf_counter()
    chosen = portfolio(results, args.k, exact=False)
    seconds = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    total = chosen.to_frame().iloc[-1]
    demand = chosen.network_demand_mw[chosen.network_of[0]]
    excess = float((chosen.hourly_delivered_mw.sum(axis=0) - demand).max())
    out = {
        "sites": args.sites,
        "k": args.k,
        "seconds": round(seconds, 2),
        "peak_python_mb": round(peak / 2**20, 1),
        "peak_rss_mb": round(rss_mb, 1),
        "marginal_delivered_mwh_per_yr": round(float(total["marginal_delivered_heat_mwh_per_yr"])),
        "standalone_delivered_mwh_per_yr": round(
            float(total["standalone_delivered_heat_mwh_per_yr"])
        ),
        "max_hourly_excess_mw": excess,
        "npv_greedy_picks_eur": round(chosen.greedy_value),
        "npv_chosen_eur": round(chosen.value),
        "marginal_runs": chosen_runs(chosen),
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    print(
        f"portfolio {args.k} of {args.sites} sites: {seconds:.1f} s, peak {out['peak_python_mb']} "
        f"MB Python / {out['peak_rss_mb']} MB resident; delivered "
        f"{out['marginal_delivered_mwh_per_yr']:,} MWh/yr together vs "
        f"{out['standalone_delivered_mwh_per_yr']:,} claimed alone"
    )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
