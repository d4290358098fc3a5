"""The runner and the stages: timing, notes, stages called alone, the notebook summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pytest

import siting
from siting import stages
from siting.pipeline import STAGES, Runner


@dataclass
class _Out:
    value: int
    notes: list[str] = field(default_factory=list)


def test_runner_times_each_stage_and_collects_notes_in_order():
    r = Runner(("a", "b"))
    first = r("a", lambda x: _Out(x + 1, ["first"]), 1)
    second = r("b", lambda out: _Out(out.value * 10, ["second", "third"]), first)
    r.close()
    assert second.value == 20
    assert r.notes == ["first", "second", "third"]
    assert set(r.timings_s) == {"a_s", "b_s", "total_s"}
    assert r.timings_s["total_s"] >= r.timings_s["a_s"] + r.timings_s["b_s"]


def test_runner_lets_a_stage_error_through_unchanged():
    r = Runner(("boom",))
    with pytest.raises(siting.SitingError, match="named cause"):
        r("boom", lambda: (_ for _ in ()).throw(siting.SitingError("named cause")))


def test_a_study_reports_every_stage_time(demo_results):
    timed = {k[:-2] for k in demo_results.timings_s if k.endswith("_s")}
    assert set(STAGES) <= timed
    # the v1 keys scripts read are still there
    assert {"read_s", "graph_s", "demand_s", "routing_s", "recovery_s", "total_s"} <= set(
        demo_results.timings_s
    )


def test_stages_called_by_hand_give_the_study_result(demo_results):
    """A notebook can run the stages one by one and get what siting.run gives."""
    study = demo_results.study
    p = study.params
    inputs = stages.load_inputs(study, want_cache=False)
    prep = stages.prepare_area(study, inputs)
    graph = stages.street_graph(study, inputs, prep.area).graph
    area = prep.area
    dem = stages.estimate_demand(study, area.buildings, inputs.weather, graph, area.landuse)
    cand = stages.generate_candidates(study, prep.area, inputs.sites)
    nets = stages.find_networks(
        p,
        area.network,
        graph,
        dem.buildings,
        from_extract=prep.network_from_extract,
        sites=cand.sites,
        registry=inputs.registry,
        street_density=dem.street_density,
    )
    table = stages.size_sources(cand.sites, p)
    conn = stages.connect(graph, nets, dem.buildings, cand.sites, table, cand.inside, p)
    grid = stages.connect_grid(graph, area.power, cand.sites, conn.table, p)
    operated = stages.operate(grid.table, p, inputs.weather, nets)
    ranked, _ = stages.rank(stages.price(operated.table, p), study, cand.sites, conn.routes)
    expected = pd.DataFrame(demo_results.sites.drop(columns="geometry"))
    got = pd.DataFrame(ranked.drop(columns="geometry"))
    pd.testing.assert_frame_equal(got, expected)
    assert nets.mode == demo_results.mode
    from siting.pipeline import served_demand_mwh

    assert served_demand_mwh(ranked, nets.annual_demand_mwh) == pytest.approx(
        demo_results.network_demand_mwh_per_yr
    )


def test_rerank_from_price_equals_a_full_rerun(demo_results):
    study = demo_results.study
    p = study.params.replace(electricity_price_eur_per_mwh=120.0, discount_rate=0.05)
    quick = stages.rerank(demo_results.sites, study, p)
    full = siting.run(study.replace(params=p)).sites
    cols = ["site_id", "rank", "lcoh_eur_per_mwh", "npv_eur", "capex_eur"]
    pd.testing.assert_frame_equal(
        quick[cols].reset_index(drop=True), pd.DataFrame(full[cols]).reset_index(drop=True)
    )


def test_notebook_summary_is_short_and_names_the_best_sites(demo_results):
    text = demo_results._repr_html_()
    assert len(text) < 5_000  # a summary, not a dataclass dump
    best = demo_results.best()
    assert str(best["site_id"]) in text
    assert "existing network" in text or "new local networks" in text
    for note in demo_results.notes:
        assert note.split(";")[0][:40].replace("'", "&#x27;") in text
    assert "<script" not in text
    assert repr(demo_results).startswith("<siting.Results")
