"""Routing on hand-made graphs with known answers, and against networkx on real extracts."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from siting.pipes import select_dn, trench_cost_eur_per_m
from siting.routing import (
    CROSSING_REFERENCE_EUR_PER_M,
    NO_PRED,
    StreetGraph,
    accumulate_to_root,
    connect_from_network,
    grow_local_networks,
    network_tap_points,
    path_nodes,
    route_along,
    route_sites,
    route_sites_by_capacity,
    snap_to_reachable,
)
from siting.sources.network import read_network

CRS = "EPSG:25832"


def _streets(edges: list[tuple[str, str, str, tuple, tuple]]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"u": [e[0] for e in edges], "v": [e[1] for e in edges], "highway": [e[2] for e in edges]},
        geometry=[shapely.LineString([e[3], e[4]]) for e in edges],
        crs=CRS,
    )


@pytest.fixture
def detour_graph() -> StreetGraph:
    """Network at N (0,0); site at S (1000,0).

    Direct: N-A-S along a primary road (2.0x): 1000 m, cost 2000 eq-m.
    Detour: N-B-C-S along residential/service (1.0-1.5x): 400+1000+400 = 1800 m,
    cost 400*1.0 + 1000*1.0 + 400*1.0 = 1800 eq-m: longer but cheaper.
    """
    return StreetGraph.from_streets(
        _streets(
            [
                ("N", "A", "primary", (0, 0), (500, 0)),
                ("A", "S", "primary", (500, 0), (1000, 0)),
                ("N", "B", "service", (0, 0), (0, 400)),
                ("B", "C", "service", (0, 400), (1000, 400)),
                ("C", "S", "service", (1000, 400), (1000, 0)),
                ("X", "Y", "residential", (5000, 5000), (5100, 5000)),  # an island
            ]
        )
    )


def _node(graph: StreetGraph, osm_id: str) -> int:
    return int(np.flatnonzero(graph.node_id == osm_id)[0])


def test_cheaper_but_longer_route_wins(detour_graph):
    g = detour_graph
    conn = connect_from_network(g, np.array([[0.0, 0.0]]), max_snap_m=50)
    site = _node(g, "S")
    assert conn.cost[site] == pytest.approx(1800.0, abs=1e-6)
    nodes = path_nodes(conn.pred, site)
    assert [g.node_id[n] for n in nodes] == ["N", "B", "C", "S"]
    route = route_along(g, nodes)
    assert route.street_length_m == pytest.approx(1800.0)
    assert route.length_by_class_m == {"service": pytest.approx(1800.0)}
    assert route.geometry.length == pytest.approx(1800.0)


def test_multiplier_change_flips_the_route(detour_graph):
    streets = _streets(
        [
            ("N", "A", "primary", (0, 0), (500, 0)),
            ("A", "S", "primary", (500, 0), (1000, 0)),
            ("N", "B", "service", (0, 0), (0, 400)),
            ("B", "C", "service", (0, 400), (1000, 400)),
            ("C", "S", "service", (1000, 400), (1000, 0)),
        ]
    )
    g = StreetGraph.from_streets(streets, multipliers={"primary": 1.0, "service": 1.0})
    conn = connect_from_network(g, np.array([[0.0, 0.0]]), max_snap_m=50)
    assert conn.cost[_node(g, "S")] == pytest.approx(1000.0)


def test_nearest_of_several_network_points_and_stub(detour_graph):
    g = detour_graph
    # a second connection point 30 m off the street beside S: stub 30 m beats any route
    conn = connect_from_network(g, np.array([[0.0, 0.0], [1000.0, -30.0]]), max_snap_m=50)
    site = _node(g, "S")
    assert conn.cost[site] == pytest.approx(30.0)
    assert path_nodes(conn.pred, site) == [site]
    assert conn.source_access_m[site] == pytest.approx(30.0)


def test_island_is_unreachable_and_flagged(detour_graph):
    g = detour_graph
    conn = connect_from_network(g, np.array([[0.0, 0.0]]), max_snap_m=50)
    assert np.isinf(conn.cost[_node(g, "X")])
    pts = np.array([[5050.0, 5010.0], [1000.0, 10.0], [20000.0, 0.0]])
    node, dist, status = snap_to_reachable(g, pts, np.isfinite(conn.cost), max_snap_m=500)
    assert list(status) == ["unreachable", "ok", "far"]
    assert g.node_id[node[1]] == "S" and dist[1] == pytest.approx(10.0)


def test_site_exactly_on_network_has_zero_route(detour_graph):
    g = detour_graph
    conn = connect_from_network(g, np.array([[1000.0, 0.0]]), max_snap_m=50)
    site = _node(g, "S")
    assert conn.cost[site] == pytest.approx(0.0, abs=1e-6)
    assert route_along(g, path_nodes(conn.pred, site)).street_length_m == 0.0


def test_networkx_round_trip_matches(detour_graph):
    g = detour_graph
    nxg = g.to_networkx()
    assert nxg.number_of_edges() == g.n_edges
    back = StreetGraph.from_networkx(nxg)
    assert back.n_edges == g.n_edges
    assert np.allclose(np.sort(back.edge_cost), np.sort(g.edge_cost))


def test_local_network_takes_cheapest_buildings_until_budget(detour_graph):
    g = detour_graph
    site = np.array([_node(g, "N")])
    b_nodes = np.array([_node(g, "A"), _node(g, "B"), _node(g, "C"), _node(g, "X")])
    access = np.array([10.0, 10.0, 10.0, 10.0])
    demand = np.array([2000.0, 1500.0, 5000.0, 9000.0])
    nets = grow_local_networks(
        g, site, np.array([0.0]), b_nodes, access, demand, np.array([3000.0]), 5000.0, 1.0
    )
    net = nets[0]
    # B (400 eq-m) first, then A (1000 eq-m) crosses the 3000 MWh budget; X is an island
    assert sorted(net.building_index.tolist()) == [0, 1]
    assert net.connected_demand_mwh_per_yr == pytest.approx(3500.0)
    assert net.trench_length_m == pytest.approx(400 + 500 + 20)


def test_local_network_stops_below_linear_heat_density(detour_graph):
    g = detour_graph
    site = np.array([_node(g, "N")])
    b_nodes = np.array([_node(g, "B"), _node(g, "S")])
    access = np.array([0.0, 0.0])
    demand = np.array([800.0, 100.0])  # B: 2 MWh/m on 400 m; adding S drags it far below
    nets = grow_local_networks(
        g, site, np.array([0.0]), b_nodes, access, demand, np.array([1e9]), 5000.0, 1.5
    )
    assert nets[0].building_index.tolist() == [0]
    assert nets[0].trench_length_m == pytest.approx(400.0)


@pytest.mark.parametrize("name", ["odense_se_2025.osm.pbf", "copenhagen_north_lyngby_2022.osm.pbf"])
def test_one_pass_matches_networkx_multisource(name):
    """The sparse one-pass search gives networkx's own multi-source Dijkstra costs."""
    from conftest import shared_file

    from siting.config import Params
    from siting.sources.osm import read_osm

    osm = read_osm(shared_file("osm", name))
    streets = osm.streets.to_crs(osm.streets.estimate_utm_crs())
    p = Params()
    g = StreetGraph.from_streets(streets, excluded=p.excluded_highways)
    rng = np.random.default_rng(7)
    sources = rng.choice(g.n_nodes, size=5, replace=False)
    conn = connect_from_network(g, g.xy[sources], max_snap_m=1.0)
    simple = nx.Graph()
    for a, b, c in zip(g.edge_u, g.edge_v, g.edge_cost, strict=True):
        if not simple.has_edge(a, b) or simple[a][b]["cost"] > c:
            simple.add_edge(int(a), int(b), cost=float(c))
    ref = nx.multi_source_dijkstra_path_length(simple, {int(s) for s in sources}, weight="cost")
    targets = rng.choice(list(ref), size=min(300, len(ref)), replace=False)
    ours = conn.cost[targets]
    theirs = np.array([ref[t] for t in targets])
    assert np.allclose(ours, theirs, rtol=1e-9, atol=1e-6)
    unreached = np.setdiff1d(np.arange(g.n_nodes), list(ref))
    assert np.isinf(conn.cost[unreached]).all()


