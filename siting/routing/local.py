"""Local networks: grow a new heat network from each site along the streets to the
buildings nearest by route cost, keep the viable prefix, and size its pipes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import dijkstra

from siting.pipes import select_dn, trench_cost_eur_per_m
from siting.routing.graph import ACCESS_MULTIPLIER, CROSSING_REFERENCE_EUR_PER_M, StreetGraph
from siting.routing.search import NO_PRED


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
