"""Stages `load_inputs`, `prepare_area` and `street_graph`: files in, one metric CRS, a graph.

These are the stages that touch the disk: they read the OSM extract, the network and sites
files and the weather, look the street graph and the projected layers up in the caches
(:mod:`siting.cache`, :mod:`siting.studycache`) and save new entries there.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import cache, cachedir, pipes, studycache, validate
from siting.area import Area, convex_hull, empty_like, reproject
from siting.config import Params, Study
from siting.errors import CRSError, InputDataError
from siting.networks.registry import NetworkRegistry, load_dk_registry, read_registry
from siting.routing import StreetGraph
from siting.sources.ingest import release_memory
from siting.sources.network import network_from_osm, read_network
from siting.sources.osm import OsmData, read_osm
from siting.sources.series import (
    read_electricity_price,
    read_it_load_profile,
    read_source_temperature,
    to_model_year,
)
from siting.sources.sites import read_sites
from siting.sources.stream import LAYERS
from siting.sources.weather import read_weather, typical_danish_year

log = logging.getLogger(__name__)


@dataclass
class Inputs:
    """What `load_inputs` read.

    Attributes
    ----------
    osm : the extract's layers (streets left empty when the graph came from the cache).
    network : the DH network (a file, or the extract's heat pipes/plants), or None.
    network_from_extract : True when `network` is the extract's own OSM pipes/plants.
    sites : the sites file or the given sites (None: generate them from OSM).
    weather : hourly outdoor °C (the weather file, else a typical Danish year).
    registry : the network registry (`networks_path`, else built-in Denmark), or None.
    series : hourly inputs on the weather's hours (`HourlySeries`).
    cached_graph : the street graph the cache held for this file and parameters, or None.
    graph_key : the cache key to save a newly built graph under (None: cache off).
    cached_layers : the projected layers the cache held for this file and CRS, or None.
    layers_key : the cache key to save the projected layers under (None: cache off).
    demand_key : the cache key of the demand estimate on these layers and graph (None: off).
    streets_read : whether `osm` holds the extract's streets (False: the graph was cached).
    owns_osm : `osm` was read here (not given), so `prepare_area` may project it in place.
    """

    osm: OsmData
    network: gpd.GeoDataFrame | None
    network_from_extract: bool
    sites: gpd.GeoDataFrame | None
    weather: pd.Series
    registry: NetworkRegistry | None = None
    series: HourlySeries = field(default_factory=lambda: HourlySeries())
    cached_graph: Any = None
    graph_key: str | None = None
    cached_layers: studycache.CachedLayers | None = None
    layers_key: str | None = None
    demand_key: str | None = None
    streets_read: bool = True
    owns_osm: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)


def street_multipliers(p: Params) -> dict[str, float]:
    """Cost multiplier per OSM highway class: docs/model.md §4 defaults, the user's on top."""
    return {**pipes.STREET_CLASS_MULTIPLIER, **p.street_class_multiplier}


def weather_of(study: Study) -> pd.Series:
    """Hourly outdoor temperature: the study's weather file, else a typical Danish year."""
    if study.weather_path is None:
        return typical_danish_year()
    return read_weather(study.weather_path, year=study.weather_year)


@dataclass
class HourlySeries:
    """Hourly inputs on the weather's hours (None: the constant parameter applies).

    Attributes
    ----------
    it_load_share : IT load as share of nameplate (`Study.it_load_path`).
    source_in_c : cooling-water inlet temperature, °C (`Study.source_temperature_path`).
    electricity_price_eur_per_mwh : energy price (`Study.electricity_price_path`).
    """

    it_load_share: np.ndarray | None = None
    source_in_c: np.ndarray | None = None
    electricity_price_eur_per_mwh: np.ndarray | None = None


def load_series(study: Study, weather: pd.Series) -> HourlySeries:
    """Read the study's hourly series and map each onto the weather's hours."""

    def read(path, reader):
        return None if path is None else to_model_year(reader(path), weather)

    return HourlySeries(
        it_load_share=read(study.it_load_path, read_it_load_profile),
        source_in_c=read(study.source_temperature_path, read_source_temperature),
        electricity_price_eur_per_mwh=read(study.electricity_price_path, read_electricity_price),
    )


def load_registry(study: Study) -> NetworkRegistry | None:
    """The study's network registry: the user's file, else the built-in Danish one, or None."""
    if study.networks_path is not None:
        return read_registry(study.networks_path)
    return load_dk_registry() if study.use_builtin_registry else None


def load_inputs(
    study: Study,
    *,
    osm: OsmData | None = None,
    network: gpd.GeoDataFrame | None = None,
    sites: gpd.GeoDataFrame | None = None,
    want_cache: bool = True,
    network_from_extract: bool | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    streets: gpd.GeoDataFrame | None = None,
) -> Inputs:
    """Read what the study names (inputs already given are used as they are).

    The caches are looked up first (`study.use_cache`): on a street-graph hit the extract is
    read without its streets; on a hit of its projected layers it is not read at all
    (`prepare_area` takes them from the cache). `want_cache=False` skips the lookups (a
    graph is given); given `buildings` or `streets` skip the layer and demand caches.
    `network_from_extract` says a given `network` is an extract's OSM pipes, not a file.
    `buildings` and `streets` (GeoDataFrames, any CRS) replace the extract's layers; with
    both and no extract, the study runs on them alone (no land use, addresses or pipes).
    """
    p = study.params
    cached = graph_key = layers = layers_key = demand_key = None
    owns_osm = osm is None  # read (or made) here: no caller holds its frames
    if streets is not None:
        want_cache = False  # the graph is built from the streets given
    if osm is None and study.osm_path is None and buildings is not None and streets is not None:
        osm = OsmData(
            streets=streets.iloc[:0],
            buildings=buildings.iloc[:0],
            heat_pipes=_empty_layer(),
            heat_plants=_empty_layer(),
            landuse=_empty_layer(),
            data_centers=_empty_layer(),
            source="the buildings and streets given",
        )
    if osm is None:
        if study.osm_path is None:
            raise InputDataError(
                "the study has no OSM extract: set osm_path in the config or pass --osm FILE "
                "(an .osm.pbf from Geofabrik/BBBike), or give siting.run both buildings= and "
                "streets=; `siting demo` runs a built-in one."
            )
        path = study.osm_path.expanduser()
        # a missing or bad file falls through to read_osm's error
        if want_cache and study.use_cache and path.is_file():
            validate.check_readable(path, "OSM file")  # hashed first: name a permission fault
            graph_key = cache.graph_key(
                path, street_multipliers(p), p.excluded_highways, p.crossing_cost_eur, study.crs
            )
            cached = cache.load_graph(graph_key)
            if buildings is None and streets is None:
                layers_key = studycache.layers_key(path, study.crs)
                layers = studycache.load_layers(layers_key, streets=cached is None)
                if layers is not None and cached is not None and layers.crs != cached.graph.crs:
                    layers = None  # entries of another CRS choice: read the file again
                demand_key = _demand_key(study, layers_key, graph_key)
        if layers is not None:
            log.info("projected layers from the cache: %s", layers.path)
            osm = OsmData(
                **{n: _empty_layer() for n in LAYERS if n not in studycache.PARSED_LAYERS},
                **{name: layers.layers[name] for name in studycache.PARSED_LAYERS},
                source=str(path),
            )
        else:
            osm = read_osm(study.osm_path, streets=cached is None and streets is None)
    osm = _with_given_layers(osm, buildings, streets)
    if network is None and study.network_path is not None:
        network = read_network(study.network_path)
    from_extract = bool(network_from_extract) and network is not None
    if network is None and study.use_osm_network:
        network = network_from_osm(osm.heat_pipes, osm.heat_plants)
        from_extract = network is not None
    if sites is None and study.sites_path is not None:
        sites = read_sites(study.sites_path, study)
    weather = weather_of(study)
    return Inputs(
        osm=osm,
        network=network,
        network_from_extract=from_extract,
        sites=sites,
        weather=weather,
        registry=load_registry(study),
        series=load_series(study, weather),
        cached_graph=cached,
        graph_key=graph_key,
        cached_layers=layers,
        layers_key=layers_key,
        demand_key=demand_key,
        streets_read=cached is None,
        owns_osm=owns_osm,
    )


def _demand_key(study: Study, layers_key: str, graph_key: str) -> str | None:
    """The demand cache key, or None while the weather file cannot be hashed (the weather
    reader then says what is wrong with it)."""
    weather = None if study.weather_path is None else study.weather_path.expanduser()
    try:
        return studycache.demand_key(
            layers_key, graph_key, study.params, weather, study.weather_year
        )
    except OSError:
        return None


def _empty_layer() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs="EPSG:4326"), crs="EPSG:4326")


def _with_given_layers(
    osm: OsmData, buildings: gpd.GeoDataFrame | None, streets: gpd.GeoDataFrame | None
) -> OsmData:
    """`osm` with its buildings/streets replaced by the given ones (EPSG:4326, as parsed)."""
    if buildings is None and streets is None:
        return osm
    changes = {}
    for name, gdf, kinds in (
        ("buildings", buildings, ("Polygon", "MultiPolygon")),
        ("streets", streets, ("LineString", "MultiLineString")),
    ):
        if gdf is None:
            continue
        if gdf.crs is None:
            raise CRSError(
                f"{name}= has no CRS; set the one its coordinates are in, e.g. "
                f"{name}.set_crs('EPSG:4326') or .set_crs('EPSG:25832')."
            )
        ok = gdf.geometry.notna() & ~gdf.geometry.is_empty & gdf.geom_type.isin(kinds)
        if not ok.any():
            raise InputDataError(
                f"{name}= has no {' or '.join(kinds)} geometries ({len(gdf)} rows); give "
                + ("building footprints." if name == "buildings" else "street centre lines.")
            )
        changes[name] = gdf[ok].to_crs("EPSG:4326").reset_index(drop=True)
    return dataclasses.replace(osm, **changes)


@dataclass
class Prepared:
    """`prepare_area`'s output: every layer in one metric CRS, and what was set aside."""

    area: Area
    network_from_extract: bool
    notes: list[str] = field(default_factory=list)