def test_taps_and_sites_snap_onto_long_edges():
    """A 2 km straight edge: tap at 300 m, site at 1500 m, both 20 m off the road."""
    g = StreetGraph.from_streets(_streets([("A", "B", "residential", (0, 0), (2000, 0))]))
    conn = connect_from_network(g, np.array([[300.0, 20.0]]), max_snap_m=50)
    r = route_sites(g, conn, np.array([[1500.0, -20.0], [2000.0, 0.0]]), max_snap_m=50)
    # same edge: straight along it, 20 + 1200 + 20 m; cost 20 + 1200*1.5 + 20
    assert r.length_m[0] == pytest.approx(1240.0)
    assert r.cost_eq_m[0] == pytest.approx(20 + 1200 * 1.5 + 20)
    assert r.street_length_m[0] == pytest.approx(1200.0)
    assert r.geometry[0].length == pytest.approx(1240.0)
    # a site at node B: tap -> B is 1700 m of street
    assert r.length_m[1] == pytest.approx(20 + 1700.0)
    assert r.length_by_class_m[1] == {"residential": pytest.approx(1700.0)}


def test_route_via_nodes_with_partial_edges(detour_graph):
    g = detour_graph
    # tap 10 m below the middle of N-A (primary), site 5 m off the middle of B-C (service)
    conn = connect_from_network(g, np.array([[250.0, -10.0]]), max_snap_m=50)
    r = route_sites(g, conn, np.array([[500.0, 405.0]]), max_snap_m=50)
    # tap -> N: 250 m primary (cost 500), N-B 400, B -> middle of B-C 500 (service, 1.0)
    assert r.cost_eq_m[0] == pytest.approx(10 + 500 + 400 + 500 + 5)
    assert r.length_m[0] == pytest.approx(10 + 250 + 400 + 500 + 5)
    assert r.geometry[0].length == pytest.approx(r.length_m[0])
    assert r.length_by_class_m[0] == {
        "primary": pytest.approx(250.0),
        "service": pytest.approx(900.0),
    }


