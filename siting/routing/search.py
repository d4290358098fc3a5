"""One-pass routing from the heat network to every site: the multi-source Dijkstra,
route lengths by pointer jumping, capacity-aware routing, and route geometry.

Existing-network mode runs a single Dijkstra from a virtual super-source joined to
every network connection node (its edge weight is the stub from the pipe to the
street), which is a multi-source search with start offsets: each site then reads its
cost and walks its predecessor chain. Cost does not grow with sites x network nodes.
Pipes with a known capacity too small for some sites add at most `MAX_CAPACITY_SEARCHES`
searches, one per capacity class of sites (:func:`route_sites_by_capacity`). Crossings
are carried as equivalent metres (:mod:`siting.routing.graph`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse import csr_array
from scipy.sparse.csgraph import dijkstra

from siting.errors import RoutingError
from siting.pipes import select_dn
from siting.routing.graph import ACCESS_MULTIPLIER, StreetGraph
from siting.routing.snapping import EdgeSnap, snap_to_lines

NO_PRED = -9999  # scipy's marker for "no predecessor"
MAX_CAPACITY_SEARCHES = 8


@dataclass
class Connection:
    """Result of the one-pass search from the network: per-node cost, length, predecessors."""

    cost: np.ndarray  # (n,) equivalent metres from the network, inf if unreachable
    length_m: np.ndarray  # (n,) metres of pipe from the network tap to the node
    pred: np.ndarray  # (n,) predecessor node, NO_PRED at a source (or unreachable)
    stub_m: np.ndarray  # (n,) of length_m, the stub from the pipe to the street at the root
    source_tap: np.ndarray  # (n,) for source nodes: index of the network point tapped, else -1
    taps: EdgeSnap  # the network points snapped onto the streets
    tap_usable: np.ndarray  # (k,) tap within max_snap_m of a street (and tappable)
    network_points_xy: np.ndarray  # (k, 2)
    crossings: np.ndarray  # (n,) motorway/rail crossings from the tap (pro rata on part edges)
    root: np.ndarray  # (n,) the source node each node's route starts from (itself if none)

    @property
    def source_access_m(self) -> np.ndarray:
        """Stub length from the pipe to the street for source nodes (0 elsewhere)."""
        out = np.zeros(len(self.cost))
        src = self.source_tap >= 0
        out[src] = self.taps.access_m[self.source_tap[src]]
        return out


def connect_from_network(
    graph: StreetGraph,
    network_points_xy: np.ndarray,
    max_snap_m: float,
    tappable: np.ndarray | None = None,
    taps: EdgeSnap | None = None,
) -> Connection:
    """One multi-source Dijkstra from every network connection point over the street graph.

    Each point is snapped onto its nearest street edge; a virtual super-source joins both
    ends of that edge with weight stub + the part of the edge to that end, so a single
    search from the super-source is a multi-source search with start offsets. Points
    farther than `max_snap_m` from any street are ignored (a pipe that runs away from
    the streets cannot be tapped from them), and so are points where `tappable` is False
    (a pipe too hot or too small; see :func:`route_sites_by_capacity`). `taps` is the
    points' snap when the caller already has it.
    """
    points = np.asarray(network_points_xy, dtype=float).reshape(-1, 2)
    if taps is None:
        taps = graph.snap_to_edges(points)
    ok = taps.access_m <= max_snap_m
    if not ok.any():
        raise RoutingError(
            f"no point of the district-heating network lies within {max_snap_m:.0f} m of a "
            "street in the extract; check that the network and the OSM extract cover the "
            "same area (and that the network file's CRS is right)."
        )
    if tappable is not None:
        ok = ok & np.asarray(tappable, dtype=bool)
        if not ok.any():
            raise RoutingError(
                "no point of the district-heating network is tappable (all too hot or too "
                "small for the sites); nothing to route from."
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
    xe = graph.edge_crossings[e]
    cand_cross = np.concatenate([t * xe, (1 - t) * xe])
    # the cheapest candidate per node (ties: the lower tap index, for determinism)
    order = np.lexsort((cand_tap, cand_cost, cand_node))
    first = np.ones(len(order), dtype=bool)
    first[1:] = cand_node[order][1:] != cand_node[order][:-1]
    best = order[first]
    src, src_cost, src_len, src_tap, src_cross = (
        cand_node[best],
        cand_cost[best],
        cand_len[best],
        cand_tap[best],
        cand_cross[best],
    )
    # the candidates go before the search (two per tap: a country's DH areas hold ~1 M taps)
    del cand_node, cand_cost, cand_len, cand_tap, cand_cross, order, first, best, e, t, stub
    super_src = n
    matrix = _with_source_row(graph.matrix, src, np.maximum(src_cost, 1e-9))
    dist, pred = dijkstra(matrix, directed=True, indices=super_src, return_predecessors=True)
    del matrix  # the graph's arrays once more: not needed past the search
    dist, pred = dist[:n], pred[:n].copy()
    is_root = pred == super_src
    pred[is_root] = NO_PRED
    source_tap = np.full(n, -1, dtype=np.int64)
    source_tap[src] = src_tap
    source_tap[~is_root] = -1  # a candidate beaten by a route through the streets
    # metres of pipe from the tap to every node, summed along the tree without a walk
    w = np.zeros(n)
    wx = np.zeros(n)
    has_pred = pred >= 0
    in_edge = graph.edge_between(pred[has_pred], np.flatnonzero(has_pred))
    w[has_pred] = graph.edge_length_m[in_edge]
    wx[has_pred] = graph.edge_crossings[in_edge]
    root_len = np.zeros(n)
    root_len[src] = src_len
    w[is_root] = root_len[is_root]
    root_cross = np.zeros(n)
    root_cross[src] = src_cross
    wx[is_root] = root_cross[is_root]
    length = accumulate_to_root(pred, w)
    crossings = accumulate_to_root(pred, wx)
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
        crossings=crossings,
        root=tree_roots(pred),
    )


def _with_source_row(matrix: csr_array, cols: np.ndarray, data: np.ndarray) -> csr_array:
    """`matrix` (n x n, CSR) with one more row and column: row n joins `cols` (ascending,
    distinct) at `data`. The CSR arrays are extended, not rebuilt through COO (a country's
    graph would be copied five times over)."""
    n = matrix.shape[0]
    itype = matrix.indices.dtype
    indptr = np.append(matrix.indptr, matrix.indptr[-1] + len(cols)).astype(itype, copy=False)
    indices = np.concatenate([matrix.indices, np.asarray(cols, dtype=itype)])
    values = np.concatenate([matrix.data, np.asarray(data, dtype=matrix.data.dtype)])
    return csr_array((values, indices, indptr), shape=(n + 1, n + 1))


def tree_roots(pred: np.ndarray) -> np.ndarray:
    """The root of each node's predecessor tree (itself for a root), by pointer jumping."""
    ptr = np.where(pred >= 0, pred, np.arange(len(pred)))
    while True:
        nxt = ptr[ptr]
        if np.array_equal(nxt, ptr):
            return ptr
        ptr = nxt


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

    status: np.ndarray  # "ok", "far" (no street within max_snap_m), "unreachable", "no_tap"
    cost_eq_m: np.ndarray  # equivalent metres, site access and network stub included
    length_m: np.ndarray  # metres of pipe from the network to the site
    street_length_m: np.ndarray  # of which along streets
    access_m: np.ndarray  # site to street
    end_node: np.ndarray  # street node where the route leaves the site's edge (-1: same edge)
    geometry: list  # LineString per site, None where not built
    length_by_class_m: list  # dict per site where the geometry was built, else None
    crossings: np.ndarray  # motorway/rail crossings on the route (pro rata on part edges)
    tap: np.ndarray  # index of the network point tapped, -1 where not routed


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
    part = np.where(use_u, snap.t, 1 - snap.t)
    length = conn.length_m[end] + part * le
    crossings = conn.crossings[end] + part * graph.edge_crossings[e]
    tap = conn.source_tap[conn.root[end]]
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
            crossings[i] = along[m] * graph.edge_crossings[e[i]]
            end[i], direct_tap[i] = -1, js[m]
            tap[i] = js[m]
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
        crossings=np.where(ok, crossings, np.nan),
        tap=np.where(ok, tap, -1),
    )


