"""The GeoDataFrame-first API: your own layers, clear argument errors, scenarios, --set, --place."""

from __future__ import annotations

import sys
import types

import geopandas as gpd
import matplotlib
import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely

import siting
from siting.cli import _parser, _study_from_args, main
from siting.config import Study, parse_setting
from siting.errors import ArgumentError, ConfigError, InputDataError
from siting.routing import StreetGraph
from siting.sources.osm import read_osm_place

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def demo():
    return siting.demo_study()


# --------------------------------------------------------------------------- argument types


def test_a_graph_as_config_is_a_clear_type_error():
    with pytest.raises(TypeError, match="pass the graph as street_graph=") as info:
        siting.run(nx.MultiDiGraph())
    assert isinstance(info.value, siting.SitingError)  # one except clause catches all
    assert "run() takes a Study, a mapping or a YAML path" in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"buildings": "buildings.gpkg"}, "read the file first"),
        ({"sites": "sites.geojson"}, "sites_path"),
        ({"buildings": pd.DataFrame({"a": [1]})}, "GeoDataFrame with geometry and a CRS"),
        ({"streets": 5}, "street lines"),
        ({"street_graph": gpd.GeoDataFrame(geometry=[])}, "street graph"),
        ({"progress": "yes"}, "True or False"),
        ({"streets": nx.Graph(), "street_graph": nx.Graph()}, "pass one graph"),
        ({"buildings": gpd.GeoDataFrame(geometry=[]), "tiles": 2}, "single run"),
    ],
)
def test_wrong_argument_types_name_the_fix(demo, kwargs, words):
    with pytest.raises(ArgumentError, match=words):
        siting.run(demo, **kwargs)


def test_a_layer_as_config_names_the_keywords(helsinki_osm):
    with pytest.raises(TypeError, match="buildings=, streets="):
        siting.run(helsinki_osm.buildings)
    with pytest.raises(TypeError, match="osm="):
        siting.run(helsinki_osm)


# --------------------------------------------------------------------------- your own layers


def test_given_demand_and_dwellings_are_kept_and_said(demo, helsinki_osm):
    """The issue: swapping in one's own buildings replaced their demand (415,600 -> 519,074
    MWh/yr). Given values now stay exactly; only empty cells are estimated."""
    b = helsinki_osm.buildings.copy()
    rng = np.random.default_rng(1)
    given = rng.uniform(10, 900, len(b))
    given[::3] = np.nan  # every third building left to the model
    b["heat_demand_mwh_per_yr"] = given
    b["dwellings"] = np.where(np.arange(len(b)) % 2 == 0, 7, np.nan)
    res = siting.run(demo, buildings=b)
    out = res.buildings
    assert len(out) == len(b)  # the demo extract has no building:part to drop
    kept = out["demand_source"] == "given"
    assert kept.sum() == np.isfinite(given).sum()
    assert out.loc[kept, "heat_demand_mwh_per_yr"].sum() == pytest.approx(np.nansum(given))
    fl_h = demo.params.full_load_hours_h
    np.testing.assert_allclose(
        out.loc[kept, "peak_heat_mw"], out.loc[kept, "heat_demand_mwh_per_yr"] / fl_h
    )
    assert (out.loc[~kept, "demand_source"] == "estimated").all()
    assert (out["dwellings"].to_numpy()[::2] == 7).all()
    assert out["source"].iloc[0].endswith("dwellings:given")
    note = next(n for n in res.notes if n.startswith("buildings:"))
    assert f"heat demand given for {int(kept.sum()):,} of {len(b):,}" in note


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("heat_demand_mwh_per_yr", -5.0, "outside the possible range"),
        ("heat_demand_mwh_per_yr", "lots", "not numbers"),
        ("dwellings", 2.5, "whole numbers"),
    ],
)
def test_bad_given_values_fail_clearly(demo, helsinki_osm, column, value, words):
    b = helsinki_osm.buildings.copy()
    b[column] = np.nan
    b[column] = b[column].astype(object)
    b.loc[0, column] = value
    with pytest.raises(InputDataError, match=words):
        siting.run(demo, buildings=b)


