"""Several sites on one network: choose K of a study's sites together, each seeing the
hourly demand the sites before it (and the network's must-run supply) leave.

A ranking screens each site alone, as if it were the only one built; two data centers on one
network share its summer demand, so the second delivers less than it would alone.
:func:`portfolio` chooses K sites greedily: at each step every remaining candidate is run
hour by hour (:func:`siting.stages.operate.recover_hourly`, the ranking's own model)
against the demand its network has left, priced (:func:`siting.stages.price.price`) on
that marginal heat, and the one that adds most to the objective is taken; its hourly
delivery is then taken off its network's demand. Sites on different networks do not
compete. The objective is the portfolio's NPV (default), its delivered heat, or its LCOH
(annual cost / delivered heat, lowest).

Greedy is not always optimal: a large site taken first crowds out cheaper ones that
together are worth more. Two cheap repairs follow: the chosen sites are also tried in merit
order (cheapest standalone LCOH first, so the cheap heat is served first), and one-for-one
swaps with the best remaining sites are tried while one raises the objective. Every figure
comes from sequential dispatch: each site delivers what the network still takes after the
sites listed before it. On small cases (at most `exact_limit` ordered sets) the exact
optimum over every ordered set of K sites is found too, and the gap is reported:
(exact - chosen) / |exact| of the objective.

Results per chosen site: its marginal delivered heat, homes, CO2, LCOH and NPV, and what it
would claim alone (the ranking's view); the totals; the method and the gap
(:meth:`Portfolio.to_frame`, ``portfolio.csv``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting.config import Params
from siting.errors import ConfigError, InputDataError
from siting.stages.inputs import HourlySeries
from siting.stages.networks import EXISTING, homes_served
from siting.stages.operate import demand_shape, network_residual_mw, recover_hourly
from siting.stages.price import price

OBJECTIVES = ("npv", "delivered_heat", "lcoh")
METHOD_GREEDY = "greedy"
METHOD_EXACT = "exact"
EXACT_LIMIT = 10_000  # ordered sets tried at most by the exact search
SWAP_POOL = 10  # swap-in candidates of the local search: at least this many, or 2 K
SWAP_ROUNDS = 3  # local-search rounds (each tries every one-for-one swap once)
_BATCH_SETS = 64  # sets dispatched together (memory: sets x hours x 8 bytes x ~10)
# operation columns the marginal run replaces (the rest of a site's row stays as ranked)
_OPERATION = (
    "heat_pump_delivered_mwh_per_yr",
    "delivered_heat_mwh_per_yr",
    "network_loss_mwh_per_yr",
    "available_heat_mwh_per_yr",
    "heat_pump_electricity_mwh_per_yr",
    "reused_heat_mwh_per_yr",
    "utilisation",
    "full_load_hours",
    "storage_gain_mwh_per_yr",
    "electricity_price_weighted_eur_per_mwh",
    "exchanger_heat_mwh_per_yr",
)
# the ranking columns the marginal runs read (the hourly model, price(), the networks); the
# rest are left out so each run copies and prices a narrow table
_INPUTS = (
    "site_id",
    "label",
    "mode",
    "feasible",
    "it_load_mw",
    "cooling",
    "heat_pump_mw",
    "cop_system",
    "transfer_efficiency",
    "served_demand_mwh_per_yr",
    "must_run_flat_mwh_per_yr",
    "must_run_solar_mwh_per_yr",
    "connected_demand_mwh_per_yr",
    "dwellings_connected",
    "network_id",
    "tap_area_id",
    "network_source",
    "route_cost_eq_m",
    "route_length_m",
    "crossing_cost_eq_m",
    "crossing_capex_eur",
    "routed_pipe_capex_eur",
    "connection_station",
    "grid_distance_m",
    "grid_demand_mw",
    "network_ef_displaced_t_per_mwh",
    "network_heat_price_eur_per_mwh",
    "recovered_heat_mwh_per_yr",
    "dc_energy_mwh_per_yr",
    *_OPERATION,
)
# what portfolio.csv reports per site: (column of the priced table, name of the figure)
_FIGURES = (
    ("delivered_heat_mwh_per_yr", "delivered_heat_mwh_per_yr"),
    ("homes_served", "homes_served"),
    ("co2_avoided_t_per_yr", "co2_avoided_t_per_yr"),
    ("lcoh_eur_per_mwh", "lcoh_eur_per_mwh"),
    ("npv_eur", "npv_eur"),
)


@dataclass
class Portfolio:
    """K sites chosen together (see the module docstring).

    Attributes
    ----------
    sites : one row per chosen site in dispatch order (`dispatch`: each site delivers what
        its network still takes after the sites before it; `pick`: the greedy step that
        chose it), `site_id`, `label`, `network`, `it_load_mw`, `capex_eur`, the marginal
        figures (`marginal_*`) and the standalone ones (`standalone_*`: alone on its
        network, as the ranking screens it), and `heat_shared_away_mwh_per_yr`.
    method : "greedy" (with its repairs) or "exact".
    objective : "npv", "delivered_heat" or "lcoh".
    value : the objective of the chosen sites (LCOH as its negative).
    greedy_value : the objective of the greedy picks alone, in the order picked.
    exact_value : the exact optimum over every ordered set (None where not run).
    gap : (exact_value - value) / |exact_value| (None where not run; 0 = optimal).
    hourly_delivered_mw : (K, hours) heat each chosen site delivers into its network.
    network_demand_mw : per network, its hourly demand after must-run supply (MW).
    network_of : per chosen site, its network's key in `network_demand_mw`.
    """

    sites: pd.DataFrame
    method: str
    objective: str
    k: int
    n_candidates: int
    value: float
    exact_value: float | None = None
    greedy_value: float | None = None
    gap: float | None = None
    hourly_delivered_mw: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    network_demand_mw: dict[str, np.ndarray] = field(default_factory=dict)
    network_of: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: int = 0  # site-years the hourly model ran to choose (every candidate, every step)

    @property
    def method_text(self) -> str:
        """The method and its optimality gap in words (portfolio.csv's `method` column)."""
        how = (
            "greedy: each step adds the site that raises the portfolio's "
            f"{_OBJECTIVE_WORDS[self.objective]} most, run hour by hour against the demand "
            "the sites before it leave on its network; then the chosen sites in merit order "
            "if better, and one-for-one swaps with the best remaining sites while they raise "
            "it (each site dispatched against the demand the ones listed before it leave)"
            if self.method == METHOD_GREEDY
            else "exact: every ordered set of K sites tried"
        )
        if self.gap is None:
            return how + "; optimality gap not computed (too many subsets for the exact search)"
        return how + f"; optimality gap against the exact search {100 * self.gap:.2f} %"

    def to_frame(self) -> pd.DataFrame:
        """The chosen sites and a `total` row (sums; LCOH weighted by delivered heat)."""
        df = self.sites.copy()
        total: dict[str, Any] = {
            "dispatch": np.nan,
            "pick": np.nan,
            "site_id": "total",
            "label": "portfolio",
        }
        for prefix in ("marginal", "standalone"):
            for _, name in _FIGURES:
                col = f"{prefix}_{name}"
                if name == "lcoh_eur_per_mwh":
                    total[col] = _weighted_lcoh(df[col], df[f"{prefix}_delivered_heat_mwh_per_yr"])
                else:
                    total[col] = float(np.nansum(df[col].to_numpy(dtype=float)))
        for col in ("it_load_mw", "capex_eur", "heat_shared_away_mwh_per_yr"):
            total[col] = float(np.nansum(df[col].to_numpy(dtype=float)))
        total["network"] = ", ".join(dict.fromkeys(df["network"].astype(str)))
        df = pd.concat([df, pd.DataFrame([total])], ignore_index=True)
        for col in ("dispatch", "pick"):  # the total row has none
            df[col] = df[col].astype("Int64")
        df["method"] = self.method_text
        df["objective"] = self.objective
        df["optimality_gap"] = np.nan if self.gap is None else self.gap
        return df

    def to_csv(self, path: str | Path) -> Path:
        """Write :meth:`to_frame` as CSV (``portfolio.csv``); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        self.to_frame().to_csv(tmp, index=False)
        os.replace(tmp, path)  # never a half-written portfolio.csv
        return path


_OBJECTIVE_WORDS = {
    "npv": "NPV",
    "delivered_heat": "delivered heat",
    "lcoh": "LCOH (lowest)",
}


def _weighted_lcoh(lcoh: pd.Series, delivered: pd.Series) -> float:
    e = delivered.to_numpy(dtype=float)
    c = lcoh.to_numpy(dtype=float) * e
    ok = np.isfinite(c) & (e > 0)
    return float(c[ok].sum() / e[ok].sum()) if ok.any() and e[ok].sum() > 0 else np.nan


def network_keys(table: pd.DataFrame, mode: str) -> np.ndarray:
    """Which network each site feeds: sites with the same key share its hourly demand.

    A matched registry network ("registry:<id>"), else a DH area ("area:<id>"), else the
    known network (file or OSM pipes, "network:<source>"); in new-local-network mode each
    site has its own network ("site:<id>": local networks are taken to be disjoint).
    """
    n = len(table)
    site = "site:" + table["site_id"].astype(str).to_numpy()
    if mode != EXISTING:
        return site.astype(object)

    def text(col: str) -> np.ndarray:
        if col not in table:
            return np.full(n, "", dtype=object)
        return table[col].astype(object).where(table[col].notna(), "").astype(str).to_numpy()

    nid, area, source = text("network_id"), text("tap_area_id"), text("network_source")
    return np.where(
        nid != "",
        "registry:" + nid,
        np.where(area != "", "area:" + area, "network:" + np.where(source != "", source, "tap")),
    ).astype(object)


class _Engine:
    """The candidates, their networks' demand, and the marginal runs against it."""

    def __init__(self, table: pd.DataFrame, p: Params, weather: pd.Series, mode: str, series):
        cols = [c for c in dict.fromkeys(_INPUTS) if c in table]
        self.t = table[cols].reset_index(drop=True)
        self.p = p
        self.mode = mode
        self.series = series or HourlySeries()
        self.outdoor = weather.to_numpy(dtype=float)
        self.keep = self.t["transfer_efficiency"].to_numpy(dtype=float)
        self.key = network_keys(self.t, mode)
        self.demand: dict[str, np.ndarray] = {}  # after must-run, network terms (MW)
        if mode == EXISTING:
            shape = demand_shape(self.outdoor, p, p.network_loss_share)
            served = self.t["served_demand_mwh_per_yr"].to_numpy(dtype=float)
        else:
            shape = demand_shape(self.outdoor, p)
            served = self.t["connected_demand_mwh_per_yr"].to_numpy(dtype=float)
        flat = _column(self.t, "must_run_flat_mwh_per_yr")
        solar = _column(self.t, "must_run_solar_mwh_per_yr")
        for key in dict.fromkeys(self.key):
            i = int(np.flatnonzero(self.key == key)[0])
            residual, _ = network_residual_mw(shape, served[i], flat[i], solar[i])
            self.demand[key] = residual
        self.runs = 0

    def run(
        self, rows: np.ndarray, left: np.ndarray, hourly: bool = False
    ) -> tuple[pd.DataFrame, np.ndarray | None]:
        """Rows `rows` against the demand `left` on their network: the priced marginal table
        and, with `hourly`, each site's hourly delivery into the network (MW).

        `left` is one hourly row shared by all `rows` (one network), or one row per site
        (sites of several sets or networks run at once).
        """
        rows = np.asarray(rows, dtype=np.int64)
        keep = np.maximum(self.keep[rows], 1e-9)
        left = np.asarray(left, dtype=float)
        if left.ndim == 1:
            cap = np.minimum(self.p.share_max * self.demand[self.key[rows[0]]], np.maximum(left, 0))
            top = keep.min()
            # one shared row in heat-pump terms, scaled per site by its route's efficiency
            demand, share = cap / top, np.clip(top / keep, 1e-12, 1.0)
        else:
            full = np.vstack([self.demand[key] for key in self.key[rows]])
            cap = np.minimum(self.p.share_max * full, np.maximum(left, 0.0))
            demand, share = cap / keep[:, None], 1.0
        res = recover_hourly(
            self.t.iloc[rows],
            self.p,
            self.outdoor,
            demand,
            share,
            self.series,
            return_hourly=hourly,
        )
        self.runs += len(rows)
        out = self.t.iloc[rows].copy()
        produced = np.asarray(res.delivered_heat_mwh_per_yr, dtype=float)
        k = self.keep[rows]
        values = {
            "heat_pump_delivered_mwh_per_yr": produced,
            "delivered_heat_mwh_per_yr": produced * k,
            "network_loss_mwh_per_yr": produced * (1 - k),
            "available_heat_mwh_per_yr": res.available_heat_mwh_per_yr,
            "heat_pump_electricity_mwh_per_yr": res.electricity_mwh_per_yr,
            "reused_heat_mwh_per_yr": res.reused_heat_mwh_per_yr,
            "utilisation": np.minimum(np.asarray(res.utilisation, dtype=float), 1.0),
            "full_load_hours": res.full_load_hours,
            "storage_gain_mwh_per_yr": res.storage_gain_mwh_per_yr,
            "electricity_price_weighted_eur_per_mwh": res.electricity_price_weighted_eur_per_mwh,
            "exchanger_heat_mwh_per_yr": res.exchanger_heat_mwh_per_yr,
        }
        for col in _OPERATION:
            out[col] = np.asarray(values[col], dtype=float)
        delivered = out["delivered_heat_mwh_per_yr"].to_numpy()
        if self.mode == EXISTING:
            out["homes_served"] = homes_served(delivered, self.p)
        else:
            demand = out["connected_demand_mwh_per_yr"].to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                met = np.where(demand > 0, np.minimum(delivered / demand, 1.0), 0.0)
            dwellings = np.nan_to_num(out["dwellings_connected"].to_numpy(dtype=float))
            out["homes_served"] = np.floor(dwellings * met).astype(int)
        priced = price(out, self.p)
        flows = None
        if hourly:
            flows = np.asarray(res.hourly["delivered_mw"], dtype=float) * k[:, None]
        return priced.reset_index(drop=True), flows


def _column(t: pd.DataFrame, col: str) -> np.ndarray:
    if col not in t:
        return np.zeros(len(t))
    return np.nan_to_num(t[col].to_numpy(dtype=float))


def _value(rows: list[pd.Series], objective: str) -> float:
    """The objective of a set of marginal rows (higher is better; LCOH as its negative)."""
    if not rows:
        return 0.0 if objective != "lcoh" else -np.inf
    delivered = sum(float(r["delivered_heat_mwh_per_yr"]) for r in rows)
    if objective == "delivered_heat":
        return delivered
    if objective == "npv":
        return float(sum(float(r["npv_eur"]) for r in rows))
    cost = sum(float(r["annual_cost_eur_per_yr"]) for r in rows)
    return -cost / delivered if delivered > 0 else -np.inf


def _step_scores(cands: pd.DataFrame, chosen: list[pd.Series], objective: str) -> np.ndarray:
    """The objective of `chosen` plus each candidate (vectorised over candidates)."""
    e = cands["delivered_heat_mwh_per_yr"].to_numpy(dtype=float)
    if objective == "delivered_heat":
        return _value(chosen, objective) + e
    if objective == "npv":
        npv = np.nan_to_num(cands["npv_eur"].to_numpy(dtype=float), nan=-np.inf)
        return _value(chosen, objective) + npv
    e0 = sum(float(r["delivered_heat_mwh_per_yr"]) for r in chosen)
    c0 = sum(float(r["annual_cost_eur_per_yr"]) for r in chosen)
    cost = c0 + np.nan_to_num(cands["annual_cost_eur_per_yr"].to_numpy(dtype=float), nan=np.inf)
    total = e0 + e
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, -cost / total, -np.inf)


