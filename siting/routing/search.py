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
Pipes with a known capacity too small for some sites add at most `MAX_CAPACITY_SEARCHES`
searches, one per capacity class of sites (:func:`route_sites_by_capacity`).

Crossings: a street edge that geometrically crosses a motorway/trunk or a railway line
(a bridge or tunnel: the lines cross without sharing a node) carries a fixed cost per
crossing, `Params.crossing_cost_eur`. Because one search serves every DN, the search
carries it in equivalent metres of a reference trench, the Hotmaps trench cost at
`CROSSING_REFERENCE_MW` (9.8 MW, 357 EUR/m, about the peak of the default 5 MW IT
site): `crossing_eq_m = crossing_cost_eur / 357`. The economics then price each route's
crossings at their EUR, not at the site's trench cost per metre.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import networkx as nx
import numpy as np
import pandas as pd
import shapely
import shapely.ops
from scipy.sparse import coo_array, csr_array
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from siting.area import require_metric
from siting.errors import InputDataError, RoutingError
from siting.pipes import select_dn, street_multiplier, trench_cost_eur_per_m
from siting.sources.osm import highway_class

log = logging.getLogger(__name__)

NO_PRED = -9999  # scipy's marker for "no predecessor"
ACCESS_MULTIPLIER = 1.0  # stubs from a site/pipe to the street run over open ground [M]
# crossings (module docstring): barriers, the reference trench, and how near two crossings of
# one street edge must be to count once (the two tracks of a railway, a dual carriageway)
BARRIER_HIGHWAYS = ("motorway", "motorway_link", "trunk", "trunk_link")
CROSSING_REFERENCE_MW = 9.8  # Hotmaps table row [V S28]
CROSSING_REFERENCE_EUR_PER_M = float(trench_cost_eur_per_m(CROSSING_REFERENCE_MW))  # 357
CROSSING_MERGE_M = 30.0
MAX_CAPACITY_SEARCHES = 8


def crossing_eq_m(crossing_cost_eur: float) -> float:
    """A crossing's cost in equivalent metres of the reference trench (module docstring)."""
    return float(crossing_cost_eur) / CROSSING_REFERENCE_EUR_PER_M


def count_crossings(
    geoms: np.ndarray,
    highway: np.ndarray,
    railways: np.ndarray | None = None,
    merge_m: float = CROSSING_MERGE_M,
) -> np.ndarray:
    """Crossings of motorway/trunk edges and railway lines per street edge (int array).

    A crossing is geometric (shapely "crosses": the lines meet in their interiors without
    sharing a node), so a side street that joins a trunk road at a junction does not cross
    it, and neither does a street that meets a railway at a level crossing node (the OSM
    street is split there; it *touches* the rail line). Crossings of one edge closer than
    `merge_m` along it count once (parallel tracks, dual carriageways). One STRtree query
    for all edges.
    """
    geoms = np.asarray(geoms, dtype=object)
    parts = [geoms[np.isin(np.asarray(highway, dtype=str), BARRIER_HIGHWAYS)]]
    if railways is not None and len(railways):
        parts.append(np.asarray(railways, dtype=object))
    barriers = np.concatenate(parts)
    out = np.zeros(len(geoms), dtype=np.int64)
    if len(barriers) == 0 or len(geoms) == 0:
        return out
    inp, hit = shapely.STRtree(barriers).query(geoms, predicate="crosses")
    if len(inp) == 0:
        return out
    where = shapely.intersection(geoms[inp], barriers[hit])
    pts, pair = shapely.get_parts(where, return_index=True)
    is_pt = shapely.get_type_id(pts) == 0
    pts, edge = pts[is_pt], inp[pair[is_pt]]
    pos = shapely.line_locate_point(geoms[edge], pts)
    order = np.lexsort((pos, edge))
    edge, pos = edge[order], pos[order]
    new = np.ones(len(edge), dtype=bool)
    new[1:] = (edge[1:] != edge[:-1]) | (np.diff(pos) > merge_m)
    return np.bincount(edge[new], minlength=len(geoms)).astype(np.int64)


@dataclass
class EdgeSnap:
    """Points snapped onto street edges."""

    edge: np.ndarray  # (k,) edge index
    t: np.ndarray  # (k,) position along the edge from its u end, 0..1
    access_m: np.ndarray  # (k,) straight distance from the point to the street
    point_xy: np.ndarray  # (k, 2) the snapped point on the street


def _crs_wkt(crs: object) -> str:
    import pyproj

    return pyproj.CRS.from_user_input(crs).to_wkt()


