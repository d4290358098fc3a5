"""The one-page study report: siting.report.build_report and `siting report`."""

from __future__ import annotations

import base64
import html
import re

import pytest

import siting
from siting import cli, outputs, report
from siting.config import Params
from siting.errors import OutputError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def written(demo_results, helsinki_osm, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "nested" / "report"
    return report.build_report(demo_results, out, osm=helsinki_osm)


def test_files_exist_and_figures_are_png(written):
    assert written.name == "report.html"
    names = sorted(p.name for p in written.parent.iterdir())
    # no temp folder left behind; the manifest lists the set (siting.outputs)
    assert names == sorted([outputs.MANIFEST, "report.html", *report.FIGURES])
    for name in report.FIGURES:
        data = (written.parent / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5_000, name


def test_html_is_self_contained_with_embedded_figures(written):
    page = written.read_text(encoding="utf-8")
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(report.FIGURES)
    for data in images:
        assert base64.b64decode(data).startswith(PNG_MAGIC)
    assert "<script" not in page and 'src="http' not in page and "<link" not in page


def test_html_lists_the_top_sites_in_rank_order(written, demo_results):
    page = written.read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="site" data-site-id="([^"]+)">', page)
    feasible = demo_results.sites[demo_results.sites["feasible"].astype(bool)]
    assert rows == feasible["site_id"].head(report.TOP_N).tolist()
    best = demo_results.best()
    assert f"{best['lcoh_eur_per_mwh']:,.1f}" in page
    assert html.escape(str(best["name"])) in page


def test_page_reads_on_a_phone_with_glossary_and_right_aligned_numbers(written, demo_results):
    page = written.read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert "@media (max-width:600px)" in page
    assert '<div class="table-wrap">' in page  # wide tables scroll inside, not the page
    for term in ("LCOH", "COP", "DN", "ERF", "EnEfG"):
        assert f'<dt id="term-{term.lower()}">{term}</dt>' in page
    assert "td.num,th.num{text-align:right" in page
    # every number cell of the top-sites table is a right-aligned cell
    table = re.search(r'<table class="sites">(.*?)</table>', page, re.S)[1]
    for cell in re.findall(r'<td class="([^"]*)">([^<]*)</td>', table):
        looks_numeric = re.fullmatch(r"-?[\d,]+(\.\d+)?", cell[1]) is not None
        assert (cell[0] == "num") == looks_numeric or cell[1] == "", cell
    # the locator map of the top sites, embedded
    assert re.search(r'<img alt="Locator map of the top sites" src="data:image/png;base64,', page)
    best = demo_results.best()
    assert f'data-site-id="{best["site_id"]}"' in page
    assert "Why this rank" in page and "Ranked first of 8 feasible sites" in page


def test_report_names_sites_and_says_how_they_are_ranked(demo_results, monkeypatch, tmp_path):
    """Generated sites: label, address, coordinates, OSM link; uniform sites: the basis."""
    import dataclasses

    monkeypatch.setattr(
        report,
        "sensitivity",
        lambda *a, **k: (20.0, [report.Sensitivity("Electricity price", "40", "150", 15.0, 30.0)]),
    )
    sites = demo_results.sites.copy()
    sites["label"] = "Warehouse, Tietgens Allé " + sites["rank"].astype(str)
    sites["address"] = "Tietgens Allé " + sites["rank"].astype(str) + ", 5220 Odense SØ"
    sites["osm_url"] = "https://www.openstreetmap.org/way/" + sites["rank"].astype(str)
    sites["it_load_mw"], sites["cooling"] = 5.0, "air_coil"
    results = dataclasses.replace(demo_results, sites=sites)
    page = report.build_report(results, tmp_path).read_text(encoding="utf-8")
    best = sites[sites["feasible"]].iloc[0]
    assert f"Best site: {best['label']}, 5220 Odense SØ ({best['site_id']})" in page
    assert 'href="https://www.openstreetmap.org/way/1"' in page
    lon, lat = sites.geometry.representative_point().to_crs(4326).iloc[0].coords[0]
    assert f'<td class="num">{lat:.5f}</td><td class="num">{lon:.5f}</td>' in page
    assert "ranking is by connection cost" in page
    # the demo's sites differ in load and cooling: no such note
    plain = report.build_report(demo_results, tmp_path / "plain").read_text(encoding="utf-8")
    assert "ranking is by connection cost" not in plain


def test_html_has_attribution_sources_and_assumptions(written):
    page = written.read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in page and "ODbL" in page
    assert "helsinki" in page.lower()  # the extract is named
    assert "All model parameters are the docs/model.md defaults." in page  # the demo changes none
    for heading in ("Top sites", "Cost breakdown", "Sensitivity", "Assumptions", "Data sources"):
        assert f"<h2>{heading}" in page


def test_changed_parameter_appears_in_the_assumptions(demo_results, helsinki_osm, tmp_path):
    study = demo_results.study
    params = study.params.replace(
        electricity_price_eur_per_mwh=120.0, source_in_c={**study.params.source_in_c, "liquid": 55}
    )
    changed = report.changed_params(params)
    assert changed["parameter"].tolist() == ["source_in_c", "electricity_price_eur_per_mwh"]
    assert changed.set_index("parameter").loc["source_in_c", "value"] == "liquid: 55"
    assert report.changed_params(Params()).empty
    el = changed.set_index("parameter").loc["electricity_price_eur_per_mwh"]
    assert el["unit"] == "EUR/MWh"

    import siting

    results = siting.run(study.replace(params=params), osm=helsinki_osm)
    page = report.build_report(results, tmp_path).read_text(encoding="utf-8")
    assert 'data-param="electricity_price_eur_per_mwh"' in page
    assert '<td>EUR/MWh</td><td class="num">120</td><td class="num">80</td>' in page


