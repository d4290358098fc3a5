"""Sensitivity of a study to its key inputs: one-at-a-time sweeps, tornado, rank stability.

Each parameter is set to the low and the high end of its docs/model.md range while the others
keep their study values, and the whole study is re-run on the already-parsed inputs (so
routing, demand and the hourly model all respond, not just the economics).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from siting import stages
from siting.config import Params, Study
from siting.errors import ConfigError
from siting.params_meta import describe
from siting.pipeline import Runner
from siting.results import Results
from siting.sources.osm import read_osm
from siting.study import run

log = logging.getLogger(__name__)

# (low, high) per parameter; docs/model.md ranges where it gives one, [M] engineering spread else
# the inputs the tornado sweeps, each over its plausible range from the field metadata
# (siting.config, docs/model.md: electricity 40-150 EUR/MWh, Lorenz eta 0.40-0.55, ...)
SWEPT = (
    "electricity_price_eur_per_mwh",
    "eta_practical",
    "utilisation_it",
    "discount_rate",
    "heat_pump_capex_factor",
    "pipe_cost_factor",
)
DEFAULT_RANGES: dict[str, tuple[float, float]] = {n: describe(Params)[n].typical for n in SWEPT}


# parameters that change only the money, not the heat: the base run's table is re-priced
# (exactly the study's own `_economics`) instead of re-running the whole study
ECONOMIC_ONLY = frozenset(
    {
        "electricity_price_eur_per_mwh",
        "discount_rate",
        "heat_pump_capex_factor",
        "pipe_cost_factor",
        "heat_price_eur_per_mwh",
        "heat_pump_fom_eur_per_mw_yr",
        "heat_pump_vom_eur_per_mwh",
        "pipe_om_fraction",
        "pipe_vom_eur_per_mwh_km",
        "heat_pump_life_yr",
        "pipe_life_yr",
        "analysis_years",
        "ef_displaced_t_per_mwh",
        "ef_electricity_t_per_mwh",
    }
)


@dataclass
class SensitivityResult:
    """One-at-a-time sweep results.

    Attributes
    ----------
    table : one row per (parameter, end): `parameter`, `end` ("low"/"high"), `value`,
        `lcoh_eur_per_mwh`, `homes_served`, `rank` of the chosen site, `top3` (site ids).
    site_id : the site the tornado describes.
    base_lcoh_eur_per_mwh, base_homes_served : its values in the base run.
    stability : per site, the share of all runs (base included) in which it ranks top 3.
    """

    table: pd.DataFrame
    site_id: str
    base_lcoh_eur_per_mwh: float
    base_homes_served: float
    stability: pd.DataFrame

    def tornado(self, metric: str = "lcoh_eur_per_mwh", ax: Any = None):
        """A tornado plot (matplotlib Figure) of `metric` for the chosen site."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        base = (
            self.base_lcoh_eur_per_mwh if metric == "lcoh_eur_per_mwh" else self.base_homes_served
        )
        wide = self.table.pivot(index="parameter", columns="end", values=metric)
        vals = self.table.pivot(index="parameter", columns="end", values="value")
        swing = (wide["high"] - wide["low"]).abs()
        order = swing.sort_values().index
        if ax is None:
            fig, ax = plt.subplots(figsize=(7, 0.6 * len(order) + 1.5))
        else:
            fig = ax.figure
        y = np.arange(len(order))
        for end, color in (("low", "#4575b4"), ("high", "#d73027")):
            delta = wide.loc[order, end].to_numpy() - base
            ax.barh(y, delta, left=base, color=color, alpha=0.8, label=f"{end} end")
        labels = [f"{p}\n({vals.loc[p, 'low']:.3g} – {vals.loc[p, 'high']:.3g})" for p in order]
        ax.set_yticks(y, labels, fontsize=8)
        ax.axvline(base, color="black", lw=1)
        unit = "EUR/MWh" if metric == "lcoh_eur_per_mwh" else "homes"
        ax.set_xlabel(f"{metric} of site {self.site_id} ({unit}); base {base:,.1f}")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_title("Sensitivity, one parameter at a time")
        fig.tight_layout()
        return fig