def prepare_area(study: Study, inputs: Inputs) -> Prepared:
    """Project the extract and the network into the study CRS; check they overlap.

    The CRS is the study's, else the cached graph's, else the local UTM zone. A user's
    network lying wholly away from the extract is an input error; the extract's own heat
    pipes lying away from every street are set aside (new local networks, with a note).
    The projected layers come from the cache when it held them (`inputs.cached_layers`),
    else they are projected here and saved to it (`inputs.layers_key`).
    """
    cached = inputs.cached_graph
    # the projected layers replace the parsed ones: a country's layers are gigabytes
    emptied = OsmData(
        **{name: _empty_like(inputs.osm, name) for name in LAYERS}, source=inputs.osm.source
    )
    if inputs.cached_layers is not None:
        area = _area_from_cache(inputs.cached_layers, inputs.network, inputs.osm.source)
    else:
        area = Area.from_osm(
            inputs.osm,
            inputs.network,
            crs=study.crs if cached is None else cached.graph.crs,
            streets_hull=None if cached is None else cached.streets_hull,
            consume=inputs.owns_osm,  # the parsed layers go below: project them in place
        )
        if inputs.layers_key is not None:
            parsed = {name: getattr(inputs.osm, name) for name in studycache.PARSED_LAYERS}
            studycache.save_layers(inputs.layers_key, area, parsed, inputs.streets_read, later=True)
    inputs.osm = emptied
    release_memory()
    notes = []
    gap_m = _network_gap_m(area)
    if gap_m > study.params.max_snap_distance_m:
        if not inputs.network_from_extract:
            name = area.network.attrs.get("source", "the district-heating network")
            raise InputDataError(
                f"{name} lies {gap_m / 1000:.1f} km from the streets of {area.source} (nearest "
                f"point); it must overlap the OSM extract. Use a network and an extract of the "
                "same place, check the network file's CRS, or run without it (--no-osm-network "
                "and no --network) to plan new local networks."
            )
        # heat pipes the extract happens to hold but no street reaches: not a network a
        # site could tap, so plan new local networks rather than fail the study
        area.network = None
        notes.append(
            "the extract's OSM heat pipes lie away from its streets and cannot be tapped; "
            "they were set aside (give --network to use a network)"
        )
    return Prepared(area=area, network_from_extract=inputs.network_from_extract, notes=notes)


