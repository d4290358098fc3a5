"""Assemble per-site results into one table, score and rank them."""

from __future__ import annotations

import numpy as np
import pandas as pd

# the columns every ranking carries, in this order (more may follow)
RANKING_COLUMNS = [
    "site_id",
    "rank",
    "feasible",
    "reason",
    "mode",
    "name",
    "label",
    "address",
    "operator",
    "landuse",
    "osm_url",
    "origin",
    "it_load_mw",
    "cooling",
    "lcoh_eur_per_mwh",
    "homes_served",
    "delivered_heat_mwh_per_yr",
    "recovered_heat_mw",
    "cop",
    "route_length_m",
    "grid_distance_m",
    "substation_voltage_kv",
    "pipe_dn",
    "capex_eur",
    "npv_eur",
    "co2_avoided_t_per_yr",
    "erf",
]


# the score's default weights (Study.score_weights declares the same)
DEFAULT_SCORE_WEIGHTS = {
    "lcoh": 0.4,
    "homes_served": 0.3,
    "route_length": 0.1,
    "grid_distance": 0.2,
}


def rank_sites(
    sites: pd.DataFrame, method: str = "lcoh", weights: dict[str, float] | None = None
) -> pd.DataFrame:
    """Order sites and number them 1..n; infeasible sites last, keeping their reason.

    Parameters
    ----------
    sites : one row per site with `feasible`, `lcoh_eur_per_mwh`, `homes_served`,
        `route_length_m`, `co2_avoided_t_per_yr`, `site_id` and (for the grid criterion)
        `grid_distance_m`.
    method : "lcoh" (LCOH ascending, ties by homes served descending) or "score"
        (weighted sum of min-max normalised criteria, higher is better).
    weights : for "score": weights of `lcoh`, `homes_served`, `route_length`, `co2`,
        `grid_distance` (distance to the site's substation; a site without one scores 0
        on it).

    Returns
    -------
    A copy sorted by rank, with `rank` (1 = best) and, for "score", `score` in [0, 1].
    Ties end in `site_id` order, so the same inputs always give the same ranking.
    """
    df = sites.copy()
    feasible = df["feasible"].astype(bool).to_numpy()
    if method == "score":
        weights = weights or DEFAULT_SCORE_WEIGHTS
        grid = df["grid_distance_m"] if "grid_distance_m" in df else pd.Series(np.nan, df.index)
        criteria = {
            "lcoh": (df["lcoh_eur_per_mwh"], False),
            "homes_served": (df["homes_served"], True),
            "route_length": (df["route_length_m"], False),
            "co2": (df["co2_avoided_t_per_yr"], True),
            "grid_distance": (grid, False),
        }
        score = np.zeros(len(df))
        total = sum(weights.values()) or 1.0
        for key, w in weights.items():
            values, higher_better = criteria[key]
            score += w * _normalise(values.to_numpy(dtype=float), feasible, higher_better)
        df["score"] = np.where(feasible, score / total, np.nan)
        keys = [~feasible, -np.nan_to_num(df["score"].to_numpy(), nan=-1.0)]
    else:
        keys = [
            ~feasible,
            np.nan_to_num(df["lcoh_eur_per_mwh"].to_numpy(dtype=float), nan=np.inf),
            -np.nan_to_num(df["homes_served"].to_numpy(dtype=float), nan=0.0),
        ]
    # np.lexsort sorts by the last key first; site_id is the final tie-break
    ids = df["site_id"].astype(str).to_numpy()
    order = np.lexsort([ids, *reversed(keys)])
    df = df.iloc[order].reset_index(drop=True)
    df["rank"] = np.arange(1, len(df) + 1)
    front = [c for c in RANKING_COLUMNS if c in df.columns]
    return df[front + [c for c in df.columns if c not in front]]


_COOLING_WORDS = {"air_coil": "air-coil", "liquid": "liquid", "immersion": "immersion"}
RANKING_BASIS_START = "All candidates have the same IT load"