def test_pointer_jumping_equals_walking():
    rng = np.random.default_rng(3)
    n = 5000
    pred = np.full(n, NO_PRED)
    pred[1:] = [rng.integers(0, i) for i in range(1, n)]  # a random tree rooted at 0
    w = rng.random(n)
    acc = accumulate_to_root(pred, w)
    for node in rng.choice(n, 50, replace=False):
        assert acc[node] == pytest.approx(sum(w[k] for k in path_nodes(pred, int(node))))


# ---------------------------------------------------------------- crossings
def _rail_detour_streets() -> gpd.GeoDataFrame:
    """Network at N (0,0), site at S (1000,0); direct N-A-S (1000 m) crosses a rail line at
    x=250 (two tracks 8 m apart: one crossing); the detour N-B-C-S (1800 m) does not."""
    return _streets(
        [
            ("N", "A", "residential", (0, 0), (500, 0)),
            ("A", "S", "residential", (500, 0), (1000, 0)),
            ("N", "B", "residential", (0, 0), (0, 400)),
            ("B", "C", "residential", (0, 400), (1000, 400)),
            ("C", "S", "residential", (1000, 400), (1000, 0)),
        ]
    )


RAIL = gpd.GeoSeries(
    [
        shapely.LineString([(250, -200), (250, 200)]),
        shapely.LineString([(258, -200), (258, 200)]),
        # meets the detour's corner B at a shared point: touches, does not cross
        shapely.LineString([(0, 400), (-300, 700)]),
    ],
    crs=CRS,
)


