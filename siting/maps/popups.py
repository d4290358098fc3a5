"""Words for a site: its popup HTML (what and where it is, what it delivers), "why this
rank" against the median feasible site, and the money, rank and EnEfG phrases shared with
tooltips and the report."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

from siting.maps.frames import _num, _text
from siting.naming import site_label as site_label  # here too, where the popups use it

# EnEfG §11 ERF thresholds by the year a data center opens (docs/model.md §5).
_ENEFG_LEVELS = ((2026, 0.10), (2027, 0.15), (2028, 0.20))
# An LCOH difference below max(this, 3 % of the median LCOH) is not a reason for a rank.
_MATERIAL_EUR_PER_MWH = 0.5
_LCOH_TERMS = {
    "capital": "lcoh_capital_eur_per_mwh",
    "O&M": "lcoh_om_eur_per_mwh",
    "electricity": "lcoh_electricity_eur_per_mwh",
    "grid connection": "lcoh_grid_eur_per_mwh",
}


def _eur(value: float) -> str:
    """Money in plain words: '12.3 million EUR', '450 thousand EUR'."""
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.1f} million EUR"
    if abs(value) >= 1e3:
        return f"{value / 1e3:,.0f} thousand EUR"
    return f"{value:,.0f} EUR"


def _erf_text(erf: float) -> str:
    met = [
        f"{year} {share:.0%}".replace("%", " %") for year, share in _ENEFG_LEVELS if erf >= share
    ]
    missed = [
        f"{year} {share:.0%}".replace("%", " %") for year, share in _ENEFG_LEVELS if erf < share
    ]
    if met and missed:
        verdict = f"meets EnEfG {', '.join(met)}; below {', '.join(missed)}"
    elif met:
        verdict = f"meets EnEfG {', '.join(met)}"
    else:
        verdict = f"below EnEfG {', '.join(missed)}"
    return f"ERF {erf:.2f} ({verdict})"


def _rank_label(rank: object) -> str:
    r = _num(rank)
    return f"#{int(r)}" if r is not None else "unranked"


_COOLING_WORDS = {
    "air_coil": "air-coil water",
    "liquid": "liquid-cooling water",
    "immersion": "immersion-cooling water",
}


def _source_words(row: pd.Series) -> str:
    """'air-coil water at 27 °C' from the cooling and source_in_c columns ('' if absent)."""
    cooling = _text(row.get("cooling"))
    words = _COOLING_WORDS.get(cooling, f"{cooling} water" if cooling else "")
    t_in = _num(row.get("source_in_c"))
    if words and t_in is not None:
        return f"{words} at {t_in:g} °C"
    return words


# --------------------------------------------------------------------------- why this rank


def median_site(sites: pd.DataFrame) -> pd.Series | None:
    """The median feasible site: each numeric column's median over the feasible sites.

    The reference of every "why this rank" (`n_feasible` holds their number); None when no
    feasible site has an LCOH.
    """
    if "feasible" not in sites or "lcoh_eur_per_mwh" not in sites:
        return None
    ok = sites[sites["feasible"].fillna(False).astype(bool)]
    ok = ok[pd.to_numeric(ok["lcoh_eur_per_mwh"], errors="coerce").notna()]
    if ok.empty:
        return None
    numeric = pd.DataFrame(ok.drop(columns="geometry", errors="ignore")).apply(
        pd.to_numeric, errors="coerce"
    )
    ref = numeric.median(numeric_only=True)
    ref["n_feasible"] = len(ok)
    return ref


def _differ(a: float, b: float, fmt: str) -> tuple[str, str] | None:
    """`a` and `b` formatted, or None when they would read the same (never "4.7 vs 4.7")."""
    sa, sb = fmt.format(a), fmt.format(b)
    return None if sa == sb else (sa, sb)


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _reasons(term: str, site: pd.Series, ref: pd.Series, sign: float) -> list[str]:
    """What makes a site's LCOH term higher (sign +1) or lower (-1) than the median's.

    Only inputs that differ materially, in the direction that explains the term, are named,
    and only when their printed values differ.
    """
    out = []

    def value(key: str) -> tuple[float, float] | None:
        a, b = _num(site.get(key)), _num(ref.get(key))
        return None if a is None or b is None else (a, b)

    route = value("route_length_m")
    if term in ("capital", "O&M") and route:
        a, b = route
        if sign * (a - b) > max(50.0, 0.15 * b) and (pair := _differ(a, b, "{:,.0f}")):
            out.append(f"{'longer' if sign > 0 else 'shorter'} route ({pair[0]} m vs {pair[1]} m)")
    if term == "capital":
        it = value("it_load_mw")
        if it and -sign * (it[0] - it[1]) > 0.1 * it[1] and (pair := _differ(*it, "{:g}")):
            size = "smaller" if sign > 0 else "larger"
            out.append(f"{size} site ({pair[0]} MW IT vs {pair[1]} MW)")
        u = value("utilisation")
        if u and -sign * (u[0] - u[1]) > 0.03 and _pct(u[0]) != _pct(u[1]):
            out.append(f"the network takes {_pct(u[0])} of its heat (vs {_pct(u[1])})")
    if term in ("capital", "electricity"):
        keep = value("transfer_efficiency")  # share of the heat pump's heat the route delivers
        if keep and -sign * (keep[0] - keep[1]) > 0.01 and _pct(keep[0]) != _pct(keep[1]):
            more = "more" if sign > 0 else "less"
            out.append(
                f"{more} heat lost on the route ({_pct(keep[0])} arrives vs {_pct(keep[1])})"
            )
    if term == "grid connection":
        grid = value("grid_distance_m")
        if grid and sign * (grid[0] - grid[1]) > max(200.0, 0.15 * grid[1]):
            far = "farther from" if sign > 0 else "nearer"
            out.append(
                f"{far} its substation ({grid[0] / 1000:,.1f} km vs {grid[1] / 1000:,.1f} km)"
            )
    if term == "electricity":
        cop = value("cop")
        if cop and -sign * (cop[0] - cop[1]) > 0.02 * cop[1] and (pair := _differ(*cop, "{:.1f}")):
            src = _source_words(site)
            out.append(f"COP {pair[0]} vs {pair[1]}" + (f" ({src})" if src else ""))
    return out


def rank_explanation(site: pd.Series, reference: pd.Series | None) -> str:
    """Why `site` ranks where it does, from its LCOH split against the median feasible site.

    `reference` is :func:`median_site` of the ranking. The LCOH terms (capital, O&M,
    electricity) that differ materially from the median's, in the direction of the site's
    LCOH gap, are cited, then the inputs that explain them (route length, IT load, the
    share of heat the network takes, route losses, COP) when those differ too; equal values
    are never given as a cause. Empty string when the columns to say something are missing.
    """
    rank, lcoh = _num(site.get("rank")), _num(site.get("lcoh_eur_per_mwh"))
    if reference is None or lcoh is None or rank is None:
        return ""
    ref_lcoh = _num(reference.get("lcoh_eur_per_mwh"))
    n = int(_num(reference.get("n_feasible")) or 0)
    if ref_lcoh is None:
        return ""
    if rank == 1 and n > 1:
        head = f"Ranked first of {n} feasible sites, LCOH {lcoh:.1f} EUR/MWh"
    elif rank == 1:
        return f"The only feasible site, LCOH {lcoh:.1f} EUR/MWh."
    else:
        head = f"LCOH {lcoh:.1f} EUR/MWh"
    if (score := _num(site.get("score"))) is not None:
        head += f" (ranked by weighted score, {score:.2f})"
    gap = lcoh - ref_lcoh
    material = max(_MATERIAL_EUR_PER_MWH, 0.03 * abs(ref_lcoh))
    if abs(gap) < material:
        return f"{head}, close to the median feasible site's {ref_lcoh:.1f}."
    sign = float(np.sign(gap))
    head += f", {abs(gap):.1f} {'above' if gap > 0 else 'below'} the median feasible site's"
    head += f" {ref_lcoh:.1f}"
    diffs = {}
    for term, col in _LCOH_TERMS.items():
        a, b = _num(site.get(col)), _num(reference.get(col))
        if a is not None and b is not None:
            diffs[term] = a - b
    terms, reasons = [], []
    for term, diff in sorted(diffs.items(), key=lambda kv: -abs(kv[1])):
        if sign * diff < max(0.3, 0.25 * abs(gap)):
            continue
        terms.append(f"{term} {diff:+.1f}")
        reasons += [r for r in _reasons(term, site, reference, sign) if r not in reasons]
    if not terms:
        return head + " (small differences in every cost term)."
    text = f"{head}: {', '.join(terms)} EUR/MWh"
    return text + (f"; {', '.join(reasons)}." if reasons else ".")


# --------------------------------------------------------------------------- popup


def _where_html(row: pd.Series, lonlat: tuple[float, float] | None) -> list[str]:
    """Address, operator, land use, coordinates and OSM link of a site (what it has)."""
    lines = []
    if address := _text(row.get("address")):
        lines.append(html.escape(address))
    facts = []
    if operator := _text(row.get("operator")):
        facts.append(f"operator {html.escape(operator)}")
    if landuse := _text(row.get("landuse")):
        facts.append(f"land use {html.escape(landuse)}")
    if facts:
        lines.append(", ".join(facts))
    place = []
    if lonlat is not None:
        lon, lat = lonlat
        ns, ew = "N" if lat >= 0 else "S", "E" if lon >= 0 else "W"
        place.append(f"{abs(lat):.5f}° {ns}, {abs(lon):.5f}° {ew}")
    url = _text(row.get("osm_url"))
    if url.startswith("https://www.openstreetmap.org/"):
        place.append(
            f'<a href="{html.escape(url)}" target="_blank" rel="noopener">on OpenStreetMap</a>'
        )
    place.append(f'<span style="color:#666">id {html.escape(_text(row.get("site_id")))}</span>')
    lines.append(" · ".join(place))
    return lines


def _grid_html(row: pd.Series) -> list[str]:
    """The site's power-grid connection in words, and its flag (red) when it has one."""
    out = []
    dist = _num(row.get("grid_distance_m"))
    if dist is not None:
        name = _text(row.get("substation_name")) or _text(row.get("substation_id"))
        kv = _num(row.get("substation_voltage_kv"))
        text = f"Grid: {dist / 1000:,.1f} km {_text(row.get('grid_distance_basis'))} to "
        text += (name or "a substation") + (f" ({kv:g} kV)" if kv is not None else "")
        if (need := _num(row.get("grid_voltage_min_kv"))) is not None:
            text += f"; its size needs at least {need:g} kV"
        if (capex := _num(row.get("grid_capex_eur"))) is not None and capex > 0:
            text += f"; cable {_eur(capex)}"
        out.append(html.escape(text))
    if flag := _text(row.get("grid_flag")):
        out.append(f'<span style="color:#b00020">{html.escape(flag)}</span>')
    return out