def portfolio(
    results: Any,
    k: int,
    objective: str = "npv",
    *,
    exact: bool | None = None,
    exact_limit: int = EXACT_LIMIT,
    improve: bool = True,
    candidates: list[str] | None = None,
) -> Portfolio:
    """Choose `k` of a study's feasible sites together (see the module docstring).

    Parameters
    ----------
    results : a finished study (:func:`siting.run`): its ranking, weather, hourly series.
    k : how many sites to choose (at most the feasible sites).
    objective : "npv" (default; the portfolio's NPV against the heat it replaces),
        "delivered_heat" or "lcoh" (the portfolio's annual cost / delivered heat).
    exact : also find the exact optimum and the method's gap (None: when there are at most
        `exact_limit` ordered sets; True: choose by the exact search, error if there are
        more than `exact_limit`; False: greedy only).
    candidates : site ids to choose from (default: every feasible site).
    improve : after the greedy picks, try one-for-one swaps with the `SWAP_POOL` best
        remaining sites (by their standalone objective), each set dispatched in merit order,
        while a swap raises the objective (at most `SWAP_ROUNDS` rounds).

    Returns
    -------
    Portfolio, with ``to_frame()`` / ``to_csv(path)`` for ``portfolio.csv``.
    """
    if objective not in OBJECTIVES:
        raise ConfigError(
            f"portfolio objective {objective!r} is not known; use one of {OBJECTIVES}."
        )
    table = pd.DataFrame(results.sites).drop(columns="geometry", errors="ignore")
    pool = table[table["feasible"].astype(bool)]
    if candidates is not None:
        pool = pool[pool["site_id"].astype(str).isin([str(c) for c in candidates])]
    pool = pool.sort_values("site_id", kind="stable").reset_index(drop=True)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ConfigError(f"portfolio size k must be a whole number >= 1, got {k!r}.")
    if len(pool) < k:
        raise InputDataError(
            f"a portfolio of {k} sites needs {k} feasible sites, but the study has "
            f"{len(pool)}; choose k <= {len(pool)} (or fix why sites are not feasible: see "
            "the reason column of the ranking)."
        )
    weather = getattr(results, "weather", None)
    if weather is None:
        raise InputDataError(
            "the results carry no weather year, so the sites cannot be run hour by hour; "
            "run the study with siting.run (it keeps its weather)."
        )
    p = results.study.params
    engine = _Engine(pool, p, weather, results.mode, getattr(results, "series", None))
    notes = []
    if p.recovery_model != "hourly":
        notes.append(
            "the study ran the annual shortcut; the portfolio runs every site hour by hour "
            "(sharing a network's demand needs its hours)"
        )
    standalone = _standalone(engine)
    picks, marginal, flows = _greedy(engine, k, objective)
    greedy_value = _value(marginal, objective)
    # better than greedy alone: the chosen sites in merit order (cheapest heat first) when
    # that order delivers more value than the order they were picked in
    order, value = picks, greedy_value
    merit = _merit_order(standalone)
    by_merit = sorted(picks, key=merit.index)
    if by_merit != picks:
        (merit_value,) = _dispatch_many(engine, [by_merit], objective)
        if _better(merit_value, value):
            order, value = by_merit, merit_value
    if improve:
        order, value = _improve(engine, order, value, objective, standalone, merit, k)
    if order != picks:
        marginal, flows = _dispatch(engine, order)
    method = METHOD_GREEDY
    exact_value = gap = None
    n_sequences = math.perm(len(pool), k)
    run_exact = (n_sequences <= exact_limit) if exact is None else bool(exact)
    if run_exact:
        if n_sequences > exact_limit:
            raise ConfigError(
                f"the exact search would try {n_sequences:,} ordered sets of {k} of "
                f"{len(pool)} sites, more than exact_limit ({exact_limit:,}); use the greedy "
                "method (exact=False) or fewer candidates."
            )
        best_order, exact_value = _exact(engine, k, objective)
        value = _value(marginal, objective)
        scale = abs(exact_value) if exact_value != 0 and np.isfinite(exact_value) else 1.0
        gap = max(0.0, (exact_value - value) / scale)
        if exact:  # chosen by the exact search
            order = best_order
            marginal, flows = _dispatch(engine, order)
            method = METHOD_EXACT
            gap = 0.0
    sites = _sites_table(engine, order, marginal, standalone, picks)
    return Portfolio(
        sites=sites,
        method=method,
        objective=objective,
        k=k,
        n_candidates=len(pool),
        value=_value(marginal, objective),
        exact_value=exact_value,
        greedy_value=greedy_value,
        gap=gap,
        hourly_delivered_mw=np.vstack(flows) if flows else np.empty((0, len(weather))),
        network_demand_mw=dict(engine.demand),
        network_of=[str(engine.key[i]) for i in order],
        notes=notes,
        runs=engine.runs,
    )