def sensitivity(
    config: Study | Any,
    params: list[str] | None = None,
    ranges: dict[str, tuple[float, float]] | None = None,
    site_id: str | None = None,
    *,
    osm: Any = None,
    network: Any = None,
    sites: Any = None,
) -> SensitivityResult:
    """Vary each parameter over its range, one at a time, and re-run the study.

    Parameters that change only the economics (`ECONOMIC_ONLY`) re-price the base run's
    table exactly as the study does; the others re-run the study on the inputs read once.

    Parameters
    ----------
    config : a :class:`Study`, or a :class:`~siting.study.Results` (its study is used).
    params : names of :class:`Params` fields to vary (default: all of `DEFAULT_RANGES`).
    ranges : (low, high) per parameter, overriding `DEFAULT_RANGES`.
    site_id : the site for the tornado (default: the base run's best feasible site).
    osm, network, sites : pre-read inputs (read once here otherwise).

    Returns
    -------
    SensitivityResult with the sweep table, a `.tornado()` plot and the top-3 stability.
    """
    study = config.study if isinstance(config, Results) else config
    if not isinstance(study, Study):
        raise ConfigError("sensitivity() takes a siting.Study or the Results of siting.run.")
    spans = {**DEFAULT_RANGES, **(ranges or {})}
    names = list(params or DEFAULT_RANGES)
    valid = {f for f in Params.__dataclass_fields__}
    for name in names:
        if name not in valid:
            raise ConfigError(f"sensitivity: {name!r} is not a Params field.")
        if name not in spans:
            raise ConfigError(f"sensitivity: give a (low, high) range for {name!r} in ranges=.")
    base = config if isinstance(config, Results) else None
    if base is None or any(n not in ECONOMIC_ONLY for n in names):
        if osm is None and study.osm_path is not None:
            osm = read_osm(study.osm_path)
    if base is None:
        base = run(study, osm=osm, network=network, sites=sites)
    ok = base.sites[base.sites["feasible"]]
    if site_id is None:
        if not len(ok):
            raise ConfigError("sensitivity: no feasible site in the base run to describe.")
        site_id = str(ok["site_id"].iloc[0])
    if site_id not in set(base.sites["site_id"]):
        raise ConfigError(f"sensitivity: site {site_id!r} is not in the study's sites.")
    rows = []
    top3_runs = [_top3(base.sites)]
    for name in names:
        for end, value in zip(("low", "high"), spans[name], strict=True):
            p = study.params.replace(**{name: value})
            if name in ECONOMIC_ONLY:
                ranked = _reprice(base, study, p)
            else:
                ranked = run(study.replace(params=p), osm=osm, network=network, sites=sites).sites
            row = ranked.set_index("site_id").loc[site_id]
            top3 = _top3(ranked)
            top3_runs.append(top3)
            rows.append(
                {
                    "parameter": name,
                    "end": end,
                    "value": value,
                    "lcoh_eur_per_mwh": float(row["lcoh_eur_per_mwh"]),
                    "homes_served": float(row["homes_served"]),
                    "rank": int(row["rank"]),
                    "top3": ",".join(top3),
                }
            )
            log.info("sensitivity %s=%g: LCOH %.2f", name, value, row["lcoh_eur_per_mwh"])
    ids = base.sites["site_id"].astype(str)
    share = {i: np.mean([i in t for t in top3_runs]) for i in ids}
    stability = (
        pd.DataFrame({"site_id": ids, "top3_share": [share[i] for i in ids]})
        .sort_values(["top3_share", "site_id"], ascending=[False, True], kind="stable")
        .reset_index(drop=True)
    )
    b = base.sites.set_index("site_id").loc[site_id]
    return SensitivityResult(
        table=pd.DataFrame(rows),
        site_id=site_id,
        base_lcoh_eur_per_mwh=float(b["lcoh_eur_per_mwh"]),
        base_homes_served=float(b["homes_served"]),
        stability=stability,
    )


def _top3(sites: pd.DataFrame) -> list[str]:
    ok = sites[sites["feasible"]]
    return [str(s) for s in ok["site_id"].head(3)]


def _reprice(base: Any, study: Study, p: Params) -> pd.DataFrame:
    """The base run's sites re-run from the `price` stage under `p` (no re-routing)."""
    r = Runner(("price", "rank"))
    priced = r("price", stages.price, pd.DataFrame(base.sites.drop(columns="geometry")), p)
    ranked, _ = r("rank", stages.rank, priced, study, base.sites, base.routes)
    r.close()
    return ranked
