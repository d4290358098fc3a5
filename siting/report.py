"""A one-page study report: `build_report(results, out_dir)` writes report.html and its figures.

The page is self-contained (figures embedded as base64 PNG, CSS inline, no scripts), so it
opens anywhere and can be e-mailed. Beside it the same figures are written as PNG files:

- ``cost_breakdown.png``: CAPEX by component and LCOH by term of the top sites;
- ``load_duration.png``: hourly heat of the top site over a typical Danish year;
- ``sensitivity.png``: tornado of the top site's LCOH over the uncertain inputs.

The files are published as one set (:mod:`siting.outputs`, like the study's results): a
reader sees the whole earlier report or the whole new one; a failure leaves no partial report.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from siting import hourly
from siting.config import Params
from siting.errors import SitingError
from siting.figures import site_hourly
from siting.outputs import check_output_dir, staged_output
from siting.sensitivity import DEFAULT_RANGES
from siting.sensitivity import sensitivity as sweep
from siting.sources.weather import typical_danish_year

log = logging.getLogger(__name__)

__all__ = ["build_report", "changed_params", "sensitivity", "FIGURES"]

REPORT_NAME = "report.html"
FIGURES = ("cost_breakdown.png", "load_duration.png", "sensitivity.png")
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
TOP_N = 10

# Ranges of the sensitivity tornado (MODEL.md ranges where it gives them).

# Plain-words names of the parameters most reports will show (others: the field name).
PARAM_LABELS = {
    "capture_fraction": "Share of IT heat captured into water, by cooling type",
    "source_in_c": "Cooling water from the data center (°C), by cooling type",
    "source_out_c": "Cooling water back to the data center (°C), by cooling type",
    "utilisation_it": "Average IT load as share of nameplate",
    "pue": "PUE",
    "eta_lorenz": "Lorenz efficiency of the heat pump",
    "cop_model": "COP model",
    "supply_temp_c": "DH supply temperature (°C)",
    "return_temp_c": "DH return temperature (°C)",
    "annual_utilisation": "Share of available heat the network takes (u)",
    "discount_rate": "Discount rate",
    "electricity_price_eur_per_mwh": "Electricity price (EUR/MWh)",
    "heat_price_eur_per_mwh": "Price of the heat replaced (EUR/MWh)",
    "mwh_per_home": "Heat per home (MWh/yr)",
    "heat_pump_life_yr": "Heat-pump life (years)",
    "pipe_life_yr": "Pipe life (years)",
    "max_route_length_m": "Longest route screened (m)",
    "ef_electricity_t_per_mwh": "CO2 factor of electricity (t/MWh)",
    "ef_displaced_t_per_mwh": "CO2 factor of the heat replaced (t/MWh)",
}


# --------------------------------------------------------------------------- assumptions


def changed_params(params: Params, defaults: Params | None = None) -> pd.DataFrame:
    """Every parameter of `params` that differs from the MODEL.md defaults (``Params()``).

    Mappings (e.g. ``source_in_c``) are compared key by key and reported as ``key: value``.
    Returns columns ``parameter``, ``description``, ``value``, ``default``.
    """
    defaults = defaults if defaults is not None else Params()
    rows = []
    for f in dataclasses.fields(params):
        value, default = getattr(params, f.name), getattr(defaults, f.name, None)
        if _same(value, default):
            continue
        if isinstance(value, dict) and isinstance(default, dict):
            keys = sorted(
                k for k in set(value) | set(default) if not _same(value.get(k), default.get(k))
            )
            shown = "; ".join(f"{k}: {_fmt(value.get(k))}" for k in keys)
            was = "; ".join(f"{k}: {_fmt(default.get(k))}" for k in keys)
        else:
            shown, was = _fmt(value), _fmt(default)
        rows.append(
            {
                "parameter": f.name,
                "description": PARAM_LABELS.get(f.name, f.name.replace("_", " ")),
                "value": shown,
                "default": was,
            }
        )
    return pd.DataFrame(rows, columns=["parameter", "description", "value", "default"])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float | int) and isinstance(b, float | int):
        return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-15)
    if isinstance(a, tuple | list) and isinstance(b, tuple | list):
        return list(a) == list(b)
    return bool(a == b)


def _fmt(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value)) or "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) or "(none)"
    return str(value)


# --------------------------------------------------------------------------- sensitivity


@dataclass(frozen=True)
class Sensitivity:
    """LCOH of one site at the low and high end of one input (EUR/MWh)."""

    label: str
    low_label: str
    high_label: str
    lcoh_low: float
    lcoh_high: float


_LABELS = {
    "electricity_price_eur_per_mwh": ("Electricity price", "{:g} EUR/MWh"),
    "eta_lorenz": ("Heat-pump Lorenz efficiency", "{:.2f}"),
    "utilisation_it": ("IT utilisation", "{:.0%}"),
    "discount_rate": ("Discount rate", "{:.1%}"),
    "heat_pump_capex_factor": ("Heat-pump CAPEX", "x{:.2f}"),
    "pipe_cost_factor": ("Pipe cost", "x{:.2f}"),
}


def sensitivity(results, site_id: str | None = None, osm=None) -> tuple[float, list[Sensitivity]]:
    """LCOH of a site (default: the best) with each uncertain input at its low/high end.

    A thin view of :func:`siting.sensitivity` (MODEL.md ranges; economics-only inputs
    re-priced, the others re-run on the extract). Returns (base LCOH, one bar per input,
    largest swing first).
    """

    row = _site_row(results, site_id)
    res = sweep(results, params=list(DEFAULT_RANGES), site_id=str(row["site_id"]), osm=osm)
    wide = res.table.pivot(index="parameter", columns="end", values="lcoh_eur_per_mwh")
    out = []
    for name in wide.index:
        label, fmt = _LABELS.get(name, (name, "{:g}"))
        lo, hi = DEFAULT_RANGES[name]
        out.append(
            Sensitivity(
                label,
                fmt.format(lo),
                fmt.format(hi),
                float(wide.loc[name, "low"]),
                float(wide.loc[name, "high"]),
            )
        )
    out.sort(key=lambda s: -abs(s.lcoh_high - s.lcoh_low))
    return res.base_lcoh_eur_per_mwh, out


def _site_row(results, site_id: str | None) -> pd.Series:
    sites = results.sites
    if site_id is None:
        best = results.best()
        if best is None:
            raise ValueError("no feasible site: nothing to analyse")
        return best
    match = sites[sites["site_id"].astype(str) == str(site_id)]
    if match.empty:
        raise KeyError(f"no site {site_id!r} in the results")
    return match.iloc[0]


# --------------------------------------------------------------------------- figures


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=110, layout="constrained")


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _label(row: pd.Series) -> str:
    name = str(row.get("name") or "").strip()
    text = f"#{int(row['rank'])} {name or row['site_id']}"
    return text if len(text) <= 34 else text[:32] + "…"


def cost_breakdown_figure(top: pd.DataFrame):
    """Stacked bars: CAPEX by component (left), LCOH by term (right), one bar per site."""
    fig = _figure(11, 0.9 + 0.42 * max(len(top), 2))
    ax1, ax2 = fig.subplots(1, 2, sharey=True)
    labels = [_label(r) for _, r in top.iterrows()]
    y = np.arange(len(top))
    capex = {
        "heat pump": "heat_pump_capex_eur",
        "pipe": "pipe_capex_eur",
        "connection station": "station_capex_eur",
    }
    lcoh = {
        "capital": "lcoh_capital_eur_per_mwh",
        "O&M": "lcoh_om_eur_per_mwh",
        "electricity": "lcoh_electricity_eur_per_mwh",
    }
    for ax, parts, scale, colors in (
        (ax1, capex, 1e-6, ["#4c72b0", "#dd8452", "#937860"]),
        (ax2, lcoh, 1.0, ["#4c72b0", "#8c8c8c", "#c44e52"]),
    ):
        left = np.zeros(len(top))
        for (name, col), color in zip(parts.items(), colors, strict=True):
            values = np.nan_to_num(pd.to_numeric(top.get(col), errors="coerce").to_numpy()) * scale
            ax.barh(y, values, left=left, color=color, label=name)
            left += values
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, fontsize=8, frameon=False)
        ax.grid(axis="x", alpha=0.3)
    ax1.set_yticks(y, labels)
    ax1.invert_yaxis()
    ax1.set_xlabel("CAPEX [million EUR]")
    ax1.set_title("Investment by component", fontsize=10, pad=22)
    ax2.set_xlabel("LCOH [EUR per MWh delivered]")
    ax2.set_title("Levelised cost of heat by term", fontsize=10, pad=22)
    return fig


def _hourly_of_results(results, row: pd.Series) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Hourly delivered/available of a site from the study's own hourly run, if it made one."""
    if getattr(results, "weather", None) is None:
        return None
    if "recovery_model" in row.index and str(row["recovery_model"]) != "hourly":
        return None
    try:
        hourly = site_hourly(results, str(row["site_id"]))
    except (ImportError, SitingError, KeyError, ValueError) as exc:
        log.info("report: the study's hourly operation is not available (%s)", exc)
        return None
    p = results.study.params
    weather = results.weather
    source = weather.attrs.get("source", "the study's weather")
    note = (
        f"The study's own hourly run: weather {source}, network demand by heating "
        f"degree-hours, IT load at {p.utilisation_it:.0%} of nameplate. Delivered is after the "
        "route's losses."
    )
    return hourly["delivered_mw"].to_numpy(), hourly["available_mw"].to_numpy(), note


