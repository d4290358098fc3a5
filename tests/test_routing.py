"""Routing on hand-made graphs with known answers, and against networkx on real extracts."""

from __future__ import annotations

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely

from siting.routing import (
    NO_PRED,
    StreetGraph,
    accumulate_to_root,
    connect_from_network,
    grow_local_networks,
    path_nodes,
    route_along,
    route_sites,
    snap_to_reachable,
)

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