def _standalone(engine: _Engine) -> pd.DataFrame:
    """Every candidate alone on its network (the ranking's view), one run per network."""
    parts = []
    for key in dict.fromkeys(engine.key):
        rows = np.flatnonzero(engine.key == key)
        priced, _ = engine.run(rows, engine.demand[key])
        parts.append(priced.assign(_row=rows))
    out = pd.concat(parts, ignore_index=True).sort_values("_row").reset_index(drop=True)
    return out


def _merit_order(standalone: pd.DataFrame) -> list[int]:
    """Candidates by standalone LCOH (cheapest heat first), ties by site id."""
    lcoh = standalone["lcoh_eur_per_mwh"].to_numpy(dtype=float)
    ids = standalone["site_id"].astype(str).to_numpy()
    return [int(i) for i in np.lexsort([ids, np.nan_to_num(lcoh, nan=np.inf)])]


def _greedy(
    engine: _Engine, k: int, objective: str
) -> tuple[list[int], list[pd.Series], list[np.ndarray]]:
    left = {key: d.copy() for key, d in engine.demand.items()}
    remaining = np.ones(len(engine.t), dtype=bool)
    cache: dict[str, pd.DataFrame] = {}
    order: list[int] = []
    marginal: list[pd.Series] = []
    flows: list[np.ndarray] = []
    for _ in range(k):
        for key in dict.fromkeys(engine.key[remaining]):
            if key not in cache:
                rows = np.flatnonzero((engine.key == key) & remaining)
                priced, _ = engine.run(rows, left[key])
                cache[key] = priced.assign(_row=rows)
        cands = pd.concat(
            [c[remaining[c["_row"].to_numpy()]] for c in cache.values()], ignore_index=True
        )
        cands = cands.sort_values("site_id", kind="stable").reset_index(drop=True)
        score = _step_scores(cands, marginal, objective)
        best = int(np.argmax(score))  # the first of equal scores: lowest site id
        row = int(cands["_row"].iat[best])
        key = engine.key[row]
        priced, flow = engine.run(np.array([row]), left[key], hourly=True)
        left[key] = np.maximum(left[key] - flow[0], 0.0)
        remaining[row] = False
        cache.pop(key, None)  # its network's demand changed: run its candidates again
        order.append(row)
        marginal.append(priced.iloc[0])
        flows.append(flow[0])
    return order, marginal, flows


