"""Issue 13: the twenty bad inputs and faults that were mishandled, one test each.

Items (the issue's bullets, split into the twenty trials):

1. kill during publication of `siting run` leaves a mix     11. --scheduler at a closed port
2. kill during publication of `siting report`               12. --scheduler at an HTTP server
3. --no-map over an earlier result leaves the old map       13. --scheduler "not a url"
4. SIGKILL/SIGTERM leave .siting-tmp-* staging folders       14. Ctrl-C in a tiled run
5. --out '' writes into the current directory               15. it_load_mw "20 MW"
6. a read-only --out is found only after the study          16. it_load_mw 1e9
7. billion-laughs YAML                                       17. network supply_temp_c -10
8. --tiles 10000 runs for minutes                            18. network capacity_mw 0 / -20
9. --tiles 0 silently runs one tile                          19. Shapefile-truncated fields
10. --tiles -1 is "a bug"                                    20. environment faults are "a bug":
                                                                 corrupt .osm.gz, unreadable
                                                                 file, zero-length pipe, full disk

The kill tests run the CLI as real subprocesses and widen the publication window on purpose
(``SITING_TEST_PUBLISH_DELAY_S``); a set is consistent when every result file present is
listed in the folder's manifest with its SHA-256, and nothing else of the kind is there.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.server
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from conftest import shared_file
from test_sources import write_osm

import siting
from siting import outputs
from siting.errors import ConfigError, InputDataError, OutputError
from siting.sources.network import read_network
from siting.tiles import probe_scheduler

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ("ranking.csv", "results.gpkg", "heat_density.tif", "map.html")
REPORT = (
    "report.html",
    "locator_map.png",
    "cost_breakdown.png",
    "load_duration.png",
    "sensitivity.png",
)
# `siting report` publishes the run's results and its report together, as one set
REPORT_RUN = RESULTS + REPORT
DELAY_S = 0.3  # each publication step sleeps this long in the kill tests


# ----------------------------------------------------------------------------- helpers


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop(outputs.DELAY_ENV, None)
    env.pop(outputs.MODE_ENV, None)
    env.update(extra)
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "siting.cli", *args]


def _cli(*args: str, timeout: float = 300, env: dict | None = None, **kw):
    return subprocess.run(
        _cmd(*args), capture_output=True, text=True, timeout=timeout, env=env or _env(), **kw
    )


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_one_set(out: Path, kind: str = "results", names=RESULTS) -> str:
    """The folder holds one whole set of `kind`: its manifest's files, each intact, no
    other file of the kind, no interrupted-publication marker. Returns the run id."""
    assert not (out / outputs.INCOMPLETE).exists()
    manifest = json.loads((out / outputs.MANIFEST).read_text())
    entry = manifest["sets"][kind]
    for name in names:
        assert (out / name).exists() == (name in entry["files"]), name
    for name, info in entry["files"].items():
        assert _sha(out / name) == info["sha256"], f"{name} is not from run {entry['run_id']}"
    return entry["run_id"]


def _leftovers(out: Path) -> list[str]:
    here = [p.name for p in out.parent.iterdir() if p.name.startswith(".siting-tmp-")]
    inside = [p.name for p in out.iterdir() if p.name.startswith(".siting-tmp-")]
    return here + inside


def _start_and_wait(args: list[str], event: str, env: dict) -> subprocess.Popen:
    """Start the CLI and return once it printed the test hook line `event`."""
    proc = subprocess.Popen(_cmd(*args), stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    for line in proc.stderr:
        if f"siting-test: {event}" in line:
            return proc
        assert time.monotonic() < deadline, "the run never reached " + event
    proc.wait()
    raise AssertionError(f"the run ended (rc {proc.returncode}) before {event!r}")


def _without_dac_override(cmd: list[str]) -> list[str]:
    """Run `cmd` so that file permissions apply to it (root ignores them otherwise)."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot make a file unreadable")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search", *cmd]


