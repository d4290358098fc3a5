"""Stage `connect`: route every site to the existing network, or grow a new local network
from it, and size and price the pipe each route needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import pipes
from siting.config import Params
from siting.errors import InputDataError
from siting.routing import (
    ACCESS_MULTIPLIER,
    StreetGraph,
    grow_local_networks,
    network_tap_points,
    route_sites_by_capacity,
    snap_to_reachable,
)
from siting.stages.networks import EXISTING, Networks, homes_served


@dataclass
class Connected:
    """`connect`'s output: the site table with route columns, and the route lines."""

    table: pd.DataFrame
    routes: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def connect(
    graph: StreetGraph,
    networks: Networks,
    buildings: gpd.GeoDataFrame,
    sites: gpd.GeoDataFrame,
    table: pd.DataFrame,
    inside: np.ndarray,
    p: Params,
    max_geometries: int | None = None,
) -> Connected:
    """Route each site (rows of `table`, from `size_sources`) by the study's mode.

    Existing network: the cheapest feasible tap by one multi-source search per capacity
    class. New local networks: each site grows its own, cheapest buildings first. Sites
    outside the study area (`inside` False) are flagged. Route lines are drawn for the
    `max_geometries` cheapest sites (None: all).
    """
    if networks.mode == EXISTING:
        table, routes = existing_network_routes(
            graph, networks.taps, sites, table, p, max_geometries
        )
    else:
        table, routes = local_network_routes(graph, buildings, sites, table, p)
    table.loc[~np.asarray(inside, dtype=bool), ["feasible", "reason"]] = [
        False,
        "outside the study area",
    ]
    return Connected(table=table, routes=routes)


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


def existing_network_routes(
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
    areas = "kind" in network and bool((network["kind"] == "dh_area").any())
    no_tap = (
        "no pipe of the heat network within reach can take the site's "
        + np.char.mod("%.1f", peak_mw)
        + (
            " MW peak (capacity_mw; a DH area takes a site whose heat at annual_utilisation "
            "is at most its annual demand)"
            if areas
            else " MW peak (capacity_mw)"
        )
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
    # trench, re-priced at their EUR in the price stage
    table["crossings"] = np.rint(routed.crossings)
    table["crossing_cost_eq_m"] = routed.crossings * graph.crossing_eq_m
    table["crossing_capex_eur"] = routed.crossings * p.crossing_cost_eur
    tapped = routed.tap >= 0
    for col in ("supply_temp_c", "capacity_mw"):
        table[f"tap_{col}"] = np.where(tapped, attrs[col][np.maximum(routed.tap, 0)], np.nan)
    # what the tap is (file/OSM pipe, registry or DH area) and the demand it stands for
    row = tap_row[np.maximum(routed.tap, 0)]
    for col, out, fill in (
        ("network_source", "network_source", ""),
        ("area_id", "tap_area_id", ""),
        ("serves_mwh_per_yr", "tap_serves_mwh_per_yr", np.nan),
    ):
        if col in network:
            values = network[col].to_numpy()[row]
            if isinstance(fill, str):  # text: "" where none, never None/NaN
                values = pd.Series(values, dtype=object).fillna("").astype(str).to_numpy()
            table[out] = np.where(tapped, values, fill)
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
    table["homes_served"] = homes_served(table["delivered_heat_mwh_per_yr"].to_numpy(), p)
    table["buildings_connected"] = np.nan
    table["dwellings_connected"] = np.nan
    table["connection_station"] = True
    routes = _routes_gdf(rows, sites.crs)
    return table, routes


def local_network_routes(
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
    # each pipe at its own DN (crossings included); the price stage scales it by pipe_cost_factor
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