def _better(value: float, than: float) -> bool:
    return value > than + 1e-9 * max(1.0, abs(than))


def _dispatch_many(engine: _Engine, sequences: list[list[int]], objective: str) -> list[float]:
    """The objective of each sequence of sites (one after the other on their networks),
    run together: step q runs the q-th site of every sequence at once."""
    values: list[float] = []
    for start in range(0, len(sequences), _BATCH_SETS):
        batch = sequences[start : start + _BATCH_SETS]
        left = [dict(engine.demand) for _ in batch]
        chosen: list[list[pd.Series]] = [[] for _ in batch]
        steps = len(batch[0])
        for q in range(steps):
            rows = np.array([seq[q] for seq in batch], dtype=np.int64)
            rest = np.vstack([left[i][engine.key[r]] for i, r in enumerate(rows)])
            priced, flows = engine.run(rows, rest, hourly=q < steps - 1)
            for i, r in enumerate(rows):
                chosen[i].append(priced.iloc[i])
                if flows is not None:
                    key = engine.key[r]
                    left[i][key] = np.maximum(left[i][key] - flows[i], 0.0)
        values += [_value(rows_, objective) for rows_ in chosen]
    return values


def _improve(
    engine: _Engine,
    order: list[int],
    value: float,
    objective: str,
    standalone: pd.DataFrame,
    merit: list[int],
    k: int,
) -> tuple[list[int], float]:
    """One-for-one swaps with the best remaining sites while one raises the objective."""
    n = len(engine.t)
    if n == k:
        return order, value
    alone = {
        "npv": standalone["npv_eur"],
        "delivered_heat": standalone["delivered_heat_mwh_per_yr"],
        "lcoh": -standalone["lcoh_eur_per_mwh"],
    }[objective].to_numpy(dtype=float)
    by_value = [int(i) for i in np.argsort(-np.nan_to_num(alone, nan=-np.inf), kind="stable")]
    pool = max(SWAP_POOL, 2 * k)
    for _ in range(SWAP_ROUNDS):
        chosen = set(order)
        ins = [r for r in by_value if r not in chosen][:pool]
        sets = [sorted((chosen - {out}) | {new}, key=merit.index) for out in order for new in ins]
        if not sets:
            break
        values = _dispatch_many(engine, sets, objective)
        best = int(np.argmax(values))
        if not _better(values[best], value):
            break
        order, value = sets[best], values[best]
    return order, value


