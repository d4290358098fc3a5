"""Folium maps of a siting study: ranked candidate sites, routes, DH network, heat density.

All inputs are GeoDataFrames in a projected metric CRS (the study's local UTM); they are
reprojected to EPSG:4326 here and nowhere else, because folium/Leaflet needs lon/lat.
Large inputs are aggregated before drawing (heat-density grid, top-N routes) so the HTML
stays small enough to open in a browser.
"""

from __future__ import annotations

import html
import importlib.resources
import json
import math
import os
import pathlib
import tempfile
import warnings
from collections.abc import Iterable, Sequence

import branca.colormap as cm
import branca.element
import folium
import folium.plugins
import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely

from siting.area import require_metric
from siting.errors import ConfigError, InputDataError

__all__ = ["heat_density_grid", "rank_explanation", "study_map", "save_map"]

OSM_ATTRIBUTION = "© OpenStreetMap contributors"

SITES_LAYER = "Candidate sites"
NETWORK_LAYER = "District-heating network"
HEAT_LAYER = "Heat density"
RANK_CAPTION = "Site rank (1 = best; grey = not feasible)"
# Legend width in pixels (branca draws 450): narrow, so the study area gets the room.
_LEGEND_WIDTH_PX = 360
HEAT_CAPTION = "Heat density (MWh/ha/yr)"

HEAT_COLUMN = "heat_demand_mwh_per_yr"
DENSITY_COLUMN = "heat_density_mwh_per_ha_per_yr"

_INFEASIBLE_COLOR = "#9e9e9e"
_NETWORK_COLOR = "#8b0000"
_RANK_COLORS = ["#1a9850", "#fee08b", "#d73027"]  # green -> yellow -> red
# EnEfG §11 ERF thresholds by the year a data center opens (MODEL.md §5).
_ENEFG_LEVELS = ((2026, 0.10), (2027, 0.15), (2028, 0.20))
# 1e-6 degree is ~0.1 m: far below what a web map shows, and it halves the GeoJSON size.
_COORD_DECIMALS = 6
_M2_PER_HA = 10_000.0
# Above this many heat cells the HTML passes ~20 MB and browsers struggle.
_MAX_HEAT_CELLS = 60_000


# --------------------------------------------------------------------------- validation


def _require_columns(gdf: gpd.GeoDataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise InputDataError(
            f"{name} lacks column(s) {missing}; present: {list(gdf.columns)}. "
            "Add them (see the siting.maps input contract)."
        )


def _nonempty_geometries(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]


# --------------------------------------------------------------------------- heat grid


def heat_density_grid(buildings: gpd.GeoDataFrame, cell_m: float = 100.0) -> gpd.GeoDataFrame:
    """Aggregate building heat demand onto a square grid.

    Buildings are binned by centroid with floor division of x, y by `cell_m`, so cells
    are aligned to multiples of `cell_m` in the buildings' CRS (same grid in every study).

    Parameters
    ----------
    buildings : GeoDataFrame
        Building geometries in a projected metric CRS with column
        ``heat_demand_mwh_per_yr`` (NaN counts as 0).
    cell_m : float
        Cell edge length in metres.

    Returns
    -------
    GeoDataFrame
        One row per cell with non-zero demand, in the buildings' CRS: square ``geometry``,
        ``heat_demand_mwh_per_yr`` (cell sum), ``heat_density_mwh_per_ha_per_yr`` and
        ``n_buildings``. Sorted by cell (x, then y); total demand equals the buildings' total.
    """
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise ConfigError(f"heat_cell_m must be a positive number of metres, got {cell_m!r}.")
    require_metric(buildings, "buildings")
    _require_columns(buildings, "buildings", [HEAT_COLUMN])

    demand = pd.to_numeric(buildings[HEAT_COLUMN], errors="coerce").to_numpy(dtype=float)
    if np.any(demand < 0):
        n_neg = int(np.sum(demand < 0))
        raise InputDataError(
            f"buildings.{HEAT_COLUMN} has {n_neg} negative value(s); demand must be >= 0 MWh/yr."
        )
    centroids = shapely.centroid(buildings.geometry.to_numpy())
    x_m = shapely.get_x(centroids)  # NaN for missing/empty geometries
    y_m = shapely.get_y(centroids)
    keep = np.isfinite(x_m) & np.isfinite(y_m) & np.isfinite(demand) & (demand > 0)

    empty = gpd.GeoDataFrame(
        {
            HEAT_COLUMN: pd.Series(dtype=float),
            DENSITY_COLUMN: pd.Series(dtype=float),
            "n_buildings": pd.Series(dtype=np.int64),
        },
        geometry=gpd.GeoSeries([], crs=buildings.crs),
        crs=buildings.crs,
    )
    if not keep.any():
        return empty

    ix = np.floor(x_m[keep] / cell_m).astype(np.int64)
    iy = np.floor(y_m[keep] / cell_m).astype(np.int64)
    # One int64 key per cell so a 1-D np.unique does the grouping (no loops, no axis=0 unique).
    iy0 = iy.min()
    ny = int(iy.max() - iy0) + 1
    key = (ix - ix.min()) * ny + (iy - iy0)
    cell_keys, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    cell_mwh = np.bincount(inverse, weights=demand[keep], minlength=len(cell_keys))
    cell_count = np.bincount(inverse, minlength=len(cell_keys))
    cell_ix = cell_keys // ny + ix.min()
    cell_iy = cell_keys % ny + iy0

    x0 = cell_ix * cell_m
    y0 = cell_iy * cell_m
    cells = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    cell_ha = cell_m * cell_m / _M2_PER_HA
    return gpd.GeoDataFrame(
        {
            HEAT_COLUMN: cell_mwh,
            DENSITY_COLUMN: cell_mwh / cell_ha,
            "n_buildings": cell_count.astype(np.int64),
        },
        geometry=cells,
        crs=buildings.crs,
    )


# --------------------------------------------------------------------------- formatting


def _num(value: object) -> float | None:
    """Return a finite float, or None for missing/NaN/non-numeric values."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value).strip()


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


# --------------------------------------------------------------------------- geometry helpers


def _to_wgs84(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Reproject to EPSG:4326 with coordinates rounded to ~0.1 m (smaller HTML)."""
    out = _nonempty_geometries(gdf).to_crs(4326)
    geoms = out.geometry.to_numpy()
    rounded = shapely.set_coordinates(
        geoms.copy(), np.round(shapely.get_coordinates(geoms), _COORD_DECIMALS)
    )
    return out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=out.crs))


