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
    one row): for callers that hold the row already."""
    return rows_hourly(results, row)[0]


def rows_hourly(results: Any, rows: pd.DataFrame) -> list[pd.DataFrame]:
    """:func:`row_hourly` of each feasible site in `rows` (ranking rows), from one run of the
    hourly model: the numbers each gets alone, bit for bit (the map draws many sites)."""
    run = _run_alone(results, rows)
    h, keep = run.result.hourly, run.keep
    p = results.study.params
    existing = results.mode == "existing_network"
    weather = results.weather
    shape = demand_shape(
        weather.to_numpy(dtype=float), p, p.network_loss_share if existing else 0.0
    )
    return [
        pd.DataFrame(
            {
                "available_mw": h["available_mw"][i],
                "delivered_mw": h["delivered_mw"][i] * keep[i],
                "network_demand_mw": shape * float(run.served[i]),
                "electricity_mw": h["electricity_mw"][i],
                "cop": h["cop"][i],
            },
            index=weather.index,
        )
        for i in range(len(rows))
    ]


def _run_alone(results: Any, rows: pd.DataFrame) -> Any:
    return run_hourly(
        rows,
        results.study.params,
        results.weather,
        results.network_demand_mwh_per_yr,
        results.mode,
        return_hourly=True,
        series=getattr(results, "series", None),
        alone=True,
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
    return _monthly_svg(monthly.index.to_numpy(), monthly.to_numpy(), width, height)


def monthly_svgs(results: Any, rows: pd.DataFrame) -> list[str]:
    """:func:`monthly_svg` of each feasible site in `rows` (ranking rows), the same text:
    one run of the hourly model and one monthly sum for all of them."""
    run = _run_alone(results, rows)
    h, keep = run.result.hourly, run.keep
    n = len(rows)
    # available then delivered (as row_hourly has them), one column per site; a column's
    # monthly sum does not depend on the columns beside it
    hours = np.concatenate([h["available_mw"], h["delivered_mw"] * keep[:, None]]).T
    index = results.weather.index
    monthly = pd.DataFrame(hours, index=index).groupby(index.month).sum() / 1e3
    months, sums = monthly.index.to_numpy(), monthly.to_numpy()
    return [_monthly_svg(months, sums[:, [i, n + i]]) for i in range(n)]


def _monthly_svg(months: np.ndarray, gwh: np.ndarray, width: int = 300, height: int = 110) -> str:
    """The chart of :func:`monthly_svg` from months (1-12) and their (available, delivered)
    GWh, one row per month."""
    top = float(gwh.max()) or 1.0
    left, bottom, plot_h = 4, height - 16, height - 30
    slot = (width - left) / 12
    bars = []
    for i, (month, row) in enumerate(zip(months.tolist(), gwh.tolist(), strict=True)):
        x = left + i * slot
        for j, color in enumerate(("#9ecae1", "#d94801")):  # available, delivered
            h = plot_h * row[j] / top
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
