"""Words for a site: its popup HTML, "why this rank" against the best site, and the money,
rank and EnEfG phrases shared with tooltips."""

from __future__ import annotations

import html

import pandas as pd

from siting.maps.frames import _num, _text

# EnEfG §11 ERF thresholds by the year a data center opens (MODEL.md §5).
_ENEFG_LEVELS = ((2026, 0.10), (2027, 0.15), (2028, 0.20))


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


def _lcoh_split(row: pd.Series) -> dict[str, float] | None:
    """The three LCOH terms of a site (EUR/MWh), or None if the table lacks them."""
    parts = {
        "capital": _num(row.get("lcoh_capital_eur_per_mwh")),
        "O&M": _num(row.get("lcoh_om_eur_per_mwh")),
        "electricity": _num(row.get("lcoh_electricity_eur_per_mwh")),
    }
    if any(v is None for v in parts.values()):
        return None
    return parts  # type: ignore[return-value]


def _capital_reason(row: pd.Series, best: pd.Series) -> str:
    """Why a site's capital cost per MWh is higher than the best site's, in a few words."""
    reasons = []
    route, route_best = _num(row.get("route_length_m")), _num(best.get("route_length_m"))
    it_mw, it_best = _num(row.get("it_load_mw")), _num(best.get("it_load_mw"))
    pipe, total = _num(row.get("pipe_capex_eur")), _num(row.get("capex_eur"))
    pipe_b, total_b = _num(best.get("pipe_capex_eur")), _num(best.get("capex_eur"))
    e, e_b = _num(row.get("delivered_heat_mwh_per_yr")), _num(best.get("delivered_heat_mwh_per_yr"))
    pipe_heavy = False
    if None not in (pipe, total, pipe_b, total_b) and e and e_b:
        # CAPEX per MWh delivered, before annualising: is the pipe a big part of the excess?
        extra = total / e - total_b / e_b  # type: ignore[operator]
        pipe_heavy = extra > 0 and (pipe / e - pipe_b / e_b) > 0.3 * extra  # type: ignore[operator]
    u, u_best = _num(row.get("utilisation")), _num(best.get("utilisation"))
    if u is not None and u_best is not None and u < u_best - 0.05:
        reasons.append(
            f"the network takes only {100 * u:.0f} % of its heat (vs {100 * u_best:.0f} %), so "
            "the plant "
            "is paid off over fewer MWh"
        )
    no_split = pipe is None or pipe_b is None or not e or not e_b
    if route is not None and route_best is not None and (pipe_heavy or no_split):
        if route > max(2 * route_best, route_best + 50):
            reasons.append(f"its pipe route is {route:,.0f} m (vs {route_best:,.0f} m)")
    if it_mw is not None and it_best is not None and it_mw < 0.6 * it_best:
        reasons.append(f"a smaller heat pump ({it_mw:g} MW IT vs {it_best:g} MW) costs more per MW")
    return " and ".join(reasons)


