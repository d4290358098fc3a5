"""The demand of the buildings an existing network's pipes serve, and the notes saying how
it was found (stage `find_networks`; a tiled run sums it over the tiles' cores)."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import shapely

from siting.config import Params

log = logging.getLogger(__name__)
EXISTING = "existing_network"  # stages.networks' mode of the same name


def network_demand_mwh(network: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, p: Params) -> float:
    """Annual demand of the buildings a known network serves (a lower bound).

    `network_annual_demand_mwh` when the user gives it; else the demand of the extract's
    buildings within `network_service_distance_m` of a pipe. A network of plants only (pipes
    unknown) takes every heated building of the extract.
    """
    if p.network_annual_demand_mwh > 0:
        return float(p.network_annual_demand_mwh)
    # the demand column and the geometries of the heated buildings, not a copy of the frame
    demand = buildings["heat_demand_mwh_per_yr"]
    is_heated = (demand > 0).to_numpy(dtype=bool)
    heated_mwh = demand[is_heated]
    pipes_ = network[network["kind"] == "pipe"].geometry
    if len(pipes_) == 0:
        # a plant serves a district, not the few buildings around its site
        log.info(
            "existing network (plants only): demand of all %d heated buildings", len(heated_mwh)
        )
        return float(heated_mwh.sum())
    heated = np.asarray(buildings.geometry.values, dtype=object)[is_heated]
    pairs = shapely.STRtree(heated).query(
        pipes_.values, predicate="dwithin", distance=p.network_service_distance_m
    )
    near = np.unique(pairs[1])
    mwh = float(heated_mwh.to_numpy()[near].sum())
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
        f"extract's buildings within {p.network_service_distance_m:.0f} m of its pipes and the "
        "DH areas they touch; a network larger than the extract takes more heat: set "
        "params.network_annual_demand_mwh to the utility's figure or give a registry"
    ]