def test_buildings_and_streets_alone_need_no_extract(demo, helsinki_osm, demo_results):
    study = demo.replace(osm_path=None)
    res = siting.run(study, buildings=helsinki_osm.buildings, streets=helsinki_osm.streets)
    assert res.sites.crs.to_epsg() == 3067
    assert set(res.sites["site_id"]) == set(demo_results.sites["site_id"])  # the sites file
    assert res.sites["feasible"].sum() >= 1
    # a street graph works as streets= too, with the same ranking as street_graph=
    graph = StreetGraph.from_streets(helsinki_osm.streets.to_crs(3067)).to_networkx()
    by_streets = siting.run(demo, streets=graph)
    by_graph = siting.run(demo, street_graph=graph)
    pd.testing.assert_series_equal(
        by_streets.sites["lcoh_eur_per_mwh"], by_graph.sites["lcoh_eur_per_mwh"]
    )


def test_given_layers_without_crs_are_refused(demo, helsinki_osm):
    with pytest.raises(siting.SitingError, match="buildings= has no CRS"):
        siting.run(demo, buildings=helsinki_osm.buildings.set_crs(None, allow_override=True))


# --------------------------------------------------------------------------- parameters


def test_with_params_returns_a_validated_copy(demo):
    changed = demo.with_params(discount_rate=0.05, capture_fraction={"liquid": 0.9})
    assert changed.params.discount_rate == 0.05
    assert changed.params.capture_fraction == {"air_coil": 0.95, "liquid": 0.9, "immersion": 0.95}
    assert demo.params.discount_rate == Study().params.discount_rate  # the original stays
    with pytest.raises(ConfigError, match="Did you mean 'discount_rate'"):
        demo.with_params(discount_rat=0.05)
    with pytest.raises(ConfigError, match="discount_rate"):
        demo.with_params(discount_rate=5)