def _area_from_cache(
    layers: studycache.CachedLayers, network: gpd.GeoDataFrame | None, source: str
) -> Area:
    """The `Area` of cached projected layers, with `network` projected as `Area.from_osm` does."""
    crs = layers.crs
    # the frames were read with this very CRS object (as `Area.from_osm` gives them one)
    frames = dict(layers.layers)
    if "streets" not in frames:  # the street graph came from its cache: as a read without them
        frames["streets"] = _empty_layer().to_crs(crs)
    if network is not None:
        network = reproject(network, crs, network.attrs.get("source", "network"))
    return Area(
        crs=crs,
        network=network,
        boundary=layers.boundary,
        source=source,
        **{name: frames[name] for name in studycache.AREA_LAYERS},
    )


def _empty_like(osm: OsmData, name: str) -> gpd.GeoDataFrame:
    """An empty layer with the columns and dtypes of `osm`'s layer `name`, sharing nothing
    with it."""
    return empty_like(getattr(osm, name))


def _network_gap_m(area: Area) -> float:
    if area.network is None or not len(area.network):
        return 0.0
    return float(area.network.distance(area.boundary).min())


def _save_graph(key: str, graph: StreetGraph, streets: np.ndarray) -> None:
    """Save the graph to its cache with the hull of the `streets` it was built from."""
    cache.save_graph(key, graph, convex_hull(shapely.get_coordinates(streets)))


@dataclass
class Graph:
    """`street_graph`'s output: the cost graph and whether the cache supplied it."""

    graph: StreetGraph
    cache_hit: bool


def street_graph(study: Study, inputs: Inputs, area: Area, user_graph: Any = None) -> Graph:
    """The street cost graph: the user's graph, the cached one, or built from the streets.

    `user_graph` is any networkx street graph (osmnx or other, projected or not) or a
    `StreetGraph`. A newly built graph is saved to the cache under `inputs.graph_key`.
    """
    p = study.params
    mult = street_multipliers(p)
    if user_graph is not None:
        graph = (
            user_graph
            if isinstance(user_graph, StreetGraph)
            else StreetGraph.from_networkx(
                user_graph,
                mult,
                p.excluded_highways,
                railways=area.railways,
                crossing_cost_eur=p.crossing_cost_eur,
                to_crs=area.crs,
            )
        )
        return Graph(graph, cache_hit=False)
    if inputs.cached_graph is not None:
        log.info("street graph from the cache: %s", inputs.cached_graph.path)
        return Graph(inputs.cached_graph.graph, cache_hit=True)
    graph = StreetGraph.from_streets(
        area.streets,
        mult,
        p.excluded_highways,
        railways=area.railways,
        crossing_cost_eur=p.crossing_cost_eur,
    )
    if inputs.graph_key is not None:  # on the cache-writer thread, beside the next stages
        cachedir.write_later(_save_graph, inputs.graph_key, graph, area.streets.geometry.values)
    release_memory()  # the build's temporaries (a point per segment end, WKB for the cache)
    log.info("street graph: %d nodes, %d edges", graph.n_nodes, graph.n_edges)
    return Graph(graph, cache_hit=False)
