"""Building floor area, dwellings, annual and peak heat demand (MODEL.md §6).

Each OSM building gets a class (from ``siting/data/building_classes.csv``), a number of levels,
a gross and net floor area, a construction period, a specific heat demand and from these an annual
heat demand, a design peak and a number of dwellings. Every estimate records what it used in the
``source`` column, and malformed tags are counted in ``gdf.attrs["demand_warnings"]``; a bad tag
never stops a run, it falls back to the next source.

Everything is vectorised over buildings (pandas string methods, numpy), so a city of 100k
buildings takes about a second.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.area import require_metric
from siting.config import Params
from siting.errors import ConfigError, InputDataError

__all__ = [
    "FULL_LOAD_HOURS_H",
    "HOUSE_FOOTPRINT_MAX_M2",
    "MWH_PER_FLAT_STANDARD",
    "MWH_PER_HOUSE_PRE_2025",
    "OUTPUT_COLUMNS",
    "PERIOD_SPECIFIC_DEMAND_KWH_PER_M2",
    "estimate",
    "format_summary",
    "load_class_table",
    "summary",
]

# Annual demand / peak demand. Danish buildings on district heating (space heating + hot water)
# run ~1,800-2,500 full-load hours a year; 2,000 h is a common design value [M]. It is the
# building's own peak, summed without a simultaneity factor (the network peak is lower).
FULL_LOAD_HOURS_H = 2_000.0

# building=yes (and building=residential, landuse=residential) below this footprint is read as a
# house: in Danish OSM (BBR import) most buildings are building=yes and the median footprint of
# those in Kgs. Lyngby is ~110 m2, the 90th percentile of detached houses ~280 m2 [D]. Larger
# unknown buildings keep class "other" (heat demand, no dwellings): homes are not invented.
HOUSE_FOOTPRINT_MAX_M2 = 300.0

# Danish standard heat use per home [V S30], for comparison in the summary.
MWH_PER_FLAT_STANDARD = 7.8
MWH_PER_HOUSE_PRE_2025 = 18.1

# Specific demand by construction year (kWh per m2 net floor area per year) [M], MODEL.md §6.
# Upper year bound of each period (inclusive) and its demand.
_PERIOD_UPPER_YEAR = np.array([1930, 1960, 1972, 1978, 1998, 2006])
_PERIOD_LABELS = np.array(
    ["<=1930", "1931-1960", "1961-1972", "1973-1978", "1979-1998", "1999-2006", ">=2007"],
    dtype=object,
)
_PERIOD_DEMAND = np.array([170.0, 150.0, 130.0, 115.0, 95.0, 85.0, 60.0])
PERIOD_SPECIFIC_DEMAND_KWH_PER_M2: dict[str, float] = dict(
    zip(_PERIOD_LABELS.tolist(), _PERIOD_DEMAND.tolist(), strict=True)
)

# Plausibility limits: a tag outside them is malformed and falls back to the next source.
_MAX_LEVELS = 100.0
_MAX_ROOF_LEVELS = 10.0
_MAX_FLATS = 5_000
_MIN_YEAR = 1000
_MAX_YEAR = 2100

# Keys whose value can pick the class of a building=yes (in this order), see the CSV header.
_HINT_KEYS = (
    "amenity",
    "shop",
    "office",
    "tourism",
    "healthcare",
    "leisure",
    "power",
    "man_made",
    "landuse",
)
_YEAR_KEYS = ("start_date", "building:year", "construction_date")
_SPLIT_BY_FOOTPRINT = ("building=yes", "building=residential", "landuse=residential")

OUTPUT_COLUMNS = (
    "building_class",
    "residential",
    "levels",
    "levels_source",
    "footprint_m2",
    "floor_area_m2",
    "net_floor_area_m2",
    "construction_period",
    "dwellings",
    "specific_demand_kwh_per_m2",
    "heat_demand_mwh_per_yr",
    "peak_heat_mw",
    "source",
)


def load_class_table() -> pd.DataFrame:
    """Return the building-class table shipped in ``siting/data/building_classes.csv``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``"key=value"``; columns ``building_class``, ``residential`` (bool),
        ``default_levels``, ``specific_demand_kwh_per_m2``.
    """
    return _class_table().copy()


@functools.lru_cache(maxsize=1)
def _class_table() -> pd.DataFrame:
    text = resources.files("siting").joinpath("data/building_classes.csv").read_text("utf-8")
    table = pd.read_csv(io.StringIO(text), comment="#", dtype={"key": str, "value": str})
    table["residential"] = table["residential"].astype(str).str.lower().eq("true")
    table.index = pd.Index(table["key"] + "=" + table["value"], name="tag")
    if table.index.duplicated().any():
        dup = table.index[table.index.duplicated()].tolist()
        raise InputDataError(f"building_classes.csv lists {dup} twice; keep one row each.")
    return table


def estimate(buildings: gpd.GeoDataFrame, params: Params | None = None) -> gpd.GeoDataFrame:
    """Estimate floor area, dwellings and heat demand of every building.

    Parameters
    ----------
    buildings
        Building footprints in a projected metric CRS, with the columns of pyrosm's
        ``OSM.get_buildings()`` (any may be missing; other tags are read from ``tags``).
    params
        Model parameters (``net_to_gross``, ``dwelling_area_*_m2``, ``min_heated_footprint_m2``,
        ``floor_height_m``); defaults to ``Params()``.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with the columns in ``OUTPUT_COLUMNS`` added. ``building:part`` features inside a
        building outline are dropped (the outline carries the building). Counts of malformed tags
        are in ``attrs["demand_warnings"]`` (tag -> count), the number of dropped parts in
        ``attrs["demand_parts_dropped"]``.
    """
    params = params or Params()
    require_metric(buildings, "buildings")
    gdf, parts_dropped = _drop_contained_parts(buildings)
    warnings: dict[str, int] = {}
    n = len(gdf)
    tags = _TagReader(gdf)

    footprint_m2 = np.nan_to_num(np.asarray(gdf.geometry.area, dtype=float), nan=0.0)
    footprint_m2 = np.where(
        gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]), footprint_m2, 0
    )

    # --- class
    table = _class_table()
    row, class_src = _resolve_class(gdf, tags, table, footprint_m2, params.house_footprint_max_m2)
    cls = table.loc[row]
    building_class = cls["building_class"].to_numpy(dtype=object)
    residential = cls["residential"].to_numpy(dtype=bool)
    class_demand = cls["specific_demand_kwh_per_m2"].to_numpy(dtype=float)
    by_class = params.specific_demand_by_class_kwh_per_m2
    if by_class:
        unknown = set(by_class) - set(table["building_class"])
        if unknown:
            raise ConfigError(
                f"params.specific_demand_by_class_kwh_per_m2 names unknown classes "
                f"{sorted(unknown)}; use {', '.join(sorted(set(table['building_class'])))}."
            )
        override = pd.Series(building_class).map(by_class).to_numpy(dtype=float)
        # an unheated class (0 in the table) stays unheated: its override would be a typo
        class_demand = np.where(np.isnan(override) | (class_demand == 0), class_demand, override)
    default_levels = cls["default_levels"].to_numpy(dtype=float)

    # --- levels: building:levels (+ half the roof levels), else height, else class default.
    # A tag that is present but not usable is counted and the next source is used.
    def check(key: str, ok: np.ndarray) -> np.ndarray:
        _count(warnings, key, tags.present(key) & ~ok)
        return ok

    tag_levels = _parse_number(tags.get("building:levels"))
    tag_levels_ok = check("building:levels", (tag_levels > 0) & (tag_levels <= _MAX_LEVELS))

    roof_levels = _parse_number(tags.get("roof:levels"))
    roof_ok = check("roof:levels", (roof_levels >= 0) & (roof_levels <= _MAX_ROOF_LEVELS))
    roof_levels = np.where(roof_ok, roof_levels, 0.0)

    # Levels below building:min_level are open space (a building on stilts, an overhang).
    min_level = _parse_number(tags.get("building:min_level"))
    below_top = ~tag_levels_ok | (min_level < np.where(tag_levels_ok, tag_levels, 0.0))
    min_ok = check("building:min_level", (min_level >= 0) & below_top)
    min_level = np.where(min_ok & tag_levels_ok, min_level, 0.0)

    height_m = _parse_height(tags.get("height"))
    height_ok = check("height", (height_m > 0) & (height_m / params.floor_height_m <= _MAX_LEVELS))
    # Round to whole storeys: a 4 m house has one storey, not 1.33.
    height_levels = np.maximum(
        1.0, np.round(np.where(height_ok, height_m, 0) / params.floor_height_m)
    )

    levels = np.select(
        [tag_levels_ok, height_ok],
        [tag_levels - min_level + 0.5 * roof_levels, height_levels],
        default_levels,
    )
    levels_source = np.select(
        [tag_levels_ok, height_ok], ["building:levels", "height"], "default"
    ).astype(object)
    levels_src_text = np.select(
        [tag_levels_ok & (roof_levels > 0), tag_levels_ok, height_ok],
        ["tag+roof", "tag", "height"],
        "default",
    ).astype(object)

    floor_area_m2 = footprint_m2 * levels
    net_floor_area_m2 = floor_area_m2 * params.net_to_gross

    # --- construction period: first parsable of start_date, building:year, construction_date
    year = np.full(n, np.nan)
    year_src = np.full(n, "none", dtype=object)
    for key in _YEAR_KEYS:
        parsed = _parse_year(tags.get(key))
        check(key, ~np.isnan(parsed))
        use = np.isnan(year) & ~np.isnan(parsed)
        year = np.where(use, parsed, year)
        year_src = np.where(use, key, year_src)
    known = ~np.isnan(year)
    period_idx = np.searchsorted(_PERIOD_UPPER_YEAR, np.where(known, year, 0), side="left")
    construction_period = np.where(known, _PERIOD_LABELS[period_idx], None)
    by_period = params.specific_demand_by_period_kwh_per_m2
    unknown = set(by_period) - set(_PERIOD_LABELS)
    if unknown:
        raise ConfigError(
            f"params.specific_demand_by_period_kwh_per_m2 names unknown periods "
            f"{sorted(unknown)}; use {', '.join(_PERIOD_LABELS)}."
        )
    period_demand = np.array(
        [by_period.get(k, v) for k, v in zip(_PERIOD_LABELS, _PERIOD_DEMAND, strict=True)]
    )
    specific = np.where(known, period_demand[period_idx], class_demand)

    # --- heated or not: unheated classes (demand 0 in the table) and small footprints
    heated = (class_demand > 0) & (footprint_m2 >= params.min_heated_footprint_m2)
    specific = np.where(heated, specific, 0.0)
    heat_mwh = net_floor_area_m2 * specific / 1_000.0

    # --- dwellings: explicit building:flats, else net area / typical dwelling area
    flats = _parse_number(tags.get("building:flats"))
    flats_ok = check(
        "building:flats", (flats >= 1) & (flats <= _MAX_FLATS) & (np.round(flats) == flats)
    )
    # A flats tag makes a building residential (flats above shops); an unknown one becomes
    # apartments so its homes are counted like any other block of flats.
    flats_used = flats_ok & heated
    building_class = np.where(flats_ok & (building_class == "other"), "apartments", building_class)
    residential = residential | flats_ok
    dwelling_area = np.where(
        building_class == "house", params.dwelling_area_house_m2, params.dwelling_area_flat_m2
    )
    by_area = np.maximum(1.0, np.round(net_floor_area_m2 / dwelling_area))
    # Unheated buildings (sheds, footprints below min_heated_footprint_m2) hold no dwellings.
    by_area_used = residential & heated & ~flats_used
    dwellings = np.select([flats_used, by_area_used], [flats, by_area], 0.0).astype(np.int64)
    dwell_src = np.select([flats_used, by_area_used], ["flats", "area"], "none").astype(object)

    out = gdf.copy()
    out["building_class"] = pd.array(building_class, dtype=object)
    out["residential"] = residential
    out["levels"] = levels.astype(float)
    out["levels_source"] = pd.array(levels_source, dtype=object)
    out["footprint_m2"] = footprint_m2.astype(float)
    out["floor_area_m2"] = floor_area_m2
    out["net_floor_area_m2"] = net_floor_area_m2
    out["construction_period"] = pd.Series(construction_period, index=out.index, dtype=object)
    out["dwellings"] = dwellings
    out["specific_demand_kwh_per_m2"] = specific
    out["heat_demand_mwh_per_yr"] = heat_mwh
    out["peak_heat_mw"] = heat_mwh / params.full_load_hours_h
    out["source"] = pd.array(
        "levels:"
        + levels_src_text
        + ";class:"
        + class_src
        + ";period:"
        + year_src
        + ";dwellings:"
        + dwell_src,
        dtype=object,
    )
    out.attrs["demand_warnings"] = warnings
    out.attrs["demand_parts_dropped"] = parts_dropped
    return out


def summary(buildings_estimated: gpd.GeoDataFrame, params: Params | None = None) -> dict[str, Any]:
    """Totals for an area from the output of :func:`estimate`.

    Parameters
    ----------
    buildings_estimated
        Output of :func:`estimate`.
    params
        Gives the standard heat use per home (``mwh_per_home``); defaults to ``Params()``.

    Returns
    -------
    dict
        Counts, floor areas (m2), dwellings, heat demand (MWh/yr), peak (MW, undiversified),
        MWh per dwelling (all, residential, houses, flats), the Danish standard figures and the
        warning counts.
    """
    params = params or Params()
    b = buildings_estimated
    missing = [c for c in OUTPUT_COLUMNS if c not in b.columns]
    if missing:
        raise InputDataError(
            f"summary() needs the output of siting.demand.estimate(); columns {missing} are "
            "missing. Call estimate(buildings) first."
        )
    heat = b["heat_demand_mwh_per_yr"].to_numpy(dtype=float)
    dwellings = b["dwellings"].to_numpy(dtype=np.int64)
    res = b["residential"].to_numpy(dtype=bool) & (heat > 0)
    house = res & (b["building_class"].to_numpy(dtype=object) == "house")
    flat = res & ~house

    def per_dwelling(mask: np.ndarray) -> float:
        d = int(dwellings[mask].sum())
        return float(heat[mask].sum() / d) if d else 0.0

    return {
        "buildings": int(len(b)),
        "heated_buildings": int((heat > 0).sum()),
        "residential_buildings": int(res.sum()),
        "floor_area_m2": float(b["floor_area_m2"].sum()),
        "net_floor_area_m2": float(b["net_floor_area_m2"].sum()),
        "heated_net_floor_area_m2": float(b["net_floor_area_m2"].to_numpy()[heat > 0].sum()),
        "dwellings": int(dwellings.sum()),
        "heat_demand_mwh_per_yr": float(heat.sum()),
        "residential_heat_demand_mwh_per_yr": float(heat[res].sum()),
        "peak_heat_mw": float(b["peak_heat_mw"].sum()),
        "full_load_hours_h": params.full_load_hours_h,
        "mwh_per_dwelling": per_dwelling(np.ones(len(b), dtype=bool)),
        "residential_mwh_per_dwelling": per_dwelling(res),
        "house_mwh_per_dwelling": per_dwelling(house),
        "flat_mwh_per_dwelling": per_dwelling(flat),
        "standard_mwh_per_home": {
            "house_2025": float(params.mwh_per_home),
            "flat": MWH_PER_FLAT_STANDARD,
            "house_pre_2025": MWH_PER_HOUSE_PRE_2025,
        },
        "buildings_by_class": {
            str(k): int(v) for k, v in b["building_class"].value_counts().sort_index().items()
        },
        "levels_source_counts": {
            str(k): int(v) for k, v in b["levels_source"].value_counts().sort_index().items()
        },
        "period_known": int(b["construction_period"].notna().sum()),
        "warnings": dict(b.attrs.get("demand_warnings", {})),
        "parts_dropped": int(b.attrs.get("demand_parts_dropped", 0)),
    }


def format_summary(
    result: Mapping[str, Any] | gpd.GeoDataFrame, params: Params | None = None, name: str = ""
) -> str:
    """Plain-text report of :func:`summary` (accepts the summary or the estimated buildings).

    Parameters
    ----------
    result
        A dict from :func:`summary` or a GeoDataFrame from :func:`estimate`.
    params
        Used only when ``result`` is a GeoDataFrame.
    name
        Area name for the title line.

    Returns
    -------
    str
        Multi-line text.
    """
    s = summary(result, params) if isinstance(result, pd.DataFrame) else dict(result)
    std = s["standard_mwh_per_home"]
    warn = ", ".join(f"{k} {v}" for k, v in sorted(s["warnings"].items())) or "none"
    lines = [
        f"Heat demand{' - ' + name if name else ''}",
        f"  buildings           {s['buildings']:>12,} ({s['heated_buildings']:,} heated, "
        f"{s['residential_buildings']:,} residential)",
        f"  gross floor area    {s['floor_area_m2']:>12,.0f} m2 "
        f"(net heated {s['heated_net_floor_area_m2']:,.0f} m2)",
        f"  dwellings           {s['dwellings']:>12,}",
        f"  heat demand         {s['heat_demand_mwh_per_yr']:>12,.0f} MWh/yr "
        f"(residential {s['residential_heat_demand_mwh_per_yr']:,.0f})",
        f"  peak (undiversified){s['peak_heat_mw']:>12,.1f} MW at "
        f"{s['full_load_hours_h']:,.0f} full-load hours",
        f"  MWh per dwelling    {s['mwh_per_dwelling']:>12,.1f} (all heat / dwellings)",
        f"  residential         {s['residential_mwh_per_dwelling']:>12,.1f} MWh/dwelling: houses "
        f"{s['house_mwh_per_dwelling']:.1f}, flats {s['flat_mwh_per_dwelling']:.1f}",
        f"  Danish standard     house {std['house_2025']:.1f} MWh/yr (2025, 125 m2), flat "
        f"{std['flat']:.1f}, pre-2025 claims {std['house_pre_2025']:.1f}",
        f"  construction year   {s['period_known']:>12,} buildings with a parsable year",
        f"  tag warnings        {warn}",
    ]
    if s.get("parts_dropped"):
        lines.append(
            f"  building:part       {s['parts_dropped']:>12,} parts inside outlines dropped"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# helpers


def _drop_contained_parts(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, int]:
    """Drop ``building:part`` features that lie inside a building outline.

    A part without a ``building`` tag describes a piece (levels, roof) of a building whose
    outline is mapped separately; counting both would double the floor area. A part is inside
    when its representative point falls within an outline. Parts with no outline around them are
    kept and classed by their ``building:part`` value.
    """
    if "building:part" not in gdf.columns or len(gdf) == 0:
        return gdf, 0
    building = gdf["building"] if "building" in gdf.columns else pd.Series(np.nan, index=gdf.index)
    is_part = (building.isna() & gdf["building:part"].notna()).to_numpy()
    if not is_part.any():
        return gdf, 0
    outlines = gdf.geometry[~is_part]
    points = gdf.geometry[is_part].representative_point()
    inside = np.zeros(is_part.sum(), dtype=bool)
    if len(outlines):
        hit, _ = outlines.sindex.query(points, predicate="within")
        inside[np.unique(hit)] = True
    keep = np.ones(len(gdf), dtype=bool)
    keep[np.flatnonzero(is_part)[inside]] = False
    out = gdf[keep].copy()
    if "building" not in out.columns:
        out["building"] = pd.Series(np.nan, index=out.index, dtype=object)
    lone_part = out["building"].isna() & out["building:part"].notna()
    out["building"] = out["building"].astype(object).where(~lone_part, out["building:part"])
    return out, int(inside.sum())


class _TagReader:
    """Read a tag from its own column, else from the ``tags`` column (JSON string or dict)."""

    def __init__(self, gdf: pd.DataFrame) -> None:
        # Positional index: the caller's index may repeat, every result here is read by position.
        gdf = pd.DataFrame(gdf.drop(columns=gdf.geometry.name)).reset_index(drop=True)
        self._gdf = gdf
        self._cache: dict[str, pd.Series] = {}
        tags = gdf["tags"] if "tags" in gdf.columns else pd.Series(None, index=gdf.index)
        if isinstance(tags.dtype, pd.StringDtype):  # pyrosm: JSON text for every row
            is_dict = np.zeros(len(tags), dtype=bool)
        else:  # object column: dicts (hand-made frames) and/or JSON text
            is_dict = tags.map(lambda t: isinstance(t, dict)).to_numpy(dtype=bool)
        self._dicts = tags[is_dict]
        self._strings = tags[~is_dict & tags.notna().to_numpy()].astype("string")

    def get(self, key: str) -> pd.Series:
        """Stripped text of `key` (string dtype, NA where absent), aligned on the input index."""
        if key in self._cache:
            return self._cache[key]
        index = self._gdf.index
        if key in self._gdf.columns:
            values = _as_text(self._gdf[key])
        else:
            values = pd.Series(pd.NA, index=index, dtype="string")
        if values.isna().any() and len(self._strings):
            # A regex on the JSON text avoids a json.loads per building; pyrosm writes values
            # as strings, bare numbers are accepted too.
            pattern = rf'"{re.escape(key)}"\s*:\s*(?:"((?:[^"\\]|\\.)*)"|(-?[\d.]+))'
            # A plain substring test first: most rows lack the key and regex is slower.
            candidates = self._strings[
                self._strings.str.contains(f'"{key}"', regex=False).to_numpy(dtype=bool)
            ]
            found = candidates.str.extract(pattern)
            found = found[0].fillna(found[1])
            escaped = found.str.contains("\\", regex=False).fillna(False).to_numpy(dtype=bool)
            if escaped.any():  # rare: decode \uXXXX etc. only where present
                found[escaped] = found[escaped].map(_unescape_json)
            values = values.fillna(_as_text(found).reindex(index))
        if values.isna().any() and len(self._dicts):
            values = values.fillna(_as_text(self._dicts.str.get(key)).reindex(index))
        self._cache[key] = values
        return values

    def present(self, key: str) -> np.ndarray:
        return self.get(key).notna().to_numpy(dtype=bool)


def _as_text(values: pd.Series) -> pd.Series:
    """String dtype, stripped, empty strings as NA."""
    text = values.astype(object).where(values.notna(), None).astype("string").str.strip()
    return text.mask(text.eq("").fillna(False))


def _unescape_json(text: str) -> str:
    try:
        return json.loads(f'"{text}"')
    except ValueError:
        return text


def _parse_number(values: pd.Series) -> np.ndarray:
    """Numbers from tag text ("3", "2.5", "2,5"); NaN where not a number."""
    return _parse_tagged(values, lambda t: _to_float(t.str.replace(",", ".", regex=False)))


def _parse_height(values: pd.Series) -> np.ndarray:
    """Heights in metres ("12", "12.5 m", "12,5m"); feet and other units give NaN."""
    return _parse_tagged(values, _height_of_text)


def _height_of_text(text: pd.Series) -> np.ndarray:
    number = text.str.extract(r"^(-?\d+(?:[.,]\d+)?)\s*(?:m|metres?|meters?)?$")[0]
    return _to_float(number.str.replace(",", ".", regex=False))


def _parse_year(values: pd.Series) -> np.ndarray:
    """Construction year from OSM date text; NaN where not parsable.

    Accepted: "1936", "~1936", "1938-10", "1938-10-05", "1865;1890" (first), "1908..1939"
    (middle), "1890s" (middle of the decade). Anything else ("early 1900s", "before 1939",
    "C19") is unparsed: an approximate word gives no period, so the class default applies.
    """
    year = _parse_tagged(values, _year_of_text)
    return np.where((year >= _MIN_YEAR) & (year <= _MAX_YEAR), year, np.nan)


def _year_of_text(text: pd.Series) -> np.ndarray:
    single = _to_float(text.str.extract(r"^~?(\d{4})(?:-\d{1,2}(?:-\d{1,2})?)?(?:\s*;.*)?$")[0])
    span = text.str.extract(r"^~?(\d{4})(?:-\d{1,2}(?:-\d{1,2})?)?\s*\.\.\s*~?(\d{4})")
    decade = _to_float(text.str.extract(r"^~?(\d{3})0s$")[0])
    span_mid = np.floor((_to_float(span[0]) + _to_float(span[1])) / 2.0)
    year = np.where(np.isnan(single), span_mid, single)
    return np.where(np.isnan(year), decade * 10 + 5, year)


def _parse_tagged(values: pd.Series, parse: Any) -> np.ndarray:
    """Apply `parse` (text Series -> floats) to the tagged rows only; NaN elsewhere."""
    text = _as_text(values)
    tagged = text.notna().to_numpy(dtype=bool)
    out = np.full(len(text), np.nan)
    if tagged.any():
        out[tagged] = parse(text[tagged])
    return out


def _to_float(values: pd.Series) -> np.ndarray:
    number = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return np.where(np.isfinite(number), number, np.nan)


def _count(warnings: dict[str, int], key: str, bad: np.ndarray) -> None:
    n = int(np.count_nonzero(bad))
    if n:
        warnings[key] = warnings.get(key, 0) + n


def _resolve_class(
    gdf: pd.DataFrame,
    tags: _TagReader,
    table: pd.DataFrame,
    footprint_m2: np.ndarray,
    house_max_m2: float = 300.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Row label ("key=value") in the class table for each building, and its source text."""
    known = pd.Series(table.index, index=table.index, dtype="string")
    value = tags.get("building").str.lower().fillna("yes")  # no value = building=yes
    tag = "building=" + value
    row = tag.map(known).astype("string")
    src = tag.where(row.notna())
    # building=yes and unknown values: the hint keys decide before the generic rows.
    open_ = (row.isna() | tag.eq("building=yes")).to_numpy(dtype=bool)
    for key in _HINT_KEYS:
        hint = tags.get(key).str.lower()
        hint_tag = key + "=" + hint
        found = hint_tag.map(known).astype("string")
        if f"{key}=*" in known.index:
            found = found.fillna(hint.where(hint.isna(), f"{key}=*"))
        take = open_ & found.notna().to_numpy(dtype=bool)
        row = row.mask(take, found)
        src = src.mask(take, hint_tag)
        open_ &= ~take
    generic = open_ & ~tag.eq("building=yes").to_numpy(dtype=bool)
    row = row.mask(generic, "building=*").mask(open_ & ~generic, "building=yes")
    src = src.mask(open_, tag)
    # Small building=yes / residential without a type are houses (see HOUSE_FOOTPRINT_MAX_M2).
    small = row.isin(_SPLIT_BY_FOOTPRINT).to_numpy(dtype=bool) & (footprint_m2 < house_max_m2)
    row = row.mask(small, "building=house")
    src = src.mask(small, src + "+small")
    return row.to_numpy(dtype=object), src.to_numpy(dtype=object)
