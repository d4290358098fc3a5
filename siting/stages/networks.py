"""Stage `find_networks`: where the district heating is, how big it is, and what it burns.

Where (the taps a site can route to), in order of trust: the user's network file; the
extract's OSM heat pipes and plants; the supply-area polygons of a user's network registry;
DH areas found in the heat-density grid (the Hotmaps method, `siting.networks.areas`). How
big and what it burns: the network each site matches in the registry (built-in Denmark, or
the user's), else the buildings the taps serve. Decides the study's mode (tap an existing
network, or plan new local networks where there is none).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import homes
from siting.config import Params
from siting.networks.areas import dh_areas_from_buildings
from siting.networks.match import match_sites
from siting.networks.registry import NetworkRegistry
from siting.routing import StreetGraph, network_tap_points
from siting.stages.network_demand import EXISTING, network_demand_mwh, network_demand_notes

log = logging.getLogger(__name__)


LOCAL = "new_local_network"
# where a site's tap came from (ranking column `network_source`)
SOURCES = ("file", "osm", "registry", "heat_density_areas", "new_local_network")
# registry facts carried into the site table (per site; NaN where no network matched)
REGISTRY_COLUMNS = (
    "network_id",
    "network_name",
    "network_year",
    "network_annual_heat_mwh",
    "network_system_annual_heat_mwh",
    "network_must_run_mwh_per_yr",
    "network_solar_mwh_per_yr",
    "network_heat_price_eur_per_mwh",
    "network_ef_displaced_t_per_mwh",
    "network_how_matched",
)


@dataclass
class Networks:
    """`find_networks`'s output.

    Attributes
    ----------
    network : the known network (file or OSM pipes/plants) in the study CRS, or None.
    taps : every point a site may connect to: the network's pipes and plants, plus one point
        per street node inside a registry supply area or a DH area; columns `kind`,
        `supply_temp_c`, `capacity_mw`, `network_source`, `serves_mwh_per_yr` (the annual
        demand a site tapping there serves), `area_id`. None in local mode.
    mode : "existing_network" or "new_local_network".
    annual_demand_mwh : the largest network demand a site serves (0 in local mode).
    dh_areas : DH areas from the heat-density grid (study CRS), or None.
    site_networks : per site (index of the sites), the registry network it matched
        (`REGISTRY_COLUMNS`), or an empty frame without a registry.
    """

    network: gpd.GeoDataFrame | None
    mode: str
    annual_demand_mwh: float = 0.0
    taps: gpd.GeoDataFrame | None = None
    dh_areas: gpd.GeoDataFrame | None = None
    site_networks: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)


def find_networks(
    p: Params,
    network: gpd.GeoDataFrame | None,
    graph: StreetGraph,
    buildings: gpd.GeoDataFrame,
    *,
    from_extract: bool = False,
    sites: gpd.GeoDataFrame | None = None,
    registry: NetworkRegistry | None = None,
    street_density: gpd.GeoDataFrame | None = None,
    near_pipes_mwh: float | None = None,
    dh_areas: gpd.GeoDataFrame | None = None,
    registry_matched: bool | None = None,
) -> Networks:
    """The taps, the mode and each site's network (see the module docstring).

    Parameters
    ----------
    p : the study's parameters.
    network : the network file's or the extract's pipes/plants (study CRS), or None.
    graph : the street graph (DH-area taps are its nodes inside the areas).
    buildings : buildings with heat demand (`estimate_demand`), for DH areas and demand.
    from_extract : `network` is the extract's own OSM pipes/plants (a user's file is kept
        as it is; the extract's are supplemented by DH areas where pipes are unknown).
    sites : the candidate sites, matched to the registry.
    registry : the network registry (None: no registry facts).
    street_density : linear heat density per street edge (`estimate_demand`); where a
        registry network serves the place, its viable streets are where its mains likely run.
    near_pipes_mwh : the demand of the buildings the network's pipes serve, when computed
        over a larger area than `buildings` (a tiled run); else computed here.
    dh_areas : the DH areas of the whole study (study CRS), found once from every building
        (a tiled run: a tile's buildings would cut the areas at its edge); else found here.
    registry_matched : whether any site of the whole study matched a registry network (a
        tiled run: the same answer in every tile); else from `sites`.
    """
    notes: list[str] = []
    if network is not None and len(network) and from_extract and not _tappable(network, graph, p):
        network = None
        notes.append(
            "the extract's OSM heat pipes are not within "
            f"{p.max_snap_distance_m:.0f} m of a routable street; they were set aside "
            "(give --network to use a network)"
        )
    user_file = network is not None and len(network) > 0 and not from_extract
    site_nets = _match(sites, registry, p)
    matched = bool(len(site_nets)) and site_nets["network_id"].notna().any()
    if registry_matched is not None:
        matched = registry_matched
    parts: list[gpd.GeoDataFrame] = []
    near_mwh = 0.0
    if network is not None and len(network):
        near_mwh = (
            network_demand_mwh(network, buildings, p) if near_pipes_mwh is None else near_pipes_mwh
        )
        parts.append(_as_taps(network, "file" if user_file else "osm", near_mwh))
    areas = None
    reg_areas = _registry_areas(registry, buildings.crs, sites, p)
    if reg_areas is not None and not user_file:
        parts.append(_area_taps(graph, reg_areas, "registry", p))
    if matched and not user_file and street_density is not None and p.dh_areas:
        # a utility is known to serve the place: its mains run in the streets dense enough
        # to be worth a pipe (linear heat density >= linear_heat_density_min_mwh_per_m)
        viable = street_density[street_density["viable"].fillna(False).astype(bool)]
        if len(viable):
            parts.append(_street_taps(viable, p))
            notes.append(viable_streets_note(len(viable), viable["length_m"].sum(), p))
    # a user's file with pipes is the network; OSM pipes are rarely complete
    pipes_known = user_file and bool((network["kind"] == "pipe").any())
    if not pipes_known and p.dh_areas:
        # the Hotmaps area minimum asks whether a new network would pay; where a registry
        # network is known to serve the place, every dense-enough cell is likely connected
        min_gwh = dh_area_min_gwh(p, matched)
        areas = (
            dh_areas
            if dh_areas is not None
            else dh_areas_from_buildings(
                buildings,
                min_cell_mwh_per_ha=p.dh_area_min_cell_mwh_per_ha,
                min_area_gwh_per_yr=min_gwh,
            )
        )
        if len(areas):
            taps = _area_taps(graph, areas, "heat_density_areas", p)
            if matched:  # part of a registry network: it takes what the network takes
                taps["capacity_mw"] = np.nan
            parts.append(taps)
            notes.append(_areas_note(areas, p, min_gwh, matched))
        else:
            areas = None
    parts = [t for t in parts if len(t)]
    if not parts:
        return Networks(None, LOCAL, dh_areas=areas, site_networks=site_nets, notes=notes)
    taps = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=buildings.crs)
    if network is not None and len(network) and areas is not None:
        # a site tapping the OSM pipes serves their buildings and every DH area they touch
        near = areas[
            areas.geometry.distance(shapely.union_all(network.geometry.values))
            <= p.network_service_distance_m
        ]
        osm = taps["network_source"] == "osm"
        taps.loc[osm, "serves_mwh_per_yr"] = max(
            near_mwh, float(near["heat_demand_mwh_per_yr"].sum())
        )
    if p.network_annual_demand_mwh > 0:
        taps["serves_mwh_per_yr"] = float(p.network_annual_demand_mwh)
    notes += registry_notes(site_nets, p)
    if not matched and p.network_annual_demand_mwh <= 0 and network is not None and len(network):
        notes += network_demand_notes(network, p, near_mwh, EXISTING)
    top = float(np.nan_to_num(taps["serves_mwh_per_yr"].max()))  # NaN: registry mains only
    if matched and p.network_annual_demand_mwh <= 0:
        top = max(top, float(site_nets["network_system_annual_heat_mwh"].max()))
    return Networks(
        network=network if network is not None and len(network) else None,
        mode=EXISTING,
        annual_demand_mwh=top,
        taps=taps,
        dh_areas=areas,
        site_networks=site_nets,
        notes=notes,
    )


VIABLE_NOTE_START = "a registry network serves the place: its mains are taken to run in"


def viable_streets_note(n_segments: int, length_m: float, p: Params, where: str = "") -> str:
    """The note saying which streets are taken as a registry network's mains."""
    return (
        f"{VIABLE_NOTE_START} the {n_segments:,} street segments{where} with at least "
        f"{p.linear_heat_density_min_mwh_per_m:g} MWh/m/yr of buildings along them "
        f"({length_m / 1000:,.1f} km), besides any DH areas and pipes"
    )


def dh_area_min_gwh(p: Params, matched: bool) -> float:
    """The Hotmaps area minimum, GWh/yr: it asks whether a new network would pay, so it is
    waived (0) where a registry network is known to serve the place."""
    return 0.0 if matched else p.dh_area_min_gwh_per_yr


def registry_matched(
    sites: gpd.GeoDataFrame | None, registry: NetworkRegistry | None, p: Params
) -> bool:
    """Whether any of `sites` lies where a registry network serves (see :func:`find_networks`)."""
    site_nets = _match(sites, registry, p)
    return bool(len(site_nets)) and bool(site_nets["network_id"].notna().any())


def _match(
    sites: gpd.GeoDataFrame | None, registry: NetworkRegistry | None, p: Params
) -> pd.DataFrame:
    """Each site's registry network (`REGISTRY_COLUMNS`); empty without sites or registry."""
    if sites is None or registry is None or not len(sites):
        return pd.DataFrame(index=pd.RangeIndex(0))
    rows = match_sites(sites, registry, max_distance_m=p.network_match_max_distance_m)
    for col in REGISTRY_COLUMNS:
        if col not in rows:
            rows[col] = np.nan
    out = rows[list(REGISTRY_COLUMNS)].copy()
    out["network_source_note"] = rows.get("network_source", pd.Series(np.nan, index=rows.index))
    out.index = sites["site_id"].to_numpy()
    return out


def _registry_areas(
    registry: NetworkRegistry | None, crs, sites: gpd.GeoDataFrame | None, p: Params
) -> gpd.GeoDataFrame | None:
    """The registry's supply-area polygons near the study (study CRS), as DH areas."""
    if registry is None or registry.areas is None or sites is None or not len(sites):
        return None
    areas = registry.metric_layers(crs)["areas"]
    reach = shapely.union_all(sites.geometry.values).buffer(p.max_route_length_m)
    areas = areas[areas.intersects(reach)]
    if not len(areas):
        return None
    nets = registry.networks
    mwh = nets["annual_heat_mwh"].reindex(areas["network_id"].astype(str)).to_numpy(dtype=float)
    return gpd.GeoDataFrame(
        {"area_id": areas["network_id"].astype(str).to_numpy(), "heat_demand_mwh_per_yr": mwh},
        geometry=areas.geometry.values,
        crs=crs,
    )


def _as_taps(network: gpd.GeoDataFrame, source: str, serves_mwh: float) -> gpd.GeoDataFrame:
    cols = ["kind", "supply_temp_c", "capacity_mw", "geometry"]
    t = gpd.GeoDataFrame(
        {c: network[c] if c in network else np.nan for c in cols[:-1]},
        geometry=network.geometry.values,
        crs=network.crs,
    )
    t["network_source"] = source
    t["serves_mwh_per_yr"] = serves_mwh
    t["area_id"] = None
    return t


def _street_taps(viable: gpd.GeoDataFrame, p: Params) -> gpd.GeoDataFrame:
    """Viable street segments as likely mains of a registry network (`network_source`
    "registry"; their demand is the registry network's, set per site later)."""
    return gpd.GeoDataFrame(
        {
            "kind": "pipe",
            "supply_temp_c": np.nan,
            "capacity_mw": np.nan,
            "network_source": "registry",
            # the registry network's demand, attached per site (attach_networks); the sum
            # along the viable streets would depend on how much of the place is read
            "serves_mwh_per_yr": np.nan,
            "area_id": None,
        },
        geometry=viable.geometry.values,
        crs=viable.crs,
        index=pd.RangeIndex(len(viable)),
    )


_NODE_CHUNK = 100_000


def _area_taps(
    graph: StreetGraph, areas: gpd.GeoDataFrame, source: str, p: Params
) -> gpd.GeoDataFrame:
    """One tap per street node inside an area: the mains run under the area's streets.

    A tap's `capacity_mw` says which sites the area can take: one whose heat over a year at
    `annual_utilisation` (peak x 8760 x u) is at most the area's annual demand.
    """
    xy = graph.xy
    owner = np.full(len(xy), -1, dtype=np.int64)
    tree = shapely.STRtree(areas.geometry.values)
    for start in range(0, len(xy), _NODE_CHUNK):  # a Point per node only for a chunk at once
        pts = shapely.points(xy[start : start + _NODE_CHUNK])
        node, area = tree.query(pts, predicate="within")
        owner[start + node] = area  # a node in two areas: the later one (areas do not overlap)
    inside = np.flatnonzero(owner >= 0)
    pts = shapely.points(xy[inside])
    mwh = areas["heat_demand_mwh_per_yr"].to_numpy(dtype=float)[owner[inside]]
    return gpd.GeoDataFrame(
        {
            "kind": "dh_area",
            "supply_temp_c": np.nan,
            "capacity_mw": mwh / (8760.0 * p.annual_utilisation),
            "network_source": source,
            "serves_mwh_per_yr": mwh,
            "area_id": areas["area_id"].to_numpy()[owner[inside]],
        },
        geometry=pts,
        crs=areas.crs,
    )


def _areas_note(areas: gpd.GeoDataFrame, p: Params, min_gwh: float, matched: bool) -> str:
    total = areas["heat_demand_mwh_per_yr"].sum()
    rule = (
        "no minimum per area, as a registry network serves the place"
        if matched
        else f"areas of at least {min_gwh:g} GWh/yr"
    )
    return (
        f"district heating located from heat density (Hotmaps method: 100 m cells of at least "
        f"{p.dh_area_min_cell_mwh_per_ha:g} MWh/ha/yr, {rule}): {len(areas)} DH area(s) with "
        f"{total / 1000:,.1f} GWh/yr; sites route to the streets inside them"
    )


def _source_of(row: pd.Series) -> str:
    """Where a matched network's figures come from (the registry row's own source)."""
    text = row.get("network_source_note")
    return str(text) if isinstance(text, str) and text.strip() else "the network registry"


def registry_notes(site_nets: pd.DataFrame, p: Params) -> list[str]:
    """One line per registry network the sites matched: name, heat, year, fuels, source."""
    if not len(site_nets) or site_nets["network_id"].isna().all():
        return []
    out = []
    for nid, rows in site_nets.dropna(subset=["network_id"]).groupby("network_id", sort=True):
        r = rows.iloc[0]
        system = r["network_system_annual_heat_mwh"]
        system_txt = (
            f", {system / 1e6:,.2f} TWh in its interconnected system"
            if math.isfinite(system) and system > r["network_annual_heat_mwh"] * 1.001
            else ""
        )
        out.append(
            f"sites feed {r['network_name']} ({nid}): "
            f"{r['network_annual_heat_mwh'] / 1e6:,.2f} TWh delivered in {r['network_year']:.0f}"
            f"{system_txt}; must-run (waste, surplus heat, solar) "
            f"{(r['network_must_run_mwh_per_yr'] + r['network_solar_mwh_per_yr']) / 1e3:,.0f} "
            f"GWh/yr; displaced heat {r['network_ef_displaced_t_per_mwh'] * 1000:,.0f} kg "
            f"CO2/MWh from its fuel mix (how each site matched: network_how_matched; "
            f"figures: {_source_of(r)})"
            + (
                "; params.network_annual_demand_mwh overrides the demand"
                if p.network_annual_demand_mwh > 0
                else ""
            )
        )
    return out


def attach_networks(table: pd.DataFrame, networks: Networks, p: Params) -> pd.DataFrame:
    """Each site's network facts: the demand it serves, must-run supply, CO2 factor, price.

    Demand served (`served_demand_mwh_per_yr`, heat fed into the network over a year,
    losses included): `params.network_annual_demand_mwh` when given; else the matched
    registry network's interconnected system; else the buildings the tap stands for (a DH
    area, or the buildings near the pipes) grossed up by `network_loss_share`. Must-run
    supply: the registry network's share of waste, surplus heat (flat) and solar (monthly),
    applied to that demand, plus `params.must_run_mwh_per_yr`. The displaced heat's CO2
    factor and the heat price come from the registry network where one matched and the
    parameter is left at its default, else from the parameters.
    """
    t = table.copy()
    ids = t["site_id"].to_numpy()
    sn = networks.site_networks
    for col in REGISTRY_COLUMNS:  # the same columns in every study, NaN where none matched
        t[col] = sn[col].reindex(ids).to_numpy() if col in sn else np.nan
    if networks.mode != EXISTING:
        t["network_source"] = LOCAL
        return t
    matched = t["network_id"].notna().to_numpy()
    annual = t["network_annual_heat_mwh"].to_numpy(dtype=float)
    system = t["network_system_annual_heat_mwh"].to_numpy(dtype=float)
    system = np.where(np.isfinite(system), system, annual)
    tap = (
        t["tap_serves_mwh_per_yr"].to_numpy(dtype=float)
        if "tap_serves_mwh_per_yr" in t
        else np.full(len(t), networks.annual_demand_mwh)
    )
    # a tap without its own demand (a registry network's likely mains) reached by a site no
    # registry network matched: the study's network demand
    tap = np.where(np.isfinite(tap), tap, networks.annual_demand_mwh)
    fed_in = tap / (1.0 - p.network_loss_share)
    area = t.get("network_source", pd.Series("", index=t.index)).to_numpy() != "osm"
    if p.network_annual_demand_mwh > 0:
        served = np.full(len(t), float(p.network_annual_demand_mwh))
        source = np.full(len(t), "params.network_annual_demand_mwh", dtype=object)
    else:
        served = np.where(matched, system, fed_in)
        source = np.where(
            matched,
            "registry",
            np.where(area, "dh_area_buildings", "buildings_near_pipes"),
        ).astype(object)
    t["served_demand_mwh_per_yr"] = served
    t["network_demand_source"] = source
    flat = np.zeros(len(t))
    solar = np.zeros(len(t))
    if p.must_run_from_registry:
        with np.errstate(divide="ignore", invalid="ignore"):
            mr = t["network_must_run_mwh_per_yr"].to_numpy(dtype=float) / annual
            so = t["network_solar_mwh_per_yr"].to_numpy(dtype=float) / annual
        flat = np.where(matched, np.nan_to_num(mr) * served, 0.0)
        solar = np.where(matched, np.nan_to_num(so) * served, 0.0)
    t["must_run_flat_mwh_per_yr"] = flat + p.must_run_mwh_per_yr
    t["must_run_solar_mwh_per_yr"] = solar
    return t


def site_prices(table: pd.DataFrame, p: Params) -> tuple[np.ndarray, np.ndarray]:
    """Per site, the displaced heat's CO2 factor (t/MWh) and the heat price (EUR/MWh).

    The matched registry network's (its fuel mix; its utilities' price) where the parameter
    is left at its default, else the parameter: a value the user sets wins everywhere.
    """
    n = len(table)
    default = Params()

    def pick(col: str, value: float, default_value: float) -> np.ndarray:
        reg = table[col].to_numpy(dtype=float) if col in table else np.full(n, np.nan)
        use = np.isfinite(reg) & (value == default_value)
        return np.where(use, reg, value)

    ef = pick(
        "network_ef_displaced_t_per_mwh", p.ef_displaced_t_per_mwh, default.ef_displaced_t_per_mwh
    )
    price = pick(
        "network_heat_price_eur_per_mwh", p.heat_price_eur_per_mwh, default.heat_price_eur_per_mwh
    )
    return ef, price


def homes_standard(p: Params) -> tuple[float, str]:
    """MWh/yr per home and the label of the study's homes standard (`homes_standard`)."""
    return homes.resolve_standard(
        p.mwh_per_home if p.homes_standard == "custom" else p.homes_standard
    )


def homes_served(delivered_mwh_per_yr: np.ndarray, p: Params) -> np.ndarray:
    """Whole homes the delivered heat covers at the study's standard (existing network)."""
    per_home = homes_standard(p)[0]
    delivered = np.asarray(delivered_mwh_per_yr, dtype=float)
    return np.asarray(homes.homes_at_standard(delivered, per_home)[0]).astype(int)


def _tappable(network: gpd.GeoDataFrame, graph: StreetGraph, p: Params) -> bool:
    """Whether any connection point of `network` lies within reach of a street edge."""
    tap_xy, _ = network_tap_points(network)
    if len(tap_xy) == 0:
        return False
    return bool((graph.snap_to_edges(tap_xy).access_m <= p.max_snap_distance_m).any())
