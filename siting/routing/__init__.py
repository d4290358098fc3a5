"""Street routing for siting: the street cost graph, snapping, the one-pass search from the
heat network to every site, and local-network growth (re-exports of the submodules).

- :mod:`siting.routing.graph`: StreetGraph (from streets or networkx), crossings, disk form.
- :mod:`siting.routing.snapping`: points onto street edges or reachable nodes; network taps.
- :mod:`siting.routing.search`: multi-source Dijkstra, route lengths, routes by capacity,
  route geometry.
- :mod:`siting.routing.local`: local networks grown from each site to nearby buildings.
"""

from siting.routing.graph import (
    ACCESS_MULTIPLIER,
    BARRIER_HIGHWAYS,
    CROSSING_MERGE_M,
    CROSSING_REFERENCE_EUR_PER_M,
    CROSSING_REFERENCE_MW,
    StreetGraph,
    count_crossings,
    crossing_eq_m,
)
from siting.routing.local import LocalNetwork, grow_local_networks
from siting.routing.search import (
    MAX_CAPACITY_SEARCHES,
    NO_PRED,
    Connection,
    Route,
    SiteRoutes,
    accumulate_to_root,
    connect_from_network,
    path_nodes,
    route_along,
    route_sites,
    route_sites_by_capacity,
    tree_roots,
)
from siting.routing.snapping import EdgeSnap, network_tap_points, snap_to_lines, snap_to_reachable

__all__ = [
    "ACCESS_MULTIPLIER",
    "BARRIER_HIGHWAYS",
    "CROSSING_MERGE_M",
    "CROSSING_REFERENCE_EUR_PER_M",
    "CROSSING_REFERENCE_MW",
    "MAX_CAPACITY_SEARCHES",
    "NO_PRED",
    "Connection",
    "EdgeSnap",
    "LocalNetwork",
    "Route",
    "SiteRoutes",
    "StreetGraph",
    "accumulate_to_root",
    "connect_from_network",
    "count_crossings",
    "crossing_eq_m",
    "grow_local_networks",
    "network_tap_points",
    "path_nodes",
    "route_along",
    "route_sites",
    "route_sites_by_capacity",
    "snap_to_lines",
    "snap_to_reachable",
    "tree_roots",
]
