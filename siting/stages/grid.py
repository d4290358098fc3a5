"""Stage `connect_grid`: each site's power-grid connection, the first thing a data-center
developer checks.

A site needs a substation of a voltage that suits its size (`Params.grid_voltage_kv_by_mw`,
by its grid demand: IT load x PUE plus the heat pump's electricity). The stage finds the
nearest substation (or plant) of at least that voltage mapped in the extract
(:func:`siting.sources.power.substations`) and its distance: along the streets (one
multi-source search from the substations per voltage class, over street lengths; cables
follow roads) or, where no street reaches either end, in a straight line; the column
`grid_distance_basis` says which. A site farther than `grid_max_distance_m` is flagged,
not dropped. The price stage turns the distance into the grid-connection CAPEX
(`grid_connection_eur_per_mw_km`, its own CAPEX and LCOH line).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.spatial import cKDTree

from siting.config import Params
from siting.errors import RoutingError
from siting.routing import StreetGraph, route_sites
from siting.routing.search import connect_from_network
from siting.sources.power import substations

ALONG_ROADS = "along roads"
STRAIGHT_LINE = "straight line"
# the columns this stage adds to the site table
GRID_COLUMNS = [
    "grid_demand_mw",
    "grid_voltage_min_kv",
    "substation_id",
    "substation_name",
    "substation_voltage",
    "substation_voltage_kv",
    "grid_distance_m",
    "grid_distance_basis",
    "grid_straight_line_m",
    "grid_within_reach",
    "grid_flag",
]
LINE_COLUMNS = [
    "site_id",
    "substation_id",
    "substation_name",
    "substation_voltage_kv",
    "grid_distance_m",
    "grid_distance_basis",
    "geometry",
]


@dataclass
class GridConnections:
    """`connect_grid`'s output.

    Attributes
    ----------
    table : the site table with `GRID_COLUMNS`.
    lines : one line per site that found a substation, from the site to it (along the
        streets where `grid_distance_basis` says so, else straight), study CRS.
    substations : every substation and plant of the extract with `voltage_kv` (points,
        study CRS), the layer the map and report draw.
    """

    table: pd.DataFrame
    lines: gpd.GeoDataFrame
    substations: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def grid_demand_mw(table: pd.DataFrame, p: Params) -> np.ndarray:
    """A site's peak draw from the grid (MW): IT load x PUE plus its heat pump's electricity."""
    it_mw = table["it_load_mw"].to_numpy(dtype=float)
    hp_mw = table["heat_pump_mw"].to_numpy(dtype=float) if "heat_pump_mw" in table else 0.0
    cop_col = "cop_system" if "cop_system" in table else "cop"
    cop = table[cop_col].to_numpy(dtype=float) if cop_col in table else np.full(len(table), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        hp_el = np.where(np.isfinite(cop) & (cop > 0), hp_mw / cop, 0.0)
    return it_mw * p.pue + np.nan_to_num(hp_el)


def voltage_threshold_kv(demand_mw: np.ndarray, p: Params) -> np.ndarray:
    """The lowest substation voltage (kV) for each grid demand (`grid_voltage_kv_by_mw`)."""
    steps = sorted((float(mw), float(kv)) for mw, kv in p.grid_voltage_kv_by_mw.items())
    bounds = np.array([mw for mw, _ in steps])
    levels = np.array([kv for _, kv in steps])
    idx = np.searchsorted(bounds, np.asarray(demand_mw, dtype=float), side="right") - 1
    # below the smallest key: the smallest key's voltage
    return levels[np.clip(idx, 0, len(levels) - 1)]


def connect_grid(
    graph: StreetGraph,
    power: gpd.GeoDataFrame | None,
    sites: gpd.GeoDataFrame,
    table: pd.DataFrame,
    p: Params,
    max_geometries: int | None = None,
) -> GridConnections:
    """Each site's nearest substation of its voltage, its distance and its flag.

    Parameters
    ----------
    graph : the street graph (distances along it use plain street lengths).
    power : the extract's power layer in the study CRS (`Area.power`), or None.
    sites : the candidate sites (study CRS), in the order of `table`'s rows.
    table : the site table (`it_load_mw`, `heat_pump_mw`, `cop_system`).
    p : the study parameters (`grid_*`, `pue`, `max_snap_distance_m`).
    max_geometries : street routes drawn per voltage class (shortest first); the rest of
        the lines are straight (their distances are along the streets all the same).
    """
    t = table.copy()
    n = len(t)
    demand = grid_demand_mw(t, p)
    level = voltage_threshold_kv(demand, p)
    subs = substations(power) if power is not None else substations(None)
    if subs.crs is None and len(subs) == 0:
        subs = subs.set_crs(sites.crs, allow_override=True)
    xy = _points_xy(sites)
    out = {
        "sub": np.full(n, -1, dtype=np.int64),
        "dist": np.full(n, np.nan),
        "straight": np.full(n, np.nan),
        "basis": np.full(n, "", dtype=object),
    }
    geoms: list = [None] * n
    sub_xy = shapely.get_coordinates(subs.geometry.to_numpy()) if len(subs) else np.empty((0, 2))
    sub_kv = subs["voltage_kv"].to_numpy(dtype=float) if len(subs) else np.empty(0)
    lengths = None
    notes: list[str] = []
    for kv in np.unique(level):
        rows = np.flatnonzero(level == kv)
        ok = np.flatnonzero(np.nan_to_num(sub_kv, nan=-1.0) >= kv - 1e-9)
        if len(ok) == 0:
            continue
        d, j = cKDTree(sub_xy[ok]).query(xy[rows])
        out["straight"][rows] = d
        out["dist"][rows] = d
        out["sub"][rows] = ok[j]
        out["basis"][rows] = STRAIGHT_LINE
        if p.grid_distance_method != "roads":
            continue
        if lengths is None:  # cables follow the roads: plain lengths, no street-class cost
            lengths = graph.with_edge_costs(graph.edge_length_m)
        try:
            conn = connect_from_network(lengths, sub_xy[ok], p.max_snap_distance_m)
        except RoutingError:  # no substation of this class near a street: straight lines
            continue
        routed = route_sites(lengths, conn, xy[rows], p.max_snap_distance_m, max_geometries)
        hit = (routed.status == "ok") & (routed.tap >= 0)
        out["dist"][rows[hit]] = routed.length_m[hit]
        out["sub"][rows[hit]] = ok[routed.tap[hit]]
        out["basis"][rows[hit]] = ALONG_ROADS
        for i in np.flatnonzero(hit):
            geoms[rows[i]] = routed.geometry[i]
    found = out["sub"] >= 0
    sub_rows = np.maximum(out["sub"], 0)

    def sub_col(col: str, fill: object) -> np.ndarray:
        if not len(subs):
            return np.full(n, fill, dtype=object if isinstance(fill, str) else float)
        values = subs[col].to_numpy()[sub_rows]
        return np.where(found, values, fill)

    within = found & (out["dist"] <= p.grid_max_distance_m)
    t["grid_demand_mw"] = demand
    t["grid_voltage_min_kv"] = level
    t["substation_id"] = sub_col("substation_id", "")
    t["substation_name"] = sub_col("name", "")
    t["substation_voltage"] = sub_col("voltage", "")
    t["substation_voltage_kv"] = sub_col("voltage_kv", np.nan).astype(float)
    t["grid_distance_m"] = out["dist"]
    t["grid_distance_basis"] = out["basis"]
    t["grid_straight_line_m"] = out["straight"]
    t["grid_within_reach"] = within
    t["grid_flag"] = _flags(found, within, out["dist"], level, p)
    lines = _lines(t, sites, xy, sub_xy, out["sub"], geoms)
    notes += _notes(t, subs, p)
    return GridConnections(table=t, lines=lines, substations=subs, notes=notes)


def _points_xy(sites: gpd.GeoDataFrame) -> np.ndarray:
    pts = sites.geometry.representative_point()
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _flags(
    found: np.ndarray, within: np.ndarray, dist: np.ndarray, level: np.ndarray, p: Params
) -> np.ndarray:
    far = (
        "nearest substation of at least "
        + np.char.mod("%g", level)
        + " kV is "
        + np.char.mod("%.1f", np.nan_to_num(dist) / 1000.0)
        + f" km away, beyond grid_max_distance_m ({p.grid_max_distance_m / 1000:g} km)"
    )
    none = (
        "no substation of at least "
        + np.char.mod("%g", level)
        + " kV is mapped in the extract: grid connection not priced"
    )
    return np.where(~found, none, np.where(within, "", far)).astype(object)


def _lines(
    t: pd.DataFrame,
    sites: gpd.GeoDataFrame,
    xy: np.ndarray,
    sub_xy: np.ndarray,
    sub: np.ndarray,
    geoms: list,
) -> gpd.GeoDataFrame:
    rows = np.flatnonzero(sub >= 0)
    lines = [
        geoms[i] if geoms[i] is not None else shapely.LineString([xy[i], sub_xy[sub[i]]])
        for i in rows
    ]
    data = {c: t[c].to_numpy()[rows] for c in LINE_COLUMNS if c not in ("geometry",)}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(lines, crs=sites.crs), crs=sites.crs)


def _notes(t: pd.DataFrame, subs: gpd.GeoDataFrame, p: Params) -> list[str]:
    """What an analyst must know about the grid connections (no counts: the tiles of a
    tiled study must say the same thing; the ranking's columns have the numbers)."""
    if not len(subs):
        return [
            "the extract maps no power substations (power=substation): the sites' grid "
            "connections are not priced; use an extract with the power grid to compare them"
        ]
    how = (
        "along the streets where they reach both ends, else in a straight line"
        if p.grid_distance_method == "roads"
        else "in a straight line"
    )
    return [
        "power grid from OSM: each site connects to the nearest substation of the voltage its "
        f"size needs (grid_voltage_kv_by_mw), measured {how} (grid_distance_basis), at "
        f"{p.grid_connection_eur_per_mw_km:,.0f} EUR per MW per km (grid_capex_eur, "
        f"lcoh_grid_eur_per_mwh); sites farther than {p.grid_max_distance_m / 1000:g} km "
        "(grid_max_distance_m) are flagged, not dropped (grid_flag)"
    ]


__all__ = [
    "ALONG_ROADS",
    "GRID_COLUMNS",
    "STRAIGHT_LINE",
    "GridConnections",
    "connect_grid",
    "grid_demand_mw",
    "voltage_threshold_kv",
]