def rank_explanation(site: pd.Series, best: pd.Series | None) -> str:
    """Why `site` ranks where it does, in plain words, against the best site `best`.

    Uses the table's LCOH split (capital, O&M, electricity), COP, cooling/source temperature,
    route length and IT load. Empty string if the columns to say something are missing.
    """
    rank = _num(site.get("rank"))
    lcoh = _num(site.get("lcoh_eur_per_mwh"))
    if best is None or lcoh is None or rank is None:
        return ""
    best_rank = _num(best.get("rank"))
    best_lcoh = _num(best.get("lcoh_eur_per_mwh"))
    if best_lcoh is None:
        return ""
    best_label = f"#{int(best_rank)}" if best_rank is not None else "the best site"
    if _text(site.get("site_id")) == _text(best.get("site_id")):
        text = "Ranked first: the lowest cost of heat of all feasible sites"
        cop = _num(site.get("cop"))
        src = _source_words(site)
        if cop is not None and src:
            text += f"; its heat pump lifts {src} (COP {cop:.1f})"
        return text + "."
    gap = lcoh - best_lcoh
    if abs(gap) < 0.05:
        return (
            f"LCOH within 0.1 EUR/MWh of {best_label}; ranked after it on homes served "
            "(or the weighted score)."
        )
    if gap < 0:
        return (
            f"LCOH {-gap:.1f} EUR/MWh below {best_label}, but ranked lower on the weighted "
            "score (homes served, route length)."
        )
    head = f"LCOH {gap:.1f} EUR/MWh above {best_label}"
    parts, parts_best = _lcoh_split(site), _lcoh_split(best)
    if parts is None or parts_best is None:
        return head + "."
    diffs = {k: parts[k] - parts_best[k] for k in parts}
    causes = []
    for term, diff in sorted(diffs.items(), key=lambda kv: -kv[1]):
        if diff <= max(0.25 * gap, 0.05):
            continue
        if term == "electricity":
            cop, cop_b = _num(site.get("cop")), _num(best.get("cop"))
            src = _source_words(site)
            why = "its heat pump needs more electricity per MWh"
            if cop is not None and cop_b is not None:
                why = (
                    f"its heat pump runs on {src} (COP {cop:.1f} vs {cop_b:.1f})"
                    if src
                    else f"its heat pump has COP {cop:.1f} vs {cop_b:.1f}"
                )
            causes.append(f"electricity +{diff:.1f} EUR/MWh: {why}")
        elif term == "capital":
            why = _capital_reason(site, best)
            causes.append(f"capital +{diff:.1f} EUR/MWh" + (f": {why}" if why else ""))
        else:
            causes.append(f"O&M +{diff:.1f} EUR/MWh")
    if not causes:
        return head + " (small differences in every cost term)."
    return f"{head} because of " + "; ".join(causes) + "."


def _site_popup_html(row: pd.Series, best: pd.Series | None = None) -> str:
    """Plain-words summary of one site's metrics; missing values are left out.

    An infeasible site shows only what it is and why it is not feasible: its zero or
    missing metrics would only mislead.
    """
    site_id = html.escape(_text(row.get("site_id")))
    name = html.escape(_text(row.get("name")))
    feasible = bool(row.get("feasible", False)) if not pd.isna(row.get("feasible")) else False
    header = f"<b>{_rank_label(row.get('rank'))} {site_id}</b>"
    if name:
        header += f" &ndash; {name}"
    lines = [header]
    it_mw = _num(row.get("it_load_mw"))
    if not feasible:
        reason = html.escape(_text(row.get("reason"))) or "no reason given"
        lines.append(f'<span style="color:#b00020"><b>Not feasible:</b> {reason}</span>')
        if it_mw is not None:
            src = _source_words(row)
            lines.append(f"IT load {it_mw:,.1f} MW" + (f", {html.escape(src)}" if src else ""))
        lines.append("Ranked after all feasible sites.")
        return '<div style="font-size:12px;line-height:1.45">' + "<br>".join(lines) + "</div>"

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

    if (capex := _num(row.get("capex_eur"))) is not None:
        lines.append(f"Investment (CAPEX) {_eur(capex)}")
    if (npv := _num(row.get("npv_eur"))) is not None:
        lines.append(f"NPV {_eur(npv)} against the heat it replaces")
    if (co2 := _num(row.get("co2_avoided_t_per_yr"))) is not None:
        lines.append(f"Avoids {co2:,.0f} t CO2 per year")
    if (erf := _num(row.get("erf"))) is not None:
        lines.append(_erf_text(erf))
    if why := rank_explanation(row, best):
        lines.append(f'<span style="color:#1f4e79"><b>Why this rank:</b> {html.escape(why)}</span>')
    return '<div style="font-size:12px;line-height:1.45">' + "<br>".join(lines) + "</div>"
