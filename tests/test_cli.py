"""The command line end to end: flags reach the study, the summary reports it."""

from __future__ import annotations

import gc

import pandas as pd

from siting.cli import main


def test_run_with_weather_annual_and_no_cache(helsinki_pbf, tmp_path, capsys):
    from conftest import shared_file

    epw = shared_file("weather", "DNK_Copenhagen.061800_IWEC.epw")
    out = tmp_path / "out"
    code = main(
        ["run", "--osm", str(helsinki_pbf), "--weather", str(epw), "--no-cache", "--no-map"]
        + ["--out", str(out)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "best site:" in text and "degree-days" in text  # the note about scaled demand
    table = pd.read_csv(out / "ranking.csv")
    assert (table.loc[table["feasible"], "recovery_model"] == "hourly").all()
    assert not (out / "map.html").exists()

    code = main(["run", "--osm", str(helsinki_pbf), "--annual", "-q", "--out", str(tmp_path / "a")])
    assert code == 0
    annual = pd.read_csv(tmp_path / "a" / "ranking.csv")
    assert (annual.loc[annual["feasible"], "recovery_model"] == "annual").all()
    # main() leaves the garbage collector as it found it (on, nothing frozen)
    assert gc.isenabled() and gc.get_freeze_count() == 0


def test_collector_is_off_while_the_stack_loads_then_skips_it():
    """No collection until the imports are done, then their objects frozen out of it;
    afterwards all as before, also when the collector was off to begin with."""
    from siting.cli import _collector_after_imports

    for enabled in (True, False):
        (gc.enable if enabled else gc.disable)()
        with _collector_after_imports() as imported:
            assert not gc.isenabled()
            imported()
            assert gc.isenabled() == enabled and gc.get_freeze_count() > 0
        assert gc.isenabled() == enabled and gc.get_freeze_count() == 0
    gc.enable()


def test_tiles_auto_takes_the_default_count(helsinki_pbf, tmp_path):
    """`--tiles auto`: siting.tiles.default_tile_count (one tile on Helsinki's small area)."""
    out = tmp_path / "auto"
    assert (
        main(
            [
                "run",
                "-q",
                "--osm",
                str(helsinki_pbf),
                "--no-map",
                "--tiles",
                "auto",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    ranking = pd.read_csv(out / "ranking.csv")
    assert len(ranking) > 0 and ranking["feasible"].any()
    # one tile ran (a re-run of some of its sites with a wider overlap has its own folder)
    assert {d.name.split("-")[0] for d in (out / "tiles" / "tiles").iterdir()} == {"r0c0"}


def test_tiled_cli_writes_the_same_ranking(tmp_path):
    """`siting run --tiles 2` (Dask) writes the ranking.csv of the single run (issue 7)."""
    import numpy as np
    from conftest import shared_file

    osm = str(shared_file("osm", "odense_se_2025.osm.pbf"))
    assert main(["run", "-q", "--osm", osm, "--no-map", "--out", str(tmp_path / "one")]) == 0
    assert (
        main(["run", "-q", "--osm", osm, "--no-map", "--tiles", "2", "--out", str(tmp_path / "t")])
        == 0
    )
    a = pd.read_csv(tmp_path / "one" / "ranking.csv")
    b = pd.read_csv(tmp_path / "t" / "ranking.csv")
    assert list(a.columns) == list(b.columns)
    assert a["site_id"].tolist() == b["site_id"].tolist()
    num = a.select_dtypes("number").columns
    assert np.allclose(a[num].fillna(-1), b[num].fillna(-1), rtol=1e-6)