def route_sites_by_capacity(
    graph: StreetGraph,
    network_points_xy: np.ndarray,
    sites_xy: np.ndarray,
    site_peak_mw: np.ndarray,
    max_snap_m: float,
    tap_capacity_mw: np.ndarray | None = None,
    tappable: np.ndarray | None = None,
    max_geometries: int | None = None,
    delta_t_k: float = 35.0,
    max_searches: int = MAX_CAPACITY_SEARCHES,
) -> tuple[SiteRoutes, np.ndarray]:
    """:func:`route_sites` where a network pipe may only take sites it has capacity for.

    A network point is tappable where `tappable` (e.g. its pipe's supply temperature is
    within the heat pump's reach) and, for a given site, where its pipe's
    `tap_capacity_mw` is unknown (NaN) or at least the site's peak. Sites are grouped so
    that each group shares one set of feasible points, and each group gets ONE search
    from those points, so the cost stays (searches x graph), not sites x network nodes:

    - exactly, by the smallest known pipe capacity at or above each site's peak, when
      that gives at most `max_searches` groups (networks carry a few pipe classes);
    - else by the DN the site's peak needs (at most 8 standard DNs), each group searching
      from the pipes that carry the group's largest peak: slightly conservative for the
      smaller sites of a group.

    Returns the routes (status "no_tap" where no tappable point can take the site) and
    each site's search group. The cheapest `max_geometries` routes overall get lines.
    """
    xy = np.asarray(sites_xy, dtype=float).reshape(-1, 2)
    points = np.asarray(network_points_xy, dtype=float).reshape(-1, 2)
    k = len(xy)
    peak = np.nan_to_num(np.asarray(site_peak_mw, dtype=float).reshape(-1))
    cap = (
        np.full(len(points), np.nan)
        if tap_capacity_mw is None
        else np.asarray(tap_capacity_mw, dtype=float)
    )
    base = np.ones(len(points), bool) if tappable is None else np.asarray(tappable, dtype=bool)
    known = np.unique(cap[base & np.isfinite(cap)])
    slot = np.searchsorted(known, peak * (1 - 1e-12), side="left")  # known[slot] >= peak
    groups, group = np.unique(slot, return_inverse=True)
    need = np.append(known, np.inf)[groups]  # capacity a point needs for the group
    if len(groups) > max_searches:
        dn = np.asarray(select_dn(peak, delta_t_k)).reshape(-1)
        groups, group = np.unique(dn, return_inverse=True)
        need = np.array([peak[group == g].max() for g in range(len(groups))])
    taps = graph.snap_to_edges(points)
    near = taps.access_m <= max_snap_m
    if not near.any():
        connect_from_network(graph, points, max_snap_m, taps=taps)  # raises the input error
    out = SiteRoutes(
        status=np.full(k, "no_tap", dtype=object),
        cost_eq_m=np.full(k, np.nan),
        length_m=np.full(k, np.nan),
        street_length_m=np.full(k, np.nan),
        access_m=np.full(k, np.nan),
        end_node=np.full(k, -1, dtype=np.int64),
        geometry=[None] * k,
        length_by_class_m=[None] * k,
        crossings=np.full(k, np.nan),
        tap=np.full(k, -1, dtype=np.int64),
    )
    for g in range(len(groups)):
        idx = np.flatnonzero(group == g)
        mask = base & (np.isnan(cap) | (cap >= need[g] * (1 - 1e-12)))
        if not (mask & near).any():
            far = graph.snap_to_edges(xy[idx]).access_m > max_snap_m
            out.status[idx[far]] = "far"
            continue
        conn = connect_from_network(graph, points, max_snap_m, tappable=mask, taps=taps)
        r = route_sites(graph, conn, xy[idx], max_snap_m, max_geometries)
        for name in ("status", "cost_eq_m", "length_m", "street_length_m", "access_m"):
            getattr(out, name)[idx] = getattr(r, name)
        out.end_node[idx], out.crossings[idx], out.tap[idx] = r.end_node, r.crossings, r.tap
        for j, i in enumerate(idx):
            out.geometry[i], out.length_by_class_m[i] = r.geometry[j], r.length_by_class_m[j]
        del conn, r  # before the next group's search: one search tree in memory at a time
    if max_geometries is not None:  # each group drew its cheapest; keep the cheapest overall
        ok = np.flatnonzero(out.status == "ok")
        for i in ok[np.argsort(out.cost_eq_m[ok], kind="stable")][max_geometries:]:
            out.geometry[i], out.length_by_class_m[i] = None, None
    return out, group


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
        street = route_along(graph, nodes)
        parts.append(street.geometry)
        for key, metres in street.length_by_class_m.items():
            classes[key] = classes.get(key, 0.0) + metres
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
