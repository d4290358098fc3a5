"""Forked tiles (siting.forktiles): one read, a process per tile, the single run's ranking;
a tile process that dies is reported, and none outlives the run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_file

from siting.config import Study
from siting.forktiles import forked_eligible

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="tiles are forked on Linux only"
)

# columns a tile must reproduce exactly (floats to 1e-9 relative)
COMPARED = [
    "rank",
    "lcoh_eur_per_mwh",
    "route_length_m",
    "homes_served",
    "feasible",
    "delivered_heat_mwh_per_yr",
    "network_source",
    "substation_id",
    "grid_distance_m",
]


def _fresh(code: str, tmp_path: Path) -> tuple[list, str]:
    """`code` in a new interpreter (one thread: a fork is allowed); its last JSON line."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "SITING_CACHE_DIR": str(tmp_path / "cache"),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def test_forked_tiles_rank_as_the_single_run(tmp_path):
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    code = f"""
import json, psutil
import numpy as np, pyogrio
import siting
from siting.config import Study
from siting.forktiles import run_forked
study = Study(osm_path={str(pbf)!r}, use_cache=False, out_dir={str(tmp_path / "single")!r})
single = siting.run(study)
tiled = run_forked(study.replace(out_dir={str(tmp_path / "tiled")!r}), n=2)
files = tiled.to_files({str(tmp_path / "out")!r})
a = single.sites.set_index("site_id")
b = tiled.sites.set_index("site_id").reindex(a.index)
diff = {{}}
for c in {COMPARED!r}:
    if c not in a:
        continue
    x, y = a[c], b[c]
    if x.dtype.kind == "f":
        same = np.isclose(x, y, rtol=1e-9, atol=0) | (x.isna() & y.isna())
    else:
        same = (x == y) | (x.isna() & y.isna())
    if not same.all():
        diff[c] = list(a.index[~same][:5])
layers = dict(pyogrio.list_layers(files["gpkg"]))
n_gpkg = pyogrio.read_info(files["gpkg"], layer="buildings")["features"]
first = int((~tiled.tiles["tile_id"].str.endswith("+")).sum())
print(json.dumps([len(a), first, diff, len(tiled.unverified_sites), len(single.buildings),
                  n_gpkg, sorted(files), len(psutil.Process().children())]))
"""
    (n_sites, n_tiles, diff, unverified, n_single, n_gpkg, files, children), _ = _fresh(
        code, tmp_path
    )
    assert n_tiles == 2 and n_sites > 10
    assert diff == {}, f"forked tiles rank differently: {diff}"
    assert unverified == 0
    assert n_gpkg == n_single  # every building once, from the tiles' parts
    assert {"ranking", "gpkg", "heat_density", "map"} <= set(files)
    assert children == 0  # no tile process outlives the run


def test_a_tile_process_that_dies_is_reported_and_none_is_left(tmp_path):
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    code = f"""
import json, os, psutil
import siting.forktiles as ft
from siting.config import Study
from siting.errors import SitingError
real = ft._summarise_core
def dies(*a, **k):  # the first tile's process dies in its first pass
    if a[2].bounds[1] == first_core_miny:
        os._exit(3)
    return real(*a, **k)
from siting.tiles import make_tiles
study = Study(osm_path={str(pbf)!r}, use_cache=False, out_dir={str(tmp_path / "t")!r})
import siting.sources.osm as so
from siting.area import metric_crs
crs = metric_crs(so.read_osm({str(pbf)!r}).streets)
first_core_miny = make_tiles(study, n=2, params=study.params).to_crs(crs).geometry.iloc[0].bounds[1]
ft._summarise_core = dies
try:
    ft.run_forked(study, n=2)
except SitingError as exc:
    print(json.dumps([str(exc), len(psutil.Process().children())]))
else:
    print(json.dumps(["no error", len(psutil.Process().children())]))
"""
    (message, children), _ = _fresh(code, tmp_path)
    assert "1 of 2 tiles could not be read in the first pass" in message
    assert "ended without an answer" in message
    assert children == 0


def test_only_local_extracts_a_single_run_could_hold_are_forked(tmp_path, monkeypatch):
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    import siting.forktiles as ft
    from siting import forking

    # this test process may run other tests' threads; the thread check has its own test
    monkeypatch.setattr(forking.threading, "active_count", lambda: 1)
    study = Study(osm_path=pbf)
    assert forked_eligible(study, 2)
    assert not forked_eligible(study, 1)  # one core: nothing to fork for
    monkeypatch.setattr(ft, "FORK_MAX_PBF_MB", 1.0)  # Lyngby is 2 MB
    assert not forked_eligible(study, 2)
    monkeypatch.setattr(ft, "FORK_MAX_PBF_MB", 160.0)
    monkeypatch.setattr(ft, "_available_mb", lambda: 80.0)  # 2 MB x 45 is more than 75 % of it
    assert not forked_eligible(study, 2)
    monkeypatch.setattr(ft, "_available_mb", lambda: 24_000.0)
    assert forked_eligible(study, 2)
    xml = shared_file("osm", "aarhus_center_2021.osm")
    assert not forked_eligible(Study(osm_path=xml), 2)  # an XML extract: through the store


def test_the_cli_forks_its_default_tiles_without_dask(tmp_path):
    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    out = tmp_path / "out"
    code = f"""
import json, sys
from siting import cli
code = cli.main(["run", "-q", "--osm", {str(pbf)!r}, "--no-map", "--tiles", "auto",
                 "--out", {str(out)!r}])
print(json.dumps([code, "distributed" in sys.modules]))
"""
    (code, dask), _ = _fresh(code, tmp_path)
    assert code == 0 and not dask
    assert (out / "ranking.csv").stat().st_size > 0
    names = {d.name.split("-")[0] for d in (out / "tiles" / "tiles").iterdir()}
    assert {"r0c0", "r1c0"} <= names


def test_no_fork_beside_another_thread(tmp_path):
    import threading

    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert not forked_eligible(Study(osm_path=pbf), 2)
    finally:
        stop.set()
        other.join()


def test_ctrl_c_in_a_forked_run_ends_every_process(tmp_path):
    import signal
    import time

    import psutil

    pbf = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "SITING_CACHE_DIR": str(tmp_path / "cache"),
    }
    cmd = [sys.executable, "-m", "siting.cli", "run", "-q", "--osm", str(pbf), "--no-map"]
    cmd += ["--tiles", "auto", "--out", str(tmp_path / "out")]
    proc = subprocess.Popen(
        cmd, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 30
    tiles: list = []
    while time.monotonic() < deadline and proc.poll() is None and not tiles:
        tiles = parent.children()  # the tile processes, once the extract is read
        time.sleep(0.02)
    if not tiles:
        proc.kill()
        pytest.skip("the run finished before its tile processes could be seen")
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err
    time.sleep(0.2)
    assert not any(t.is_running() and t.status() != psutil.STATUS_ZOMBIE for t in tiles)
