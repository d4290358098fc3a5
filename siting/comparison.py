"""Scenarios side by side: one tidy table of several studies' rankings, and its plot.

base = siting.Study(osm_path="odense.osm.pbf")
table = siting.compare({"base": base, "cheap power": base.with_params(
    electricity_price_eur_per_mwh=40)})
siting.compare_plot(table)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pandas as pd

from siting.config import Study
from siting.errors import ArgumentError
from siting.results import Results
from siting.study import run

__all__ = ["COMPARE_COLUMNS", "compare", "compare_plot"]

# one row per scenario and site: what a reader compares across scenarios
COMPARE_COLUMNS = (
    "rank",
    "site_id",
    "label",
    "feasible",
    "lcoh_eur_per_mwh",
    "homes_served",
    "co2_avoided_t_per_yr",
    "delivered_heat_mwh_per_yr",
    "route_length_m",
    "it_load_mw",
    "npv_eur",
    "reason",
    "lon",
    "lat",
)


_LABELS = {
    "lcoh_eur_per_mwh": "LCOH (EUR/MWh)",
    "homes_served": "homes served",
    "co2_avoided_t_per_yr": "CO2 avoided (t/yr)",
    "delivered_heat_mwh_per_yr": "heat delivered (MWh/yr)",
    "route_length_m": "route length (m)",
    "npv_eur": "NPV (EUR)",
}


def compare(
    scenarios: Mapping[str, Study | Results | dict | str | os.PathLike[str]],
    *,
    feasible_only: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """Run (or take) each scenario and stack their rankings into one tidy table.

    Parameters
    ----------
    scenarios : scenario name -> a :class:`Study`, a study mapping or YAML path (run
        here), or the :class:`Results` of a run already made.
    feasible_only : keep only feasible sites.
    progress : show each run's progress bar.

    Returns
    -------
    DataFrame with `scenario` first, then `COMPARE_COLUMNS` (those the ranking has), one row
    per scenario and site, in scenario order then rank. ``attrs["results"]`` holds each
    scenario's Results (by name) for maps and files.
    """
    if not isinstance(scenarios, Mapping) or not scenarios:
        raise ArgumentError(
            "compare() takes a mapping of scenario name -> Study or Results, e.g. "
            "{'base': study, 'cheap power': study.with_params(electricity_price_eur_per_mwh="
            "40)}, got "
            + type(scenarios).__name__
            + (" with no scenario" if isinstance(scenarios, Mapping) else "")
            + "."
        )
    tables, results = [], {}
    for name, item in scenarios.items():
        if not isinstance(item, Results | Study | Mapping | str | os.PathLike):
            raise ArgumentError(
                f"compare(): scenario {name!r} is a {type(item).__name__}; give a Study, a "
                "study mapping or YAML path, or the Results of siting.run."
            )
        res = item if isinstance(item, Results) else run(item, progress=progress)
        results[str(name)] = res
        table = res.ranking
        table = table[[c for c in COMPARE_COLUMNS if c in table.columns]]
        if feasible_only:
            table = table[table["feasible"].astype(bool)]
        tables.append(table.assign(scenario=str(name)))
    out = pd.concat(tables, ignore_index=True)
    out = out[["scenario", *[c for c in out.columns if c != "scenario"]]]
    out.attrs["results"] = results
    return out


def compare_plot(
    table: pd.DataFrame,
    metric: str = "lcoh_eur_per_mwh",
    top: int = 10,
    ax: Any = None,
):
    """Grouped bars of `metric` per site and scenario (matplotlib); returns the Figure.

    The sites shown are the `top` best of the first scenario (feasible, by rank), in that
    order, labelled by name; a site a scenario finds infeasible has no bar there.
    """
    import matplotlib.pyplot as plt

    if not isinstance(table, pd.DataFrame) or "scenario" not in table.columns:
        raise ArgumentError("compare_plot() takes the table siting.compare(...) returns.")
    if metric not in table.columns:
        raise ArgumentError(
            f"compare_plot(): no column {metric!r}; choose one of "
            f"{', '.join(c for c in table.columns if table[c].dtype.kind == 'f')}."
        )
    scenarios = list(dict.fromkeys(table["scenario"]))
    ok = table[table["feasible"].astype(bool)] if "feasible" in table else table
    first = ok[ok["scenario"] == scenarios[0]].sort_values("rank").head(top)
    sites = list(first["site_id"])
    labels = {
        r.site_id: (r.label if isinstance(r.label, str) and r.label else r.site_id)
        for r in table.drop_duplicates("site_id").itertuples()
    }
    wide = ok.pivot_table(index="site_id", columns="scenario", values=metric, aggfunc="first")
    wide = wide.reindex(index=sites, columns=scenarios)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.45 * max(len(sites), 3) + 1.2))
    else:
        fig = ax.figure
    height = 0.8 / max(len(scenarios), 1)
    for i, scenario in enumerate(scenarios):
        y = [k + i * height for k in range(len(sites))]
        ax.barh(y, wide[scenario].to_numpy(dtype=float), height=height, label=scenario)
    ax.set_yticks([k + 0.4 - height / 2 for k in range(len(sites))])
    ax.set_yticklabels([str(labels.get(s, s))[:40] for s in sites])
    ax.invert_yaxis()  # the best site on top
    what = _LABELS.get(metric, metric.replace("_", " "))
    ax.set_xlabel(what)
    ax.set_title(f"{what} by scenario: the {len(sites)} best sites of {scenarios[0]!r}")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig
