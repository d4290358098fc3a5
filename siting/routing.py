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
import shapely.ops
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
class EdgeSnap:
    """Points snapped onto street edges."""

    edge: np.ndarray  # (k,) edge index
    t: np.ndarray  # (k,) position along the edge from its u end, 0..1
    access_m: np.ndarray  # (k,) straight distance from the point to the street
    point_xy: np.ndarray  # (k, 2) the snapped point on the street


def snap_to_lines(lines: np.ndarray, tree: shapely.STRtree, points_xy: np.ndarray) -> EdgeSnap:
    """Snap points onto the nearest of `lines` (indexed by `tree`); see `EdgeSnap`."""
    pts = shapely.points(np.asarray(points_xy, dtype=float).reshape(-1, 2))
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
    _edge_tree: shapely.STRtree | None = field(init=False, repr=False, default=None)

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
        # pyrosm and osmnx give LineStrings; merge the odd MultiLineString into one line
        multi = shapely.get_type_id(geoms) == 5
        if multi.any():
            geoms = geoms.copy()
            geoms[multi] = shapely.line_merge(geoms[multi])
        start = shapely.get_point(geoms, 0)
        end = shapely.get_point(geoms, -1)
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
        # a few dozen distinct classes: look each up once, not once per edge
        classes, inverse = np.unique(highway.astype(str), return_inverse=True)
        mult = np.asarray(street_multiplier(classes, multipliers or None), dtype=float)
        mult = np.atleast_1d(mult)[inverse]
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

    def snap_to_edges(self, points_xy: np.ndarray) -> EdgeSnap:
        """Nearest street edge of each point, the point's position along it and its distance.

        Uses an STRtree over the edge lines (built once, on first use). A point may tap a
        street anywhere along an edge, not only at its nodes, which matters on graphs with
        long edges (osmnx-simplified, rural roads).
        """
        if self._edge_tree is None:
            self._edge_tree = shapely.STRtree(self.edge_geometry)
        return snap_to_lines(self.edge_geometry, self._edge_tree, points_xy)

    def edge_between(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Index of the cheapest edge joining node a[i] to b[i] (vectorised lookup)."""
        keys = np.asarray(a, dtype=np.int64) * self.n_nodes + np.asarray(b, dtype=np.int64)
        pos = np.searchsorted(self._edge_keys, keys)
        return self._edge_order[pos]


@dataclass
class Connection:
    """Result of the one-pass search from the network: per-node cost, length, predecessors."""

    cost: np.ndarray  # (n,) equivalent metres from the network, inf if unreachable
    length_m: np.ndarray  # (n,) metres of pipe from the network tap to the node
    pred: np.ndarray  # (n,) predecessor node, NO_PRED at a source (or unreachable)
    stub_m: np.ndarray  # (n,) of length_m, the stub from the pipe to the street at the root
    source_tap: np.ndarray  # (n,) for source nodes: index of the network point tapped, else -1
    taps: EdgeSnap  # the network points snapped onto the streets
    tap_usable: np.ndarray  # (k,) tap within max_snap_m of a street
    network_points_xy: np.ndarray  # (k, 2)

    @property
    def source_access_m(self) -> np.ndarray:
        """Stub length from the pipe to the street for source nodes (0 elsewhere)."""
        out = np.zeros(len(self.cost))
        src = self.source_tap >= 0
        out[src] = self.taps.access_m[self.source_tap[src]]
        return out


def connect_from_network(
    graph: StreetGraph, network_points_xy: np.ndarray, max_snap_m: float
) -> Connection:
    """One multi-source Dijkstra from every network connection point over the street graph.

    Each point is snapped onto its nearest street edge; a virtual super-source joins both
    ends of that edge with weight stub + the part of the edge to that end, so a single
    search from the super-source is a multi-source search with start offsets. Points
    farther than `max_snap_m` from any street are ignored (a pipe that runs away from
    the streets cannot be tapped from them).
    """
    points = np.asarray(network_points_xy, dtype=float).reshape(-1, 2)
    taps = graph.snap_to_edges(points)
    ok = taps.access_m <= max_snap_m
    if not ok.any():
        raise RoutingError(
            f"no point of the district-heating network lies within {max_snap_m:.0f} m of a "
            "street in the extract; check that the network and the OSM extract cover the "
            "same area (and that the network file's CRS is right)."
        )
    n = graph.n_nodes
    j = np.flatnonzero(ok)
    e = taps.edge[j]
    stub = taps.access_m[j] * ACCESS_MULTIPLIER
    t = taps.t[j]
    cand_node = np.concatenate([graph.edge_u[e], graph.edge_v[e]])
    cand_cost = np.concatenate([stub + t * graph.edge_cost[e], stub + (1 - t) * graph.edge_cost[e]])
    cand_len = np.concatenate(
        [
            taps.access_m[j] + t * graph.edge_length_m[e],
            taps.access_m[j] + (1 - t) * graph.edge_length_m[e],
        ]
    )
    cand_tap = np.concatenate([j, j])
    # the cheapest candidate per node (ties: the lower tap index, for determinism)
    order = np.lexsort((cand_tap, cand_cost, cand_node))
    first = np.ones(len(order), dtype=bool)
    first[1:] = cand_node[order][1:] != cand_node[order][:-1]
    best = order[first]
    src, src_cost, src_len, src_tap = (
        cand_node[best],
        cand_cost[best],
        cand_len[best],
        cand_tap[best],
    )
    super_src = n
    coo = graph.matrix.tocoo()
    rows = np.concatenate([coo.row, np.full(len(src), super_src)])
    cols = np.concatenate([coo.col, src])
    data = np.concatenate([coo.data, np.maximum(src_cost, 1e-9)])
    matrix = coo_array((data, (rows, cols)), shape=(n + 1, n + 1)).tocsr()
    dist, pred = dijkstra(matrix, directed=True, indices=super_src, return_predecessors=True)
    dist, pred = dist[:n], pred[:n].copy()
    is_root = pred == super_src
    pred[is_root] = NO_PRED
    source_tap = np.full(n, -1, dtype=np.int64)
    source_tap[src] = src_tap
    source_tap[~is_root] = -1  # a candidate beaten by a route through the streets
    # metres of pipe from the tap to every node, summed along the tree without a walk
    w = np.zeros(n)
    has_pred = pred >= 0
    w[has_pred] = graph.edge_length_m[graph.edge_between(pred[has_pred], np.flatnonzero(has_pred))]
    root_len = np.zeros(n)
    root_len[src] = src_len
    w[is_root] = root_len[is_root]
    length = accumulate_to_root(pred, w)
    length[~np.isfinite(dist)] = np.nan
    stub_at_root = np.zeros(n)
    roots = np.flatnonzero(source_tap >= 0)
    stub_at_root[roots] = taps.access_m[source_tap[roots]]
    stub_m = accumulate_to_root(pred, stub_at_root)
    return Connection(
        cost=dist,
        length_m=length,
        pred=pred,
        stub_m=stub_m,
        source_tap=source_tap,
        taps=taps,
        tap_usable=ok,
        network_points_xy=points,
    )


def accumulate_to_root(pred: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Sum `weight` over each node's path to its tree root, by pointer jumping.

    O(n log depth) numpy work instead of a Python walk per node: after each round a node
    holds the sum over the next 2^k ancestors and points past them.
    """
    n = len(pred)
    ptr = np.append(np.where(pred >= 0, pred, n), n)  # n is a sentinel with weight 0
    acc = np.append(np.asarray(weight, dtype=float), 0.0)
    while True:
        live = ptr[:n] != n
        if not live.any():
            return acc[:n]
        acc = acc + acc[ptr]
        ptr = ptr[ptr]


@dataclass
class SiteRoutes:
    """Every site's connection to the network (arrays over sites)."""

    status: np.ndarray  # "ok", "far" (no street within max_snap_m), "unreachable"
    cost_eq_m: np.ndarray  # equivalent metres, site access and network stub included
    length_m: np.ndarray  # metres of pipe from the network to the site
    street_length_m: np.ndarray  # of which along streets
    access_m: np.ndarray  # site to street
    end_node: np.ndarray  # street node where the route leaves the site's edge (-1: same edge)
    geometry: list  # LineString per site, None where not built
    length_by_class_m: list  # dict per site where the geometry was built, else None


def route_sites(
    graph: StreetGraph,
    conn: Connection,
    sites_xy: np.ndarray,
    max_snap_m: float,
    max_geometries: int | None = None,
) -> SiteRoutes:
    """Cost, length and (for the cheapest `max_geometries`) geometry of every site's route.

    A site snaps onto its nearest street edge and leaves it by the cheaper end; if that
    edge cannot reach the network, the nearest reachable edge within `max_snap_m` is
    used instead (a plot beside a cut-off service road still connects through the street
    next to it). Costs and lengths for all sites are array lookups into the one search;
    only the drawn routes walk their predecessor chains.
    """
    xy = np.asarray(sites_xy, dtype=float).reshape(-1, 2)
    k = len(xy)
    snap = graph.snap_to_edges(xy)
    reach_node = np.isfinite(conn.cost)
    reach_edge = reach_node[graph.edge_u] | reach_node[graph.edge_v]
    status = np.where(snap.access_m > max_snap_m, "far", "ok").astype(object)
    bad = (status == "ok") & ~reach_edge[snap.edge]
    if bad.any():
        usable = np.flatnonzero(reach_edge)
        if len(usable):
            lines = graph.edge_geometry[usable]
            alt = snap_to_lines(lines, shapely.STRtree(lines), xy[bad])
            fix = alt.access_m <= max_snap_m
            idx = np.flatnonzero(bad)
            snap.edge[idx[fix]] = usable[alt.edge[fix]]
            snap.t[idx[fix]] = alt.t[fix]
            snap.access_m[idx[fix]] = alt.access_m[fix]
            snap.point_xy[idx[fix]] = alt.point_xy[fix]
            status[idx[~fix]] = "unreachable"
        else:
            status[bad] = "unreachable"
    e = snap.edge
    u, v = graph.edge_u[e], graph.edge_v[e]
    ce, le = graph.edge_cost[e], graph.edge_length_m[e]
    via_u = conn.cost[u] + snap.t * ce
    via_v = conn.cost[v] + (1 - snap.t) * ce
    use_u = via_u <= via_v
    end = np.where(use_u, u, v)
    cost = np.where(use_u, via_u, via_v)
    part_len = np.where(use_u, snap.t * le, (1 - snap.t) * le)
    length = conn.length_m[end] + part_len
    stub = conn.stub_m[end]
    # a tap on the site's own edge: straight along the edge, not out to a node and back
    direct_tap = np.full(k, -1, dtype=np.int64)
    usable = np.flatnonzero(conn.tap_usable)
    tap_edge = conn.taps.edge[usable]
    by_edge = np.argsort(tap_edge, kind="stable")
    lo = np.searchsorted(tap_edge[by_edge], e, "left")
    hi = np.searchsorted(tap_edge[by_edge], e, "right")
    for i in np.flatnonzero(hi > lo):  # only sites that share an edge with a tap
        js = usable[by_edge[lo[i] : hi[i]]]
        along = np.abs(snap.t[i] - conn.taps.t[js])
        c = conn.taps.access_m[js] * ACCESS_MULTIPLIER + along * ce[i]
        m = int(np.argmin(c))
        if c[m] < cost[i]:
            cost[i] = c[m]
            stub[i] = conn.taps.access_m[js[m]]
            length[i] = stub[i] + along[m] * le[i]
            end[i], direct_tap[i] = -1, js[m]
    ok = status == "ok"
    cost = np.where(ok, cost + snap.access_m * ACCESS_MULTIPLIER, np.nan)
    street = np.where(ok, length - stub, np.nan)
    length = np.where(ok, length + snap.access_m, np.nan)
    geoms: list = [None] * k
    by_class: list = [None] * k
    order = np.flatnonzero(ok)[np.argsort(cost[ok], kind="stable")]
    for i in order[: len(order) if max_geometries is None else max_geometries]:
        geoms[i], by_class[i] = _route_geometry(
            graph, conn, snap, int(i), int(end[i]), int(direct_tap[i]), xy[i]
        )
    return SiteRoutes(
        status=status,
        cost_eq_m=cost,
        length_m=length,
        street_length_m=street,
        access_m=np.where(ok, snap.access_m, np.nan),
        end_node=np.where(ok, end, -1),
        geometry=geoms,
        length_by_class_m=by_class,
    )


def _partial_edge(graph: StreetGraph, edge: int, t0: float, t1: float) -> shapely.LineString:
    """The part of an edge between fractions t0 and t1 (measured from its u end)."""
    line = graph.edge_geometry[edge]
    lo, hi = min(t0, t1), max(t0, t1)
    return shapely.ops.substring(line, lo, hi, normalized=True)


def _route_geometry(
    graph: StreetGraph,
    conn: Connection,
    snap: EdgeSnap,
    i: int,
    end: int,
    direct_tap: int,
    site_xy: np.ndarray,
) -> tuple[shapely.Geometry, dict[str, float]]:
    """Line from the network tap along the streets to the site, and metres by street class."""
    classes: dict[str, float] = {}

    def add(edge: int, metres: float) -> None:
        key = str(graph.edge_highway[edge])
        classes[key] = classes.get(key, 0.0) + float(metres)

    e, t = int(snap.edge[i]), float(snap.t[i])
    parts = []
    if direct_tap >= 0:
        j = direct_tap
        parts.append(shapely.LineString([conn.network_points_xy[j], conn.taps.point_xy[j]]))
        parts.append(_partial_edge(graph, e, float(conn.taps.t[j]), t))
        add(e, abs(t - conn.taps.t[j]) * graph.edge_length_m[e])
    else:
        nodes = path_nodes(conn.pred, end)
        root = nodes[0]
        j = int(conn.source_tap[root])
        ej = int(conn.taps.edge[j])
        t_root = 0.0 if graph.edge_u[ej] == root else 1.0
        parts.append(shapely.LineString([conn.network_points_xy[j], conn.taps.point_xy[j]]))
        parts.append(_partial_edge(graph, ej, float(conn.taps.t[j]), t_root))
        add(ej, abs(t_root - conn.taps.t[j]) * graph.edge_length_m[ej])
        if len(nodes) > 1:
            edges = graph.edge_between(np.asarray(nodes[:-1]), np.asarray(nodes[1:]))
            parts.extend(graph.edge_geometry[edges])
            for edge in edges:
                add(int(edge), graph.edge_length_m[edge])
        t_end = 0.0 if graph.edge_u[e] == end else 1.0
        parts.append(_partial_edge(graph, e, t_end, t))
        add(e, abs(t - t_end) * graph.edge_length_m[e])
    parts.append(shapely.LineString([snap.point_xy[i], site_xy]))
    parts = [g for g in parts if g is not None and not g.is_empty and g.length > 0]
    if not parts:
        return shapely.LineString([site_xy, site_xy]), classes
    return shapely.line_merge(shapely.MultiLineString(parts)), classes


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