def test_rail_crossing_counted_once_and_not_at_a_touch():
    g = StreetGraph.from_streets(_rail_detour_streets(), railways=RAIL)
    ends = [f"{a}{b}" for a, b in zip(g.node_id[g.edge_u], g.node_id[g.edge_v], strict=True)]
    by_edge = dict(zip(ends, g.edge_crossings.tolist(), strict=True))
    assert by_edge == {"NA": 1, "AS": 0, "NB": 0, "BC": 0, "CS": 0}
    assert (g.edge_cost == g.edge_length_m * 1.5).all()  # crossing cost 0: counted, not costed


def test_crossing_cost_makes_the_detour_cheaper():
    site = np.array([[1000.0, 0.0]])
    net = np.array([[0.0, 0.0]])
    free = StreetGraph.from_streets(_rail_detour_streets(), railways=RAIL)
    r = route_sites(free, connect_from_network(free, net, 50), site, 50)
    assert r.cost_eq_m[0] == pytest.approx(1500.0) and r.crossings[0] == 1
    # 500 kEUR per crossing = 500,000 / 357 EUR/m = 1400.6 m of reference trench:
    # direct 1500 + 1400.6 > detour 2700
    dear = StreetGraph.from_streets(_rail_detour_streets(), railways=RAIL, crossing_cost_eur=5e5)
    assert dear.crossing_eq_m == pytest.approx(5e5 / CROSSING_REFERENCE_EUR_PER_M)
    r = route_sites(dear, connect_from_network(dear, net, 50), site, 50)
    assert r.cost_eq_m[0] == pytest.approx(2700.0)
    assert r.crossings[0] == 0 and r.length_m[0] == pytest.approx(1800.0)
    # a small crossing cost keeps the direct route, and its cost shows in the total
    cheap = StreetGraph.from_streets(_rail_detour_streets(), railways=RAIL, crossing_cost_eur=1e5)
    r = route_sites(cheap, connect_from_network(cheap, net, 50), site, 50)
    assert r.crossings[0] == 1
    assert r.cost_eq_m[0] == pytest.approx(1500.0 + 1e5 / CROSSING_REFERENCE_EUR_PER_M)


def test_motorway_bridge_is_a_crossing_a_junction_is_not():
    g = StreetGraph.from_streets(
        _streets(
            [
                ("M1", "M2", "motorway", (0, 0), (1000, 0)),
                ("P", "Q", "residential", (500, -100), (500, 100)),  # bridge: crosses
                ("M2", "R", "residential", (1000, 0), (1000, 200)),  # joins at a node
            ]
        )
    )
    by_edge = dict(zip(g.node_id[g.edge_u], g.edge_crossings.tolist(), strict=True))
    assert by_edge == {"M1": 0, "P": 1, "M2": 0}


def test_graph_arrays_round_trip():
    g = StreetGraph.from_streets(_rail_detour_streets(), railways=RAIL, crossing_cost_eur=1e5)
    back = StreetGraph.from_arrays(g.to_arrays())
    for name in ("xy", "edge_u", "edge_v", "edge_length_m", "edge_cost", "edge_crossings"):
        assert np.array_equal(getattr(back, name), getattr(g, name))
    assert list(back.node_id) == list(g.node_id) and back.crossing_eq_m == g.crossing_eq_m
    assert shapely.equals(back.edge_geometry, g.edge_geometry).all()