def hourly_of_site(results, row: pd.Series) -> tuple[np.ndarray, np.ndarray, str]:
    """Hourly delivered and available heat [MW] of one site over a typical Danish year.

    The study's own hourly results when it has them. Otherwise the hourly model
    (:func:`siting.hourly.hourly_recovery`) with the built-in typical Danish year, the IT load
    flat at ``utilisation_it``, the supply temperature flat at ``supply_temp_c`` (as in the
    ranking), and a network demand shaped by heating degree-hours (20 % hot water) whose
    annual total is chosen so that the site's heat is used at the ranking's utilisation.
    Returns (delivered, available, a sentence stating the assumptions).
    """
    own = _hourly_of_results(results, row)
    if own is not None:
        return own

    p = results.study.params
    outdoor = typical_danish_year().to_numpy()
    cooling = str(row["cooling"])
    kwargs = dict(
        capture_fraction=p.capture_fraction[cooling],
        utilisation_it=p.utilisation_it,
        source_in_c=float(row["source_in_c"]),
        source_out_c=float(row["source_out_c"]),
        supply_c=p.supply_temp_c,
        return_c=p.return_temp_c,
        eta=p.eta_lorenz,
        cop_model=p.cop_model,
        heat_pump_max_mw=float(row["heat_pump_mw"]),
        pue=p.pue,
    )
    it_mw = float(row["it_load_mw"])
    shape = hourly.network_demand_profile(outdoor, 1.0)
    target = float(np.clip(np.nan_to_num(row.get("utilisation", p.annual_utilisation)), 0, 0.995))

    def run(annual: float):
        return hourly.hourly_recovery(it_mw, outdoor, shape * annual, **kwargs)

    available = float(run(1.0).available_heat_mwh_per_yr)
    lo, hi = np.log(1e-3 * available), np.log(1e3 * available)
    for _ in range(50):  # utilisation grows with the network's size: bisect on log(annual)
        mid = 0.5 * (lo + hi)
        if run(float(np.exp(mid))).utilisation < target:
            lo = mid
        else:
            hi = mid
    annual = float(np.exp(hi))
    res = hourly.hourly_recovery(it_mw, outdoor, shape * annual, return_hourly=True, **kwargs)
    note = (
        f"Assumed: typical Danish year (built-in), IT load flat at {p.utilisation_it:.0%}, "
        f"supply {p.supply_temp_c:g} °C; network demand by heating degree-hours + 20 % hot "
        f"water, {annual / 1e3:,.0f} GWh/yr, so that {res.utilisation:.0%} of the available "
        "heat is used, as in the ranking."
    )
    return res.hourly["delivered_mw"], res.hourly["available_mw"], note