@pytest.fixture(scope="module")
def old_set(tmp_path_factory, helsinki_pbf) -> Path:
    """An output folder with an earlier run's full set (with map) and files of yours."""
    out = tmp_path_factory.mktemp("old") / "out"
    proc = _cli("run", "-q", "--osm", str(helsinki_pbf), "--it-load-mw", "3", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    (out / "notes.txt").write_text("mine")
    (out / "tiles").mkdir()
    (out / "tiles" / "keep.json").write_text("{}")
    assert_one_set(out)
    return out


def _copy_of(old_set: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    shutil.copytree(old_set, out)
    return out


# ----------------------------------------------------------------------------- 1-4 publication


@pytest.mark.parametrize("mode", ["exchange", "files"])
def test_item01_kill_during_publication_never_leaves_a_mix(mode, old_set, helsinki_pbf, tmp_path):
    """SIGKILL at moments across the publication window: all old or all new (exchange);
    the fallback may stop mid-way but then says so (marker), and the next run repairs it."""
    if mode == "exchange" and outputs._renameat2 is None:
        pytest.skip("renameat2 is not available on this platform")
    old_id = assert_one_set(old_set)
    env = _env(**{outputs.DELAY_ENV: str(DELAY_S), outputs.MODE_ENV: mode})
    args = ["run", "-q", "--osm", str(helsinki_pbf), "--it-load-mw", "4", "--no-map"]
    seen = set()
    # window: carrying notes.txt and tiles/, the swap, after it (~4 steps of DELAY_S)
    for i, after_s in enumerate((0.05, 0.45, 0.75, 1.05, 1.5)):
        out = _copy_of(old_set, tmp_path / f"k{i}")
        proc = _start_and_wait([*args, "--out", str(out)], "publishing", env)
        time.sleep(after_s)
        proc.kill()
        proc.wait(timeout=30)
        if mode == "files" and (out / outputs.INCOMPLETE).exists():
            with pytest.raises(OutputError, match="mix of two runs"):
                outputs.check_complete(out)  # a reader is told
            seen.add("marked")
        else:
            run_id = assert_one_set(out)
            seen.add("old" if run_id == old_id else "new")
        # your files are never lost: in the folder, or (a folder in transit) in the
        # staging folder the next run restores them from
        outputs.clean_leftovers(out)
        assert (out / "notes.txt").read_text() == "mine"
        assert (out / "tiles" / "keep.json").exists()
        assert not _leftovers(out)
    assert "old" in seen or "marked" in seen  # the kill landed inside the window
    # the next run repairs whatever a kill left
    proc = _cli(*args, "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert assert_one_set(out) != old_id and not (out / "map.html").exists()


def test_item01_sigterm_during_publication_finishes_the_set(old_set, helsinki_pbf, tmp_path):
    """SIGTERM is held for the swap: the new set lands whole, then the run exits 143."""
    out = _copy_of(old_set, tmp_path)
    env = _env(**{outputs.DELAY_ENV: str(DELAY_S)})
    args = ["run", "-q", "--osm", str(helsinki_pbf), "--it-load-mw", "4", "--out", str(out)]
    proc = _start_and_wait(args, "publishing", env)
    time.sleep(0.4)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143
    assert f"siting: interrupted; the results in {out} are complete." in err
    assert "Traceback" not in err
    assert assert_one_set(out) != assert_one_set(old_set)
    assert not _leftovers(out) and (out / "notes.txt").read_text() == "mine"


def test_item02_report_is_published_as_one_set(tmp_path):
    """`siting report` uses the same publication: a kill leaves the old results and report
    or the new ones, never new results beside an old report."""
    out = tmp_path / "report"
    proc = _cli("report", "--demo", "-q", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    old_id = assert_one_set(out, "results", REPORT_RUN)
    env = _env(**{outputs.DELAY_ENV: str(DELAY_S)})
    ids = set()
    for after_s in (0.1, 0.5):
        proc = _start_and_wait(["report", "--demo", "-q", "--out", str(out)], "publishing", env)
        time.sleep(after_s)
        proc.kill()
        proc.wait(timeout=30)
        ids.add(assert_one_set(out, "results", REPORT_RUN))
        outputs.clean_leftovers(out)
        assert not _leftovers(out)
    assert old_id in ids  # the first kill (0.1 s) lands before the swap


def test_item03_no_map_removes_the_old_map(old_set, helsinki_pbf, tmp_path):
    out = _copy_of(old_set, tmp_path)
    assert (out / "map.html").exists()
    proc = _cli("run", "-q", "--osm", str(helsinki_pbf), "--no-map", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert not (out / "map.html").exists()  # its popups showed the earlier figures
    assert_one_set(out)
    assert (out / "notes.txt").read_text() == "mine"


def test_item04_killed_runs_leave_no_staging_folders(old_set, helsinki_pbf, tmp_path):
    """SIGTERM while staging cleans up at once; SIGKILL's leftover goes at the next run."""
    out = _copy_of(old_set, tmp_path)
    env = _env(**{outputs.DELAY_ENV: "1.0"})
    args = ["run", "-q", "--osm", str(helsinki_pbf), "--out", str(out)]
    proc = _start_and_wait(args, "staging", env)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 143 and "no output was written" in err
    assert not _leftovers(out)
    before = assert_one_set(out)

    proc = _start_and_wait(args, "publishing", env)  # staged files complete, then killed
    proc.kill()
    proc.wait(timeout=30)
    assert _leftovers(out)  # what SIGKILL cannot clean ...
    assert assert_one_set(out) == before
    bad = tmp_path / "bad.osm.pbf"
    bad.write_text("not osm")
    proc = _cli("run", "-q", "--osm", str(bad), "--out", str(out))  # ... a later run does,
    assert proc.returncode == 1 and not _leftovers(out)  # even one that fails
    assert assert_one_set(out) == before


def test_item05_empty_out_is_an_error(helsinki_pbf, tmp_path):
    for command in (["run", "--osm", str(helsinki_pbf)], ["demo"], ["report", "--demo"]):
        proc = _cli(*command, "--out", "", cwd=tmp_path)
        assert proc.returncode == 1, proc.stderr
        assert _lines(proc.stderr) == [
            "siting: error: --out is empty; give a folder name, e.g. --out results (--out . "
            "for the current folder)."
        ]
        assert list(tmp_path.iterdir()) == []  # nothing written into the current folder
    with pytest.raises(OutputError, match="empty"):
        outputs.check_output_dir("")


def test_item05_empty_out_dir_in_yaml(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text('osm_path: x.osm.pbf\nout_dir: ""\n')
    with pytest.raises(ConfigError, match="out_dir is empty"):
        siting.Study.from_yaml(path)


def test_item06_read_only_out_is_found_before_any_work(tmp_path, demo_results):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        # the OSM file does not even exist: the folder is checked first
        proc = subprocess.run(
            _without_dac_override(
                _cmd("run", "-q", "--osm", str(tmp_path / "missing.osm.pbf"), "--out", str(out))
            ),
            capture_output=True,
            text=True,
            timeout=120,
            env=_env(),
        )
        assert proc.returncode == 1
        lines = _lines(proc.stderr)
        assert len(lines) == 1 and f"output folder {out} cannot be written to" in lines[0]
        assert "choose another --out folder" in lines[0]
        assert "Permission denied" in lines[0] and "missing.osm.pbf" not in lines[0]
        assert list(out.iterdir()) == []
    finally:
        out.chmod(0o755)


def test_item06_library_checks_the_folder_first(tmp_path, demo_results, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    called = []
    monkeypatch.setattr(type(demo_results), "map", lambda *a, **k: called.append(1))
    with pytest.raises(OutputError):
        demo_results.to_files(blocker)
    with pytest.raises(OutputError, match="empty"):
        demo_results.to_files("")
    assert not called  # nothing was computed for a folder that cannot take it
    from siting.report import build_report

    with pytest.raises(OutputError):
        build_report(demo_results, blocker / "r")


# ----------------------------------------------------------------------------- 5-14 resources


def test_item07_billion_laughs_yaml_is_refused_fast(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefg", "bcdefgh", strict=True):
        lines.append(f"{name}: &{name} [{','.join([f'*{prev}'] * 9)}]")
    lines.append(f"name: [{','.join(['*h'] * 9)}]")
    path = tmp_path / "laughs.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert path.stat().st_size < 500
    t = time.perf_counter()
    proc = _cli("run", "--config", str(path), "--out", str(tmp_path / "o"), timeout=60)
    assert proc.returncode == 1
    assert len(proc.stderr) < 400 and len(_lines(proc.stderr)) == 1
    assert "aliases (*name) expand to more than 100,000 values" in proc.stderr
    assert time.perf_counter() - t < 30
    recursive = tmp_path / "rec.yaml"
    recursive.write_text("name: &n [1, *n]\n")
    with pytest.raises(ConfigError, match="refers to itself"):
        siting.Study.from_yaml(recursive)
    fine = tmp_path / "fine.yaml"  # ordinary anchors still work
    fine.write_text("params: &p {discount_rate: 0.05}\n")
    assert siting.Study.from_yaml(fine).params.discount_rate == 0.05


def test_item08_too_many_tiles_answer_fast(helsinki_pbf, tmp_path):
    t = time.perf_counter()
    proc = _cli("run", "--osm", str(helsinki_pbf), "--tiles", "10000", "--out", str(tmp_path / "o"))
    seconds = time.perf_counter() - t
    assert proc.returncode == 1 and seconds < 30, (seconds, proc.stderr)
    (line,) = _lines(proc.stderr)
    assert "10000 tiles are more than this study can use" in line and "km" in line
    assert not (tmp_path / "o").exists()


def test_item08_tile_limit_counts_sites(tmp_path):
    from siting.tiles import make_tiles

    lyngby = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")
    sites = tmp_path / "s.geojson"
    gpd.GeoDataFrame(
        {"site_id": ["a", "b", "c"]},
        geometry=[shapely.Point(12.5 + 0.01 * i, 55.77) for i in range(3)],
        crs="EPSG:4326",
    ).to_file(sites)
    study = siting.Study(osm_path=lyngby, sites_path=sites)
    with pytest.raises(ConfigError, match=r"there are 3 sites in .*use at most 3 tiles"):
        make_tiles(study, n=4)
    assert len(make_tiles(study, n=3)) == 3


@pytest.mark.parametrize("value", ["0", "-1", "2.5", "four"])
def test_item09_10_tiles_below_one_or_not_a_number(value, helsinki_pbf, tmp_path):
    out = tmp_path / "o"
    proc = _cli("run", "--osm", str(helsinki_pbf), "--tiles", value, "--out", str(out))
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert line.startswith("siting: error: ") and "bug" not in line
    assert "1 or more" in line
    assert not out.exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_item11_scheduler_at_a_closed_port_fails_fast(helsinki_pbf, tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    t = time.perf_counter()
    with pytest.raises(ConfigError, match="Connection refused"):
        probe_scheduler(address)
    assert time.perf_counter() - t < 2.0
    out = tmp_path / "o"
    proc = _cli("run", "--osm", str(helsinki_pbf), "--scheduler", address, "--out", str(out))
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert f"cannot reach the dask scheduler at {address}" in line and "bug" not in line
    assert not out.exists()  # no tiles/ folder either


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


def test_item12_scheduler_at_an_http_server_does_not_hang(helsinki_pbf, tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"tcp://127.0.0.1:{server.server_address[1]}"
    try:
        t = time.perf_counter()
        with pytest.raises(ConfigError, match="not a dask scheduler"):
            probe_scheduler(address, timeout_s=2.0)
        assert time.perf_counter() - t < 6.0
        out = tmp_path / "o"
        proc = _cli(
            "run", "--osm", str(helsinki_pbf), "--scheduler", address, "--out", str(out),
            timeout=90,
        )  # fmt: skip
        assert proc.returncode == 1
        (line,) = _lines(proc.stderr)
        assert address in line and "not a dask scheduler" in line
        assert not out.exists()
    finally:
        server.shutdown()


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("not a url", "is not HOST:PORT"),
        ("http://localhost:8787", "is a web address"),
        ("ftp://host:1", "unknown scheme 'ftp'"),
        ("tcp://host:99999", "port 99999 is not 1-65535"),
        ("tcp://host", "is not HOST:PORT"),
    ],
)
def test_item13_scheduler_address_is_checked(address, expected, helsinki_pbf, tmp_path):
    with pytest.raises(ConfigError, match=expected):
        probe_scheduler(address)
    if address == "not a url":
        proc = _cli("run", "--osm", str(helsinki_pbf), "--scheduler", address, "--out", "o")
        assert proc.returncode == 1 and "unexpected" not in proc.stderr
        assert "tcp://HOST:PORT" in proc.stderr


def test_item13_a_real_scheduler_is_accepted(helsinki_pbf, tmp_path):
    """A dask scheduler at a tcp:// address passes the probe and runs the study; without
    --tiles the small demo area is one tile (not the 4 it cannot use)."""
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, processes=False, protocol="tcp", dashboard_address=None) as c:
        address = c.scheduler_address
        assert probe_scheduler(address) == address
        out = tmp_path / "o"
        proc = _cli(
            "run", "-q", "--osm", str(helsinki_pbf), "--scheduler", address, "--out", str(out)
        )
    assert proc.returncode == 0, proc.stderr
    assert_one_set(out)


def _processes_with(tag: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if tag.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_item14_ctrl_c_in_a_tiled_run_is_quiet(tmp_path):
    """Ctrl-C reaches the whole process group (as from a terminal): one line, exit 130,
    no worker tracebacks, no worker left running; at several moments of the run."""
    osm = shared_file("osm", "copenhagen_north_lyngby_2022.osm.pbf")  # ~8 s in 2 tiles
    landed = 0
    # after the tiled run began (Python's own imports before it are not ours to quieten):
    # while the store is written, the cluster starts, the tiles are read, the tiles run
    for i, after_s in enumerate((0.0, 0.7, 1.5, 3.0)):
        tag = f"SITING_TEST_TAG={uuid.uuid4().hex}"
        out = tmp_path / f"o{i}"
        env = _env(SITING_TEST_TAG=tag.split("=")[1])
        proc = subprocess.Popen(
            _cmd("run", "-q", "--osm", str(osm), "--tiles", "2", "--no-map", "--out", str(out)),
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while not (out / "tiles").exists() and proc.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(after_s)
        if proc.poll() is not None:
            continue  # finished before the Ctrl-C: nothing to test at this moment
        os.killpg(proc.pid, signal.SIGINT)
        landed += 1
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 130, err
        assert _lines(err) == ["siting: interrupted; no output was written."], err
        assert not (out / "ranking.csv").exists()
        deadline = time.monotonic() + 15
        while _processes_with(tag) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not _processes_with(tag), "worker processes outlived the run"
    assert landed >= 3, "the runs ended before the Ctrl-C"


# ----------------------------------------------------------------------------- 15-19 values


def _sites_file(path: Path, loads: list) -> Path:
    feats = [
        {
            "type": "Feature",
            "properties": {"site_id": f"dc-{i + 1}", "it_load_mw": v},
            "geometry": {"type": "Point", "coordinates": [24.941 + 0.002 * i, 60.169]},
        }
        for i, v in enumerate(loads)
    ]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path


def test_item15_it_load_with_units_is_an_error_quoting_row_and_field(helsinki_pbf, tmp_path):
    path = _sites_file(tmp_path / "s.geojson", [5, "20 MW"])
    proc = _cli("run", "--osm", str(helsinki_pbf), "--sites", str(path), "--out", "o", cwd=tmp_path)
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert "row 2 (site 'dc-2') has '20 MW'" in line and "it_load_mw" in line
    assert "plain number" in line
    yaml_path = tmp_path / "s.yaml"
    yaml_path.write_text(f'osm_path: {helsinki_pbf}\ndefault_it_load_mw: "20 MW"\n')
    with pytest.raises(ConfigError, match="default_it_load_mw must be a number, got '20 MW'"):
        siting.Study.from_yaml(yaml_path)


def test_item16_absurd_it_load_is_an_error(helsinki_pbf, tmp_path):
    path = _sites_file(tmp_path / "s.geojson", [5, 1e9])
    proc = _cli("run", "--osm", str(helsinki_pbf), "--sites", str(path), "--out", "o", cwd=tmp_path)
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert "row 2 (site 'dc-2'): it_load_mw 1e+09 MW is outside the possible range" in line
    assert not (tmp_path / "o").exists()
    proc = _cli("run", "--osm", str(helsinki_pbf), "--it-load-mw", "1e9", "--out", "o")
    assert proc.returncode == 1 and "default_it_load_mw 1e+09 MW" in proc.stderr
    yaml_path = tmp_path / "big.yaml"
    yaml_path.write_text(f"osm_path: {helsinki_pbf}\ndefault_it_load_mw: 1e9\n")  # a number
    with pytest.raises(ConfigError, match="default_it_load_mw 1e\\+09 MW is outside"):
        siting.Study.from_yaml(yaml_path)


def _network(path: Path, heat_pipes: gpd.GeoDataFrame, **cols) -> Path:
    gdf = heat_pipes.copy()
    for key, value in cols.items():
        gdf[key] = value
    gdf.to_file(path)
    return path


@pytest.fixture(scope="module")
def heat_pipes(helsinki_osm) -> gpd.GeoDataFrame:
    return helsinki_osm.heat_pipes[["geometry"]].reset_index(drop=True)


def test_item17_supply_temperature_below_zero_is_an_error(heat_pipes, tmp_path):
    values = [75.0] * len(heat_pipes)
    values[2] = -10.0
    path = _network(tmp_path / "n.geojson", heat_pipes, supply_temp_c=values)
    with pytest.raises(InputDataError) as err:
        read_network(path)
    msg = str(err.value)
    assert "row 3: supply_temp_c -10 °C is outside the possible range" in msg
    assert str(path) in msg and "\n" not in msg


@pytest.mark.parametrize("bad", [0.0, -20.0])
def test_item18_non_positive_capacity_names_the_row(bad, helsinki_pbf, heat_pipes, tmp_path):
    values = [50.0] * len(heat_pipes)
    values[0] = bad
    path = _network(tmp_path / "n.geojson", heat_pipes, capacity_mw=values)
    proc = _cli(
        "run", "--osm", str(helsinki_pbf), "--network", str(path), "--out", "o", cwd=tmp_path
    )
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert f"row 1: capacity_mw {bad:g} MW is outside the possible range" in line
    assert "peak" not in line and "can't take" not in line  # not blamed on a site


def test_item19_shapefile_truncated_fields_are_read(helsinki_osm, heat_pipes, tmp_path):
    """The same network as GeoJSON and as Shapefile (capacity_mw saved as `capacity_m`)
    gives the same ranking; the capacity is low enough to make every site infeasible."""
    cols = {"supply_temp_c": 80.0, "return_temp_c": 40.0, "capacity_mw": 0.2}
    gj = _network(tmp_path / "n.geojson", heat_pipes, **cols)
    with warnings.catch_warnings():  # GDAL truncates the names, and says so
        warnings.simplefilter("ignore")
        shp = _network(tmp_path / "n.shp", heat_pipes, **cols)
    assert {"supply_tem", "return_tem", "capacity_m"} <= set(gpd.read_file(shp).columns)
    a, b = read_network(gj), read_network(shp)
    for col in ("supply_temp_c", "return_temp_c", "capacity_mw"):
        assert (a[col] == cols[col]).all() and (b[col] == cols[col]).all(), col
    study = siting.demo_study(tmp_path)
    ra = siting.run(study.replace(network_path=gj), osm=helsinki_osm).sites
    rb = siting.run(study.replace(network_path=shp), osm=helsinki_osm).sites
    assert list(ra["feasible"]) == list(rb["feasible"]) and not ra["feasible"].any()
    assert list(ra["reason"]) == list(rb["reason"])


def test_item19_unknown_look_alike_fields_are_named(heat_pipes, tmp_path, caplog):
    path = _network(tmp_path / "n.geojson", heat_pipes, supplytemp=70.0)
    with caplog.at_level("WARNING", logger="siting"):
        read_network(path)
    assert any("'supplytemp' is not a known network attribute" in r.message for r in caplog.records)


# ----------------------------------------------------------------------------- 20 environment


def test_item20_corrupt_osm_gz_names_the_file(tmp_path):
    xml = write_osm(tmp_path / "x.osm")
    data = bytearray(gzip.compress(xml.read_bytes() * 20))
    data[30:60] = b"\xff" * 30  # damage the deflate stream, keep the gzip header
    path = tmp_path / "city.osm.gz"
    path.write_bytes(bytes(data))
    proc = _cli("run", "--osm", str(path), "--out", str(tmp_path / "o"))
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert str(path) in line and "corrupt or truncated" in line and "download" in line
    assert "bug" not in line


def test_item20_unreadable_file_names_the_file_and_the_fix(helsinki_pbf, tmp_path):
    sites = _sites_file(tmp_path / "s.geojson", [5])
    osm = tmp_path / "city.osm.pbf"
    shutil.copyfile(helsinki_pbf, osm)
    for args, path in (
        (["--osm", str(osm)], osm),
        (["--osm", str(helsinki_pbf), "--sites", str(sites)], sites),
    ):
        path.chmod(0)
        try:
            proc = subprocess.run(
                _without_dac_override(_cmd("run", *args, "--out", str(tmp_path / "o"))),
                capture_output=True,
                text=True,
                timeout=120,
                env=_env(),
            )
        finally:
            path.chmod(0o644)
        assert proc.returncode == 1
        (line,) = _lines(proc.stderr)
        assert str(path) in line and "Permission denied" in line
        assert "read permission" in line and "bug" not in line


def test_item20_zero_length_pipe_is_reported_with_its_row(helsinki_pbf, heat_pipes, tmp_path):
    gdf = heat_pipes.copy()
    p = shapely.get_coordinates(gdf.geometry.iloc[4])[0]
    gdf.loc[4, "geometry"] = shapely.LineString([p, p])
    path = tmp_path / "n.geojson"
    gdf.to_file(path)
    proc = _cli(
        "run", "--osm", str(helsinki_pbf), "--network", str(path), "--out", "o", cwd=tmp_path
    )
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert "row 5 is a line of zero length" in line and str(path) in line
    assert "GEOS" not in line and "bug" not in line


def test_item20_full_disk_keeps_the_earlier_results(old_set, helsinki_pbf, tmp_path):
    """Writes fail past a file-size limit (EFBIG, as ENOSPC on a full disk)."""
    out = _copy_of(old_set, tmp_path)
    before = assert_one_set(out)
    limit = 200_000  # results.gpkg is ~0.5 MB

    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run(
        _cmd("run", "--osm", str(helsinki_pbf), "--no-cache", "--out", str(out)),
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(),
        preexec_fn=small_files,
    )
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert f"could not write the results to {out}" in line and "File too large" in line
    assert "unchanged" in line and "bug" not in line
    assert assert_one_set(out) == before and not _leftovers(out)


def test_item20_full_disk_elsewhere_is_not_a_bug(monkeypatch, tmp_path, capsys):
    """A library failing on a full disk in its own words is reported as the disk."""
    import siting.study
    from siting.cli import main

    def boom(study, **kwargs):
        raise RuntimeError("sqlite3: no such table: buildings")

    monkeypatch.setattr(siting.study, "run", boom)
    monkeypatch.setattr(outputs, "disk_full", lambda folder, probe_bytes=0: "the disk is full")
    rc = main(["run", "-q", "--osm", "x.osm.pbf", "--out", str(tmp_path / "o")])
    (line,) = _lines(capsys.readouterr().err)
    assert rc == 1 and "the disk is full" in line and "bug" not in line


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1.2 MB tmpfs (needs root and mount rights; skipped elsewhere)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mnt)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_item20_full_disk_for_real(tiny_disk, helsinki_pbf):
    """ENOSPC on a real (tiny) disk: one line, the earlier results kept, nothing left."""
    out = tiny_disk / "out"
    args = ["run", "-q", "--osm", str(helsinki_pbf), "--no-cache"]
    proc = _cli(*args, "--no-map", "--out", str(out))  # ~0.55 MB: fits
    assert proc.returncode == 0, proc.stderr
    before = assert_one_set(out)
    proc = _cli(*args, "--out", str(out))  # a second set with its map (~0.8 MB) does not
    assert proc.returncode == 1
    (line,) = _lines(proc.stderr)
    assert f"could not write the results to {out}: the disk is full" in line
    assert "No space left on device" in line and "unchanged" in line
    assert assert_one_set(out) == before and not _leftovers(out)


def test_item20_full_temporary_disk_is_not_needed(tiny_disk, tmp_path):
    """A full TMPDIR does not stop a study: an XML extract is converted to PBF in the
    cache folder and the one-pass reader writes nothing (pyrosm's temporary files on a full
    TMPDIR read as "probably corrupt" once, then as a full disk)."""
    xml = shared_file("osm", "aarhus_center_2021.osm")  # ~0.8 MB XML, ~50 kB as PBF
    (tiny_disk / "filler").write_bytes(b"\0" * 1_200_000)  # leaves ~28 kB
    proc = _cli(
        "run", "-q", "--osm", str(xml), "--out", str(tmp_path / "o"), "--no-map",
        env=_env(TMPDIR=str(tiny_disk)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "o" / "ranking.csv").is_file()
    assert {p.name for p in tiny_disk.iterdir()} == {"filler"}
