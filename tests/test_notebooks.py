"""Execute every notebook in notebooks/ and check that it runs and says what it should."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
REGIONAL = REPO / "notebooks" / "02_regional_study.ipynb"
MODEL = REPO / "notebooks" / "03_model_explained.ipynb"
CELL_TIMEOUT_S = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*m")

_MISSING = "notebook tests need {} (pip install -e '.[test]')"
nbformat = pytest.importorskip("nbformat", reason=_MISSING.format("nbformat"))
nbclient = pytest.importorskip("nbclient", reason=_MISSING.format("nbclient"))
pytest.importorskip("ipykernel", reason=_MISSING.format("ipykernel (the python3 kernel)"))
pytest.importorskip(
    "matplotlib",
    reason="the notebooks plot with matplotlib, which siting does not depend on: pip install it",
)


def _execute(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch):
    """Run `path` in a fresh python3 kernel with cwd and TMPDIR in `workdir`.

    Returns the executed notebook, or the error report (str) if a cell raised.
    """
    nb = nbformat.read(path, as_version=4)
    # the kernel inherits the environment: temp folders the notebook makes land in workdir
    monkeypatch.setenv("TMPDIR", str(workdir))
    client = nbclient.NotebookClient(
        nb,
        kernel_name="python3",  # ipykernel in this venv (jupyter_client runs sys.executable)
        timeout=CELL_TIMEOUT_S,
        allow_errors=False,
        resources={"metadata": {"path": str(workdir)}},
    )
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:
        return f"{path.name}: a cell raised\n{_ANSI.sub('', str(exc))}"
    return nb


def _errors(nb) -> list[str]:
    return [
        f"cell {i}: {out.get('ename')}: {out.get('evalue')}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "error"
    ]


def _tagged(nb, tag: str):
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def _stdout(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Execute each notebook at most once per module; notebook path -> executed notebook."""
    cache: dict[Path, object] = {}  # notebook or error report

    def run(path: Path):
        if path not in cache:
            workdir = tmp_path_factory.mktemp(path.stem)
            before = sorted(path.parent.iterdir())
            with pytest.MonkeyPatch.context() as mp:
                cache[path] = _execute(path, workdir, mp)
            # outputs go to the tmp workdir, never beside the notebooks in the repo
            assert sorted(path.parent.iterdir()) == before, "the notebook wrote into the repo"
        if isinstance(cache[path], str):  # a failed run is reported, not re-run, by each test
            pytest.fail(cache[path], pytrace=False)
        return cache[path]

    return run


def test_notebooks_exist():
    assert {QUICKSTART, REGIONAL, MODEL} <= set(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_has_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, f"{path.name}: clear the outputs of cells {dirty} before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_without_errors(path, executed):
    nb = executed(path)
    assert not _errors(nb)
    assert all(c.get("execution_count") for c in nb.cells if c.cell_type == "code")


def test_quickstart_lcoh_by_hand_equals_table(executed):
    text = _stdout(_tagged(executed(QUICKSTART), "lcoh-check"))
    by_hand = re.search(r"LCOH by hand:\s*([0-9.]+) EUR/MWh", text)
    table = re.search(r"LCOH table:\s*([0-9.]+) EUR/MWh", text)
    assert by_hand and table, f"LCOH lines missing from the cell output:\n{text}"
    assert float(by_hand[1]) == pytest.approx(float(table[1]), rel=1e-9)
    assert 5 < float(table[1]) < 500  # a plausible EUR/MWh, not NaN/inf/0


def test_quickstart_shows_map_and_chart(executed):
    nb = executed(QUICKSTART)
    map_html = "".join(o.get("data", {}).get("text/html", "") for o in _tagged(nb, "map").outputs)
    assert "leaflet" in map_html.lower(), "results.map() did not render inline"
    chart = _tagged(nb, "cost-chart").outputs
    assert any("image/png" in o.get("data", {}) for o in chart), "no cost chart was drawn"


def test_regional_study_sweeps_and_exports(executed):
    nb = executed(REGIONAL)
    sweep = "".join(o.get("data", {}).get("text/plain", "") for o in _tagged(nb, "sweep").outputs)
    for price in ("40.0", "80.0", "150.0"):
        assert price in sweep, sweep
    assert "0.035" in sweep and "0.050" in sweep
    text = _stdout(_tagged(nb, "export"))
    for name in ("ranking.csv", "results.gpkg", "map.html"):
        assert name in text, text
    assert any(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_model_notebook_reproduces_odense(executed):
    nb = executed(MODEL)
    text = "".join(_stdout(c) for c in nb.cells if c.cell_type == "code")
    assert "Lorenz COP (eta 0.5) = 4.85" in text
    assert "delivered 126.0 GWh/yr" in text
    assert re.search(r"18\.1 MWh \(pre-2025 claims\)\s+6,960 homes", text), text
    n_plots = sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )
    assert n_plots >= 4
