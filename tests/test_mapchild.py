"""The CLI draws `map.html` in a second process (siting.mapchild) while it writes the data
files: the same map, folium never loaded by the first process, and no map lost or process
left behind when the child dies, fails or is orphaned."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from siting.mapchild import MapChild

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the map process is forked on Linux only"
)


def _fresh(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """`code` in a new interpreter (one thread, nothing loaded), with its own empty caches."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
        "SITING_CACHE_DIR": str(tmp_path / "cache"),
    }
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )


def _answer(code: str, tmp_path: Path) -> tuple[list, str]:
    """Run `code` fresh; its last line of output (JSON) and its stderr."""
    done = _fresh(code, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


def _same_map(a: str, b: str) -> bool:
    """Equal but for folium's random element ids."""
    ids = re.compile(r"_[0-9a-f]{32}")
    return ids.sub("_id", a) == ids.sub("_id", b)


def test_cli_draws_the_map_in_the_child_and_never_loads_folium(tmp_path, demo_results):
    out = tmp_path / "out"
    code = (
        "import json, sys\n"
        "from siting import cli\n"
        f"code = cli.main(['demo', '--out', {str(out)!r}, '-q'])\n"
        "print(json.dumps([code, 'folium' in sys.modules, 'siting.maps' in sys.modules]))\n"
    )
    (code, folium, maps), _ = _answer(code, tmp_path)
    assert code == 0
    # the map was drawn, and not by this process: it never loaded what drawing needs
    assert not folium and not maps
    page = (out / "map.html").read_text(encoding="utf-8")
    # the very map the study draws in one process
    here = tmp_path / "here.html"
    demo_results.map().save(str(here))
    assert _same_map(page, here.read_text(encoding="utf-8"))
    assert {"ranking.csv", "results.gpkg", "heat_density.tif"} <= {p.name for p in out.iterdir()}


_RUN = """
import json, os, signal, sys, time
from pathlib import Path
import siting
from siting.mapchild import MapChild
out = Path({out!r})
child = MapChild.start()  # before the study, as the CLI does (its threads rule a fork out)
assert child is not None
results = siting.run(siting.demo_study(out))
{body}
"""


def test_a_killed_child_leaves_the_map_to_the_first_process(tmp_path):
    body = (
        "os.kill(child.pid, signal.SIGKILL)\n"
        "files = results.to_files(out, map_child=child)\n"
        "print(json.dumps(['folium' in sys.modules, sorted(files)]))\n"
    )
    (folium, keys), _ = _answer(_RUN.format(out=str(tmp_path / "out"), body=body), tmp_path)
    assert folium  # drawn here instead
    assert "map" in keys
    assert "folium-map" in (tmp_path / "out" / "map.html").read_text(encoding="utf-8")


def test_an_error_drawing_the_map_is_the_callers_and_nothing_is_published(tmp_path):
    # a ranking without its ranks: the map refuses it (in the child); the caller raises it
    body = (
        "results.sites = results.sites.drop(columns=['rank'])\n"
        "try:\n"
        "    results.to_files(out, map_child=child)\n"
        "except Exception as exc:\n"
        "    print(json.dumps([type(exc).__name__, str(exc), 'folium' in sys.modules]))\n"
        "else:\n"
        "    print(json.dumps(['no error', '', False]))\n"
    )
    (name, message, folium), _ = _answer(
        _RUN.format(out=str(tmp_path / "out"), body=body), tmp_path
    )
    assert name == "InputDataError" and "rank" in message
    assert not folium  # it was the child's error, raised here
    out = tmp_path / "out"
    assert not out.exists() or not any(
        p.suffix in (".html", ".gpkg", ".csv") for p in out.iterdir()
    )


def test_a_child_never_outlives_its_killed_parent(tmp_path):
    code = (
        "import os, signal, sys\n"
        "from siting.mapchild import MapChild\n"
        "child = MapChild.start(preload=())\n"
        "print(child.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = _fresh(code, tmp_path)
    assert done.returncode == -signal.SIGKILL
    pid = int(done.stdout.split()[0])
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), f"map process {pid} outlived its parent"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for a reaper is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_child_sent_no_job_ends_and_is_reaped(tmp_path):
    code = (
        "import json, os\n"
        "from siting.mapchild import MapChild\n"
        "child = MapChild.start(preload=())\n"
        "pid = child.pid\n"
        "child.close()\n"
        "child.close()\n"  # again: nothing to do
        "print(json.dumps([pid, child.pid, os.path.exists(f'/proc/{pid}')]))\n"
    )
    (pid, after, exists), _ = _answer(code, tmp_path)
    assert pid > 0 and after == 0
    assert not exists  # reaped: not even a zombie


def test_no_fork_beside_another_thread():
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)
    other.start()
    try:
        assert MapChild.start(preload=()) is None
    finally:
        stop.set()
        other.join()


def test_the_job_sent_draws_the_map_the_results_draw(tmp_path, demo_results):
    # what the child is sent: no buildings, their heat cells and extent instead
    light, kwargs = demo_results._map_job()
    assert len(light.buildings) == 0 and len(demo_results.buildings) > 0
    assert set(kwargs) == {"heat_grid", "buildings_extent"}
    assert kwargs["heat_grid"]["heat_demand_mwh_per_yr"].sum() == pytest.approx(
        demo_results.buildings["heat_demand_mwh_per_yr"].sum()
    )
    a, b = tmp_path / "a.html", tmp_path / "b.html"
    demo_results.map().save(str(a))
    light.map(**kwargs).save(str(b))
    assert _same_map(a.read_text(encoding="utf-8"), b.read_text(encoding="utf-8"))
    # smaller to send (Lyngby's: ~1 of 11 MB; the demo's buildings are fewer)
    assert len(pickle.dumps((light, kwargs))) < len(pickle.dumps(demo_results))


def test_results_without_a_heat_column_are_sent_whole(demo_results):
    bare = dataclasses.replace(
        demo_results, buildings=demo_results.buildings.drop(columns="heat_demand_mwh_per_yr")
    )
    sent, kwargs = bare._map_job()
    assert sent is bare and kwargs == {}


def test_a_failing_study_leaves_no_map_process(tmp_path):
    # the child is forked before the study runs: a study that fails ends it too
    code = (
        "import json, psutil, siting.study\n"
        "from siting import cli\n"
        "from siting.errors import InputDataError\n"
        "def fail(*a, **k):\n"
        "    assert psutil.Process().children(), 'the map process was not started'\n"
        "    raise InputDataError('no buildings in this extract')\n"
        "siting.study.run = fail\n"
        f"code = cli.main(['demo', '--out', {str(tmp_path / 'out')!r}, '-q'])\n"
        "print(json.dumps([code, len(psutil.Process().children())]))\n"
    )
    (code, children), stderr = _answer(code, tmp_path)
    assert code == 1 and "no buildings in this extract" in stderr
    assert children == 0