def _crs_from_wkt(wkt: str) -> object:
    import pyproj

    return pyproj.CRS.from_wkt(wkt)


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
    edge_crossings: np.ndarray | None = None  # (m,) motorway/rail crossings (in edge_cost)
    crossing_eq_m: float = 0.0  # equivalent metres added per crossing
    matrix: csr_array = field(init=False, repr=False)
    _edge_keys: np.ndarray = field(init=False, repr=False)
    _edge_order: np.ndarray = field(init=False, repr=False)
    _tree: cKDTree = field(init=False, repr=False)
    _edge_tree: shapely.STRtree | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.edge_crossings is None:
            self.edge_crossings = np.zeros(len(self.edge_u), dtype=np.int64)
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

    @property
    def edge_base_cost(self) -> np.ndarray:
        """Edge cost without crossings: length x street-class multiplier (equivalent m)."""
        return self.edge_cost - self.edge_crossings * self.crossing_eq_m

    # ------------------------------------------------------------------ disk form
    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays (no pickles) that :meth:`from_arrays` rebuilds the graph from."""
        geoms = self.edge_geometry
        node_id = np.asarray(self.node_id)
        if node_id.dtype == object:
            try:
                node_id = node_id.astype(np.int64)
            except (TypeError, ValueError):
                node_id = node_id.astype(str)
        out = {
            "xy": self.xy,
            "node_id": node_id,
            "edge_u": self.edge_u,
            "edge_v": self.edge_v,
            "edge_length_m": self.edge_length_m,
            "edge_cost": self.edge_cost,
            "edge_highway": np.asarray(self.edge_highway, dtype=str),
            "edge_crossings": self.edge_crossings,
            "crossing_eq_m": np.float64(self.crossing_eq_m),
            "crs": np.str_("" if self.crs is None else _crs_wkt(self.crs)),
        }
        if (shapely.get_type_id(geoms) == 1).all():  # LineStrings: coordinates + offsets
            coords, index = shapely.get_coordinates(geoms, return_index=True)
            out["geom_coords"] = coords
            out["geom_index"] = index.astype(np.int64)
        else:
            wkb = shapely.to_wkb(geoms)
            out["geom_wkb"] = np.frombuffer(b"".join(wkb), dtype=np.uint8)
            out["geom_wkb_len"] = np.fromiter((len(b) for b in wkb), np.int64, len(wkb))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> StreetGraph:
        """Inverse of :meth:`to_arrays` (raises KeyError/ValueError on a damaged set)."""
        m = len(arrays["edge_u"])
        if "geom_coords" in arrays:
            geoms = shapely.linestrings(arrays["geom_coords"], indices=arrays["geom_index"])
        else:
            buf = arrays["geom_wkb"].tobytes()
            ends = np.cumsum(arrays["geom_wkb_len"])
            starts = ends - arrays["geom_wkb_len"]
            geoms = shapely.from_wkb([buf[a:b] for a, b in zip(starts, ends, strict=True)])
        geoms = np.asarray(geoms, dtype=object)
        if len(geoms) != m:
            raise ValueError(f"{len(geoms)} edge geometries for {m} edges")
        crs = str(arrays["crs"])
        node_id = arrays["node_id"]
        return cls(
            xy=arrays["xy"],
            node_id=node_id.astype(object) if node_id.dtype.kind == "U" else node_id,
            edge_u=arrays["edge_u"],
            edge_v=arrays["edge_v"],
            edge_length_m=arrays["edge_length_m"],
            edge_cost=arrays["edge_cost"],
            edge_highway=arrays["edge_highway"].astype(object),
            edge_geometry=geoms,
            crs=_crs_from_wkt(crs) if crs else None,
            edge_crossings=arrays["edge_crossings"],
            crossing_eq_m=float(arrays["crossing_eq_m"]),
        )

    # ------------------------------------------------------------------ building
    @classmethod
    def from_streets(
        cls,
        streets: gpd.GeoDataFrame,
        multipliers: dict[str, float] | None = None,
        excluded: tuple[str, ...] = (),
        railways: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
        crossing_cost_eur: float = 0.0,
    ) -> StreetGraph:
        """Build from street segments with `u`, `v`, `highway` and line geometry (metric CRS).

        `railways` (lines, reprojected to the streets' CRS) and the streets' own
        motorway/trunk edges are the barriers of :func:`count_crossings`; every crossing
        adds `crossing_cost_eur` as equivalent metres (:func:`crossing_eq_m`) to its edge.
        """
        require_metric(streets, "streets")
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
        rail = None
        if railways is not None and len(railways):
            rail = gpd.GeoSeries(
                railways.geometry if isinstance(railways, gpd.GeoDataFrame) else railways
            )
            rail = rail.to_crs(streets.crs).values if rail.crs is not None else rail.values
        crossings = count_crossings(geoms, highway, rail)
        ceq = crossing_eq_m(crossing_cost_eur)
        return cls(
            xy=xy,
            node_id=np.asarray(uniques),
            edge_u=eu.astype(np.int64),
            edge_v=ev.astype(np.int64),
            edge_length_m=length,
            edge_cost=length * mult + crossings * ceq,
            edge_highway=highway,
            edge_geometry=geoms,
            crs=streets.crs,
            edge_crossings=crossings,
            crossing_eq_m=ceq,
        )

    @classmethod
    def from_networkx(
        cls,
        graph: nx.Graph,
        multipliers: dict[str, float] | None = None,
        excluded: tuple[str, ...] = (),
        railways: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
        crossing_cost_eur: float = 0.0,
        to_crs: Any = None,
    ) -> StreetGraph:
        """Build from a networkx/osmnx graph: node `x`, `y`, edge `highway` (and `geometry`).

        Any osmnx graph works, projected or not: `graph.graph["crs"]` says where the
        coordinates are, and a graph in degrees is projected to `to_crs` (default: its local
        UTM zone). Edge `geometry` is used when present (turned to run from `u` to `v`),
        else a straight line between the nodes; lengths are recomputed in metres.
        """
        crs = graph.graph.get("crs")
        rows = []
        for a, b, data in graph.edges(data=True):
            start = (graph.nodes[a]["x"], graph.nodes[a]["y"])
            geom = data.get("geometry")
            if geom is None:
                geom = shapely.LineString([start, (graph.nodes[b]["x"], graph.nodes[b]["y"])])
            elif shapely.distance(shapely.get_point(geom, -1), shapely.Point(start)) < (
                shapely.distance(shapely.get_point(geom, 0), shapely.Point(start))
            ):
                geom = shapely.reverse(geom)  # the node ids carry the topology
            rows.append((a, b, data.get("highway", "unclassified"), geom))
        if not rows:
            raise InputDataError("the street graph has no edges; nothing can be routed.")
        streets = gpd.GeoDataFrame(
            {"u": [r[0] for r in rows], "v": [r[1] for r in rows], "highway": [r[2] for r in rows]},
            geometry=[r[3] for r in rows],
            crs=crs,
        )
        if streets.crs is None:
            raise InputDataError(
                "the networkx graph has no CRS (graph.graph['crs']); osmnx graphs carry one, "
                "set it for your own graph (e.g. G.graph['crs'] = 'EPSG:4326')."
            )
        if to_crs is not None or not streets.crs.is_projected:
            streets = streets.to_crs(to_crs or streets.estimate_utm_crs())
        return cls.from_streets(streets, multipliers, excluded, railways, crossing_cost_eur)

    def to_networkx(self) -> nx.MultiGraph:
        """The graph as networkx: nodes x, y; edges length, cost, highway, crossings, geometry."""
        graph = nx.MultiGraph(crs=self.crs)
        graph.add_nodes_from(
            (int(i), {"x": float(x), "y": float(y), "osm_id": self.node_id[i]})
            for i, (x, y) in enumerate(self.xy)
        )
        graph.add_edges_from(
            (
                int(a),
                int(b),
                {
                    "length": float(length),
                    "cost": float(c),
                    "highway": str(h),
                    "crossings": int(x),
                    "geometry": g,
                },
            )
            for a, b, length, c, h, x, g in zip(
                self.edge_u,
                self.edge_v,
                self.edge_length_m,
                self.edge_cost,
                self.edge_highway,
                self.edge_crossings,
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
    # pipe sizing (when building peaks are given): metres of trench by DN, site access
    # included, and the pipe CAPEX with every edge priced at its own DN's trench cost
    trench_by_dn_m: dict[int, float] = field(default_factory=dict)
    pipe_capex_eur: float = float("nan")
    crossings: int = 0
    tree_pairs: list = field(default_factory=list, repr=False)  # (pred, node) street edges


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
    building_peak_mw: np.ndarray | None = None,
    site_peak_mw: np.ndarray | None = None,
    delta_t_k: float = 35.0,
) -> list[LocalNetwork]:
    """Grow a local network from each site to the buildings nearest by route cost.

    Buildings join cheapest route first; each adds the street edges its shortest path
    needs beyond the tree so far, plus its service line. Joining stops at the site's
    deliverable heat (`heat_budget_mwh`) or the search radius. The network kept is the
    longest prefix whose linear heat density (connected MWh/yr per metre of trench,
    site access included) stays at or above `min_lhd_mwh_per_m`: adding a building
    that drags the whole network below the viability line is not worth its pipe.
    Each site is screened alone: sites do not compete for buildings here (a site's
    result is what it could do if it were the one built). Two nearby sites may both
    count the same buildings; their results are alternatives, not a sum, and buildings
    are not shared out between them.

    With `building_peak_mw`, every pipe of the kept tree is sized (:func:`select_dn`,
    `delta_t_k`) for the peak of the buildings downstream of it (no simultaneity factor:
    conservative), capped at the site's `site_peak_mw`; each service line for its own
    building, the site's access line for the whole network. `trench_by_dn_m` and
    `pipe_capex_eur` (trench cost per metre at each pipe's own carried peak x street
    multiplier, plus crossings at their EUR) follow from that.
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
            net = _grow_one(
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
            if building_peak_mw is not None and len(net.building_index):
                cap = np.inf if site_peak_mw is None else float(site_peak_mw[i])
                _size_local_network(
                    graph,
                    net,
                    pred[k],
                    dist[k],
                    building_nodes,
                    building_access_m,
                    np.asarray(building_peak_mw, dtype=float),
                    cap,
                    float(site_access_m[i]),
                    delta_t_k,
                )
            out.append(net)
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
    net = LocalNetwork(
        building_index=chosen,
        connected_demand_mwh_per_yr=float(cum_demand[keep - 1]),
        trench_length_m=float(street_len[:keep].sum() + service.sum()),
        trench_cost_eq_m=float(street_cost[:keep].sum() + service.sum() * ACCESS_MULTIPLIER),
        geometry=geom,
        first_lhd_mwh_per_m=first_lhd,
    )
    net.tree_pairs = kept_pairs
    return net


def _size_local_network(
    graph: StreetGraph,
    net: LocalNetwork,
    pred: np.ndarray,
    dist: np.ndarray,
    building_nodes: np.ndarray,
    building_access_m: np.ndarray,
    building_peak_mw: np.ndarray,
    cap_mw: float,
    site_access_m: float,
    delta_t_k: float,
) -> None:
    """DN of every pipe of a grown network by its downstream peak; trench by DN; CAPEX."""
    pairs = net.tree_pairs
    chosen = net.building_index
    peaks = building_peak_mw[chosen]
    lengths, base_cost, crossings, carried = [], [], [], []
    if pairs:
        a, b = (np.asarray(x, dtype=np.int64) for x in np.asarray(pairs).T)
        edges = graph.edge_between(a, b)
        # peak landing on each tree node: the buildings attached there
        order = np.argsort(b)
        b_sorted = b[order]
        load = np.zeros(len(b))
        bn = building_nodes[chosen]
        pos = np.searchsorted(b_sorted, bn)
        hit = (pos < len(b)) & (b_sorted[np.minimum(pos, len(b) - 1)] == bn)
        np.add.at(load, order[pos[hit]], peaks[hit])
        ppos = np.searchsorted(b_sorted, a)
        parent = np.where(
            (ppos < len(b)) & (b_sorted[np.minimum(ppos, len(b) - 1)] == a),
            order[np.minimum(ppos, len(b) - 1)],
            -1,
        )
        # deepest first (Dijkstra distance grows along every tree path): pass loads up
        for i in np.argsort(-dist[b], kind="stable"):
            if parent[i] >= 0:
                load[parent[i]] += load[i]
        lengths.append(graph.edge_length_m[edges])
        base_cost.append(graph.edge_base_cost[edges])
        crossings.append(graph.edge_crossings[edges])
        carried.append(load)
    service = building_access_m[chosen]
    lengths += [service, np.array([site_access_m])]
    base_cost += [service * ACCESS_MULTIPLIER, np.array([site_access_m * ACCESS_MULTIPLIER])]
    crossings += [np.zeros(len(service)), np.zeros(1)]
    carried += [peaks, np.array([peaks.sum()])]
    length = np.concatenate(lengths)
    carried_mw = np.minimum(np.concatenate(carried), cap_mw)
    dn = np.asarray(select_dn(carried_mw, delta_t_k)).reshape(-1)
    eur_per_m = np.asarray(trench_cost_eur_per_m(carried_mw), dtype=float).reshape(-1)
    n_cross = np.concatenate(crossings)
    net.pipe_capex_eur = float(
        (np.concatenate(base_cost) * eur_per_m).sum()
        + n_cross.sum() * graph.crossing_eq_m * CROSSING_REFERENCE_EUR_PER_M
    )
    net.crossings = int(n_cross.sum())
    by_dn = pd.Series(length).groupby(dn).sum()
    net.trench_by_dn_m = {int(k): float(v) for k, v in by_dn.items() if v > 0}


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
        xy.append(shapely.get_coordinates(shapely.point_on_surface(geoms[~pipe])))
        owner.append(rows[~pipe])
    if not xy:
        return np.empty((0, 2)), np.empty(0, dtype=np.int64)
    return np.vstack(xy), np.concatenate(owner).astype(np.int64)
