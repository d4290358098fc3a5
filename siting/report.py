"""A one-page study report: `build_report(results, out_dir)` writes report.html and its figures.

The page (a Jinja2 template, ``siting/data/templates/report.html``) is self-contained
(figures embedded as base64 PNG, CSS inline, no scripts), so it opens anywhere, on a phone
too, and can be e-mailed. Beside it the same figures are written as PNG files:

- ``locator_map.png``: where the top sites are (:mod:`siting.locator`);
- ``cost_breakdown.png``: CAPEX by component and LCOH by term of the top sites;
- ``load_duration.png``: hourly heat of the top site over a typical Danish year;
- ``sensitivity.png``: tornado of the top site's LCOH over the uncertain inputs.

`write_report` is `siting report`: the study's whole result set (``Results.to_files``:
ranking.csv, results.gpkg, map.html, heat_density.tif) and the report, from one run,
published as ONE set (:mod:`siting.outputs`): a reader sees the whole earlier set or the whole
new one, never new results beside an old report; a failure leaves nothing partial.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import importlib.resources
import io
import logging
import math
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from siting import hourly
from siting.config import Params
from siting.errors import SitingError
from siting.figures import site_hourly
from siting.locator import locator_map_figure
from siting.maps.popups import median_site, rank_explanation, site_label
from siting.naming import display_name
from siting.outputs import check_output_dir, staged_output
from siting.params_meta import NO_UNIT, describe
from siting.ranking import ranking_basis
from siting.results import RESULT_FILES
from siting.sources.weather import typical_danish_year
from siting.sweep import DEFAULT_RANGES
from siting.sweep import sensitivity as sweep

log = logging.getLogger(__name__)

__all__ = ["build_report", "changed_params", "sensitivity", "write_report", "FIGURES", "GLOSSARY"]

REPORT_NAME = "report.html"
FIGURES = ("locator_map.png", "cost_breakdown.png", "load_duration.png", "sensitivity.png")
GLOSSARY = (
    (
        "LCOH",
        "Levelised cost of heat: the heat pump's, pipe's and station's investment paid back "
        "over their lives at the discount rate, plus operation and electricity, per MWh "
        "delivered into the network (EUR/MWh). Split here into capital, O&M, electricity "
        "and the data center's grid connection.",
    ),
    (
        "COP",
        "Coefficient of performance of the heat pump: heat out per unit of electricity in. "
        "Warmer cooling water (liquid, immersion) and a cooler network give a higher COP.",
    ),
    (
        "DN",
        "Diamètre nominal: the pipe's nominal inner diameter in millimetres (DN200 ≈ 200 "
        "mm), sized for the heat pump's peak output.",
    ),
    (
        "ERF",
        "Energy reuse factor (ISO/IEC 30134-6): the share of the data center's energy that "
        "is reused as heat outside it, 0 to 1.",
    ),
    (
        "EnEfG",
        "Germany's Energy Efficiency Act (Energieeffizienzgesetz): §11 asks data centers "
        "opening from 2026 to reuse 10 % of their energy (ERF 0.10), 15 % from 2027 and 20 % "
        "from 2028; given as a yardstick outside Germany.",
    ),
    ("NPV", "Net present value against buying the heat it replaces, over the analysis years."),
    (
        "CAPEX",
        "Capital expenditure: the investment in heat pump, pipe, connection station and the "
        "cable to the power grid.",
    ),
    (
        "Grid km, kV",
        "The site's distance to the nearest substation of the voltage its size needs (along "
        "the streets, or in a straight line where no street reaches; the ranking says which) "
        "and that substation's highest voltage, from the power grid mapped in OpenStreetMap.",
    ),
)
OSM_ATTRIBUTION = "© OpenStreetMap contributors"
TOP_N = 10

# Ranges of the sensitivity tornado (docs/model.md ranges where it gives them).

# --------------------------------------------------------------------------- assumptions


def changed_params(params: Params, defaults: Params | None = None) -> pd.DataFrame:
    """Every parameter of `params` that differs from the docs/model.md defaults (``Params()``).

    Mappings (e.g. ``source_in_c``) are compared key by key and reported as ``key: value``.
    Returns columns ``parameter``, ``description``, ``unit``, ``value``, ``default``; the
    description and unit are the field's own (declared with it in siting.config).
    """
    defaults = defaults if defaults is not None else Params()
    info = describe(Params)
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
                "description": info[f.name].description,
                "unit": info[f.name].unit,
                "value": shown,
                "default": was,
            }
        )
    return pd.DataFrame(rows, columns=["parameter", "description", "unit", "value", "default"])


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


# how a swept value reads in the tornado, by the field's unit (labels: the field metadata)
_FORMATS = {"share": "{:.0%}", "share/yr": "{:.1%}", "factor": "x{:.2f}"}


def _swept_label(name: str) -> tuple[str, str]:
    info = describe(Params)[name]
    fmt = _FORMATS.get(info.unit, "{:g} " + info.unit if info.unit != NO_UNIT else "{:g}")
    return info.description, fmt


def sensitivity(results, site_id: str | None = None, osm=None) -> tuple[float, list[Sensitivity]]:
    """LCOH of a site (default: the best) with each uncertain input at its low/high end.

    A thin view of :func:`siting.sensitivity` (docs/model.md ranges; economics-only inputs
    re-priced, the others re-run on the extract). Returns (base LCOH, one bar per input,
    largest swing first).
    """

    row = _site_row(results, site_id)
    res = sweep(results, params=list(DEFAULT_RANGES), site_id=str(row["site_id"]), osm=osm)
    wide = res.table.pivot(index="parameter", columns="end", values="lcoh_eur_per_mwh")
    out = []
    for name in wide.index:
        label, fmt = _swept_label(name)
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
    text = f"#{int(row['rank'])} {site_label(row)}"
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
        "grid connection": "grid_capex_eur",
    }
    lcoh = {
        "capital": "lcoh_capital_eur_per_mwh",
        "O&M": "lcoh_om_eur_per_mwh",
        "electricity": "lcoh_electricity_eur_per_mwh",
        "grid connection": "lcoh_grid_eur_per_mwh",
    }
    for ax, parts, scale, colors in (
        (ax1, capex, 1e-6, ["#4c72b0", "#dd8452", "#937860", "#8c510a"]),
        (ax2, lcoh, 1.0, ["#4c72b0", "#8c8c8c", "#c44e52", "#8c510a"]),
    ):
        left = np.zeros(len(top))
        for (name, col), color in zip(parts.items(), colors, strict=True):
            values = np.nan_to_num(pd.to_numeric(top.get(col), errors="coerce").to_numpy()) * scale
            ax.barh(y, values, left=left, color=color, label=name)
            left += values
        # two rows of two: four items side by side would run into the other panel's
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
        ax.grid(axis="x", alpha=0.3)
    ax1.set_yticks(y, labels)
    ax1.invert_yaxis()
    ax1.set_xlabel("CAPEX [million EUR]")
    ax1.set_title("Investment by component", fontsize=10, pad=36)
    ax2.set_xlabel("LCOH [EUR per MWh delivered]")
    ax2.set_title("Levelised cost of heat by term", fontsize=10, pad=36)
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
    fig = _figure(9, 1.0 + 0.6 * max(len(bars), 2))
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
    # the labels are the parameters' own descriptions: wrap them so the bars keep their room
    ax.set_yticks(y, [textwrap.fill(s.label, 32) for s in bars], fontsize=8)
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

_TABLE_COLUMNS = [
    ("rank", "Rank", "{:.0f}"),
    ("label", "Site", None),
    ("it_load_mw", "IT MW", "{:,.1f}"),
    ("cooling", "Cooling", None),
    ("cop", "COP", "{:.2f}"),
    ("lcoh_eur_per_mwh", "LCOH EUR/MWh", "{:,.1f}"),
    ("delivered_heat_mwh_per_yr", "Heat MWh/yr", "{:,.0f}"),
    ("homes_served", "Homes", "{:,.0f}"),
    ("route_length_m", "Route m", "{:,.0f}"),
    ("pipe_dn", "DN", "{:.0f}"),
    ("grid_km", "Grid km", "{:,.1f}"),
    ("substation_voltage_kv", "Grid kV", "{:g}"),
    ("capex_eur", "CAPEX M EUR", "{:,.1f}"),
    ("npv_eur", "NPV M EUR", "{:,.1f}"),
    ("co2_avoided_t_per_yr", "CO2 t/yr", "{:,.0f}"),
    ("erf", "ERF", "{:.2f}"),
]
_MILLIONS = ("capex_eur", "npv_eur")


def _cell(value: Any, fmt: str | None, column: str) -> str:
    if fmt is None:
        return "" if value is None or value is pd.NA else str(value)
    try:
        x = float(value) / (1e6 if column in _MILLIONS else 1.0)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(x):
        return ""
    text = fmt.format(x)
    # a small negative number rounded to zero reads "-0.0": it is zero at this precision
    return text.lstrip("-") if text.lstrip("-").strip("0.,") == "" else text


def _table(top: pd.DataFrame) -> tuple[list[dict], list[dict]]:
    """Columns (title, numeric?) and rows (site_id, cells) of the top-sites table."""
    top = top.assign(label=[site_label(r) for _, r in top.iterrows()])
    if "grid_distance_m" in top:
        top = top.assign(grid_km=pd.to_numeric(top["grid_distance_m"], errors="coerce") / 1000)
    cols = [c for c in _TABLE_COLUMNS if c[0] in top.columns]
    columns = [
        {
            "title": title,
            "num": fmt is not None,
            "cls": "num" if fmt else ("site" if c == "label" else ""),
        }
        for c, title, fmt in cols
    ]
    rows = [
        {"site_id": str(row["site_id"]), "cells": [_cell(row[c], f, c) for c, _, f in cols]}
        for _, row in top.iterrows()
    ]
    return columns, rows


def _where(top: pd.DataFrame) -> list[dict]:
    """Address, operator, land use, lat/lon and OSM link of each top site."""
    pts = top.geometry.representative_point().to_crs("EPSG:4326")
    out = []
    for (_, row), lon, lat in zip(top.iterrows(), pts.x, pts.y, strict=True):
        url = str(row.get("osm_url") or "")
        out.append(
            {
                "site_id": str(row["site_id"]),
                "rank": _cell(row["rank"], "{:.0f}", "rank"),
                "label": site_label(row),
                "address": str(row.get("address") or ""),
                "operator": str(row.get("operator") or ""),
                "landuse": str(row.get("landuse") or ""),
                "lat": f"{lat:.5f}",
                "lon": f"{lon:.5f}",
                "osm_url": url if url.startswith("https://www.openstreetmap.org/") else "",
            }
        )
    return out


def _img(png: bytes, alt: str) -> Markup:
    data = base64.b64encode(png).decode("ascii")
    return Markup(f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">')


_ALT = {
    "locator_map.png": "Locator map of the top sites",
    "cost_breakdown.png": "Cost breakdown per site",
    "load_duration.png": "Load-duration curve of the top site",
    "sensitivity.png": "Sensitivity tornado of the top site",
}


def _sources(results) -> list[Markup]:
    study = results.study
    osm = Path(study.osm_path).name if study.osm_path else "an OpenStreetMap extract"
    esc = html.escape
    items = [
        f"Buildings, streets{'' if study.network_path else ', heat pipelines'}, land use, "
        f"power grid and addresses: OpenStreetMap extract <code>{esc(osm)}</code>, "
        f"{OSM_ATTRIBUTION}, "
        'licensed under the <a href="https://opendatacommons.org/licenses/odbl/">ODbL 1.0</a>.'
    ]
    if study.network_path:
        items.append(
            f"District-heating network: <code>{esc(Path(study.network_path).name)}</code> (user "
            "file)."
        )
    elif results.network is None or not len(results.network):
        items.append("No district-heating network: new local networks are planned per site.")
    if study.sites_path:
        items.append(f"Candidate sites: <code>{esc(Path(study.sites_path).name)}</code>.")
    else:
        items.append("Candidate sites: generated from the OpenStreetMap extract.")
    items += [
        "Model and default parameters: siting "
        "docs/model.md: heat-pump and transport costs from the "
        "Danish Energy Agency technology data (via PyPSA technology-data), trench costs from "
        "Hotmaps, CO2 factors from BR18, homes from the Danish standard house (14 MWh/yr).",
        "Weather for the load-duration curve: siting's built-in typical Danish year (a fitted "
        "model of DMI/Taastrup temperatures, not measured hours).",
    ]
    return [Markup(i) for i in items]


def _summary(results) -> str:
    best = results.best()
    if best is None:
        return "No site is feasible; see the reasons in the ranking."
    p = results.study.params
    label, address = site_label(best), str(best.get("address") or "").strip()
    # "Warehouse, Tietgens Allé 10" already names the street: then only the place is added
    if address and address.split(",")[0] in label:
        address = ",".join(address.split(",")[1:]).strip()
    where = f", {address}" if address else ""
    grid = ""
    dist = pd.to_numeric(pd.Series([best.get("grid_distance_m")]), errors="coerce").iloc[0]
    if pd.notna(dist):
        kv = best.get("substation_voltage_kv")
        grid = (
            f", {dist / 1000:,.1f} km {best.get('grid_distance_basis') or ''} to a "
            f"{kv:g} kV substation".replace("  ", " ")
        )
    return (
        f"Best site: {label}{where} ({best['site_id']}): LCOH "
        f"{best['lcoh_eur_per_mwh']:.1f} EUR/MWh, {best['delivered_heat_mwh_per_yr']:,.0f} "
        f"MWh/yr into the network, enough for {best['homes_served']:,.0f} homes "
        f"({p.mwh_per_home:g} MWh each), route {best['route_length_m']:,.0f} m{grid}."
    )


def _assumptions(results) -> str:
    p = results.study.params
    return (
        f"Electricity {p.electricity_price_eur_per_mwh:g} EUR/MWh, discount rate "
        f"{100 * p.discount_rate:g} %, DH {p.supply_temp_c:g}/{p.return_temp_c:g} °C, "
        f"heat pump {p.cop_model} COP (η = {p.eta_lorenz:g}), network takes "
        f"{100 * p.annual_utilisation:g} % of available heat, IT load {100 * p.utilisation_it:g} "
        f"% of nameplate, {p.mwh_per_home:g} MWh per home."
    )


def _template() -> jinja2.Template:
    source = (importlib.resources.files("siting") / "data" / "templates" / REPORT_NAME).read_text(
        encoding="utf-8"
    )
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    env.globals["zip"] = zip
    return env.from_string(source)


def _page(
    results,
    top: pd.DataFrame,
    figures: dict[str, bytes],
    notes: dict[str, str],
    map_file: str | None = None,
) -> str:
    study = results.study
    sites = results.sites
    reference = median_site(sites)
    columns, rows = _table(top)
    where = _where(top)
    feasible_top = top[top["feasible"].astype(bool)]
    why = [
        {"rank": int(r["rank"]), "label": site_label(r), "text": rank_explanation(r, reference)}
        for _, r in feasible_top.iterrows()
    ]
    mode = (
        "feeding the existing district-heating network"
        if results.mode == "existing_network"
        else "each site supplying a new local network"
    )
    return _template().render(
        name=display_name(study),
        date=f"{dt.date.today():%d %B %Y}",
        n_sites=len(sites),
        n_feasible=int(sites["feasible"].astype(bool).sum()),
        mode=mode,
        ranking=study.ranking,
        summary=_summary(results),
        basis=ranking_basis(sites),
        map_file=map_file,
        columns=columns,
        rows=rows,
        where=where,
        where_columns=[
            (key, title)
            for key, title in (
                ("address", "Address"),
                ("operator", "Operator"),
                ("landuse", "Land use"),
            )
            if any(w[key] for w in where)
        ],
        where_links=any(w["osm_url"] for w in where),
        why=[w for w in why if w["text"]],
        images={k: _img(v, _ALT.get(k, k)) for k, v in figures.items()},
        load_duration_note=notes.get("load_duration", ""),
        sensitivity_note=notes.get("sensitivity", ""),
        heat_price=f"{study.params.heat_price_eur_per_mwh:g}",
        assumptions=_assumptions(results),
        changed=list(changed_params(study.params).itertuples()),
        notes=list(getattr(results, "notes", []) or []),
        glossary=GLOSSARY,
        sources=_sources(results),
        attribution=OSM_ATTRIBUTION,
    )


# --------------------------------------------------------------------------- entry point


def _render(results, osm=None, map_file: str | None = None) -> tuple[str, dict[str, bytes]]:
    """The report page and its figures, all in memory (nothing written yet)."""
    sites = results.sites
    top = sites[sites["feasible"].astype(bool)].head(TOP_N)
    top = top if len(top) else sites.head(TOP_N)
    figures: dict[str, bytes] = {}
    notes: dict[str, str] = {}
    best = results.best()
    figures["locator_map.png"] = _png(locator_map_figure(results, top))
    figures["cost_breakdown.png"] = _png(cost_breakdown_figure(top))
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
    return _page(results, top, figures, notes, map_file), figures


def build_report(results, out_dir: str | os.PathLike[str], *, osm=None) -> Path:
    """Write ``report.html`` (self-contained, one page) and its PNG figures into `out_dir`.

    Parameters
    ----------
    results : siting.Results
        A finished study.
    out_dir : folder
        Created if missing. Files: ``report.html``, ``locator_map.png``,
        ``cost_breakdown.png`` and, when there is a feasible site, ``load_duration.png`` and
        ``sensitivity.png``.
    osm : siting.sources.osm.OsmData, optional
        The extract already read, for the sensitivity re-runs (read again if not given).

    Returns
    -------
    Path of ``report.html``.
    """
    out = check_output_dir(out_dir)  # before the sensitivity runs: a bad folder fails fast
    page, figures = _render(results, osm)
    return _write_atomically(out, figures, page)


def write_report(
    results,
    out_dir: str | os.PathLike[str],
    *,
    osm=None,
    map_html: bool = True,
    self_contained: bool = True,
    geoparquet: bool = False,
) -> dict[str, Path]:
    """`siting report`: the study's result set and its report, from one study run.

    Writes what ``siting run`` writes (:meth:`siting.Results.to_files`: ``ranking.csv``,
    ``results.gpkg``, ``map.html`` unless `map_html` is False, ``heat_density.tif``, the
    GeoParquet layers with `geoparquet`) and
    :func:`build_report`'s report, which links the map. The report is computed first, so a
    failure in it writes nothing.

    Returns
    -------
    dict of what was written: the keys of ``Results.to_files`` and ``report``.
    """
    out = check_output_dir(out_dir)  # before any work
    page, figures = _render(results, osm, "map.html" if map_html else None)
    legacy = (*RESULT_FILES, *FIGURES, REPORT_NAME)
    with staged_output(out, "results", legacy_names=legacy) as stage:
        names = results.write_into(
            stage.dir, map_html=map_html, self_contained=self_contained, geoparquet=geoparquet
        )
        for name, data in figures.items():
            (stage.dir / name).write_bytes(data)
        (stage.dir / REPORT_NAME).write_text(page, encoding="utf-8")
        final = stage.publish([*names.values(), *figures, REPORT_NAME])
    files = {key: final[name] for key, name in names.items()}
    files["report"] = final[REPORT_NAME]
    return files


def _write_atomically(out: Path, figures: dict[str, bytes], page: str) -> Path:
    with staged_output(out, "report", legacy_names=(*FIGURES, REPORT_NAME)) as stage:
        for name, data in figures.items():
            (stage.dir / name).write_bytes(data)
        (stage.dir / REPORT_NAME).write_text(page, encoding="utf-8")
        # the page last: it exists only when its figures do
        final = stage.publish([*figures, REPORT_NAME])
    return final[REPORT_NAME]
