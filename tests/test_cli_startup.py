"""`siting --help` starts without the geo stack: the parser is built from light modules only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what a help text must not wait for: the geo stack, pandas and the plotting/parallel libraries;
# numpy too (~70 ms, most of what --help would cost on top of Python's own start)
HEAVY = (
    "geopandas",
    "shapely",
    "pyproj",
    "pyogrio",
    "rasterio",
    "networkx",
    "folium",
    "scipy",
    "pandas",
    "matplotlib",
    "dask",
    "distributed",
    "pyrosm",
    "osmnx",
    "numpy",
)


def _fresh(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run `code` in a new interpreter on this tree (nothing imported before it)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, *args, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )


def _loaded_after(call: str) -> tuple[list[str], str]:
    """(heavy modules in sys.modules, stdout) after `call` ran in a fresh interpreter."""
    code = (
        "import json, sys\n"
        "out = sys.stdout\n"
        "sys.stdout = sys.stderr\n"  # the help text; the last line of stdout is the answer
        f"try:\n    {call}\nexcept SystemExit:\n    pass\n"
        f"print(json.dumps([m for m in {list(HEAVY)!r} if m in sys.modules]), file=out)\n"
    )
    done = _fresh(code)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1]), done.stderr


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["--version"], ["run", "--help"], ["demo", "--help"], ["report", "--help"]]
    + [["schema", "--help"]],
)
def test_help_loads_no_heavy_module(argv):
    loaded, text = _loaded_after(f"import siting.cli; siting.cli.main({argv!r})")
    assert loaded == [], f"siting {' '.join(argv)} imported {loaded}"
    assert "siting" in text  # the help (or version) was printed, not an error


def test_help_text_still_carries_the_field_metadata():
    # the parser reads descriptions and defaults from siting.config: the light path is the real one
    loaded, text = _loaded_after("import siting.cli; siting.cli.main(['run', '--help'])")
    assert loaded == []
    assert "--it-load-mw" in text and "--rank-by {" in text and "lcoh" in text


def test_python_dash_m_help_is_light_too():
    """`python -m siting.cli --help` (the console script's module run as __main__)."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['siting', 'run', '--help']\n"
        "try:\n    runpy.run_module('siting.cli', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        f"print(sorted(m for m in {list(HEAVY)!r} if m in sys.modules), file=sys.stderr)\n"
    )
    done = _fresh(code, "-W", "error")  # a RuntimeWarning (cli imported twice) fails too
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_the_check_can_fail():
    # the same probe sees the geo stack once the study is imported
    loaded, _ = _loaded_after("import siting; siting.run")
    assert "geopandas" in loaded and "pandas" in loaded


def test_the_console_script_is_the_function_tested_here():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # console() is main() and then the exit (the tests below); the tests call main()
    assert project["scripts"]["siting"] == "siting.cli:console"


# a console() run whose main() is replaced: prints without flushing (stdout is a pipe, so
# block-buffered once PYTHONUNBUFFERED is unset) and leaves a global whose __del__ speaks at
# the interpreter's teardown
_CONSOLE = """
import atexit, sys, threading, time
import siting.cli as cli

class Loud:
    def __del__(self):
        sys.stdout.write("torn down;")

loud = Loud()
atexit.register(lambda: sys.stdout.write("hook ran;"))

def main(argv=None):
    sys.stdout.write("main ran;")
    {body}
    return 3

cli.main = main
cli.console()
sys.stdout.write("not reached;")
"""


def _console(body: str = "pass", *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    code = _CONSOLE.format(body=body)
    return subprocess.run(
        [sys.executable, *args, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )


def test_console_exits_with_mains_code_without_the_teardown():
    done = _console()
    assert done.returncode == 3, done.stderr
    # the atexit hooks ran and the buffered output was flushed; the teardown did not run
    assert done.stdout == "main ran;hook ran;", done.stdout


def test_console_finishes_the_cache_writes_first(tmp_path):
    path = tmp_path / "entry"
    body = (
        "import siting.cachedir as cd\n"
        "    cd.write_later(lambda p: (time.sleep(0.3), p.write_text('written')), __import__("
        f"'pathlib').Path({str(path)!r}))"
    )
    done = _console(body)
    assert done.returncode == 3, done.stderr
    assert path.read_text() == "written"
    assert "torn down" not in done.stdout  # the writer thread was ended, not waited on


def test_console_leaves_a_busy_thread_to_the_normal_exit():
    body = (
        "threading.Thread(target=lambda: (time.sleep(0.3), sys.stdout.write('thread done;')))"
        ".start()"
    )
    done = _console(body)
    assert done.returncode == 3, done.stderr
    # the normal exit waited for the thread and tore the interpreter down
    assert done.stdout.startswith("main ran;thread done;hook ran;"), done.stdout
    assert "torn down;" in done.stdout


def test_console_under_a_profiler_exits_normally_so_it_can_report(tmp_path):
    # python -m cProfile writes its file after the program returns: no fast exit then
    script = tmp_path / "console.py"
    script.write_text(_CONSOLE.format(body="pass"), encoding="utf-8")
    out = tmp_path / "profile.out"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "cProfile", "-o", str(out), str(script)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO)
    assert done.returncode == 0, done.stderr  # cProfile swallows the SystemExit (3)
    assert out.stat().st_size > 0
    assert done.stdout == "main ran;hook ran;torn down;", done.stdout