# ---------------------------------------------------------------- tapping by pipe attributes
@pytest.fixture
def attributed_network(tmp_path) -> gpd.GeoDataFrame:
    """A street along y=0 from x=0 to 4000; three pipes 20 m south of it, written to a file.

    P_hot at x=900-1000 (110 °C, too hot), P_small at x=1900-2000 (2 MW),
    P_big at x=3900-4000 (capacity unknown)."""
    pipes_ = gpd.GeoDataFrame(
        {
            "name": ["P_hot", "P_small", "P_big"],
            "supply_temperature": [110.0, 80.0, None],
            "capacity": [None, 2.0, None],
        },
        geometry=[
            shapely.LineString([(900, -20), (1000, -20)]),
            shapely.LineString([(1900, -20), (2000, -20)]),
            shapely.LineString([(3900, -20), (4000, -20)]),
        ],
        crs=CRS,
    )
    path = tmp_path / "dh.geojson"
    pipes_.to_crs("EPSG:4326").to_file(path)
    return read_network(path).to_crs(CRS)


def test_hot_and_small_pipes_are_not_tapped(attributed_network):
    g = StreetGraph.from_streets(
        _streets(
            [
                (f"n{i}", f"n{i + 1}", "residential", (i * 500, 0), (i * 500 + 500, 0))
                for i in range(8)
            ]
        )
    )
    net = attributed_network
    xy, row = network_tap_points(net, spacing_m=25)
    sites = np.array([[1000.0, 10.0], [1000.0, 10.0]])
    routed, group = route_sites_by_capacity(
        g,
        xy,
        sites,
        site_peak_mw=np.array([1.5, 5.0]),
        max_snap_m=50,
        tap_capacity_mw=net["capacity_mw"].to_numpy()[row],
        tappable=~(net["supply_temp_c"].to_numpy()[row] > 90.0),
    )
    names = net["name"].to_numpy()[row[routed.tap]]
    # 1.5 MW: P_hot is nearest but too hot; P_small (2 MW) takes it. 5 MW: only P_big.
    assert list(names) == ["P_small", "P_big"]
    assert routed.length_m[0] == pytest.approx(10 + 900 + 20)
    assert routed.length_m[1] == pytest.approx(10 + 2900 + 20)
    assert len(set(group)) == 2
    # nothing can take a site when every pipe is too hot
    routed, _ = route_sites_by_capacity(
        g, xy, sites[:1], np.array([1.0]), 50, tappable=np.zeros(len(xy), bool)
    )
    assert list(routed.status) == ["no_tap"]


def test_capacity_classes_match_one_search_per_site():
    """Grouped searches (exact classes, and the DN fallback) equal a search per site."""
    rng = np.random.default_rng(5)
    side = 30
    edges = []
    for i in range(side):
        for j in range(side):
            if i + 1 < side:
                edges.append(
                    (
                        f"{i},{j}",
                        f"{i + 1},{j}",
                        "residential",
                        (i * 50, j * 50),
                        ((i + 1) * 50, j * 50),
                    )
                )
            if j + 1 < side:
                edges.append(
                    (
                        f"{i},{j}",
                        f"{i},{j + 1}",
                        "service",
                        (i * 50, j * 50),
                        (i * 50, (j + 1) * 50),
                    )
                )
    g = StreetGraph.from_streets(_streets(edges))
    taps = rng.uniform(0, (side - 1) * 50, (60, 2))
    sites = rng.uniform(0, (side - 1) * 50, (40, 2))
    peak = rng.uniform(0.5, 30, len(sites))
    for cap in (
        rng.choice([np.nan, 3.0, 10.0, 25.0], len(taps)),  # few classes: exact grouping
        np.where(rng.random(len(taps)) < 0.2, np.nan, rng.uniform(1, 40, len(taps))),  # many
    ):
        routed, group = route_sites_by_capacity(g, taps, sites, peak, 100, tap_capacity_mw=cap)
        assert len(set(group)) <= 8
        exact = len(np.unique(cap[np.isfinite(cap)])) < 8
        for i in range(len(sites)):
            need = peak[i] if exact else peak[group == group[i]].max()
            mask = np.isnan(cap) | (cap >= need)
            one = route_sites(
                g, connect_from_network(g, taps, 100, tappable=mask), sites[i : i + 1], 100
            )
            assert one.cost_eq_m[0] == pytest.approx(routed.cost_eq_m[i], nan_ok=True)


