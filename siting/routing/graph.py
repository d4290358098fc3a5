"""The street cost graph: StreetGraph built from street segments or a networkx/osmnx
graph, its crossings of motorways and railways, and its plain-array disk form.

The graph users see is networkx (:meth:`StreetGraph.to_networkx`, and any osmnx graph
goes in through :meth:`StreetGraph.from_networkx`); the solver works on a scipy sparse
matrix built once. Edge cost is in "equivalent metres": length x street-class
multiplier (docs/model.md §4). Trench cost per metre for a given pipe size scales every
edge alike, so ONE cost-weighted search serves every site whatever its DN.

Crossings: a street edge that geometrically crosses a motorway/trunk or a railway line
(a bridge or tunnel: the lines cross without sharing a node) carries a fixed cost per
crossing, `Params.crossing_cost_eur`. Because one search serves every DN, the search
carries it in equivalent metres of a reference trench, the Hotmaps trench cost at
`CROSSING_REFERENCE_MW` (9.8 MW, 357 EUR/m, about the peak of the default 5 MW IT
site): `crossing_eq_m = crossing_cost_eur / 357`. The economics then price each route's
crossings at their EUR, not at the site's trench cost per metre.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import csr_array
from scipy.spatial import cKDTree

from siting.area import require_metric
from siting.errors import InputDataError
from siting.grids import area_crs
from siting.pipes import street_multiplier, trench_cost_eur_per_m
from siting.routing.snapping import EdgeSnap, snap_to_lines
from siting.sources.osm import highway_class

if TYPE_CHECKING:  # networkx (~60 ms) loads only when a graph goes in or out as networkx
    import networkx as nx

ACCESS_MULTIPLIER = 1.0  # stubs from a site/pipe to the street run over open ground [M]
# crossings (module docstring): barriers, the reference trench, and how near two crossings of
# one street edge must be to count once (the two tracks of a railway, a dual carriageway)
BARRIER_HIGHWAYS = ("motorway", "motorway_link", "trunk", "trunk_link")
CROSSING_REFERENCE_MW = 9.8  # Hotmaps table row [V S28]
CROSSING_REFERENCE_EUR_PER_M = float(trench_cost_eur_per_m(CROSSING_REFERENCE_MW))  # 357
CROSSING_MERGE_M = 30.0


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


def _end_coordinates(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and last coordinates of each line, as two (n, 2) arrays.

    From the lines' coordinate array, not a Point per end (two shapely objects per edge
    are hundreds of MB for a country's streets); anything but non-empty LineStrings takes
    the Point route, whose errors name the odd geometry.
    """
    geoms = np.asarray(geoms, dtype=object)
    count = shapely.get_num_coordinates(geoms)
    if len(geoms) == 0 or not ((shapely.get_type_id(geoms) == 1) & (count > 0)).all():
        return (
            shapely.get_coordinates(shapely.get_point(geoms, 0)),
            shapely.get_coordinates(shapely.get_point(geoms, -1)),
        )
    coords = shapely.get_coordinates(geoms)
    last = np.cumsum(count) - 1
    return coords[last - count + 1], coords[last]


def _crs_wkt(crs: object) -> str:
    import pyproj

    return pyproj.CRS.from_user_input(crs).to_wkt()


def _crs_from_wkt(wkt: str) -> object:
    import pyproj

    return pyproj.CRS.from_wkt(wkt)


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
    _tree: cKDTree | None = field(init=False, repr=False, default=None)
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

    def with_edge_costs(
        self,
        edge_cost: np.ndarray,
        edge_crossings: np.ndarray | None = None,
        crossing_eq_m: float = 0.0,
    ) -> StreetGraph:
        """The same streets with other edge costs (a new cost matrix); the node and edge
        spatial indexes built so far are shared, not built again (they index the same
        points and lines)."""
        graph = dataclasses.replace(
            self, edge_cost=edge_cost, edge_crossings=edge_crossings, crossing_eq_m=crossing_eq_m
        )
        graph._tree, graph._edge_tree = self._tree, self._edge_tree
        return graph

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
        start_xy, end_xy = _end_coordinates(geoms)
        if "u" in streets and "v" in streets:
            u_ids = streets["u"].to_numpy()
            v_ids = streets["v"].to_numpy()
        else:  # no topology given: join segments that share exact end coordinates
            u_ids = np.array([f"{x:.3f},{y:.3f}" for x, y in start_xy])
            v_ids = np.array([f"{x:.3f},{y:.3f}" for x, y in end_xy])
        codes, uniques = pd.factorize(np.concatenate([u_ids, v_ids]))
        m = len(streets)
        eu, ev = codes[:m], codes[m:]
        xy = np.empty((len(uniques), 2))
        xy[eu] = start_xy
        xy[ev] = end_xy
        del start_xy, end_xy, codes, u_ids, v_ids
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
        coordinates are, and a graph in degrees is projected to `to_crs` (default: the study
        default, :func:`siting.grids.area_crs`). Edge `geometry` is used when present (turned
        to run from `u` to `v`), else a straight line between the nodes; lengths are
        recomputed in metres.
        """
        streets = streets_from_networkx(graph)
        if to_crs is not None or not streets.crs.is_projected:
            streets = streets.to_crs(to_crs or area_crs(streets))
        return cls.from_streets(streets, multipliers, excluded, railways, crossing_cost_eur)

    def streets(self) -> gpd.GeoDataFrame:
        """The edges as street lines (`u`, `v`, `highway`), in the graph's CRS."""
        return gpd.GeoDataFrame(
            {"u": self.edge_u, "v": self.edge_v, "highway": self.edge_highway},
            geometry=list(self.edge_geometry),
            crs=self.crs,
        )

    def to_networkx(self) -> nx.MultiGraph:
        """The graph as networkx: nodes x, y; edges length, cost, highway, crossings, geometry."""
        import networkx as nx

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
        if self._tree is None:  # built on first use: a graph that only snaps to edges skips it
            self._tree = cKDTree(self.xy)
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


def streets_from_networkx(graph: nx.Graph) -> gpd.GeoDataFrame:
    """A networkx/osmnx graph's edges as street lines (`u`, `v`, `highway`) in its CRS.

    Edge `geometry` is used when present (turned to run from `u` to `v`), else a straight
    line between the nodes (`x`, `y`). The CRS is `graph.graph["crs"]`, which must be set.
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
    if crs is None:
        raise InputDataError(
            "the networkx graph has no CRS (graph.graph['crs']); osmnx graphs carry one, "
            "set it for your own graph (e.g. G.graph['crs'] = 'EPSG:4326')."
        )
    return gpd.GeoDataFrame(
        {"u": [r[0] for r in rows], "v": [r[1] for r in rows], "highway": [r[2] for r in rows]},
        geometry=[r[3] for r in rows],
        crs=crs,
    )