def load_duration_figure(delivered: np.ndarray, available: np.ndarray, title: str, note: str):

    fig = _figure(8, 4.2)
    ax = fig.subplots()
    hourly.plot_load_duration(ax, delivered, available)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    fig.text(0.01, 0.005, note, fontsize=7, wrap=True, va="bottom", color="0.3")
    fig.get_layout_engine().set(h_pad=0.35)
    return fig


def tornado_figure(base: float, bars: list[Sensitivity], title: str):
    fig = _figure(8, 0.9 + 0.45 * max(len(bars), 2))
    ax = fig.subplots()
    y = np.arange(len(bars))
    for i, s in enumerate(bars):
        for value, text, color in (
            (s.lcoh_low, s.low_label, "#4c72b0"),
            (s.lcoh_high, s.high_label, "#c44e52"),
        ):
            ax.barh(i, value - base, left=base, color=color, alpha=0.85)
            ax.text(
                value,
                i,
                f" {text} ",
                va="center",
                ha="left" if value >= base else "right",
                fontsize=8,
            )
    ax.axvline(base, color="0.2", lw=1)
    ax.set_yticks(y, [s.label for s in bars])
    ax.invert_yaxis()
    lo = min([base] + [min(s.lcoh_low, s.lcoh_high) for s in bars])
    hi = max([base] + [max(s.lcoh_low, s.lcoh_high) for s in bars])
    pad = 0.25 * (hi - lo or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel(f"LCOH [EUR/MWh]  (base {base:.1f}; blue = low end, red = high end)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


# --------------------------------------------------------------------------- html

_CSS = """
body{font:14px/1.45 -apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#222;
max-width:1100px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin-bottom:2px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
.sub{color:#555}.key{background:#f3f7fb;border-left:4px solid #1f77b4;padding:8px 12px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}
th,td{border-bottom:1px solid #e3e3e3;padding:3px 8px;text-align:right}
th{background:#f5f5f5}td.l,th.l{text-align:left}img{max-width:100%}
td:nth-child(2){white-space:nowrap}
.note{color:#555;font-size:12px}.foot{color:#666;font-size:12px;margin-top:30px}
"""

_TABLE_COLUMNS = [
    ("rank", "Rank", "{:.0f}"),
    ("site_id", "Site", None),
    ("name", "Name", None),
    ("it_load_mw", "IT MW", "{:,.1f}"),
    ("cooling", "Cooling", None),
    ("cop", "COP", "{:.2f}"),
    ("lcoh_eur_per_mwh", "LCOH EUR/MWh", "{:,.1f}"),
    ("delivered_heat_mwh_per_yr", "Heat MWh/yr", "{:,.0f}"),
    ("homes_served", "Homes", "{:,.0f}"),
    ("route_length_m", "Route m", "{:,.0f}"),
    ("pipe_dn", "DN", "{:.0f}"),
    ("capex_eur", "CAPEX M EUR", None),
    ("npv_eur", "NPV M EUR", None),
    ("co2_avoided_t_per_yr", "CO2 t/yr", "{:,.0f}"),
    ("erf", "ERF", "{:.2f}"),
]


def _cell(value: Any, fmt: str | None, column: str) -> str:
    if column in ("capex_eur", "npv_eur"):
        try:
            return f"{float(value) / 1e6:,.1f}" if math.isfinite(float(value)) else ""
        except (TypeError, ValueError):
            return ""
    if fmt is None:
        return html.escape("" if value is None or value is pd.NA else str(value))
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    return fmt.format(x) if math.isfinite(x) else ""


def _sites_table(top: pd.DataFrame) -> str:
    cols = [c for c in _TABLE_COLUMNS if c[0] in top.columns]
    head = "".join(
        f'<th class="{"l" if f is None else ""}">{html.escape(t)}</th>' for _, t, f in cols
    )
    body = []
    for _, row in top.iterrows():
        cells = "".join(
            f'<td class="{"l" if f is None else ""}">{_cell(row[c], f, c)}</td>' for c, _, f in cols
        )
        body.append(
            f'<tr class="site" data-site-id="{html.escape(str(row["site_id"]))}">{cells}</tr>'
        )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _sources(results) -> str:
    study = results.study
    osm = Path(study.osm_path).name if study.osm_path else "an OpenStreetMap extract"
    items = [
        f"Buildings, streets{'' if study.network_path else ', heat pipelines'} and land use: "
        f"OpenStreetMap extract <code>{html.escape(osm)}</code>, {OSM_ATTRIBUTION}, "
        'licensed under the <a href="https://opendatacommons.org/licenses/odbl/">ODbL 1.0</a>.'
    ]
    if study.network_path:
        items.append(
            f"District-heating network: <code>{html.escape(Path(study.network_path).name)}"
            "</code> (user file)."
        )
    elif results.network is None or not len(results.network):
        items.append("No district-heating network: new local networks are planned per site.")
    if study.sites_path:
        items.append(f"Candidate sites: <code>{html.escape(Path(study.sites_path).name)}</code>.")
    else:
        items.append("Candidate sites: generated from the OpenStreetMap extract.")
    items += [
        "Model and default parameters: siting MODEL.md: heat-pump and transport costs from the "
        "Danish Energy Agency technology data (via PyPSA technology-data), trench costs from "
        "Hotmaps, CO2 factors from BR18, homes from the Danish standard house (14 MWh/yr).",
        "Weather for the load-duration curve: siting's built-in typical Danish year (a fitted "
        "model of DMI/Taastrup temperatures, not measured hours).",
    ]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _assumptions_html(results) -> str:
    p = results.study.params
    changed = changed_params(p)
    key = (
        f"Electricity {p.electricity_price_eur_per_mwh:g} EUR/MWh, discount rate "
        f"{100 * p.discount_rate:g} %, DH {p.supply_temp_c:g}/{p.return_temp_c:g} °C, "
        f"heat pump {p.cop_model} COP (η = {p.eta_lorenz:g}), network takes "
        f"{100 * p.annual_utilisation:g} % of available heat, IT load {100 * p.utilisation_it:g} "
        f"% of nameplate, {p.mwh_per_home:g} MWh per home."
    )
    if changed.empty:
        table = "<p>All model parameters are the MODEL.md defaults.</p>"
    else:
        rows = "".join(
            f'<tr class="changed" data-param="{html.escape(r.parameter)}">'
            f'<td class="l"><code>{html.escape(r.parameter)}</code></td>'
            f'<td class="l">{html.escape(r.description)}</td>'
            f'<td class="l">{html.escape(r.value)}</td><td class="l">{html.escape(r.default)}</td>'
            "</tr>"
            for r in changed.itertuples()
        )
        table = (
            '<table><thead><tr><th class="l">Parameter</th><th class="l">What it is</th>'
            '<th class="l">This study</th><th class="l">MODEL.md default</th></tr></thead>'
            f"<tbody>{rows}</tbody></table>"
        )
    return f"<p>{html.escape(key)}</p><p>Parameters that differ from MODEL.md:</p>{table}"


def _page(results, top: pd.DataFrame, figures: dict[str, bytes], notes: dict[str, str]) -> str:
    study = results.study
    sites = results.sites
    n_ok = int(sites["feasible"].astype(bool).sum())
    best = results.best()
    if best is not None:
        name = f" ({best['name']})" if str(best.get("name") or "").strip() else ""
        summary = (
            f"Best site: <b>{html.escape(str(best['site_id']) + name)}</b>, LCOH "
            f"{best['lcoh_eur_per_mwh']:.1f} EUR/MWh, {best['delivered_heat_mwh_per_yr']:,.0f} "
            f"MWh/yr into the network, enough for {best['homes_served']:,.0f} homes "
            f"({study.params.mwh_per_home:g} MWh each), route {best['route_length_m']:,.0f} m."
        )
    else:
        summary = "No site is feasible; see the reasons in the ranking."
    mode = (
        "feeding the existing district-heating network"
        if results.mode == "existing_network"
        else "each site supplying a new local network"
    )
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(study.name)}: siting report</title><style>{_CSS}</style></head>",
        f"<body><h1>{html.escape(study.name)}</h1>",
        f'<div class="sub">siting report, {dt.date.today():%d %B %Y}: {len(sites)} candidate '
        f"sites, {n_ok} feasible, {mode}. Ranked by {html.escape(study.ranking)}.</div>",
        f'<p class="key">{summary}</p>',
        f"<h2>Top sites</h2>{_sites_table(top)}",
        '<p class="note">LCOH: levelised cost of heat delivered into the network. NPV against '
        f"heat at {study.params.heat_price_eur_per_mwh:g} EUR/MWh. ERF: energy reuse factor "
        "(ISO/IEC 30134-6; Germany's EnEfG asks 10-20 %).</p>",
        "<h2>Cost breakdown</h2>",
        _img(figures["cost_breakdown.png"], "Cost breakdown per site"),
        "<h2>Heat over the year (top site)</h2>",
    ]
    if "load_duration.png" in figures:
        parts.append(_img(figures["load_duration.png"], "Load-duration curve of the top site"))
    parts.append(f'<p class="note">{html.escape(notes.get("load_duration", ""))}</p>')
    parts.append("<h2>Sensitivity of the top site's LCOH</h2>")
    if "sensitivity.png" in figures:
        parts.append(_img(figures["sensitivity.png"], "Sensitivity tornado of the top site"))
    parts.append(f'<p class="note">{html.escape(notes.get("sensitivity", ""))}</p>')
    parts += [
        f"<h2>Assumptions</h2>{_assumptions_html(results)}",
        f"<h2>Data sources</h2>{_sources(results)}",
        f'<p class="foot">Made with siting. Map data {OSM_ATTRIBUTION}.</p></body></html>',
    ]
    return "\n".join(parts)


