"""Benchmark the hourly heat-recovery model: 10,000 sites x 8,760 hours.

Not a test. Run with ``python benchmarks/hourly.py [--sites N] [--repeat R]``; prints the median
wall time of each variant and one JSON line. Target: the default case under 2 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

import numpy as np

from siting.hourly import hourly_recovery, network_demand_profile, unit_count
from siting.sources.weather import typical_danish_year


def _median_s(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sites", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    n = args.sites
    rng = np.random.default_rng(0)
    weather = typical_danish_year().to_numpy()
    # A realistic screening run: three cooling types, two network return temperatures,
    # every site feeding its own network of a different size.
    cooling = rng.integers(0, 3, n)
    site = dict(
        capture_fraction=np.array([0.95, 0.80, 0.95])[cooling],
        utilisation_it=0.8,
        source_in_c=np.array([27.0, 50.0, 50.0])[cooling],
        source_out_c=np.array([17.0, 40.0, 40.0])[cooling],
        return_c=rng.choice([35.0, 40.0], n),
        pue=1.2,
    )
    it_mw = rng.uniform(1.0, 50.0, n)
    annual_mwh = rng.uniform(2e4, 1e6, n)

    results: dict[str, float] = {}
    demand64 = network_demand_profile(weather, annual_mwh)
    results["demand_profile_f64_s"] = _median_s(
        lambda: network_demand_profile(weather, annual_mwh), args.repeat
    )
    demand32 = network_demand_profile(weather, annual_mwh, dtype=np.float32)
    price = 60.0 + 30.0 * np.sin(2.0 * np.pi * np.arange(weather.size) / 24.0)
    cases = {
        "recovery_f64_s": lambda: hourly_recovery(it_mw, weather, demand64, **site),
        "recovery_f32_s": lambda: hourly_recovery(
            it_mw, weather, demand32, **site, dtype=np.float32
        ),
        "recovery_f64_cap_share_storage_s": lambda: hourly_recovery(
            it_mw,
            weather,
            demand64,
            **site,
            heat_pump_max_mw=0.8 * it_mw,
            share_max=0.5,
            storage_mwh=np.where(rng.random(n) < 0.5, 30.0, 0.0),
        ),
        "recovery_f64_practical_s": lambda: hourly_recovery(
            it_mw, weather, demand64, **site, cop_model="practical"
        ),
        # MODEL.md s8.1 operation: availability with summer maintenance, units with a minimum
        # part load, a must-run producer and an hourly electricity price
        "recovery_f64_practical_operation_s": lambda: hourly_recovery(
            it_mw,
            weather,
            demand64,
            **site,
            cop_model="practical",
            availability=0.95,
            units=unit_count(it_mw),
            must_run_mw=0.1 * demand64.mean(axis=1)[:, None],
            electricity_price_eur_per_mwh=price,
        ),
    }
    for name, fn in cases.items():
        fn()  # warm-up
        results[name] = _median_s(fn, args.repeat)
    r = hourly_recovery(it_mw, weather, demand64, **site)
    check = float(np.median(r.utilisation))

    print(f"hourly_recovery: {n} sites x {weather.size} hours, median of {args.repeat} runs")
    for name, value in results.items():
        print(f"  {name:36s} {value:7.3f} s")
    print(f"  median utilisation {check:.3f} (sanity)")
    print(
        json.dumps(
            {
                "benchmark": "hourly",
                "sites": n,
                "hours": int(weather.size),
                "repeat": args.repeat,
                **{k: round(v, 4) for k, v in results.items()},
                "target_s": 2.0,
                "meets_target": results["recovery_f64_s"] < 2.0,
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "numpy": np.__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