def ranking_basis(sites: pd.DataFrame) -> str:
    """A sentence when every candidate has one IT load and one cooling type, else "".

    Such sites differ only in where they are, so their ranking is by connection cost (the
    route, the pipe and the network it reaches), not by the sites themselves: say so.
    """
    if len(sites) < 2 or not {"it_load_mw", "cooling"} <= set(sites.columns):
        return ""
    loads = pd.to_numeric(sites["it_load_mw"], errors="coerce")
    cooling = sites["cooling"].astype(str)
    if loads.isna().any() or loads.nunique() != 1 or cooling.nunique() != 1:
        return ""
    kind = _COOLING_WORDS.get(cooling.iloc[0], cooling.iloc[0])
    # no count in the text: tiles of one study give the same sentence (siting.tiles)
    return (
        f"{RANKING_BASIS_START} ({loads.iloc[0]:g} MW) and cooling ({kind}), so the ranking "
        "is by connection cost (route, pipe and the heat the network takes), not by the sites "
        "themselves; give a sites file with each site's IT load and cooling to compare real "
        "projects."
    )


def _normalise(values: np.ndarray, feasible: np.ndarray, higher_better: bool) -> np.ndarray:
    """Min-max over feasible sites to [0, 1], 1 = best; constant columns give 1."""
    ok = feasible & np.isfinite(values)
    out = np.zeros(len(values))
    if not ok.any():
        return out
    lo, hi = values[ok].min(), values[ok].max()
    if hi == lo:
        out[ok] = 1.0
        return out
    scaled = (values[ok] - lo) / (hi - lo)
    out[ok] = scaled if higher_better else 1.0 - scaled
    return out


PARETO_MINIMISE = ("lcoh_eur_per_mwh", "grid_distance_m")
PARETO_MAXIMISE = ("homes_served",)


def pareto_front(
    sites: pd.DataFrame,
    minimise: str | tuple[str, ...] = PARETO_MINIMISE,
    maximise: str | tuple[str, ...] = PARETO_MAXIMISE,
) -> np.ndarray:
    """Boolean mask of feasible sites no other feasible site dominates.

    By default on low LCOH, a short distance to the power grid and many homes served: a
    site is dominated when another is at least as good on every criterion and better on
    one. Columns the table lacks are left out; a missing value (no substation found) is
    the worst on its criterion. A site without a finite LCOH or homes figure is never on
    the front.
    """
    minimise = (minimise,) if isinstance(minimise, str) else tuple(minimise)
    maximise = (maximise,) if isinstance(maximise, str) else tuple(maximise)
    feasible = sites["feasible"].astype(bool).to_numpy()
    cols = [(c, 1.0) for c in minimise if c in sites] + [(c, -1.0) for c in maximise if c in sites]
    mask = np.zeros(len(sites), dtype=bool)
    if not cols:
        return mask
    # every criterion as "lower is better"; NaN -> +inf (worst); the first criterion to
    # minimise and to maximise (LCOH, homes) must be known
    values = np.column_stack([sign * sites[c].to_numpy(dtype=float) for c, sign in cols])
    first = np.ones(len(sites), dtype=bool)
    for primary in (minimise[:1], maximise[:1]):
        for c in primary:
            if c in sites:
                first &= np.isfinite(sites[c].to_numpy(dtype=float))
    values = np.where(np.isfinite(values), values, np.inf)
    idx = np.flatnonzero(feasible & first)
    if len(idx) == 0:
        return mask
    v = values[idx]
    dominated = np.zeros(len(idx), dtype=bool)
    for start in range(0, len(idx), 512):  # chunks: memory of 512 x n comparisons
        block = v[start : start + 512, None, :]
        le = (v[None, :, :] <= block).all(axis=2)
        lt = (v[None, :, :] < block).any(axis=2)
        dominated[start : start + 512] = (le & lt).any(axis=1)
    mask[idx[~dominated]] = True
    return mask