# --------------------------------------------------------------------------- entry point


def build_report(results, out_dir: str | os.PathLike[str], *, osm=None) -> Path:
    """Write ``report.html`` (self-contained, one page) and its PNG figures into `out_dir`.

    Parameters
    ----------
    results : siting.Results
        A finished study.
    out_dir : folder
        Created if missing. Files: ``report.html``, ``cost_breakdown.png`` and, when there
        is a feasible site, ``load_duration.png`` and ``sensitivity.png``.
    osm : siting.sources.osm.OsmData, optional
        The extract already read, for the sensitivity re-runs (read again if not given).

    Returns
    -------
    Path of ``report.html``.
    """
    out = check_output_dir(out_dir)  # before the sensitivity runs: a bad folder fails fast
    sites = results.sites
    top = sites[sites["feasible"].astype(bool)].head(TOP_N)
    figures: dict[str, bytes] = {}
    notes: dict[str, str] = {}
    best = results.best()
    figures["cost_breakdown.png"] = _png(
        cost_breakdown_figure(top if len(top) else sites.head(TOP_N))
    )
    if best is not None:
        label = _label(best)
        delivered, available, note = hourly_of_site(results, best)
        figures["load_duration.png"] = _png(
            load_duration_figure(delivered, available, f"{label}: heat over the year", note)
        )
        notes["load_duration"] = (
            f"{note} Grey: heat the site could deliver each hour; red: what the network takes, "
            "hours sorted from the highest."
        )
        base, bars = sensitivity(results, str(best["site_id"]), osm=osm)
        figures["sensitivity.png"] = _png(
            tornado_figure(base, bars, f"{label}: LCOH when one input changes")
        )
        names = ", ".join(f"{b.label.lower()} {b.low_label} to {b.high_label}" for b in bars)
        notes["sensitivity"] = (
            f"Each bar changes one input, the others at the study values: {names}."
        )
    else:
        notes["load_duration"] = notes["sensitivity"] = "No feasible site."
    page = _page(results, top if len(top) else sites.head(TOP_N), figures, notes)
    return _write_atomically(out, figures, page)


def _write_atomically(out: Path, figures: dict[str, bytes], page: str) -> Path:
    with staged_output(out, "report", legacy_names=(*FIGURES, REPORT_NAME)) as stage:
        for name, data in figures.items():
            (stage.dir / name).write_bytes(data)
        (stage.dir / REPORT_NAME).write_text(page, encoding="utf-8")
        # the page last: it exists only when its figures do
        final = stage.publish([*figures, REPORT_NAME])
    return final[REPORT_NAME]