def _geojson(gdf: gpd.GeoDataFrame) -> dict:
    """GeoJSON dict in EPSG:4326 without per-feature bboxes (they would add ~15 % to the HTML)."""
    return json.loads(_to_wgs84(gdf).to_json(drop_id=False, show_bbox=False))


def _bounds_wgs84(frames: Sequence[gpd.GeoDataFrame]) -> list[list[float]] | None:
    """[[south, west], [north, east]] over all frames, padded so single points get context."""
    boxes = []
    for gdf in frames:
        gdf = _nonempty_geometries(gdf)
        if gdf.empty:
            continue
        minx, miny, maxx, maxy = gdf.total_bounds
        # Pad in metres (before reprojecting) so the view is the same at any latitude.
        pad_m = max(40.0, 0.02 * max(maxx - minx, maxy - miny))
        box = shapely.box(minx - pad_m, miny - pad_m, maxx + pad_m, maxy + pad_m)
        boxes.append(gpd.GeoSeries([box], crs=gdf.crs).to_crs(4326).total_bounds)
    if not boxes:
        return None
    b = np.array(boxes)
    return [
        [float(b[:, 1].min()), float(b[:, 0].min())],
        [float(b[:, 3].max()), float(b[:, 2].max())],
    ]


def _sites_in_study_area(sites: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> pd.Series:
    """Which sites the initial view must show: those within the buildings' extent.

    A candidate far outside the extract (infeasible: outside the study area) would otherwise
    zoom the view out until the study area is a speck in a corner. All sites when none or
    all are inside, or when there are no buildings.
    """
    everything = pd.Series(True, index=sites.index)
    if buildings is None:
        return everything
    b = _nonempty_geometries(buildings)
    if b.empty:
        return everything
    minx, miny, maxx, maxy = b.to_crs(sites.crs).total_bounds
    pad_m = max(500.0, 0.1 * max(maxx - minx, maxy - miny))
    area = shapely.box(minx - pad_m, miny - pad_m, maxx + pad_m, maxy + pad_m)
    inside = pd.Series(sites.geometry.intersects(area).to_numpy(), index=sites.index)
    return inside if inside.any() else everything


def _top_site_ids(sites: pd.DataFrame, top_n: int) -> list[str]:
    """site_ids of the `top_n` best-ranked feasible sites (stable: rank, then site_id)."""
    ranked = sites[sites["feasible"].fillna(False).astype(bool)].copy()
    ranked["_rank"] = pd.to_numeric(ranked["rank"], errors="coerce")
    ranked = ranked[ranked["_rank"].notna()]
    ranked["_id"] = ranked["site_id"].astype(str)
    ranked = ranked.sort_values(["_rank", "_id"], kind="stable")
    return ranked["_id"].head(top_n).tolist()


def _best_site(sites: pd.DataFrame) -> pd.Series | None:
    """The best-ranked feasible site (the reference of every "why this rank"), or None."""
    top = _top_site_ids(sites, 1)
    if not top:
        return None
    return sites[sites["site_id"].astype(str) == top[0]].iloc[0]


def _float_column(df: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float array; all-NaN if absent (optional metrics must not break the map)."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


def _pipe_weight_px(dn: np.ndarray) -> np.ndarray:
    """Line weight in pixels by nominal diameter; DN50 ~2.5 px, DN600 ~8 px."""
    dn = np.where(np.isfinite(dn), dn, 0.0)
    return np.round(np.interp(dn, [0, 50, 150, 300, 600, 1000], [2, 2.5, 3.5, 5, 8, 10]), 1)


# --------------------------------------------------------------------------- legends


def _legend_template() -> jinja2.Template | None:
    """branca's colour-scale template, drawing into this legend's own box.

    branca 0.8 appends every legend's SVG to ``d3.select(".legend.leaflet-control")``, the
    *first* legend on the page, so a second colormap is drawn into the first box and its own
    box stays empty. Select the control's container instead. None if branca changed the line.
    """
    source = (importlib.resources.files("branca") / "templates" / "color_scale.js").read_text(
        encoding="utf-8"
    )
    edits = {
        'd3.select(".legend.leaflet-control")': (
            "d3.select({{this.get_name()}}.legend.getContainer())"
        ),
        # Bottom-right: the top corners hold the title box and the layer control.
        "L.control({position: 'topright'})": "L.control({position: 'bottomright'})",
        # Class legends label their breaks with text (see _class_legend).
        ".tickValues({{ this.tick_labels }});": (
            ".tickValues({{ this.tick_labels }})"
            "{% if this.tick_text is defined %}"
            ".tickFormat(function (d) { return {{ this.tick_text|tojson }}[d]; })"
            "{% endif %};"
        ),
    }
    if not all(wrong in source for wrong in edits):
        return None
    for wrong, right in edits.items():
        source = source.replace(wrong, right)
    return jinja2.Template(source)


_LEGEND_TEMPLATE = _legend_template()


def _add_legend(m: folium.Map, colormap: cm.ColorMap) -> None:
    colormap.width = _LEGEND_WIDTH_PX
    if _LEGEND_TEMPLATE is not None:
        colormap._template = _LEGEND_TEMPLATE
    colormap.add_to(m)


def _class_legend(colormap: cm.StepColormap, breaks: Sequence[float]) -> cm.ColorMap:
    """A legend with equal-width classes labelled by their breaks.

    Quantile breaks of skewed data (heat density: 6, 28, 41, 99, 582, 13,510) crowd into the
    left end of a linear axis, so their labels overlap and the top class fills the legend.
    Needs the siting legend template (tick_text); without it, the colormap itself.
    """
    if _LEGEND_TEMPLATE is None:
        return colormap
    n = len(breaks) - 1
    colors = [colormap.rgba_floats_tuple((breaks[i] + breaks[i + 1]) / 2) for i in range(n)]
    legend = cm.StepColormap(colors, index=list(range(n + 1)), vmin=0, vmax=n)
    legend.caption = colormap.caption
    legend.tick_labels = list(range(n + 1))
    legend.tick_text = [f"{b:,.0f}" for b in breaks]
    return legend


class _SelfContainedFigure(branca.element.Figure):
    """A Figure whose rendered page has every script and stylesheet inlined (siting.assets)."""

    def render(self, **kwargs) -> str:
        from siting.assets import inline_page

        return inline_page(super().render(**kwargs))


# --------------------------------------------------------------------------- layers


def _rank_colormap(sites: pd.DataFrame) -> cm.LinearColormap:
    feasible = sites["feasible"].fillna(False).astype(bool)
    ranks = pd.to_numeric(sites.loc[feasible, "rank"], errors="coerce").dropna()
    vmax = float(max(2.0, ranks.max())) if not ranks.empty else 2.0
    return cm.LinearColormap(_RANK_COLORS, vmin=1.0, vmax=vmax, caption=RANK_CAPTION)


def _site_colors(sites: pd.DataFrame, colormap: cm.LinearColormap) -> pd.Series:
    colors = []
    for feasible, rank in zip(sites["feasible"], sites["rank"], strict=True):
        r = _num(rank)
        ok = bool(feasible) if not pd.isna(feasible) else False
        colors.append(colormap(r) if ok and r is not None else _INFEASIBLE_COLOR)
    return pd.Series(colors, index=sites.index, dtype=object)


def _add_heat_layer(m: folium.Map, buildings: gpd.GeoDataFrame, cell_m: float) -> None:
    grid = heat_density_grid(buildings, cell_m)
    if grid.empty:
        return
    density = grid[DENSITY_COLUMN].to_numpy()
    # Quantile class breaks: heat density is heavily skewed, a linear scale would be one colour.
    breaks = np.unique(np.round(np.quantile(density, [0, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0]), 0))
    if len(breaks) < 2:
        breaks = np.array([breaks[0], breaks[0] + 1.0])
    colormap = cm.linear.YlOrRd_09.scale(float(breaks[0]), float(breaks[-1])).to_step(
        index=breaks.tolist()
    )
    colormap.caption = HEAT_CAPTION

    if len(grid) > _MAX_HEAT_CELLS:
        warnings.warn(
            f"heat-density layer has {len(grid):,} cells of {cell_m:g} m; the map HTML will be "
            f"~{len(grid) * 350 / 1e6:.0f} MB. Pass a larger heat_cell_m for large areas.",
            stacklevel=3,
        )

    drawn = grid.copy()
    drawn[DENSITY_COLUMN] = np.round(density, 0)
    drawn[HEAT_COLUMN] = np.round(grid[HEAT_COLUMN].to_numpy(), 0)

    layer = folium.FeatureGroup(name=HEAT_LAYER, show=True)
    folium.GeoJson(
        _geojson(drawn[[DENSITY_COLUMN, HEAT_COLUMN, "n_buildings", "geometry"]]),
        name=HEAT_LAYER,
        # Colour is computed here, not stored per feature: folium groups features by style,
        # so the HTML carries one style per colour class instead of one per cell.
        style_function=lambda f: {
            "fillColor": colormap(f["properties"][DENSITY_COLUMN]),
            "fillOpacity": 0.55,
            "color": colormap(f["properties"][DENSITY_COLUMN]),
            "weight": 0.3,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=[DENSITY_COLUMN, HEAT_COLUMN, "n_buildings"],
            aliases=["Heat density (MWh/ha/yr)", "Heat demand in cell (MWh/yr)", "Buildings"],
            localize=True,
        ),
    ).add_to(layer)
    layer.add_to(m)
    _add_legend(m, _class_legend(colormap, breaks.tolist()))


STREET_DENSITY_LAYER = "Streets worth a pipe (linear heat density)"


def _add_street_density_layer(m: folium.Map, streets: gpd.GeoDataFrame, limit: int) -> None:
    """Viable streets coloured by MWh per metre of street per year (off until ticked)."""
    lhd = "linear_heat_density_mwh_per_m"
    viable = streets[streets["viable"].astype(bool)] if "viable" in streets else streets
    viable = viable[[lhd, "geometry"]].sort_values(lhd, ascending=False, kind="stable")
    viable = _nonempty_geometries(viable.head(limit))
    if viable.empty:
        return
    values = viable[lhd].to_numpy(dtype=float)
    cmap = cm.LinearColormap(
        ["#fdd49e", "#fc8d59", "#b30000"],
        vmin=float(values.min()),
        vmax=float(np.quantile(values, 0.95)) if len(values) > 1 else float(values.max()) + 1,
    )
    data = _to_wgs84(viable).round({lhd: 2})
    layer = folium.FeatureGroup(name=STREET_DENSITY_LAYER, show=False)
    folium.GeoJson(
        json.loads(data.to_json()),
        style_function=lambda f: {
            "color": cmap(min(f["properties"][lhd], cmap.vmax)),
            "weight": 4,
            "opacity": 0.9,
        },
        tooltip=folium.GeoJsonTooltip([lhd], aliases=["MWh per metre of street per year"]),
    ).add_to(layer)
    layer.add_to(m)


def _add_network_layer(m: folium.Map, network: gpd.GeoDataFrame) -> None:
    network = _nonempty_geometries(network)
    if network.empty:
        return
    layer = folium.FeatureGroup(name=NETWORK_LAYER, show=True)
    is_line = network.geom_type.isin(["LineString", "MultiLineString", "LinearRing"])
    lines = network[is_line]
    if not lines.empty:
        folium.GeoJson(
            _geojson(lines[["geometry"]]),
            name="District-heating pipes",
            style_function=lambda f: {"color": _NETWORK_COLOR, "weight": 3, "opacity": 0.85},
            tooltip="Existing district-heating pipe",
        ).add_to(layer)
    plants = network[~is_line]
    if not plants.empty:
        points = plants.copy()
        points = points.set_geometry(points.geometry.representative_point())
        points = _to_wgs84(points)
        for _, row in points.iterrows():
            label = "District-heating plant"
            if plant_name := _text(row.get("name")):
                label += f": {html.escape(plant_name)}"
            # A square DivIcon, not RegularPolygonMarker: that needs leaflet-dvf from a CDN,
            # which self-contained maps do not bundle.
            folium.Marker(
                location=[row.geometry.y, row.geometry.x],
                icon=folium.DivIcon(
                    html=(
                        '<div class="siting-plant" style="width:14px;height:14px;'
                        f"background:{_NETWORK_COLOR};border:1.5px solid #3b0000;"
                        'box-sizing:border-box"></div>'
                    ),
                    icon_size=(14, 14),
                    icon_anchor=(7, 7),
                    class_name="siting-plant-icon",
                ),
                tooltip=label,
            ).add_to(layer)
    layer.add_to(m)


# Route colour by pipe size: a blue scale, apart from the rank (green-red), the network (dark
# red) and the heat density (yellow-red).
_DN_COLORS = ["#41b6c4", "#2c7fb8", "#253494", "#081d58"]
_DN_RANGE = (50.0, 600.0)
DN_LEGEND_TITLE = "Route pipe size (line width and colour)"


def _dn_color(dn: float) -> str:
    """Colour of a route by its DN on a log scale from DN50 to DN600."""
    if not math.isfinite(dn) or dn <= 0:
        return _INFEASIBLE_COLOR
    lo, hi = np.log(_DN_RANGE)
    x = float(np.clip((np.log(dn) - lo) / (hi - lo), 0.0, 1.0))
    return cm.LinearColormap(_DN_COLORS, vmin=0.0, vmax=1.0)(x)[:7]


class _HtmlLegend(branca.element.MacroElement):
    """A small Leaflet control holding fixed HTML (the DN legend)."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
            div.setAttribute('style', {{ this.style|tojson }});
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self, html_text: str, css_class: str, style: str = "", position: str = "bottomright"
    ) -> None:
        super().__init__()
        self.style = style
        self._name = "HtmlLegend"
        self.html = html_text
        self.css_class = css_class
        self.position = position


def _dn_legend_html(dns: Sequence[float]) -> str:
    rows = []
    for dn in dns:
        weight = float(_pipe_weight_px(np.array([dn]))[0])
        rows.append(
            '<div class="siting-dn-row" style="display:flex;align-items:center;gap:6px">'
            f'<span style="display:inline-block;width:34px;height:{weight:g}px;'
            f'background:{_dn_color(dn)}"></span><span>DN{int(dn)}</span></div>'
        )
    return f'<div style="font-weight:bold;margin-bottom:3px">{DN_LEGEND_TITLE}</div>' + "".join(
        rows
    )


def _add_routes_layer(
    m: folium.Map,
    routes: gpd.GeoDataFrame,
    top_ids: list[str],
    rank_of: dict[str, str],
    top_n: int,
) -> None:
    routes = _nonempty_geometries(routes)
    routes = routes[routes["site_id"].astype(str).isin(top_ids)]
    layer = folium.FeatureGroup(name=f"Routes (top {top_n})", show=True)
    if not routes.empty:
        drawn = gpd.GeoDataFrame(
            {"site_id": routes["site_id"].astype(str).to_numpy()},
            geometry=routes.geometry.to_numpy(),
            crs=routes.crs,
        )
        dn, length_m, capex = (
            _float_column(routes, c) for c in ("pipe_dn", "length_m", "capex_eur")
        )
        drawn["weight"] = _pipe_weight_px(dn)
        drawn["color"] = [_dn_color(d) for d in dn]
        summaries = []
        for sid, d, length, cost in zip(drawn["site_id"], dn, length_m, capex, strict=True):
            label = f"{rank_of[sid]} {sid}" if sid in rank_of else sid
            parts = [f"Route of {html.escape(label)}"]
            if np.isfinite(length):
                parts.append(f"{length:,.0f} m")
            if np.isfinite(d) and d > 0:
                parts.append(f"DN{int(d)}")
            if np.isfinite(cost):
                parts.append(_eur(cost))
            summaries.append(", ".join(parts))
        drawn["summary"] = summaries
        # Thickest first, so thin pipes stay visible on top of big ones.
        drawn = drawn.iloc[np.argsort(-drawn["weight"].to_numpy(), kind="stable")]
        folium.GeoJson(
            _geojson(drawn),
            name="Routes",
            style_function=lambda f: {
                "color": f["properties"]["color"],
                "weight": f["properties"]["weight"],
                "opacity": 0.9,
            },
            tooltip=folium.GeoJsonTooltip(fields=["summary"], labels=False),
        ).add_to(layer)
        sizes = sorted({float(d) for d in dn if np.isfinite(d) and d > 0})
        if sizes:
            _HtmlLegend(
                _dn_legend_html(sizes),
                "siting-dn-legend leaflet-control",
                style=(
                    "background:white;padding:5px 8px;border-radius:4px;font:12px sans-serif;"
                    "box-shadow:0 1px 4px rgba(0,0,0,.3)"
                ),
            ).add_to(m)
    layer.add_to(m)


def _text_color(background: str) -> str:
    """Black or white, whichever reads better on `background` (#rrggbb)."""
    h = background.lstrip("#")[:6]
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else "#ffffff"


def _rank_icon(label: str, color: str, feasible: bool) -> folium.DivIcon:
    """A round marker with the rank number inside, coloured by rank (grey if infeasible)."""
    size = 26 if feasible else 22
    width = max(size, 8 + 8 * len(label))
    border = "2px solid #222" if feasible else "2px dashed #555"
    style = (
        f"box-sizing:border-box;width:{width}px;height:{size}px;border-radius:{size // 2}px;"
        f"background:{color};color:{_text_color(color)};border:{border};"
        f"font:bold {12 if feasible else 11}px/{size - 4}px sans-serif;text-align:center;"
        "box-shadow:0 1px 3px rgba(0,0,0,.45);opacity:" + ("1" if feasible else "0.8")
    )
    return folium.DivIcon(
        html=f'<div class="siting-rank" style="{style}">{html.escape(label)}</div>',
        icon_size=(width, size),
        icon_anchor=(width // 2, size // 2),
        class_name="siting-site-icon",
    )


def _add_sites_layer(
    m: folium.Map,
    sites: gpd.GeoDataFrame,
    colors: pd.Series,
    best: pd.Series | None,
    charts: dict[str, str] | None = None,
) -> None:
    layer = folium.FeatureGroup(name=SITES_LAYER, show=True)
    points = sites.copy()
    # Polygons (site footprints) get a marker inside the footprint, not at a centroid outside it.
    points = points.set_geometry(points.geometry.representative_point())
    points["_color"] = colors
    points = _to_wgs84(points)
    feasible = points["feasible"].fillna(False).astype(bool)
    order = pd.to_numeric(points["rank"], errors="coerce").where(feasible, np.inf).fillna(np.inf)
    # Draw worst first so the best-ranked markers end up on top where they overlap.
    points = points.iloc[np.argsort(-order.to_numpy(), kind="stable")]
    for i, (_, row) in enumerate(points.iterrows()):
        ok = bool(row["feasible"]) if not pd.isna(row["feasible"]) else False
        site_id = html.escape(_text(row["site_id"]))
        rank = _num(row["rank"])
        tip = f"{_rank_label(row['rank'])} {site_id}"
        if not ok:
            tip += " (not feasible)"
        folium.Marker(
            location=[row.geometry.y, row.geometry.x],
            icon=_rank_icon(str(int(rank)) if rank is not None else "?", row["_color"], ok),
            tooltip=folium.Tooltip(tip),
            popup=folium.Popup(
                _site_popup_html(row, best) + (charts or {}).get(str(row["site_id"]), ""),
                max_width=400,
            ),
            # Leaflet stacks markers by latitude; keep the better rank on top instead.
            z_index_offset=1000 * i,
        ).add_to(layer)
    layer.add_to(m)


OFFLINE_NOTE = (
    "Offline map: no base-map tiles (they need a network); layers drawn on a plain background."
)
# OSM's land colour, so the offline background reads as "map", not as "failed to load".
_OFFLINE_BACKGROUND = "#f2efe9"


def _title_box(
    title: str, n_sites: int, n_feasible: int, top_n: int, offline: bool, n_away: int = 0
) -> str:
    note = f'<div class="siting-offline-note" style="color:#8a4b00">{OFFLINE_NOTE}</div>'
    away = (
        f"<div>{n_away} site{'s' if n_away != 1 else ''} far outside the study area "
        f"{'are' if n_away != 1 else 'is'} off this view (zoom out).</div>"
    )
    return (
        '<div class="siting-title" style="position:fixed;top:10px;left:55px;z-index:9999;'
        "background:white;padding:6px 10px;border:1px solid #888;border-radius:4px;"
        'font:12px sans-serif;max-width:360px;box-shadow:0 1px 4px rgba(0,0,0,.3)">'
        f'<div style="font-size:15px;font-weight:bold">{html.escape(title)}</div>'
        f"<div>{n_sites} candidate sites, {n_feasible} feasible. Marker colour = rank "
        f"(green best, red worst; grey = not feasible). Routes drawn for the top {top_n}.</div>"
        + (away if n_away else "")
        + (note if offline else "")
        + f'<div style="color:#555">Map data {OSM_ATTRIBUTION}</div>'
        "</div>"
    )


class _FitAroundControls(branca.element.MacroElement):
    """Fit the study area into the part of the map no control covers, as tight as possible.

    folium's fit_bounds pads by fixed pixels on every side. Here, once the title box, layer
    control and legends are drawn, the script measures the control corners and tries two
    layouts: the area between the top and bottom controls (full width) and the area between
    the left and right controls (full height), and keeps the one that allows the larger zoom.
    A tall study area thus fills the middle column, a wide one the middle band.
    """

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, bounds, margin) {
            var c = map.getContainer().getBoundingClientRect();
            function edges(selector) {
                var out = null;
                document.querySelectorAll(selector).forEach(function (el) {
                    var r = el.getBoundingClientRect();
                    if (!r.width || !r.height) { return; }
                    out = out ? {left: Math.min(out.left, r.left), top: Math.min(out.top, r.top),
                                 right: Math.max(out.right, r.right),
                                 bottom: Math.max(out.bottom, r.bottom)}
                              : {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
                });
                return out;
            }
            var corner = '#' + map.getContainer().id + ' .leaflet-';
            var tl = edges('.siting-title'), tl2 = edges(corner + 'top.leaflet-left > *');
            var tr = edges(corner + 'top.leaflet-right > *');
            var bl = edges(corner + 'bottom.leaflet-left > *');
            var br = edges(corner + 'bottom.leaflet-right > *');
            var top = 0, bottom = 0, left = 0, right = 0;
            [tl, tl2, tr].forEach(function (e) {
                if (e) { top = Math.max(top, e.bottom - c.top); } });
            [bl, br].forEach(function (e) {
                if (e) { bottom = Math.max(bottom, c.bottom - e.top); } });
            [tl, tl2, bl].forEach(function (e) {
                if (e) { left = Math.max(left, e.right - c.left); } });
            [tr, br].forEach(function (e) {
                if (e) { right = Math.max(right, c.right - e.left); } });
            var layouts = [
                [[margin, top + margin], [margin, bottom + margin]],
                [[left + margin, margin], [right + margin, margin]]
            ];
            var best = null, bestZoom = -Infinity;
            layouts.forEach(function (p) {
                var w = c.width - p[0][0] - p[1][0], h = c.height - p[0][1] - p[1][1];
                if (w < 120 || h < 120) { return; }
                var z = map.getBoundsZoom(bounds, false, L.point(p[0]).add(p[1]));
                if (z > bestZoom) { bestZoom = z; best = p; }
            });
            // Fallback (a tiny map): clear of the top and bottom controls by a fixed amount.
            best = best || [[30, 130], [30, 130]];
            map.fitBounds(bounds, {paddingTopLeft: best[0], paddingBottomRight: best[1],
                                   animate: false});
        })({{ this._parent.get_name() }}, {{ this.bounds|tojson }}, {{ this.margin }});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]], margin_px: int = 18) -> None:
        super().__init__()
        self._name = "FitAroundControls"
        self.bounds = bounds
        self.margin = int(margin_px)


