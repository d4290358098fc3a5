"""Street routing (step 1 of a split: the whole module moved to search.py, re-exported)."""

from siting.routing.search import (
    ACCESS_MULTIPLIER,
    CROSSING_REFERENCE_EUR_PER_M,
    NO_PRED,
    StreetGraph,
    accumulate_to_root,
    connect_from_network,
    grow_local_networks,
    network_tap_points,
    path_nodes,
    route_along,
    route_sites,
    route_sites_by_capacity,
    snap_to_reachable,
)

__all__ = [
    "ACCESS_MULTIPLIER",
    "CROSSING_REFERENCE_EUR_PER_M",
    "NO_PRED",
    "StreetGraph",
    "accumulate_to_root",
    "connect_from_network",
    "grow_local_networks",
    "network_tap_points",
    "path_nodes",
    "route_along",
    "route_sites",
    "route_sites_by_capacity",
    "snap_to_reachable",
]
