"""Snapping points onto the street graph: onto edges (EdgeSnap), onto reachable nodes,
and the points along the heat network where a site may tap it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

if TYPE_CHECKING:
    from siting.routing.graph import StreetGraph


@dataclass
class EdgeSnap:
    """Points snapped onto street edges."""

    edge: np.ndarray  # (k,) edge index
    t: np.ndarray  # (k,) position along the edge from its u end, 0..1
    access_m: np.ndarray  # (k,) straight distance from the point to the street
    point_xy: np.ndarray  # (k, 2) the snapped point on the street


SNAP_CHUNK = 100_000  # points snapped at a time (each a shapely Point while it is)


def snap_to_lines(lines: np.ndarray, tree: shapely.STRtree, points_xy: np.ndarray) -> EdgeSnap:
    """Snap points onto the nearest of `lines` (indexed by `tree`); see `EdgeSnap`.

    `SNAP_CHUNK` points at a time: each point's snap is its own, and a Point object per
    point at once is hundreds of MB for a country's DH-area taps.
    """
    xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    if len(xy) <= SNAP_CHUNK:
        return _snap_chunk(lines, tree, xy)
    parts = [
        _snap_chunk(lines, tree, xy[i : i + SNAP_CHUNK]) for i in range(0, len(xy), SNAP_CHUNK)
    ]
    return EdgeSnap(
        *(
            np.concatenate([getattr(s, f) for s in parts])
            for f in ("edge", "t", "access_m", "point_xy")
        )
    )


def _snap_chunk(lines: np.ndarray, tree: shapely.STRtree, xy: np.ndarray) -> EdgeSnap:
    pts = shapely.points(xy)
    if len(pts) == 0:
        empty = np.empty(0)
        return EdgeSnap(empty.astype(np.int64), empty, empty, np.empty((0, 2)))
    (inp, edge), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    order = np.argsort(inp, kind="stable")
    edge, dist = edge[order].astype(np.int64), dist[order]
    t = shapely.line_locate_point(lines[edge], pts, normalized=True)
    t = np.nan_to_num(t, nan=0.0)  # zero-length edges
    proj = shapely.get_coordinates(shapely.line_interpolate_point(lines[edge], t, normalized=True))
    return EdgeSnap(edge, t, dist, proj)


def snap_to_reachable(
    graph: StreetGraph, points_xy: np.ndarray, reachable: np.ndarray, max_snap_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snap points to the nearest node; where that node is unreachable, to the nearest
    reachable node within `max_snap_m` (a site beside a cut-off service road still
    connects through the street next to it).

    Returns node index, access length (m) and a status array: "ok", "far" (no street
    within max_snap_m) or "unreachable" (no reachable street within max_snap_m).
    """
    node, dist = graph.snap(points_xy)
    status = np.where(dist > max_snap_m, "far", "ok").astype(object)
    bad = (status == "ok") & ~reachable[node]
    if bad.any():
        reach_idx = np.flatnonzero(reachable)
        if len(reach_idx):
            d2, j = cKDTree(graph.xy[reach_idx]).query(points_xy[bad])
            fix = d2 <= max_snap_m
            idx = np.flatnonzero(bad)
            node[idx[fix]] = reach_idx[j[fix]]
            dist[idx[fix]] = d2[fix]
            status[idx[~fix]] = "unreachable"
        else:
            status[bad] = "unreachable"
    return node, dist, status


def network_tap_points(
    network: gpd.GeoDataFrame, spacing_m: float = 25.0
) -> tuple[np.ndarray, np.ndarray]:
    """Points where a site may tap the network, and per point the position of its row.

    Pipes are densified every `spacing_m` (a pipe can be tapped anywhere along it, not only
    at its vertices); plants and connection points count once. The row gives the point its
    pipe's attributes (`supply_temp_c`, `capacity_mw`).
    """
    kind = network["kind"].to_numpy()
    geoms = network.geometry.values
    rows = np.arange(len(network))
    xy, owner = [], []
    pipe = kind == "pipe"
    if pipe.any():
        coords, idx = shapely.get_coordinates(
            shapely.segmentize(geoms[pipe], spacing_m), return_index=True
        )
        xy.append(coords)
        owner.append(rows[pipe][idx])
    if (~pipe).any():
        points = np.asarray(geoms[~pipe], dtype=object)
        for start in range(0, len(points), SNAP_CHUNK):  # a country's DH-area taps: in chunks
            part = points[start : start + SNAP_CHUNK]
            xy.append(shapely.get_coordinates(shapely.point_on_surface(part)))
        owner.append(rows[~pipe])
    if not xy:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    return np.vstack(xy), np.concatenate(owner).astype(np.int64)
