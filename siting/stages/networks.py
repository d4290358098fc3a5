"""Stage `find_networks`: which district-heating network the sites feed, and how big it is.

Decides the study's mode (an existing network to tap, or new local networks) and the
existing network's annual demand, which the hourly model needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np

from siting.config import Params
from siting.routing import StreetGraph, network_tap_points

log = logging.getLogger(__name__)

EXISTING = "existing_network"
LOCAL = "new_local_network"


@dataclass
class Networks:
    """`find_networks`'s output.

    Attributes
    ----------
    network : the existing network's pipes/plants in the study CRS (None: local mode).
    mode : "existing_network" or "new_local_network".
    annual_demand_mwh : the existing network's annual demand (0 in local mode).
    """

    network: gpd.GeoDataFrame | None
    mode: str
    annual_demand_mwh: float = 0.0
    notes: list[str] = field(default_factory=list)


def find_networks(
    p: Params,
    network: gpd.GeoDataFrame | None,
    graph: StreetGraph,
    buildings: gpd.GeoDataFrame,
    *,
    from_extract: bool = False,
) -> Networks:
    """The network to tap and its demand, or new local networks when there is none.

    The extract's own heat pipes that no street reaches within `max_snap_distance_m` are
    set aside with a note (new local networks); a user's network file is kept, and the
    routing stage then reports why it cannot be reached.
    """
    notes: list[str] = []
    if network is not None and len(network) and from_extract and not _tappable(network, graph, p):
        network = None
        notes.append(
            "the extract's OSM heat pipes are not within "
            f"{p.max_snap_distance_m:.0f} m of a routable street; the study planned new "
            "local networks instead (give --network to use a network)"
        )
    if network is None or not len(network):
        return Networks(network=None, mode=LOCAL, notes=notes)
    mwh = network_demand_mwh(network, buildings, p)
    notes = network_demand_notes(network, p, mwh, EXISTING) + notes
    return Networks(network=network, mode=EXISTING, annual_demand_mwh=mwh, notes=notes)


def _tappable(network: gpd.GeoDataFrame, graph: StreetGraph, p: Params) -> bool:
    """Whether any connection point of `network` lies within reach of a street edge."""
    tap_xy, _ = network_tap_points(network)
    if len(tap_xy) == 0:
        return False
    return bool((graph.snap_to_edges(tap_xy).access_m <= p.max_snap_distance_m).any())


def network_demand_mwh(network: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, p: Params) -> float:
    """Annual demand of the existing network a site feeds.

    `network_annual_demand_mwh` when the user gives it (the utility's figure: the network is
    usually far larger than the extract); else the demand of the extract's buildings within
    `network_service_distance_m` of a pipe, a lower bound noted as such. A network of plants
    only (pipes unknown) takes every heated building of the extract.
    """
    if p.network_annual_demand_mwh > 0:
        return float(p.network_annual_demand_mwh)
    heated = buildings[buildings["heat_demand_mwh_per_yr"] > 0]
    pipes_ = network[network["kind"] == "pipe"].geometry
    if len(pipes_) == 0:
        # a plant serves a district, not the few buildings around its site
        log.info("existing network (plants only): demand of all %d heated buildings", len(heated))
        return float(heated["heat_demand_mwh_per_yr"].sum())
    pairs = heated.sindex.query(
        pipes_.values, predicate="dwithin", distance=p.network_service_distance_m
    )
    near = np.unique(pairs[1])
    mwh = float(heated["heat_demand_mwh_per_yr"].to_numpy()[near].sum())
    log.info(
        "existing network demand from %d buildings within %.0f m of its pipes: %.0f MWh/yr",
        len(near),
        p.network_service_distance_m,
        mwh,
    )
    return mwh


def network_demand_notes(
    network: gpd.GeoDataFrame | None, p: Params, network_mwh: float, mode: str
) -> list[str]:
    """What an analyst must know when the existing network's demand was estimated."""
    if mode != EXISTING or p.network_annual_demand_mwh > 0:
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
