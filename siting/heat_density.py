"""Linear heat density along streets: MWh/yr per metre of street (docs/model.md §4, DESIGN.md
mode 2).

Each heated building is served from its nearest street edge (the service pipe runs from the
footprint to that street), so an edge carries the demand of the buildings that would connect to
a main laid in it. Demand / edge length is the linear heat density; Danish and German practice
treats ~1.5 MWh/m/yr and up as worth a district-heating main.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import require_metric
from siting.errors import ConfigError, InputDataError
from siting.raster import HEAT_COLUMN
from siting.routing import StreetGraph

__all__ = [
    "MAX_SERVICE_M",
    "VIABLE_MWH_PER_M",
    "NearestEdges",
    "nearest_edges",
    "street_linear_heat_density",
]

VIABLE_MWH_PER_M = 1.5  # Params.linear_heat_density_min_mwh_per_m [M]
MAX_SERVICE_M = 100.0  # longest service pipe from a footprint to its street


@dataclass(frozen=True)
class NearestEdges:
    """The street edges nearest each building of a frame, within a service distance (every
    edge of a tie): :func:`nearest_edges`' output, which
    :func:`street_linear_heat_density` takes instead of searching again.

    Attributes
    ----------
    index : the frame's index labels.
    geometries : the frame's geometries (the same objects: a frame is checked against them).
    searched : which of them were searched (the others have no row, searched or not).
    building, edge, distance_m : one row per (building, edge) pair: the building's position
        in `index`, the edge's position in the graph, the distance in metres.
    max_service_m, n_edges : what the search was for.
    """

    index: pd.Index
    geometries: np.ndarray
    searched: np.ndarray
    building: np.ndarray
    edge: np.ndarray
    distance_m: np.ndarray
    max_service_m: float
    n_edges: int


def nearest_edges(
    streets_or_graph: gpd.GeoDataFrame | StreetGraph,
    buildings: gpd.GeoDataFrame,
    max_service_m: float = MAX_SERVICE_M,
    min_footprint_m2: float = 0.0,
) -> NearestEdges:
    """The edges nearest each building with a geometry, within `max_service_m` (footprint to
    edge, in the edges' CRS). It needs no demand, so a study runs it beside the estimate:
    the search is GEOS's, outside the GIL. Buildings of a smaller (polygon) footprint than
    `min_footprint_m2` are left out: the estimate heats none of them."""
    edges = _edges(streets_or_graph)
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    search = geoms
    if buildings.crs is not None and not buildings.crs.equals(edges.crs):
        search = np.asarray(buildings.geometry.to_crs(edges.crs).values, dtype=object)
    searched = ~shapely.is_missing(search) & ~shapely.is_empty(search)
    if min_footprint_m2 > 0:
        polygon = np.isin(shapely.get_type_id(geoms), (3, 6))
        footprint_m2 = np.where(polygon, np.nan_to_num(shapely.area(geoms), nan=0.0), 0.0)
        searched &= footprint_m2 >= min_footprint_m2
    valid = np.flatnonzero(searched)
    tree = shapely.STRtree(np.asarray(edges.geometry.values, dtype=object))
    (pos, edge), dist_m = tree.query_nearest(
        search[valid], max_distance=max_service_m, return_distance=True, all_matches=True
    )
    return NearestEdges(
        index=buildings.index,
        geometries=geoms,
        searched=searched,
        building=valid[pos],
        edge=edge,
        distance_m=dist_m,
        max_service_m=float(max_service_m),
        n_edges=len(edges),
    )


def street_linear_heat_density(
    streets_or_graph: gpd.GeoDataFrame | StreetGraph,
    buildings: gpd.GeoDataFrame,
    max_service_m: float = MAX_SERVICE_M,
    *,
    viable_mwh_per_m: float = VIABLE_MWH_PER_M,
    column: str = HEAT_COLUMN,
    nearest: NearestEdges | None = None,
) -> gpd.GeoDataFrame:
    """Annual heat demand and linear heat density of every street edge.

    Parameters
    ----------
    streets_or_graph
        Street segments (LineStrings, projected metric CRS; one row per edge) or a
        :class:`siting.routing.StreetGraph` (its edges, in its CRS).
    buildings
        Output of :func:`siting.demand.estimate` (projected metric CRS; reprojected to the
        streets' CRS if different). Buildings with ``column`` <= 0 or NaN are ignored.
    max_service_m
        A building whose footprint is farther than this from every edge is not assigned (a
        service pipe that long is not a street connection); it is counted in ``attrs``.
    viable_mwh_per_m
        Threshold for the ``viable`` column, MWh/m/yr.
    column
        Annual heat demand per building, MWh/yr.
    nearest
        :func:`nearest_edges` of these edges and of a frame `buildings`' rows come from, in
        its order and with its geometries (the estimate of it, less dropped parts): used
        instead of searching again. Anything else is searched as without it.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per edge in input order (``u``, ``v``, ``highway`` kept when present):
        ``length_m``, ``heat_demand_mwh_per_yr``, ``n_buildings``, ``dwellings`` (when the
        buildings have it), ``service_length_m`` (sum of building-to-edge distances),
        ``linear_heat_density_mwh_per_m`` (NaN for zero-length edges) and ``viable``. ``attrs``:
        ``assigned_mwh_per_yr``, ``unassigned_mwh_per_yr``, ``buildings_unassigned``,
        ``buildings_assigned``, ``max_service_m``, ``viable_mwh_per_m``.
    """
    if not (np.isfinite(max_service_m) and max_service_m >= 0):
        raise ConfigError(f"max_service_m must be >= 0 metres, got {max_service_m!r}.")
    edges = _edges(streets_or_graph)
    require_metric(buildings, "buildings")
    if column not in buildings.columns:
        raise InputDataError(
            f"buildings have no column {column!r}; run siting.demand.estimate(buildings) first."
        )
    if not buildings.crs.equals(edges.crs):
        buildings = buildings.to_crs(edges.crs)

    demand = pd.to_numeric(buildings[column], errors="coerce").to_numpy(dtype=float)
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    heated = np.isfinite(demand) & (demand > 0) & ~shapely.is_missing(geoms)
    heated &= ~shapely.is_empty(geoms)
    idx_heated = np.flatnonzero(heated)

    edge_geoms = np.asarray(edges.geometry.values, dtype=object)
    # Distance from the footprint, not the centroid: the service pipe starts at the wall, and a
    # long block's centroid can be far from the street it fronts. One edge per building, so
    # demand is never counted twice: on a tie (a footprint nearest to a node two edges share)
    # the edge whose midpoint comes first by x, then y, so the choice does not depend on the
    # order of the edges (a tile of a study holds the same edges in another order).
    found = _found_before(nearest, buildings, idx_heated, max_service_m, len(edge_geoms))
    if found is not None:
        (b_pos, e_idx), dist_m = found
    else:
        tree = shapely.STRtree(edge_geoms)
        (b_pos, e_idx), dist_m = tree.query_nearest(
            geoms[idx_heated], max_distance=max_service_m, return_distance=True, all_matches=True
        )
    if len(b_pos) > 1 and (b_pos[1:] == b_pos[:-1]).any():
        tied = np.unique(e_idx)
        mid = np.zeros((len(edge_geoms), 2))
        mid[tied] = shapely.get_coordinates(
            shapely.line_interpolate_point(edge_geoms[tied], 0.5, normalized=True)
        )
        order = np.lexsort((mid[e_idx, 1], mid[e_idx, 0], b_pos))
        b_pos, e_idx, dist_m = b_pos[order], e_idx[order], dist_m[order]
        first = np.r_[True, b_pos[1:] != b_pos[:-1]]
        b_pos, e_idx, dist_m = b_pos[first], e_idx[first], dist_m[first]
    b_idx = idx_heated[b_pos]
    n_edges = len(edges)
    heat_edge = np.bincount(e_idx, weights=demand[b_idx], minlength=n_edges)

    out = edges.copy()
    length_m = np.asarray(shapely.length(edge_geoms), dtype=float)
    out["length_m"] = length_m
    out["heat_demand_mwh_per_yr"] = heat_edge
    out["n_buildings"] = np.bincount(e_idx, minlength=n_edges).astype(np.int64)
    if "dwellings" in buildings.columns:
        dwell = pd.to_numeric(buildings["dwellings"], errors="coerce").fillna(0).to_numpy()
        out["dwellings"] = np.bincount(e_idx, weights=dwell[b_idx], minlength=n_edges).astype(
            np.int64
        )
    out["service_length_m"] = np.bincount(e_idx, weights=dist_m, minlength=n_edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        lhd = np.where(length_m > 0, heat_edge / length_m, np.nan)
    out["linear_heat_density_mwh_per_m"] = lhd
    out["viable"] = np.nan_to_num(lhd, nan=0.0) >= viable_mwh_per_m

    assigned = np.zeros(len(buildings), dtype=bool)
    assigned[b_idx] = True
    lost = heated & ~assigned
    out.attrs.update(
        assigned_mwh_per_yr=float(demand[b_idx].sum()),
        unassigned_mwh_per_yr=float(demand[lost].sum()),
        buildings_assigned=int(len(b_idx)),
        buildings_unassigned=int(lost.sum()),
        max_service_m=float(max_service_m),
        viable_mwh_per_m=float(viable_mwh_per_m),
    )
    return out


def _found_before(
    nearest: NearestEdges | None,
    buildings: gpd.GeoDataFrame,
    idx_heated: np.ndarray,
    max_service_m: float,
    n_edges: int,
) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray] | None:
    """`query_nearest`'s answer for the heated rows, taken from `nearest`; None when it is not
    of these rows (labels, order or geometries differ) or of this search."""
    if nearest is None or nearest.max_service_m != max_service_m or nearest.n_edges != n_edges:
        return None
    if not (buildings.index.is_unique and nearest.index.is_unique):
        return None
    pos = nearest.index.get_indexer(buildings.index)
    if (pos < 0).any() or (np.diff(pos) <= 0).any():  # rows it lacks, or another order
        return None
    geoms = np.asarray(buildings.geometry.values, dtype=object)
    if not all(map(operator.is_, geoms, nearest.geometries[pos])):
        return None
    if not nearest.searched[pos[idx_heated]].all():  # a heated building it left out
        return None
    # the heated rows' matches, in the order a search over them alone returns them
    rank = np.full(len(nearest.index), -1)
    rank[pos[idx_heated]] = np.arange(len(idx_heated))
    b_pos = rank[nearest.building]
    keep = b_pos >= 0
    return (b_pos[keep], nearest.edge[keep]), nearest.distance_m[keep]


def _edges(streets_or_graph: gpd.GeoDataFrame | StreetGraph) -> gpd.GeoDataFrame:
    """Street edges as a GeoDataFrame of LineStrings with a fresh RangeIndex."""
    if isinstance(streets_or_graph, StreetGraph):
        g = streets_or_graph
        edges = gpd.GeoDataFrame(
            {"u": g.edge_u, "v": g.edge_v, "highway": g.edge_highway},
            geometry=np.asarray(g.edge_geometry, dtype=object),
            crs=g.crs,
        )
        name = "street graph"
    elif isinstance(streets_or_graph, gpd.GeoDataFrame):
        edges = streets_or_graph.reset_index(drop=True)
        name = "streets"
    else:
        raise InputDataError(
            "streets_or_graph must be a GeoDataFrame of street lines or a "
            f"siting.routing.StreetGraph, got {type(streets_or_graph).__name__}."
        )
    require_metric(edges, name)
    kinds = edges.geom_type
    if len(edges) == 0 or not kinds.isin(["LineString", "MultiLineString"]).all():
        raise InputDataError(
            f"{name} must be non-empty and hold only (Multi)LineStrings; got "
            f"{sorted(set(kinds.dropna()))} in {len(edges)} rows."
        )
    return edges
