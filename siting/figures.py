"""Per-site figures: hourly operation, load-duration curve and monthly delivered heat."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from siting.errors import ConfigError
from siting.stages.operate import demand_shape, run_hourly


def site_hourly(results: Any, site_id: str) -> pd.DataFrame:
    """Hour-by-hour operation of one routed site, as the study computed it.

    Columns (MW): `available_mw` (what the heat pump could make), `delivered_mw` (into the
    network, after the route's losses), `network_demand_mw` (the demand it serves),
    `electricity_mw`, and `cop`; indexed by the study's weather hours.
    """
    sites = results.sites.set_index("site_id")
    if site_id not in sites.index:
        raise ConfigError(f"site {site_id!r} is not in the results; see results.sites.site_id.")
    row = sites.loc[[site_id]].reset_index()
    if not bool(row["feasible"].iloc[0]):
        raise ConfigError(
            f"site {site_id!r} is not feasible ({row['reason'].iloc[0]}); it has no operation."
        )
    return row_hourly(results, row)


def row_hourly(results: Any, row: pd.DataFrame) -> pd.DataFrame:
    """:func:`site_hourly` of the one feasible site whose ranking row is `row` (a frame of
    one row): for callers that hold the row already (the map draws many sites)."""
    p = results.study.params
    weather = results.weather
    run = run_hourly(
        row,
        p,
        weather,
        results.network_demand_mwh_per_yr,
        results.mode,
        return_hourly=True,
        series=getattr(results, "series", None),
    )
    h, keep = run.result.hourly, run.keep
    existing = results.mode == "existing_network"
    shape = demand_shape(
        weather.to_numpy(dtype=float), p, p.network_loss_share if existing else 0.0
    )
    demand = shape * float(run.served[0])
    return pd.DataFrame(
        {
            "available_mw": h["available_mw"][0],
            "delivered_mw": h["delivered_mw"][0] * keep[0],
            "network_demand_mw": demand,
            "electricity_mw": h["electricity_mw"][0],
            "cop": h["cop"][0],
        },
        index=weather.index,
    )


def site_figure(results: Any, site_id: str | None = None):
    """Load-duration curve (delivered vs available) and monthly delivered heat of a site.

    Defaults to the best feasible site. Returns a matplotlib Figure.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if site_id is None:
        best = results.best()
        if best is None:
            raise ConfigError("no feasible site to draw.")
        site_id = str(best["site_id"])
    hourly = site_hourly(results, site_id)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    hours = np.arange(1, len(hourly) + 1)
    ax1.plot(hours, np.sort(hourly["available_mw"].to_numpy())[::-1], label="available", lw=1.5)
    ax1.plot(hours, np.sort(hourly["delivered_mw"].to_numpy())[::-1], label="delivered", lw=1.5)
    ax1.plot(
        hours,
        np.sort(hourly["network_demand_mw"].to_numpy())[::-1],
        label="demand served",
        lw=1,
        ls="--",
        color="grey",
    )
    ax1.set_xlabel("hours of the year, sorted")
    ax1.set_ylabel("MW")
    ax1.set_title(f"Load-duration curve, site {site_id}")
    ax1.legend(fontsize=8)
    monthly = hourly[["available_mw", "delivered_mw"]].groupby(hourly.index.month).sum()
    x = monthly.index.to_numpy()
    ax2.bar(x - 0.2, monthly["available_mw"] / 1000, width=0.4, label="available")
    ax2.bar(x + 0.2, monthly["delivered_mw"] / 1000, width=0.4, label="delivered")
    ax2.set_xticks(range(1, 13))
    ax2.set_xlabel("month")
    ax2.set_ylabel("GWh")
    ax2.set_title("Monthly heat")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    return fig


def monthly_svg(hourly: pd.DataFrame, width: int = 300, height: int = 110) -> str:
    """A small inline SVG of monthly heat available vs delivered (GWh), for map popups.

    Plain SVG, no script or image file, so it works in offline maps too.
    """
    monthly = hourly[["available_mw", "delivered_mw"]].groupby(hourly.index.month).sum() / 1e3
    top = float(monthly.to_numpy().max()) or 1.0
    left, bottom, plot_h = 4, height - 16, height - 30
    slot = (width - left) / 12
    bars = []
    for i, (month, row) in enumerate(monthly.iterrows()):
        x = left + i * slot
        for j, (col, color) in enumerate(
            (("available_mw", "#9ecae1"), ("delivered_mw", "#d94801"))
        ):
            h = plot_h * row[col] / top
            bars.append(
                f'<rect x="{x + 1 + j * slot / 2.4:.1f}" y="{bottom - h:.1f}" '
                f'width="{slot / 2.6:.1f}" height="{h:.1f}" fill="{color}"/>'
            )
        bars.append(
            f'<text x="{x + slot / 2:.1f}" y="{height - 4}" font-size="8" '
            f'text-anchor="middle">{"JFMAMJJASOND"[int(month) - 1]}</text>'
        )
    title = (
        f'<text x="{left}" y="10" font-size="9">Monthly heat, GWh (max {top:.1f}): '
        '<tspan fill="#6baed6">available</tspan> vs <tspan fill="#d94801">delivered</tspan></text>'
    )
    return (
        f'<div class="siting-monthly"><svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" role="img">{title}{"".join(bars)}</svg></div>'
    )