# ---------------------------------------------------------------- local network pipe sizes
def test_local_network_pipes_sized_by_downstream_peak(detour_graph):
    g = detour_graph
    site = np.array([_node(g, "N")])
    b_nodes = np.array([_node(g, "B"), _node(g, "C")])
    access = np.array([10.0, 10.0])
    demand = np.array([4000.0, 3000.0])
    peak = np.array([3.0, 1.0])
    nets = grow_local_networks(
        g,
        site,
        np.array([5.0]),
        b_nodes,
        access,
        demand,
        np.array([1e9]),
        5000.0,
        1.0,
        building_peak_mw=peak,
        site_peak_mw=np.array([10.0]),
        delta_t_k=35.0,
    )
    net = nets[0]
    assert sorted(net.building_index.tolist()) == [0, 1]
    # N-B carries 4 MW (DN150), B-C 1 MW (DN100); services 3 MW (DN150) and 1 MW (DN100);
    # site access 4 MW (DN150)
    assert select_dn(4.0, 35.0) == 150 and select_dn(1.0, 35.0) == 100
    assert net.trench_by_dn_m == {100: pytest.approx(1010.0), 150: pytest.approx(415.0)}
    eur = (
        400 * trench_cost_eur_per_m(4.0)  # N-B, service 1.0x
        + 1000 * trench_cost_eur_per_m(1.0)  # B-C
        + 10 * trench_cost_eur_per_m(3.0)
        + 10 * trench_cost_eur_per_m(1.0)
        + 5 * trench_cost_eur_per_m(4.0)
    )
    assert net.pipe_capex_eur == pytest.approx(eur)


def test_an_osmnx_style_graph_routes_like_the_extract(helsinki_osm, tmp_path):
    """A networkx MultiDiGraph in lon/lat, as osmnx builds it (geometry, highway, crs),
    gives the study the same routes as the extract's own streets."""
    import siting

    st = helsinki_osm.streets  # EPSG:4326 segments with u, v, highway
    g = nx.MultiDiGraph(crs="EPSG:4326")
    first = shapely.get_coordinates(shapely.get_point(st.geometry.values, 0))
    last = shapely.get_coordinates(shapely.get_point(st.geometry.values, -1))
    rows = zip(st["u"], st["v"], st["highway"], st.geometry, strict=True)
    for i, (u, v, hw, geom) in enumerate(rows):
        g.add_node(u, x=first[i][0], y=first[i][1])
        g.add_node(v, x=last[i][0], y=last[i][1])
        # osmnx keeps both directions; store one reversed to check the orientation fix
        g.add_edge(u, v, highway=hw, geometry=geom)
        g.add_edge(v, u, highway=hw, geometry=shapely.reverse(geom))
    study = siting.demo_study(tmp_path)
    ours = siting.run(study, osm=helsinki_osm).sites.set_index("site_id")
    theirs = siting.run(study, osm=helsinki_osm, street_graph=g).sites.set_index("site_id")
    ok = ours.index[ours["feasible"]]
    assert np.allclose(theirs.loc[ok, "route_length_m"], ours.loc[ok, "route_length_m"], rtol=1e-6)
    assert (theirs.loc[ok, "rank"] == ours.loc[ok, "rank"]).all()