def _site_popup_html(
    row: pd.Series,
    reference: pd.Series | None = None,
    lonlat: tuple[float, float] | None = None,
) -> str:
    """Plain-words summary of one site; missing values are left out.

    An infeasible site shows only what and where it is and why it is not feasible: its
    zero or missing metrics would only mislead.
    """
    feasible = bool(row.get("feasible", False)) if not pd.isna(row.get("feasible")) else False
    lines = [f"<b>{_rank_label(row.get('rank'))} {html.escape(site_label(row))}</b>"]
    lines += _where_html(row, lonlat)
    it_mw = _num(row.get("it_load_mw"))
    if not feasible:
        reason = html.escape(_text(row.get("reason"))) or "no reason given"
        lines.append(f'<span style="color:#b00020"><b>Not feasible:</b> {reason}</span>')
        lines += _grid_html(row)
        if it_mw is not None:
            src = _source_words(row)
            lines.append(f"IT load {it_mw:,.1f} MW" + (f", {html.escape(src)}" if src else ""))
        lines.append("Ranked after all feasible sites.")
        return '<div class="siting-popup">' + "<br>".join(lines) + "</div>"

    mode = _text(row.get("mode"))
    if mode == "existing_network":
        lines.append("Feeds the existing district-heating network")
        target = "the network"
    elif mode == "new_local_network":
        lines.append("Supplies a new local heat network to nearby buildings")
        target = "the new local network"
    else:
        target = "the network"
        if mode:
            lines.append(f"Mode: {html.escape(mode)}")

    rec_mw = _num(row.get("recovered_heat_mw"))
    if basis := _text(row.get("capacity_basis")):
        lines.append(f"IT load from its land: {html.escape(basis)}")
    if it_mw is not None and rec_mw is not None:
        lines.append(f"IT load {it_mw:,.1f} MW, recovers {rec_mw:,.1f} MW of waste heat")
    elif it_mw is not None:
        lines.append(f"IT load {it_mw:,.1f} MW")
    elif rec_mw is not None:
        lines.append(f"Recovers {rec_mw:,.1f} MW of waste heat")

    mwh, homes = _num(row.get("delivered_heat_mwh_per_yr")), _num(row.get("homes_served"))
    if mwh is not None:
        text = f"Delivers {mwh:,.0f} MWh/yr to {target}"
        if homes is not None:
            text += f", enough for {homes:,.0f} homes"
        lines.append(text)
    elif homes is not None:
        lines.append(f"Enough heat for {homes:,.0f} homes")

    if (cop := _num(row.get("cop"))) is not None:
        text = f"Heat pump COP {cop:.2f}"
        src = _source_words(row)
        supply = _num(row.get("supply_temp_c"))
        if src and supply is not None:
            text += f" ({html.escape(src)} lifted to {supply:g} °C)"
        lines.append(text)
    if (lcoh := _num(row.get("lcoh_eur_per_mwh"))) is not None:
        lines.append(f"LCOH {lcoh:,.1f} EUR/MWh (levelised cost of heat)")

    length_m, dn = _num(row.get("route_length_m")), _num(row.get("pipe_dn"))
    if length_m is not None:
        pipe = f"DN{int(dn)} pipe" if dn is not None and dn > 0 else "pipe"
        lines.append(f"Route {length_m:,.0f} m of {pipe}")

    lines += _grid_html(row)
    if (capex := _num(row.get("capex_eur"))) is not None:
        lines.append(f"Investment (CAPEX) {_eur(capex)}")
    if (npv := _num(row.get("npv_eur"))) is not None:
        lines.append(f"NPV {_eur(npv)} against the heat it replaces")
    if (co2 := _num(row.get("co2_avoided_t_per_yr"))) is not None:
        lines.append(f"Avoids {co2:,.0f} t CO2 per year")
    if (erf := _num(row.get("erf"))) is not None:
        lines.append(_erf_text(erf))
    if why := rank_explanation(row, reference):
        lines.append(f'<span style="color:#1f4e79"><b>Why this rank:</b> {html.escape(why)}</span>')
    return '<div class="siting-popup">' + "<br>".join(lines) + "</div>"
