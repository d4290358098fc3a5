"""Street cost graph, snapping, and one-pass routing from the heat network to every site.

The graph users see is networkx (:meth:`StreetGraph.to_networkx`, and any osmnx graph
goes in through :meth:`StreetGraph.from_networkx`); the solver works on a scipy sparse
matrix built once. Edge cost is in "equivalent metres": length x street-class
multiplier (MODEL.md §4). Trench cost per metre for a given pipe size scales every
edge alike, so ONE cost-weighted search serves every site whatever its DN.

Existing-network mode runs a single Dijkstra from a virtual super-source joined to
every network connection node (its edge weight is the stub from the pipe to the
street), which is a multi-source search with start offsets: each site then reads its
cost and walks its predecessor chain. Cost does not grow with sites x network nodes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from siting.errors import InputDataError, RoutingError
from siting.pipes import street_multiplier
from siting.sources.osm import highway_class

log = logging.getLogger(__name__)

NO_PRED = -9999  # scipy's marker for "no predecessor"
ACCESS_MULTIPLIER = 1.0  # stubs from a site/pipe to the street run over open ground [M]


@dataclass
class StreetGraph:
    """A street graph as arrays (node coordinates, edges) plus its sparse cost matrix."""

    xy: np.ndarray  # (n, 2) node coordinates in the study CRS, metres
    node_id: np.ndarray  # (n,) OSM node ids (or the networkx node keys)
    edge_u: np.ndarray  # (m,) node index
    edge_v: np.ndarray
    edge_length_m: np.ndarray
    edge_cost: np.ndarray  # equivalent metres = length x multiplier
    edge_highway: np.ndarray  # (m,) str
    edge_geometry: np.ndarray  # (m,) shapely LineStrings
    crs: object = None
    matrix: csr_array = field(init=False, repr=False)
    _edge_keys: np.ndarray = field(init=False, repr=False)
    _edge_order: np.ndarray = field(init=False, repr=False)
    _tree: cKDTree = field(init=False, repr=False)

    def __post_init__(self) -> None:
        n = len(self.xy)
        u = np.concatenate([self.edge_u, self.edge_v])
        v = np.concatenate([self.edge_v, self.edge_u])
        cost = np.concatenate([self.edge_cost, self.edge_cost])
        # scipy sums duplicate entries; keep the cheapest of parallel edges instead
        order = np.lexsort((cost, v, u))
        u, v, cost, eidx = (
            u[order],
            v[order],
            cost[order],
            np.tile(np.arange(len(self.edge_u)), 2)[order],
        )
        first = np.ones(len(u), dtype=bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        u, v, cost, eidx = u[first], v[first], cost[first], eidx[first]
        cost = np.maximum(cost, 1e-9)  # explicit zeros would read as "no edge"
        self.matrix = csr_array((cost, (u, v)), shape=(n, n))
        self._edge_keys = u.astype(np.int64) * n + v  # sorted: lexsort was by (u, v)
        self._edge_order = eidx
        self._tree = cKDTree(self.xy)

    @property
    def n_nodes(self) -> int:
        return len(self.xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_streets(
        cls,
        streets: gpd.GeoDataFrame,
        multipliers: dict[str, float] | None = None,
        excluded: tuple[str, ...] = (),
    ) -> StreetGraph:
        """Build from street segments with `u`, `v`, `highway` and line geometry (metric CRS)."""
        if streets.crs is None or not streets.crs.is_projected:
            raise InputDataError(
                "streets must be in a projected metric CRS to build the cost graph; "
                "reproject with streets.to_crs(streets.estimate_utm_crs())."
            )
        highway = highway_class(streets["highway"]) if "highway" in streets else None
        if highway is None:
            highway = np.full(len(streets), "unclassified", dtype=object)
        keep = ~np.isin(highway, list(excluded))
        streets = streets[keep]
        highway = highway[keep]
        geoms = streets.geometry.values
        if len(streets) == 0:
            raise InputDataError(
                "no street segments left after excluding "
                f"{', '.join(excluded)}; the extract has no routable streets."
            )
        # explode MultiLineStrings defensively: pyrosm gives LineStrings, osmnx too
        start = shapely.get_point(shapely.line_merge(geoms), 0)
        end = shapely.get_point(shapely.line_merge(geoms), -1)
        if "u" in streets and "v" in streets:
            u_ids = streets["u"].to_numpy()
            v_ids = streets["v"].to_numpy()
        else:  # no topology given: join segments that share exact end coordinates
            u_ids = np.array([f"{x:.3f},{y:.3f}" for x, y in shapely.get_coordinates(start)])
            v_ids = np.array([f"{x:.3f},{y:.3f}" for x, y in shapely.get_coordinates(end)])
        codes, uniques = pd.factorize(np.concatenate([u_ids, v_ids]))
        m = len(streets)
        eu, ev = codes[:m], codes[m:]
        xy = np.empty((len(uniques), 2))
        xy[eu] = shapely.get_coordinates(start)
        xy[ev] = shapely.get_coordinates(end)
        length = shapely.length(geoms)
        mult = np.asarray(street_multiplier(highway, multipliers or None), dtype=float)
        return cls(
            xy=xy,
            node_id=np.asarray(uniques),
            edge_u=eu.astype(np.int64),
            edge_v=ev.astype(np.int64),
            edge_length_m=length,
            edge_cost=length * mult,
            edge_highway=highway,
            edge_geometry=geoms,
            crs=streets.crs,
        )

    @classmethod
    def from_networkx(
        cls,
        graph: nx.Graph,
        multipliers: dict[str, float] | None = None,
        excluded: tuple[str, ...] = (),
    ) -> StreetGraph:
        """Build from a networkx/osmnx graph with node `x`, `y` (projected) and edge `highway`.

        Edge `geometry` is used when present, else a straight line between the nodes;
        `length` is recomputed from the geometry so it is in the graph's CRS units.
        """
        crs = graph.graph.get("crs")
        rows = []
        for a, b, data in graph.edges(data=True):
            geom = data.get("geometry")
            if geom is None:
                geom = shapely.LineString(
                    [
                        (graph.nodes[a]["x"], graph.nodes[a]["y"]),
                        (graph.nodes[b]["x"], graph.nodes[b]["y"]),
                    ]
                )
            rows.append((a, b, data.get("highway", "unclassified"), geom))
        if not rows:
            raise InputDataError("the street graph has no edges; nothing can be routed.")
        streets = gpd.GeoDataFrame(
            {"u": [r[0] for r in rows], "v": [r[1] for r in rows], "highway": [r[2] for r in rows]},
            geometry=[r[3] for r in rows],
            crs=crs,
        )
        return cls.from_streets(streets, multipliers, excluded)

    def to_networkx(self) -> nx.MultiGraph:
        """The graph as networkx: nodes x, y; edges length, cost, highway, geometry."""
        graph = nx.MultiGraph(crs=self.crs)
        graph.add_nodes_from(
            (int(i), {"x": float(x), "y": float(y), "osm_id": self.node_id[i]})
            for i, (x, y) in enumerate(self.xy)
        )
        graph.add_edges_from(
            (
                int(a),
                int(b),
                {"length": float(length), "cost": float(c), "highway": str(h), "geometry": g},
            )
            for a, b, length, c, h, g in zip(
                self.edge_u,
                self.edge_v,
                self.edge_length_m,
                self.edge_cost,
                self.edge_highway,
                self.edge_geometry,
                strict=True,
            )
        )
        return graph

    # ------------------------------------------------------------------ queries
    def snap(self, points_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest graph node and straight-line distance (m) for each point."""
        if len(points_xy) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        dist, idx = self._tree.query(points_xy)
        return idx.astype(np.int64), dist

    def edge_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Index of the cheapest edge joining node a[i] to b[i] (vectorised lookup)."""
        keys = np.asarray(a, dtype=np.int64) * self.n_nodes + np.asarray(b, dtype=np.int64)
        pos = np.searchsorted(self._edge_keys, keys)
        return self._edge_order[pos]


@dataclass
class Connection:
    """Result of the one-pass search from the network: per-node cost and predecessors."""

    cost: np.ndarray  # (n,) equivalent metres from the network, inf if unreachable
    pred: np.ndarray  # (n,) predecessor node, NO_PRED at a source
    source_access_m: np.ndarray  # (n,) stub length from the pipe, for source nodes
    source_point_xy: np.ndarray  # (n, 2) the network point each source node taps (NaN elsewhere)


def connect_from_network(
    graph: StreetGraph, network_points_xy: np.ndarray, max_snap_m: float
) -> Connection:
    """One multi-source Dijkstra from every network connection point over the street graph.

    Connection points farther than `max_snap_m` from any street are ignored (a pipe that
    runs away from streets cannot be tapped from them).
    """
    nodes, access = graph.snap(network_points_xy)
    ok = access <= max_snap_m
    if not ok.any():
        raise RoutingError(
            f"no point of the district-heating network lies within {max_snap_m:.0f} m of a "
            "street in the extract; check that the network and the OSM extract cover the "
            "same area (and that the network file's CRS is right)."
        )
    n = graph.n_nodes
    # cheapest stub per street node (several pipe points may snap to one node)
    stub = np.full(n, np.inf)
    np.minimum.at(stub, nodes[ok], access[ok] * ACCESS_MULTIPLIER)
    tap_xy = np.full((n, 2), np.nan)
    order = np.flatnonzero(ok)[np.argsort(-access[ok], kind="stable")]
    tap_xy[nodes[order]] = network_points_xy[order]  # the nearest point is written last
    src = np.flatnonzero(np.isfinite(stub))
    super_src = n
    coo = graph.matrix.tocoo()
    rows = np.concatenate([coo.row, np.full(len(src), super_src)])
    cols = np.concatenate([coo.col, src])
    data = np.concatenate([coo.data, np.maximum(stub[src], 1e-9)])
    matrix = coo_array((data, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    dist, pred = dijkstra(matrix, directed=True, indices=super_src, return_predecessors=True)
    pred = pred[:n].copy()
    pred[pred == super_src] = NO_PRED
    access_len = np.where(np.isfinite(stub), stub / ACCESS_MULTIPLIER, 0.0)
    return Connection(cost=dist[:n], pred=pred, source_access_m=access_len, source_point_xy=tap_xy)


def path_nodes(pred: np.ndarray, target: int) -> list[int]:
    """Nodes from the search's source to `target` (inclusive), by walking predecessors."""
    path = [int(target)]
    node = int(target)
    while pred[node] != NO_PRED:
        node = int(pred[node])
        path.append(node)
    path.reverse()
    return path