def test_assumptions_table_reads_the_field_metadata():
    """Every parameter gets its declared description and unit, not just a hand-kept few."""
    from siting.params_meta import describe

    changed = report.changed_params(Params(storage_mwh=2.0, pue=1.4, cop_model="jesper"))
    rows = changed.set_index("parameter")
    info = describe(Params)
    for name in ("storage_mwh", "pue", "cop_model"):
        assert rows.loc[name, "description"] == info[name].description
        assert rows.loc[name, "description"] != name.replace("_", " ")
        assert rows.loc[name, "unit"] == info[name].unit
    assert rows.loc["storage_mwh", "unit"] == "MWh" and rows.loc["pue", "value"] == "1.4"


def test_sensitivity_brackets_the_base_and_matches_reruns(demo_results, helsinki_osm):
    base, bars = report.sensitivity(demo_results, osm=helsinki_osm)
    assert base == pytest.approx(demo_results.best()["lcoh_eur_per_mwh"])
    by_label = {b.label: b for b in bars}
    from siting.params_meta import describe
    from siting.sweep import SWEPT

    label = {n: describe(siting.Params)[n].description for n in SWEPT}  # one source of text
    assert set(by_label) == set(label.values())
    el = by_label[label["electricity_price_eur_per_mwh"]]
    assert el.lcoh_low < base < el.lcoh_high
    assert el.low_label == "40 EUR/MWh" and el.high_label == "150 EUR/MWh"
    hp = by_label[label["heat_pump_capex_factor"]]
    assert hp.lcoh_low < base < hp.lcoh_high
    # the pure re-computation equals a full re-run with the changed price

    study = demo_results.study
    rerun = siting.run(
        study.replace(params=study.params.replace(electricity_price_eur_per_mwh=150.0)),
        osm=helsinki_osm,
    )
    site = demo_results.best()["site_id"]
    expected = rerun.sites.set_index("site_id").loc[site, "lcoh_eur_per_mwh"]
    assert el.lcoh_high == pytest.approx(expected, rel=1e-9)
    # a better heat pump lowers the cost of heat, unless the best site's sits at the COP cap
    eta = by_label[label["eta_practical"]]
    if demo_results.best()["cop"] < demo_results.study.params.cop_max - 1e-9:
        assert eta.lcoh_high < base < eta.lcoh_low
    else:
        assert eta.lcoh_high == pytest.approx(base) and eta.lcoh_low >= base - 1e-9
    assert bars == sorted(bars, key=lambda b: -abs(b.lcoh_high - b.lcoh_low))


def test_no_partial_output_on_failure(demo_results, helsinki_osm, tmp_path, monkeypatch):
    out = tmp_path / "new" / "report"

    def boom(*args, **kwargs):
        raise RuntimeError("figure failed")

    monkeypatch.setattr(report, "tornado_figure", boom)
    with pytest.raises(RuntimeError, match="figure failed"):
        report.build_report(demo_results, out, osm=helsinki_osm)
    assert not (tmp_path / "new").exists()
    monkeypatch.undo()

    # a failure while publishing (siting.outputs): nothing of the report is left, in the
    # folder swap and in the file-by-file fallback alike
    out.mkdir(parents=True)
    real_replace = report.os.replace

    def replace(src, dst):
        if str(dst).endswith("report.html"):
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    def exchange(a, b):
        raise OSError(28, "No space left on device")

    for mode in ("exchange", "files"):
        monkeypatch.setenv(outputs.MODE_ENV, mode)
        monkeypatch.setattr(report.os, "replace", replace)
        monkeypatch.setattr(outputs, "exchange", exchange)
        with pytest.raises(OutputError, match="could not write the report"):
            report.build_report(demo_results, out, osm=helsinki_osm)
        monkeypatch.undo()
        assert list(out.iterdir()) == []
        assert not [p for p in out.parent.iterdir() if p.name.startswith(".siting-tmp-")]


def test_cli_report_writes_the_run_outputs_too_from_one_run(tmp_path, capsys, monkeypatch):
    import pandas as pd

    import siting.study

    calls = []
    real_run = siting.study.run

    def counted(*args, **kwargs):
        calls.append(1)
        return real_run(*args, **kwargs)

    monkeypatch.setattr(siting.study, "run", counted)
    out = tmp_path / "r"
    assert cli.main(["report", "--demo", "--quiet", "--out", str(out)]) == 0
    assert capsys.readouterr().out == ""
    assert len(calls) == 1  # one study run for the results and the report
    names = {p.name for p in out.iterdir()}
    assert {"ranking.csv", "results.gpkg", "map.html", "heat_density.tif"} <= names
    assert {"report.html", *report.FIGURES} <= names
    assert [n for n in names if n.startswith(".")] == [outputs.MANIFEST]  # no staging left
    ranking = pd.read_csv(out / "ranking.csv")
    page = (out / "report.html").read_text(encoding="utf-8")
    rows = re.findall(r'<tr class="site" data-site-id="([^"]+)">', page)
    assert rows == ranking[ranking["feasible"]]["site_id"].head(report.TOP_N).tolist()
    assert '<a href="map.html">map.html</a>' in page
    assert "<script src=" not in (out / "map.html").read_text(encoding="utf-8")  # offline


def test_cli_report_bad_input_is_one_line(tmp_path, capsys):
    code = cli.main(["report", "--osm", str(tmp_path / "missing.osm.pbf"), "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("siting: error:") and "\n" not in err
    assert list(tmp_path.iterdir()) == []