def test_set_on_the_command_line_goes_through_the_yaml_checks(tmp_path):
    args = _parser().parse_args(
        ["run", "--osm", "x.osm.pbf", "--set", "params.discount_rate=0.05",
         "--set", "name=Odense east", "--set", "params.capture_fraction.liquid=0.9",
         "--set", "score_weights.lcoh=0.6", "--set", "params.network_annual_demand_mwh=1e6"]
    )  # fmt: skip
    study = _study_from_args(args)
    assert study.params.discount_rate == 0.05 and study.name == "Odense east"
    assert study.params.capture_fraction["liquid"] == 0.9
    assert study.params.capture_fraction["air_coil"] == 0.95
    assert study.score_weights["lcoh"] == 0.6 and study.score_weights["homes_served"] == 0.3
    assert study.params.network_annual_demand_mwh == 1e6  # YAML 1.2 number, as in a file
    assert parse_setting("osm_path=a b.pbf") == ("osm_path", "a b.pbf")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_setting("discount_rate")


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("params.discount_rat=0.05", "Did you mean 'discount_rate'"),
        ("params.discount_rate=abc", "must be a number"),
        ("nmae=x", "Did you mean 'name'"),
        ("params.discount_rate=2", "discount_rate"),
    ],
)
def test_bad_set_values_are_one_line_errors(tmp_path, capsys, setting, words):
    code = main(["run", "--osm", "x.osm.pbf", "--set", setting, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and words in err and err.count("\n") == 1


def test_demo_cli_with_set_and_geoparquet(tmp_path):
    out = tmp_path / "demo"
    code = main(["demo", "-q", "--no-map", "--geoparquet", "--out", str(out),
                 "--set", "params.discount_rate=0.05"])  # fmt: skip
    assert code == 0
    assert {"sites.parquet", "routes.parquet", "buildings.parquet"} <= {
        p.name for p in out.iterdir()
    }
    ranking = pd.read_csv(out / "ranking.csv")
    base = siting.run(siting.demo_study()).ranking
    ok = ranking["feasible"]
    # a higher discount rate makes every feasible site's heat dearer (capital costs more)
    merged = ranking[ok].merge(base, on="site_id", suffixes=("", "_base"))
    assert len(merged) and (merged["lcoh_eur_per_mwh"] > merged["lcoh_eur_per_mwh_base"]).all()


# --------------------------------------------------------------------------- scenarios


def test_compare_is_a_tidy_table_and_plots(demo, demo_results):
    table = siting.compare({"base": demo_results, "5 %": demo.with_params(discount_rate=0.05)})
    assert list(table.columns[:4]) == ["scenario", "rank", "site_id", "label"]
    for col in ("lcoh_eur_per_mwh", "homes_served", "co2_avoided_t_per_yr"):
        assert col in table.columns
    n = len(demo_results.sites)
    assert list(table["scenario"]) == ["base"] * n + ["5 %"] * n
    assert set(table.attrs["results"]) == {"base", "5 %"}
    wide = table[table["feasible"]].pivot(
        index="site_id", columns="scenario", values="lcoh_eur_per_mwh"
    )
    assert (wide["5 %"] > wide["base"]).all()
    fig = siting.compare_plot(table)
    ax = fig.axes[0]
    assert len(ax.containers) == 2  # one bar group per scenario
    assert ax.get_yticklabels()[0].get_text() == demo_results.best()["label"]
    with pytest.raises(ArgumentError, match="mapping of scenario name"):
        siting.compare([demo_results])


# --------------------------------------------------------------------------- --place


def test_place_offline_names_the_fix(tmp_path, capsys):
    """No network here (and osmnx is optional): the error says to download an extract."""
    code = main(["run", "--place", "Odense, Denmark", "--out", str(tmp_path), "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "--osm FILE" in err and "extract" in err
    assert main(["run", "--place", "Odense", "--osm", "x.pbf", "--out", str(tmp_path)]) == 1


class _InsufficientResponseError(Exception):
    pass


_InsufficientResponseError.__name__ = "InsufficientResponseError"  # as osmnx names it


def _fake_osmnx(pipes: gpd.GeoDataFrame | None, offline: bool = False) -> types.ModuleType:
    """An osmnx stand-in answering like osmnx 2 does (index element/id)."""
    ox = types.ModuleType("osmnx")

    def graph_from_place(place, network_type, simplify):
        if offline:
            raise ConnectionError("Max retries exceeded with url: nominatim.openstreetmap.org")
        g = nx.MultiDiGraph(crs="EPSG:4326")
        g.add_node(1, x=10.40, y=55.40)
        g.add_node(2, x=10.41, y=55.40)
        g.add_edge(1, 2, highway="residential", length=630.0)
        return g

    def graph_to_gdfs(g, nodes=False):
        rows = [
            (u, v, k, d["highway"], d["length"]) for u, v, k, d in g.edges(keys=True, data=True)
        ]
        xy = {n: (d["x"], d["y"]) for n, d in g.nodes(data=True)}
        lines = [shapely.LineString([xy[u], xy[v]]) for u, v, *_ in rows]
        df = pd.DataFrame(rows, columns=["u", "v", "key", "highway", "length"])
        return gpd.GeoDataFrame(df, geometry=lines, crs="EPSG:4326").set_index(["u", "v", "key"])

    def features_from_place(place, tags):
        if "man_made" in tags:
            if pipes is None:
                raise _InsufficientResponseError("No matching features")
            return pipes
        if "landuse" in tags:
            raise _InsufficientResponseError("No matching features")
        gdf = gpd.GeoDataFrame(
            {"element": ["way", "relation"], "id": [11, 12], "building": ["house", "yes"]},
            geometry=[shapely.box(10.400, 55.401, 10.401, 55.402)] * 2,
            crs="EPSG:4326",
        )
        return gdf.set_index(["element", "id"])

    ox.graph_from_place = graph_from_place
    ox.graph_to_gdfs = graph_to_gdfs
    ox.features_from_place = features_from_place
    return ox


def test_read_osm_place_keeps_heat_pipes_and_tolerates_none(monkeypatch):
    line = shapely.LineString([(10.40, 55.40), (10.41, 55.41)])
    pipes = gpd.GeoDataFrame(
        {
            "element": ["way"] * 4,
            "id": [1, 2, 3, 4],
            "substance": ["hot_water", "gas", None, "heat"],
            "type": [None, None, "heat", None],
        },
        geometry=[line] * 4,
        crs="EPSG:4326",
    ).set_index(["element", "id"])
    monkeypatch.setitem(sys.modules, "osmnx", _fake_osmnx(pipes))
    osm = read_osm_place("Odense, Denmark")
    assert sorted(osm.heat_pipes["id"]) == [1, 3, 4]  # the gas pipeline is not a heat pipe
    assert len(osm.landuse) == 0 and len(osm.streets) == 1
    assert list(osm.buildings["osm_type"]) == ["way", "relation"]
    assert osm.source == "osmnx:Odense, Denmark"

    monkeypatch.setitem(sys.modules, "osmnx", _fake_osmnx(None))
    assert len(read_osm_place("Odense, Denmark").heat_pipes) == 0  # no pipeline: no error

    monkeypatch.setitem(sys.modules, "osmnx", _fake_osmnx(pipes, offline=True))
    with pytest.raises(InputDataError, match="needs internet access.*--osm FILE"):
        read_osm_place("Odense, Denmark")
