"""The one-page study report: siting.report.build_report and `siting report`."""

from __future__ import annotations

import base64
import html
import re

import pytest

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


def test_html_has_attribution_sources_and_assumptions(written):
    page = written.read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in page and "ODbL" in page
    assert "helsinki" in page.lower()  # the extract is named
    assert "All model parameters are the MODEL.md defaults." in page  # the demo changes none
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

    import siting

    results = siting.run(study.replace(params=params), osm=helsinki_osm)
    page = report.build_report(results, tmp_path).read_text(encoding="utf-8")
    assert 'data-param="electricity_price_eur_per_mwh"' in page
    assert '<td class="l">120</td><td class="l">80</td>' in page


def test_sensitivity_brackets_the_base_and_matches_reruns(demo_results, helsinki_osm):
    base, bars = report.sensitivity(demo_results, osm=helsinki_osm)
    assert base == pytest.approx(demo_results.best()["lcoh_eur_per_mwh"])
    by_label = {b.label: b for b in bars}
    assert set(by_label) == {
        "Electricity price",
        "Discount rate",
        "Heat-pump CAPEX",
        "Pipe cost",
        "Heat-pump Lorenz efficiency",
        "IT utilisation",
    }
    el = by_label["Electricity price"]
    assert el.lcoh_low < base < el.lcoh_high
    assert by_label["Heat-pump CAPEX"].lcoh_low < base < by_label["Heat-pump CAPEX"].lcoh_high
    # the pure re-computation equals a full re-run with the changed price
    import siting

    study = demo_results.study
    rerun = siting.run(
        study.replace(params=study.params.replace(electricity_price_eur_per_mwh=150.0)),
        osm=helsinki_osm,
    )
    site = demo_results.best()["site_id"]
    expected = rerun.sites.set_index("site_id").loc[site, "lcoh_eur_per_mwh"]
    assert el.lcoh_high == pytest.approx(expected, rel=1e-9)
    # a better heat pump lowers the cost of heat
    eta = by_label["Heat-pump Lorenz efficiency"]
    assert eta.lcoh_high < base < eta.lcoh_low
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


def test_cli_report_demo(tmp_path, capsys):
    assert cli.main(["report", "--demo", "--quiet", "--out", str(tmp_path / "r")]) == 0
    assert (tmp_path / "r" / "report.html").is_file()
    assert capsys.readouterr().out == ""


def test_cli_report_bad_input_is_one_line(tmp_path, capsys):
    code = cli.main(["report", "--osm", str(tmp_path / "missing.osm.pbf"), "--out", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("siting: error:") and "\n" not in err
    assert list(tmp_path.iterdir()) == []