class _Attribution(branca.element.MacroElement):
    """Adds the OSM attribution to the map's attribution control (no tile layer carries it)."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text


# --------------------------------------------------------------------------- public API


def study_map(
    sites: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame | None = None,
    network: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    top_n_routes: int = 50,
    heat_cell_m: float = 100.0,
    title: str = "siting",
    tiles: str = "OpenStreetMap",
    self_contained: bool = False,
    street_density: gpd.GeoDataFrame | None = None,
    max_street_edges: int = 3_000,
    site_charts: dict[str, str] | None = None,
) -> folium.Map:
    """Build the study map: ranked sites, top-N routes, DH network and heat density.

    `street_density` (from :func:`siting.heat_density.street_linear_heat_density`) adds a
    hidden-by-default layer of the streets whose linear heat density is viable for district
    heating, at most `max_street_edges` of the densest. `site_charts` maps a site id to HTML
    (e.g. :func:`siting.figures.monthly_svg`) appended to that site's popup.

    Parameters
    ----------
    sites : GeoDataFrame
        One row per candidate site (Point or Polygon) with at least ``site_id``, ``rank``
        and ``feasible``; metric columns (see module contract) fill the popups.
    routes : GeoDataFrame, optional
        Route lines with ``site_id``, ``pipe_dn``, ``length_m``, ``capex_eur``.
    network : GeoDataFrame, optional
        Existing DH pipes (lines) and plants (points/polygons).
    buildings : GeoDataFrame, optional
        Building polygons with ``heat_demand_mwh_per_yr``; drawn as a heat-density grid.
    top_n_routes : int
        Draw routes of the best `top_n_routes` feasible sites only.
    heat_cell_m : float
        Heat-density grid cell edge, metres.
    title : str
        Text of the title box.
    tiles : str
        Folium tile name or URL template (URLs are attributed to OpenStreetMap contributors).
    self_contained : bool
        Inline Leaflet and every other script/stylesheet from the copies installed with
        siting (``siting/data/assets``), so the saved HTML opens without a network. Base-map
        tiles cannot be offline: the layers are drawn on a plain background (the title box
        says so) and `tiles` is ignored.

    Returns
    -------
    folium.Map
    """
    if isinstance(top_n_routes, bool) or not isinstance(top_n_routes, int | np.integer):
        raise ConfigError(f"top_n_routes must be an integer >= 0, got {top_n_routes!r}.")
    if top_n_routes < 0:
        raise ConfigError(f"top_n_routes must be >= 0, got {top_n_routes}.")
    require_metric(sites, "sites")
    _require_columns(sites, "sites", ["site_id", "rank", "feasible"])
    sites = _nonempty_geometries(sites)
    if sites.empty:
        raise InputDataError("sites has no rows with geometry; nothing to map.")
    # Empty optional layers (e.g. no reachable site, no network) are simply not drawn; they
    # often come without columns or CRS, so validate only what will be drawn.
    routes = routes if routes is not None and len(routes) else None
    network = network if network is not None and len(network) else None
    buildings = buildings if buildings is not None and len(buildings) else None
    if routes is not None:
        require_metric(routes, "routes")
        _require_columns(routes, "routes", ["site_id"])
    if network is not None:
        require_metric(network, "network")
    if buildings is not None:
        require_metric(buildings, "buildings")

    in_view = _sites_in_study_area(sites, buildings)
    bounds = _bounds_wgs84([sites[in_view]] + ([network] if network is not None else []))
    assert bounds is not None  # in_view keeps at least one site
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]

    # zoom_snap 0.25: fit the study area closely instead of jumping a whole zoom level out.
    m = folium.Map(location=center, zoom_start=13, tiles=None, control_scale=True, zoom_snap=0.25)
    if self_contained:
        # Re-parent onto a figure that inlines the assets on every render (save, notebook).
        _SelfContainedFigure().add_child(m)
        m.get_root().header.add_child(
            folium.Element(
                f"<style>.folium-map.leaflet-container{{background:{_OFFLINE_BACKGROUND}}}</style>"
            ),
            name="siting_offline_background",
        )
        _Attribution(OSM_ATTRIBUTION).add_to(m)
    else:
        is_url = "{" in tiles or "://" in tiles
        folium.TileLayer(tiles, attr=OSM_ATTRIBUTION if is_url else None, name="Base map").add_to(m)

    # Add order = drawing order: area fill at the bottom, site markers on top.
    if buildings is not None:
        _add_heat_layer(m, buildings, heat_cell_m)
    if street_density is not None and len(street_density):
        require_metric(street_density, "street_density")
        _add_street_density_layer(m, street_density, max_street_edges)
    if network is not None:
        _add_network_layer(m, network)

    rank_cmap = _rank_colormap(sites)
    colors = _site_colors(sites, rank_cmap)
    if routes is not None:
        rank_of = {
            str(sid): _rank_label(rank)
            for sid, rank in zip(sites["site_id"], sites["rank"], strict=True)
        }
        top_ids = _top_site_ids(sites, top_n_routes)
        if "pipe_dn" not in routes.columns and "pipe_dn" in sites.columns:
            # the study's routes carry the site's pipe size only in the ranking table
            dn_of = dict(zip(sites["site_id"].astype(str), sites["pipe_dn"], strict=True))
            routes = routes.assign(pipe_dn=routes["site_id"].astype(str).map(dn_of))
        _add_routes_layer(m, routes, top_ids, rank_of, top_n_routes)
    _add_sites_layer(m, sites, colors, _best_site(sites), site_charts)
    _add_legend(m, rank_cmap)

    n_feasible = int(sites["feasible"].fillna(False).astype(bool).sum())
    m.get_root().html.add_child(
        folium.Element(
            _title_box(
                title,
                len(sites),
                n_feasible,
                top_n_routes,
                self_contained,
                int((~in_view).sum()),
            )
        )
    )
    folium.plugins.MeasureControl(
        position="bottomleft", primary_length_unit="meters", primary_area_unit="hectares"
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    # Once the page is drawn, fit into the largest area no control covers. (No folium
    # fit_bounds before it: its animated zoom would finish after, and undo, this one.)
    _FitAroundControls(bounds).add_to(m)
    return m


def save_map(m: folium.Map, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write `m` as HTML atomically (temp file in the same directory, then os.replace).

    Parameters
    ----------
    m : folium.Map
    path : str or PathLike
        Target ``.html`` file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = m.get_root().render()
    # Same directory so os.replace is a rename on one filesystem (atomic), never a copy.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; a map is meant to be shared, so make it world-readable.
        os.chmod(tmp_name, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        pathlib.Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
