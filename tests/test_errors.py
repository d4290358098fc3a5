"""Bad input end to end: one clean CLI line, the right error class, no partial output."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from test_sources import write_osm

import siting
import siting.study
from siting import errors
from siting.cli import main
from siting.errors import OutputError, SitingError

OUTPUTS = ("ranking.csv", "results.gpkg", "heat_density.tif", "map.html")
MANIFEST = ".siting-manifest.json"  # lists the published set (siting.outputs)


def assert_no_output(out: Path) -> None:
    """Nothing a failed run could have left: no result files, no staging folder (the
    exchange publication stages beside the output folder, the fallback inside it)."""
    beside = [p.name for p in out.parent.iterdir()] if out.parent.exists() else []
    assert not [n for n in beside if n.startswith(".siting-tmp-")], beside
    if not out.exists():
        return
    names = {p.name for p in out.iterdir()}
    assert not names & {*OUTPUTS, MANIFEST}, names
    assert not [n for n in names if n.startswith(".siting-tmp-")], names


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_every_error_is_a_siting_error():
    for name in ("ConfigError", "InputDataError", "CRSError", "RoutingError", "OutputError"):
        assert issubclass(getattr(errors, name), SitingError)
    assert issubclass(errors.CRSError, errors.InputDataError)


def _case(kind: str, tmp: Path, helsinki_pbf: Path) -> list[str]:
    """CLI arguments (without --out) of one bad-input case, files created in `tmp`."""
    if kind == "text_as_pbf":
        (tmp / "x.osm.pbf").write_text("hello\n")
        return ["--osm", str(tmp / "x.osm.pbf")]
    if kind == "empty":
        (tmp / "e.osm.pbf").write_bytes(b"")
        return ["--osm", str(tmp / "e.osm.pbf")]
    if kind == "truncated":
        data = helsinki_pbf.read_bytes()
        (tmp / "t.osm.pbf").write_bytes(data[: len(data) // 2])
        return ["--osm", str(tmp / "t.osm.pbf")]
    if kind == "no_streets":
        return ["--osm", str(write_osm(tmp / "b.osm", streets=False))]
    if kind == "no_buildings":
        return ["--osm", str(write_osm(tmp / "s.osm.pbf", buildings=False))]
    if kind == "zero_load":
        return ["--osm", str(helsinki_pbf), "--it-load-mw", "0"]
    if kind == "sites_outside":
        path = tmp / "far.geojson"
        gpd.GeoDataFrame(geometry=[shapely.Point(12.5, 55.7)], crs="EPSG:4326").to_file(path)
        return ["--osm", str(helsinki_pbf), "--sites", str(path)]
    if kind == "negative_site_load":
        path = tmp / "neg.geojson"
        gpd.GeoDataFrame(
            {"site_id": ["dc-1"], "it_load_mw": [-5.0]},
            geometry=[shapely.Point(24.941, 60.169)],
            crs="EPSG:4326",
        ).to_file(path)
        return ["--osm", str(helsinki_pbf), "--sites", str(path)]
    if kind == "config_typo":
        (tmp / "study.yaml").write_text(f"osm_path: {helsinki_pbf}\nparams:\n  discount_rat: 1\n")
        return ["--config", str(tmp / "study.yaml")]
    if kind == "missing_osm":
        return ["--osm", str(tmp / "nope.osm.pbf")]
    raise AssertionError(kind)


CASES = {
    "text_as_pbf": "not an OpenStreetMap file",
    "empty": "is empty",
    "truncated": "truncated or corrupt",
    "no_streets": "has no streets",
    "no_buildings": "has no buildings",
    "zero_load": "default_it_load_mw must be a positive number",
    "sites_outside": "none of the 1 candidate sites",
    "negative_site_load": "'dc-1' (-5 MW)",
    "config_typo": "Did you mean 'discount_rate'?",
    "missing_osm": "does not exist",
}


@pytest.mark.parametrize("kind", sorted(CASES))
def test_cli_bad_input_one_clean_line_and_no_output(kind, helsinki_pbf, tmp_path, capsys):
    args = _case(kind, tmp_path, helsinki_pbf)
    out = tmp_path / "out"
    rc = main(["run", "--quiet", *args, "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("siting: error: ") and CASES[kind] in lines[0]
    assert "Traceback" not in err
    assert not out.exists()  # a run that fails never creates the output folder
    assert_no_output(out)


def test_cli_failed_run_keeps_previous_good_output(demo_results, helsinki_pbf, tmp_path, capsys):
    out = tmp_path / "out"
    demo_results.to_files(out)
    before = digest(out)
    assert set(before) == {*OUTPUTS, MANIFEST}
    rc = main(["run", "--osm", str(helsinki_pbf), "--it-load-mw", "-5", "--out", str(out)])
    assert rc == 1 and "siting: error:" in capsys.readouterr().err
    assert digest(out) == before  # same files, same bytes, no temp folder


def test_cli_debug_shows_the_exception(tmp_path):
    (tmp_path / "x.osm.pbf").write_text("hello\n")
    with pytest.raises(errors.InputDataError, match="not an OpenStreetMap file"):
        main(["run", "--debug", "--osm", str(tmp_path / "x.osm.pbf"), "--out", str(tmp_path)])


def test_cli_unexpected_error_is_one_line_too(monkeypatch, tmp_path, capsys):
    def boom(study, **kwargs):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(siting.study, "run", boom)
    rc = main(["run", "--quiet", "--osm", "x.osm.pbf", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert rc == 1 and len(err.strip().splitlines()) == 1
    assert "unexpected RuntimeError: something broke" in err and "--debug" in err
    assert not (tmp_path / "o").exists()


def test_cli_without_osm_names_the_fix(capsys, tmp_path):
    assert main(["run", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("siting: error: no OSM extract given") and "--osm FILE" in err


def test_cli_subprocess_exit_code_and_single_line(tmp_path):
    bad = tmp_path / "notes.osm.pbf"
    bad.write_text("not osm\n")
    out = tmp_path / "out"
    exe = Path(sys.executable).with_name("siting")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "siting.cli"]
    proc = subprocess.run(
        [*cmd, "run", "--osm", str(bad), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        f"siting: error: {bad} is not an OpenStreetMap file (no PBF header and no <osm> XML "
        "root). Give an extract as .osm.pbf (Geofabrik, BBBike) or .osm/.osm.gz XML (OSM "
        "export)."
    ]
    assert_no_output(out)


# ----------------------------------------------------------------------------- to_files
def test_to_files_failing_midway_leaves_nothing(demo_results, tmp_path, monkeypatch):
    def broken_map(self, **kwargs):
        raise RuntimeError("map failed")

    monkeypatch.setattr(siting.study.Results, "map", broken_map)
    fresh = tmp_path / "new" / "out"
    with pytest.raises(RuntimeError, match="map failed"):
        demo_results.to_files(fresh)
    assert not (tmp_path / "new").exists()  # folders it created are removed again


def test_to_files_failing_keeps_previous_output(demo_results, tmp_path, monkeypatch):
    out = tmp_path / "out"
    demo_results.to_files(out, map_html=True)
    (out / "notes.txt").write_text("mine")
    before = digest(out)

    def broken_map(self, **kwargs):
        raise RuntimeError("map failed")

    monkeypatch.setattr(siting.study.Results, "map", broken_map)
    with pytest.raises(RuntimeError):
        demo_results.to_files(out)
    assert digest(out) == before  # ranking.csv/results.gpkg not replaced, no temp folder


def test_to_files_into_a_file_is_an_output_error(demo_results, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(OutputError) as err:
        demo_results.to_files(blocker / "out")
    assert str(blocker / "out") in str(err.value) and "--out" in str(err.value)
    assert blocker.read_text() == "x"
