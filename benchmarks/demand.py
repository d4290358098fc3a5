"""Benchmark: building demand estimate + heat-density raster for 1 M synthetic buildings.

Random rectangles scattered over a 30 x 30 km area in UTM 32N with random ``building=*``,
``building:levels`` (a few malformed, as in real OSM) and ``start_date`` tags. Times
``siting.demand.estimate`` and ``siting.raster.heat_density`` separately, prints the medians of
``--runs`` runs and one JSON line. Target: under 30 s for both on a 2-core machine.

Run: ``/work/venv/bin/python benchmarks/demand.py [--n 1000000] [--runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.demand import estimate
from siting.raster import heat_density

AREA_M = 30_000.0
ORIGIN_XY_M = (500_000.0, 6_130_000.0)  # UTM 32N, around Odense
CRS = "EPSG:32632"
TARGET_S = 30.0

# Roughly the mix of a Danish OSM extract: mostly building=yes and houses.
BUILDING_VALUES = np.array(
    [
        "yes",
        "house",
        "detached",
        "apartments",
        "residential",
        "terrace",
        "commercial",
        "office",
        "retail",
        "industrial",
        "school",
        "garage",
        "shed",
        "farm_auxiliary",
    ],
    dtype=object,
)
BUILDING_WEIGHTS = np.array([40, 20, 8, 8, 4, 3, 3, 2, 2, 3, 1, 3, 2, 1], dtype=float)


def synthetic_buildings(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """`n` random rectangular footprints with pyrosm-like tag columns (seeded)."""
    rng = np.random.default_rng(seed)
    x0 = ORIGIN_XY_M[0] + rng.uniform(0, AREA_M, n)
    y0 = ORIGIN_XY_M[1] + rng.uniform(0, AREA_M, n)
    # Lognormal sides: most 8-15 m, a tail of large blocks and halls.
    w = np.clip(rng.lognormal(2.4, 0.5, n), 3, 150)
    h = np.clip(rng.lognormal(2.3, 0.5, n), 3, 150)
    building = rng.choice(BUILDING_VALUES, n, p=BUILDING_WEIGHTS / BUILDING_WEIGHTS.sum())
    levels = rng.integers(1, 13, n).astype(str).astype(object)
    levels[rng.random(n) < 0.6] = None  # most OSM buildings carry no levels tag
    bad = rng.random(n) < 0.005
    levels[bad] = rng.choice(np.array(["two", "3;4", "-1", "0"], dtype=object), bad.sum())
    year = rng.integers(1850, 2025, n).astype(str).astype(object)
    year[rng.random(n) < 0.8] = None
    return gpd.GeoDataFrame(
        {
            "building": building,
            "building:levels": pd.array(levels, dtype=object),
            "start_date": pd.array(year, dtype=object),
        },
        geometry=shapely.box(x0, y0, x0 + w, y0 + h),
        crs=CRS,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    t = time.perf_counter()
    buildings = synthetic_buildings(args.n)
    gen_s = time.perf_counter() - t
    print(f"generated {args.n:,} buildings in {gen_s:.1f} s")

    est_s, ras_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "heat.tif"
        for i in range(args.runs):
            t = time.perf_counter()
            est = estimate(buildings)
            est_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            heat_density(est, path)
            ras_s.append(time.perf_counter() - t)
            print(f"run {i + 1}: estimate {est_s[-1]:.2f} s, raster {ras_s[-1]:.2f} s")
        size_kb = path.stat().st_size / 1024
    total_mwh = float(est["heat_demand_mwh_per_yr"].sum())
    med_est, med_ras = statistics.median(est_s), statistics.median(ras_s)
    total_s = med_est + med_ras
    print(
        f"median over {args.runs}: estimate {med_est:.2f} s + raster {med_ras:.2f} s = "
        f"{total_s:.2f} s (target {TARGET_S:.0f} s: {'met' if total_s < TARGET_S else 'MISSED'})"
    )
    print(
        json.dumps(
            {
                "benchmark": "demand",
                "n_buildings": args.n,
                "runs": args.runs,
                "estimate_median_s": round(med_est, 3),
                "raster_median_s": round(med_ras, 3),
                "total_median_s": round(total_s, 3),
                "target_s": TARGET_S,
                "heat_demand_mwh_per_yr": round(total_mwh, 1),
                "raster_kb": round(size_kb, 1),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