@dataclass
class Route:
    """One site's route: geometry and lengths by street class."""

    nodes: list[int]
    street_length_m: float
    street_cost_eq_m: float
    geometry: shapely.Geometry | None
    length_by_class_m: dict[str, float]


def route_along(graph: StreetGraph, nodes: list[int]) -> Route:
    """Geometry, length and cost of the street path through `nodes`."""
    if len(nodes) < 2:
        return Route(nodes, 0.0, 0.0, None, {})
    a = np.asarray(nodes[:-1])
    b = np.asarray(nodes[1:])
    edges = graph.edge_between(a, b)
    length = graph.edge_length_m[edges]
    by_class = pd.Series(length).groupby(graph.edge_highway[edges]).sum().to_dict()
    geom = shapely.line_merge(shapely.MultiLineString(list(graph.edge_geometry[edges])))
    return Route(
        nodes=nodes,
        street_length_m=float(length.sum()),
        street_cost_eq_m=float(graph.edge_cost[edges].sum()),
        geometry=geom,
        length_by_class_m={str(k): float(v) for k, v in by_class.items()},
    )


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


@dataclass
class LocalNetwork:
    """A new local network grown from one site along streets to buildings."""

    building_index: np.ndarray  # positions into the buildings table
    connected_demand_mwh_per_yr: float
    trench_length_m: float  # streets + service lines (site access excluded)
    trench_cost_eq_m: float
    geometry: shapely.Geometry | None
    first_lhd_mwh_per_m: float  # linear heat density of the first building alone