def test_end_coordinates_are_the_lines_first_and_last_points():
    """The graph's node coordinates come from the lines' coordinate array, not from a Point
    per end; they are those points, and odd geometries take the Point route."""
    from siting.routing.graph import _end_coordinates

    lines = np.array(
        [
            shapely.LineString([(0, 0), (1, 1)]),
            shapely.LineString([(5, 5), (6, 7), (8, 9), (10, 11)]),
            shapely.LineString([(2, 3), (4, 5), (2, 3)]),
        ],
        dtype=object,
    )
    first, last = _end_coordinates(lines)
    assert first.tolist() == [[0, 0], [5, 5], [2, 3]]
    assert last.tolist() == [[1, 1], [10, 11], [2, 3]]
    odd = np.array([lines[1], shapely.MultiLineString([[(0, 0), (1, 0)]])], dtype=object)
    first, last = _end_coordinates(odd)  # as before: what the Points give (none for a multi)
    assert first.tolist() == [[5, 5]] and last.tolist() == [[10, 11]]
    empty = _end_coordinates(np.array([], dtype=object))
    assert empty[0].shape == (0, 2) and empty[1].shape == (0, 2)


def test_snap_in_chunks_equals_one_snap(monkeypatch):
    """Points snapped a chunk at a time get the edge, position and distance of one snap."""
    from siting.routing import snapping

    lines = np.array(
        [shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 50), (100, 60)])],
        dtype=object,
    )
    tree = shapely.STRtree(lines)
    xy = np.random.default_rng(1).uniform(-10, 110, size=(25, 2))
    whole = snapping.snap_to_lines(lines, tree, xy)
    monkeypatch.setattr(snapping, "SNAP_CHUNK", 4)
    parts = snapping.snap_to_lines(lines, tree, xy)
    for name in ("edge", "t", "access_m", "point_xy"):
        assert np.array_equal(getattr(parts, name), getattr(whole, name)), name
    assert set(whole.edge) == {0, 1}


def test_source_row_matrix_equals_the_coo_build():
    """The search's super-source row is appended to the CSR arrays; the matrix is the one
    a COO build gives, entry for entry, so the search finds the same tree."""
    from scipy.sparse import coo_array, csr_array

    from siting.routing.search import _with_source_row

    m = csr_array(([1.0, 2.0, 3.0, 4.0], ([0, 1, 1, 3], [1, 0, 3, 1])), shape=(4, 4))
    cols, data = np.array([0, 2]), np.array([0.5, 7.0])
    coo = m.tocoo()
    want = coo_array(
        (
            np.concatenate([coo.data, data]),
            (np.concatenate([coo.row, [4, 4]]), np.concatenate([coo.col, cols])),
        ),
        shape=(5, 5),
    ).tocsr()
    got = _with_source_row(m, cols, data)
    assert got.shape == (5, 5)
    for name in ("indptr", "indices", "data"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def test_with_edge_costs_shares_the_spatial_indexes():
    """A graph with other costs routes by them and reuses the street indexes built so far."""
    import dataclasses

    lines = [
        shapely.LineString([(0, 0), (100, 0)]),
        shapely.LineString([(100, 0), (200, 0)]),
        shapely.LineString([(0, 0), (0, 300)]),
    ]
    streets = gpd.GeoDataFrame(
        {"u": [1, 2, 1], "v": [2, 3, 4], "highway": ["primary", "residential", "residential"]},
        geometry=lines,
        crs="EPSG:25832",
    )
    graph = StreetGraph.from_streets(streets)
    graph.snap(np.array([[1.0, 1.0]]))
    graph.snap_to_edges(np.array([[50.0, 5.0]]))
    lengths = graph.with_edge_costs(graph.edge_length_m)
    assert lengths._tree is graph._tree and lengths._edge_tree is graph._edge_tree
    want = dataclasses.replace(
        graph, edge_cost=graph.edge_length_m, edge_crossings=None, crossing_eq_m=0.0
    )
    assert (lengths.matrix != want.matrix).nnz == 0
    assert np.array_equal(lengths.edge_cost, graph.edge_length_m)
    assert not np.array_equal(graph.edge_cost, graph.edge_length_m)  # primary costs more
    assert (
        lengths.snap(np.array([[199.0, 1.0]]))[0].tolist()
        == graph.snap(np.array([[199.0, 1.0]]))[0].tolist()
    )
