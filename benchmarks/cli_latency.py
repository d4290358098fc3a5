"""CLI latency: `siting run` end to end, cold (no caches of any kind) and warm.

Usage::

    python benchmarks/cli_latency.py --osm ../shared/data/osm/copenhagen_north_lyngby_2022.osm.pbf
    python benchmarks/cli_latency.py --osm FILE --repeats 5 --no-map
    python benchmarks/cli_latency.py --osm FILE --code /path/to/other/checkout   # compare
    .venv-installed/bin/python benchmarks/cli_latency.py --osm FILE --installed

Each repeat makes a fresh empty `SITING_CACHE_DIR` and a fresh empty `TMPDIR` (so neither
siting's caches nor a library's temporary cache can hit), runs `python -m siting.cli run
--osm FILE --out DIR -q` once (cold), then the same command again with the same folders
(warm: the result-set cache answers). With `--changed ARGS` a third run adds those
arguments (e.g. `--changed="--it-load-mw 15"`): another study on the same extract, which
misses the result-set cache but can hit the street-graph, layer and demand caches. Wall time
is measured around the subprocess, so it includes the interpreter start and every import.
Prints the median, min and max of each over the repeats as one JSON line; the machine is
shared, so read the spread before the median, and compare trees in one run (alternate
`--code` runs), not across hours.

`--code` puts a checkout first on PYTHONPATH: its modules are compiled on every run where
`PYTHONDONTWRITEBYTECODE` is set (as on this project's machines). `--installed` runs the
siting the interpreter has installed instead (`pip install .` compiled its bytecode).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    # cwd matters: `python -m` puts it first on sys.path, before PYTHONPATH
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr}")
    return seconds


def _stats(values: list[float]) -> dict[str, float]:
    return {
        "median_s": round(statistics.median(values), 3),
        "min_s": round(min(values), 3),
        "max_s": round(max(values), 3),
    }


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print and return the one-line JSON summary."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--osm", type=Path, required=True, help="OSM extract to run on")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--no-map", action="store_true", help="pass --no-map (no map.html)")
    ap.add_argument("--changed", default="", help="extra arguments of a third run (quoted)")
    ap.add_argument(
        "--code",
        type=Path,
        default=Path(__file__).resolve().parents[1],
        help="checkout whose siting runs (put first on PYTHONPATH) [this one]",
    )
    ap.add_argument(
        "--installed",
        action="store_true",
        help="run the interpreter's installed siting (no PYTHONPATH), not a checkout",
    )
    args = ap.parse_args(argv)
    cold, warm, changed = [], [], []
    for _ in range(args.repeats):
        root = Path(tempfile.mkdtemp(prefix="siting-cli-latency-"))
        try:
            (root / "cache").mkdir()
            (root / "tmp").mkdir()
            code_path = {} if args.installed else {"PYTHONPATH": str(args.code.resolve())}
            env = {
                **{k: v for k, v in os.environ.items() if not args.installed or k != "PYTHONPATH"},
                **code_path,
                "SITING_CACHE_DIR": str(root / "cache"),
                "TMPDIR": str(root / "tmp"),
                "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
            }
            cmd = [sys.executable, "-m", "siting.cli", "run", "--osm", str(args.osm.resolve())]
            cmd += ["--out", str(root / "out"), "-q"] + (["--no-map"] if args.no_map else [])
            cold.append(_run(cmd, env, root))
            warm.append(_run(cmd, env, root))
            if args.changed:
                changed.append(_run(cmd + args.changed.split(), env, root))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    summary = {
        "code": "installed" if args.installed else str(args.code.resolve()),
        "osm": args.osm.name,
        "map": not args.no_map,
        "repeats": args.repeats,
        "cold": _stats(cold),
        "warm": _stats(warm),
        "cold_all_s": [round(x, 3) for x in cold],
        "warm_all_s": [round(x, 3) for x in warm],
    }
    if changed:
        summary["changed"] = {"args": args.changed, **_stats(changed)}
        summary["changed_all_s"] = [round(x, 3) for x in changed]
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
