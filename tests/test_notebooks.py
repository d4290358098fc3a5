"""Execute every notebook in notebooks/ and check that it runs and says what it should; check
that the example inputs in data/ load as the notebooks and README say."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
QUICKSTART = REPO / "notebooks" / "01_quickstart.ipynb"
REGIONAL = REPO / "notebooks" / "02_regional_study.ipynb"
MODEL = REPO / "notebooks" / "03_model_explained.ipynb"
OWN_CITY = REPO / "notebooks" / "04_your_own_city.ipynb"
DATA = REPO / "data"
CELL_TIMEOUT_S = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_MISSING = "notebook tests need {} (pip install -e '.[test]')"


def _notebook_tools():
    """nbformat and nbclient, or skip: only the notebook tests need them (not the data tests)."""
    nbformat = pytest.importorskip("nbformat", reason=_MISSING.format("nbformat"))
    nbclient = pytest.importorskip("nbclient", reason=_MISSING.format("nbclient"))
    pytest.importorskip("ipykernel", reason=_MISSING.format("ipykernel (the python3 kernel)"))
    pytest.importorskip("matplotlib", reason="the notebooks plot with matplotlib: pip install it")
    return nbformat, nbclient


def _execute(path: Path, workdir: Path, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]):
    """Run `path` in a fresh python3 kernel with cwd and TMPDIR in `workdir`, `env` set.

    Returns the executed notebook, or the error report (str) if a cell raised.
    """
    nbformat, nbclient = _notebook_tools()
    nb = nbformat.read(path, as_version=4)
    # the kernel inherits the environment: temp folders the notebook makes land in workdir
    monkeypatch.setenv("TMPDIR", str(workdir))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
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
    return "".join(
        o.get("text", "")
        for o in cell.outputs
        if o.output_type == "stream" and o.get("name") == "stdout"
    )


def _all_stdout(nb) -> str:
    return "".join(_stdout(c) for c in nb.cells if c.cell_type == "code")


def _html(cell) -> str:
    return "".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)


def _n_plots(nb) -> int:
    return sum(
        "image/png" in o.get("data", {})
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def _tree(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """Execute each notebook at most once per module (per environment); -> executed notebook."""
    cache: dict[tuple, object] = {}  # notebook or error report

    def run(path: Path, **env: str):
        key = (path, tuple(sorted(env.items())))
        if key not in cache:
            workdir = tmp_path_factory.mktemp(path.stem)
            before = {d: _tree(d) for d in (path.parent, DATA)}
            with pytest.MonkeyPatch.context() as mp:
                cache[key] = _execute(path, workdir, mp, env)
            # outputs go to the tmp workdir, never beside the notebooks or into data/
            for folder, listing in before.items():
                assert _tree(folder) == listing, f"the notebook wrote into {folder}"
        if isinstance(cache[key], str):  # a failed run is reported, not re-run, by each test
            pytest.fail(cache[key], pytrace=False)
        return cache[key]

    return run


def test_notebooks_exist():
    assert {QUICKSTART, REGIONAL, MODEL, OWN_CITY} <= set(NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_committed_notebook_has_no_outputs(path):
    nbformat, _ = _notebook_tools()
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


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_prints_no_tqdm_warning(path, executed):
    """A first run() in a kernel without ipywidgets must not print tqdm's IProgress warning."""
    nb = executed(path)
    stderr = "".join(
        o.get("text", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if o.output_type == "stream" and o.get("name") == "stderr"
    )
    assert "TqdmWarning" not in stderr and "IProgress" not in stderr, stderr


def test_quickstart_lcoh_by_hand_equals_table(executed):
    text = _stdout(_tagged(executed(QUICKSTART), "lcoh-check"))
    by_hand = re.search(r"LCOH by hand:\s*([0-9.]+) EUR/MWh", text)
    table = re.search(r"LCOH table:\s*([0-9.]+) EUR/MWh", text)
    assert by_hand and table, f"LCOH lines missing from the cell output:\n{text}"
    assert float(by_hand[1]) == pytest.approx(float(table[1]), rel=1e-9)
    assert 5 < float(table[1]) < 500  # a plausible EUR/MWh, not NaN/inf/0


def test_quickstart_rebuilds_practical_cop_and_electricity_cost(executed):
    text = _all_stdout(executed(QUICKSTART))
    cop = re.search(r"heat pump COP ([0-9.]+) \(table cop ([0-9.]+)\)", text)
    system = re.search(r"system COP ([0-9.]+) \(table cop_system ([0-9.]+)\)", text)
    assert cop and system, text
    assert cop[1] == cop[2] and system[1] == system[2]
    assert 1 < float(cop[1]) <= 7.0  # the practical model's cap (docs/model.md §8.1)
    cost = re.search(r"DSO = ([0-9.]+) EUR/MWh \(table: ([0-9.]+)\)", text)
    assert cost and cost[1] == cost[2], text
    # energy 80 + tax 0.54 + TSO 16.8 + DSO 13.4 (docs/model.md §5 defaults)
    assert float(cost[1]) == pytest.approx(80 + 0.54 + 16.8 + 13.4, abs=0.01)


def test_quickstart_shows_map_and_chart(executed):
    nb = executed(QUICKSTART)
    assert "leaflet" in _html(_tagged(nb, "map")).lower(), "results.map() did not render inline"
    chart = _tagged(nb, "cost-chart").outputs
    assert any("image/png" in o.get("data", {}) for o in chart), "no cost chart was drawn"


def test_regional_study_sweeps_and_exports(executed):
    nb = executed(REGIONAL)
    sweep = "".join(o.get("data", {}).get("text/plain", "") for o in _tagged(nb, "sweep").outputs)
    for price in ("40.0", "80.0", "150.0"):
        assert price in sweep, sweep
    assert "0.035" in sweep and "0.050" in sweep
    text = _stdout(_tagged(nb, "export"))
    for name in ("ranking.csv", "results.gpkg", "map.html", "report.html"):
        assert name in text, text
    assert _n_plots(nb) >= 1


def test_regional_study_says_where_the_lyngby_extract_goes(executed, tmp_path):
    """Without the shared data the notebook names the missing path, then runs on Helsinki."""
    empty = tmp_path / "no-shared-data"
    empty.mkdir()
    nb = executed(REGIONAL, SITING_SHARED_DATA=str(empty))
    text = _all_stdout(nb)
    missing = empty / "osm" / "copenhagen_north_lyngby_2022.osm.pbf"
    assert f"the Lyngby extract is not at {missing}" in text, text
    assert "SITING_SHARED_DATA" in text
    assert "extract: helsinki" in text.lower(), text
    assert not _errors(nb)


def test_model_notebook_reproduces_odense(executed):
    nb = executed(MODEL)
    text = _all_stdout(nb)
    assert "Lorenz COP (eta 0.5) = 4.85" in text
    assert "delivered 126.0 GWh/yr" in text
    assert re.search(r"18\.1 MWh \(pre-2025 claims\)\s+6,960 homes", text), text
    assert _n_plots(nb) >= 6


def test_model_notebook_practical_cop_matches_published_heat_pumps(executed):
    text = _stdout(_tagged(executed(MODEL), "cop-cases"))
    found = dict(re.findall(r"(DEA|Kajaani)[^:]*: practical COP ([0-9.]+)", text))
    assert set(found) == {"DEA", "Kajaani"}, text
    # docs/model.md §8.3: DEA 5.0 +- 5 %, Kajaani measured 4.35 +- 10 %
    assert float(found["DEA"]) == pytest.approx(5.0, rel=0.05)
    assert float(found["Kajaani"]) == pytest.approx(4.35, rel=0.10)


def test_model_notebook_hourly_year_with_must_run(executed):
    nb = executed(MODEL)
    year = _stdout(_tagged(nb, "hourly-year"))
    with_mr = re.search(r"delivered ([0-9,.]+) GWh/yr with must-run supply", year)
    alone = re.search(r"([0-9,.]+) GWh/yr without", year)
    assert with_mr and alone, year
    assert float(with_mr[1].replace(",", "")) <= float(alone[1].replace(",", ""))
    small = re.search(
        r"in a ([0-9,]+) GWh/yr network .* must-run displaces ([0-9,.]+) GWh/yr",
        _stdout(_tagged(nb, "must-run")),
    )
    assert small and float(small[2].replace(",", "")) > 0


def test_own_city_compares_scenarios_and_reads_the_geopackage(executed):
    nb = executed(OWN_CITY)
    table = _html(_tagged(nb, "compare"))
    for word in ("today", "2030 low-temperature", "change", "lcoh_eur_per_mwh", "homes_served"):
        assert word in table, table[:2000]
    for site in ("ex-1", "ex-2", "ex-3", "ex-4"):  # the sites of data/sites.geojson
        assert site in table
    text = _stdout(_tagged(nb, "qgis"))
    for layer in ("sites", "routes", "buildings"):
        assert re.search(rf"^{layer}\s+[0-9,]+ features, CRS EPSG:\d+", text, re.M), text
    assert "heat_density.tif: EPSG:3035" in text
    assert _n_plots(nb) >= 1


# ------------------------------------------------------------------ data/ (no kernel needed)


def test_data_study_yaml_loads_and_points_at_the_example_files():
    import siting

    study = siting.Study.from_yaml(DATA / "study.yaml")
    assert study.sites_path == DATA / "sites.geojson" and study.sites_path.is_file()
    assert study.networks_path == DATA / "networks.csv" and study.networks_path.is_file()
    assert study.params.cop_model == "practical"
    assert study.params.homes_standard == "dk_house_2025"


def test_data_study_yaml_validates_against_the_shipped_schema():
    jsonschema = pytest.importorskip("jsonschema")
    import yaml

    from siting.schema import study_schema

    text = (DATA / "study.yaml").read_text(encoding="utf-8")
    hint = re.match(r"# yaml-language-server: \$schema=(\S+)\n", text)
    assert hint, "study.yaml must start with the yaml-language-server schema hint"
    shipped = json.loads((DATA / hint[1]).read_text(encoding="utf-8"))
    assert shipped == json.loads(json.dumps(study_schema())), (
        "data/study.schema.json is stale: regenerate it with "
        "`siting schema --out data/study.schema.json`"
    )
    jsonschema.validate(yaml.safe_load(text), shipped, cls=jsonschema.Draft202012Validator)


def test_data_sites_read_as_candidate_sites():
    import siting
    from siting.sources.sites import read_sites

    study = siting.Study.from_yaml(DATA / "study.yaml")
    sites = read_sites(study.sites_path, study)
    assert list(sites["site_id"]) == ["ex-1", "ex-2", "ex-3", "ex-4"]
    assert (sites["it_load_mw"] > 0).all() and sites["name"].str.len().gt(0).all()
    assert set(sites["cooling"]) <= {"air_coil", "liquid", "immersion"}
    assert len(set(sites["cooling"])) > 1  # not all one cooling: a ranking by the sites themselves


def test_data_networks_csv_loads_with_read_registry():
    from siting.networks import load_dk_registry, read_registry
    from siting.networks.emissions import displaced_emissions

    reg = read_registry(DATA / "networks.csv")
    nets = reg.networks
    assert list(nets["network_id"]) == ["example-helsinki", "dk-79"]
    assert reg.points is not None and len(reg.points) == 2
    # must-run left empty for the example: derived from its waste + fuel-free (surplus) heat
    fuels = reg.fuel_mix("example-helsinki")
    derived = fuels.loc[["waste", "fuel_free"], "heat_mwh"].sum()
    assert nets.loc["example-helsinki", "must_run_mwh_per_yr"] == pytest.approx(derived)
    assert fuels["heat_mwh"].sum() == pytest.approx(nets.loc["example-helsinki", "annual_heat_mwh"])
    # Fjernvarme Fyn's row carries the built-in registry's figures: same heat, same CO2 factor
    dk = load_dk_registry()
    assert nets.loc["dk-79", "annual_heat_mwh"] == pytest.approx(
        dk.network("dk-79")["annual_heat_mwh"], rel=1e-9
    )
    ours = displaced_emissions(reg.fuel_mix("dk-79")).t_per_mwh
    built_in = displaced_emissions(dk.fuel_mix("dk-79")).t_per_mwh
    assert ours == pytest.approx(built_in, rel=1e-6)