def grow_local_networks(
    graph: StreetGraph,
    site_nodes: np.ndarray,
    site_access_m: np.ndarray,
    building_nodes: np.ndarray,
    building_access_m: np.ndarray,
    building_demand_mwh: np.ndarray,
    heat_budget_mwh: np.ndarray,
    radius_eq_m: float,
    min_lhd_mwh_per_m: float,
    batch: int = 64,
) -> list[LocalNetwork]:
    """Grow a local network from each site to the buildings nearest by route cost.

    Buildings join cheapest route first; each adds the street edges its shortest path
    needs beyond the tree so far, plus its service line. Joining stops at the site's
    deliverable heat (`heat_budget_mwh`) or the search radius. The network kept is the
    longest prefix whose linear heat density (connected MWh/yr per metre of trench,
    site access included) stays at or above `min_lhd_mwh_per_m`: adding a building
    that drags the whole network below the viability line is not worth its pipe.
    Each site is screened alone: sites do not compete for buildings here (a site's
    result is what it could do if it were the one built).
    """
    out: list[LocalNetwork] = []
    has_demand = building_demand_mwh > 0
    # scipy returns dense (sites x nodes) arrays: cap a batch at ~20M cells (~240 MB)
    batch = max(1, min(batch, 20_000_000 // max(graph.n_nodes, 1)))
    for start in range(0, len(site_nodes), batch):
        chunk = site_nodes[start : start + batch]
        dist, pred = dijkstra(
            graph.matrix, directed=False, indices=chunk, return_predecessors=True, limit=radius_eq_m
        )
        for k in range(len(chunk)):
            i = start + k
            d = dist[k][building_nodes] + building_access_m * ACCESS_MULTIPLIER
            cand = np.flatnonzero(np.isfinite(d) & has_demand)
            cand = cand[np.lexsort((cand, d[cand]))]  # cheapest first, ties by position
            out.append(
                _grow_one(
                    graph,
                    pred[k],
                    cand,
                    building_nodes,
                    building_access_m,
                    building_demand_mwh,
                    float(heat_budget_mwh[i]),
                    float(site_access_m[i]),
                    min_lhd_mwh_per_m,
                )
            )
    return out


def _grow_one(
    graph: StreetGraph,
    pred: np.ndarray,
    cand: np.ndarray,
    building_nodes: np.ndarray,
    building_access_m: np.ndarray,
    building_demand_mwh: np.ndarray,
    budget_mwh: float,
    site_access_m: float,
    min_lhd: float,
) -> LocalNetwork:
    seen: set[int] = set()
    pairs: list[tuple[int, int]] = []
    n_pairs: list[int] = []  # edges in the tree after each building joins
    street_len = np.zeros(len(cand))
    street_cost = np.zeros(len(cand))
    demand = building_demand_mwh[cand]
    cum_demand = np.cumsum(demand)
    n_take = min(int(np.searchsorted(cum_demand, budget_mwh, side="left")) + 1, len(cand))
    for j in range(n_take):
        node = int(building_nodes[cand[j]])
        new: list[tuple[int, int]] = []
        while node not in seen and pred[node] != NO_PRED:
            seen.add(node)
            new.append((int(pred[node]), node))
            node = int(pred[node])
        if new:
            a, b = np.asarray(new).T
            edges = graph.edge_between(a, b)
            street_len[j] = graph.edge_length_m[edges].sum()
            street_cost[j] = graph.edge_cost[edges].sum()
        pairs.extend(new)
        n_pairs.append(len(pairs))
    trench = np.cumsum(street_len[:n_take] + building_access_m[cand[:n_take]]) + site_access_m
    lhd = cum_demand[:n_take] / np.maximum(trench, 1e-9)
    first_lhd = float(lhd[0]) if n_take else 0.0
    viable = np.flatnonzero(lhd >= min_lhd)
    if len(viable) == 0:
        return LocalNetwork(cand[:0], 0.0, 0.0, 0.0, None, first_lhd)
    keep = int(viable[-1]) + 1
    chosen = cand[:keep]
    service = building_access_m[chosen]
    kept_pairs = pairs[: n_pairs[keep - 1]]
    geom = None
    if kept_pairs:
        a, b = np.asarray(kept_pairs).T
        edges = graph.edge_between(a, b)
        geom = shapely.line_merge(shapely.MultiLineString(list(graph.edge_geometry[edges])))
    return LocalNetwork(
        building_index=chosen,
        connected_demand_mwh_per_yr=float(cum_demand[keep - 1]),
        trench_length_m=float(street_len[:keep].sum() + service.sum()),
        trench_cost_eq_m=float(street_cost[:keep].sum() + service.sum() * ACCESS_MULTIPLIER),
        geometry=geom,
        first_lhd_mwh_per_m=first_lhd,
    )


def network_connection_points(network: gpd.GeoDataFrame, spacing_m: float = 25.0) -> np.ndarray:
    """Points where a site may tap the network: pipes densified every `spacing_m`, plus plants.

    Tapping is possible anywhere along a pipe, not only at its vertices, so long
    segments are densified (segmentize) before taking their coordinates.
    """
    pipes = network[network["kind"] == "pipe"].geometry.values
    plants = network[network["kind"] != "pipe"].geometry.values
    parts = []
    if len(pipes):
        parts.append(shapely.get_coordinates(shapely.segmentize(pipes, spacing_m)))
    if len(plants):
        parts.append(shapely.get_coordinates(shapely.point_on_surface(plants)))
    return np.vstack(parts) if parts else np.empty((0, 2))