def _dispatch(engine: _Engine, order: list[int]) -> tuple[list[pd.Series], list[np.ndarray]]:
    """Run `order` one after the other, each against the demand the ones before it left."""
    left = {key: d.copy() for key, d in engine.demand.items()}
    marginal, flows = [], []
    for row in order:
        key = engine.key[row]
        priced, flow = engine.run(np.array([row]), left[key], hourly=True)
        left[key] = np.maximum(left[key] - flow[0], 0.0)
        marginal.append(priced.iloc[0])
        flows.append(flow[0])
    return marginal, flows


def _exact(engine: _Engine, k: int, objective: str) -> tuple[list[int], float]:
    """The best ordered set of `k` sites (each dispatched against what the ones before it
    left) by trying every one.

    Sequences are walked as prefixes (depth first): at each prefix the sites that may follow
    it are run together against the demand it leaves, once, and every sequence that starts
    with the prefix shares that run. Ties keep the first found (lowest site ids first).
    """
    best: tuple[float, list[int]] = (-np.inf, [])
    everyone = list(range(len(engine.t)))

    def walk(chosen: list[int], rows: list[pd.Series], left: dict) -> None:
        nonlocal best
        nxt_rows = [r for r in everyone if r not in chosen]
        runs: dict[int, tuple[pd.Series, np.ndarray]] = {}
        for key in dict.fromkeys(engine.key[nxt_rows]):
            group = np.array([r for r in nxt_rows if engine.key[r] == key])
            priced, flows = engine.run(group, left[key], hourly=len(chosen) + 1 < k)
            for j, row in enumerate(group):
                runs[int(row)] = (priced.iloc[j], None if flows is None else flows[j])
        for row in nxt_rows:
            priced_row, flow = runs[row]
            chosen_now, rows_now = [*chosen, row], [*rows, priced_row]
            if len(chosen_now) == k:
                value = _value(rows_now, objective)
                if not best[1] or value > best[0] + 1e-9 * max(1.0, abs(best[0])):
                    best = (value, chosen_now)
                continue
            key = engine.key[row]
            after = dict(left)
            after[key] = np.maximum(left[key] - flow, 0.0)
            walk(chosen_now, rows_now, after)

    walk([], [], {key: d.copy() for key, d in engine.demand.items()})
    return best[1], best[0]


def _sites_table(
    engine: _Engine,
    order: list[int],
    marginal: list[pd.Series],
    standalone: pd.DataFrame,
    picks: list[int],
) -> pd.DataFrame:
    rows = []
    for dispatch, (row, m) in enumerate(zip(order, marginal, strict=True), start=1):
        alone = standalone.iloc[row]
        out = {
            "dispatch": dispatch,
            "pick": picks.index(row) + 1 if row in picks else np.nan,
            "site_id": str(m["site_id"]),
            "label": str(m.get("label", "") or m["site_id"]),
            "network": str(engine.key[row]),
            "it_load_mw": float(m["it_load_mw"]),
            "capex_eur": float(m["capex_eur"]),
        }
        for col, name in _FIGURES:
            out[f"marginal_{name}"] = float(m[col])
        for col, name in _FIGURES:
            out[f"standalone_{name}"] = float(alone[col])
        out["heat_shared_away_mwh_per_yr"] = float(
            alone["delivered_heat_mwh_per_yr"] - m["delivered_heat_mwh_per_yr"]
        )
        rows.append(out)
    return pd.DataFrame(rows)


__all__ = ["OBJECTIVES", "Portfolio", "network_keys", "portfolio"]
