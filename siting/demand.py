"""Building floor area, dwellings, annual and peak heat demand (docs/model.md §6 and §8.2).

Each OSM building gets a class (from ``siting/data/building_classes.csv``, or for untyped
``building=yes`` from its context), a number of levels, a heated floor area, a construction
period, a specific heat demand and from these an annual heat demand, a design peak and a number
of dwellings. The model is calibrated on Danish measured consumption, each step on its own
evidence (docs/model.md §8.2):

* floor area: the footprint is an aerial roof outline, so the eaves are taken off to get the
  outer-wall area BBR measures; times the levels (tags, height, tagged neighbours, else a class
  default: a detached house is one storey plus its expected utilised attic);
* heated floor area = that gross floor area (BBR area is measured to the outside of the outer
  walls, utilised attic included);
* specific demand per heated m²: measured Danish values, detached houses by construction period
  (Vojens) and buildings by use (Assens);
* dwellings: ``building:flats``, else address points (one per house, one per stairwell), else
  heated area / the standard home area (125 m² house, 80 m² flat).

Every estimate records what it used in the ``source`` column and which rule chose the class in
``class_rule``; malformed tags are counted in ``gdf.attrs["demand_warnings"]``; a bad tag never
stops a run, it falls back to the next source. Everything is vectorised over buildings, so a
city of 100k buildings takes a few seconds.
"""

from __future__ import annotations

import functools
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import require_metric
from siting.config import Params
from siting.errors import ConfigError, InputDataError
from siting.homes import HOME_STANDARDS
from siting.tags import HINT_KEYS, YEAR_KEYS

__all__ = [
    "ADDRESS_COVERAGE_M",
    "ANNEX_DISTANCE_M",
    "ANNEX_MAX_FOOTPRINT_M2",
    "BLOCK_MAX_DEPTH_M",
    "EAVES_M",
    "FULL_LOAD_HOURS_H",
    "HOUSE_CLASSES",
    "HOUSE_FOOTPRINT_MAX_M2",
    "MWH_PER_FLAT_STANDARD",
    "MWH_PER_HOUSE_PRE_2025",
    "NEIGHBOUR_LEVELS_RADIUS_M",
    "NEIGHBOUR_RADIUS_M",
    "OUTPUT_COLUMNS",
    "PERIOD_SPECIFIC_DEMAND_KWH_PER_M2",
    "ROOF_LEVEL_AREA_FACTOR",
    "SHED_ROW_MAX_DEPTH_M",
    "TERRACE_MAX_DEPTH_M",
    "calibration_report",
    "estimate",
    "format_summary",
    "load_class_table",
    "summary",
]

# Annual demand / peak demand. Danish buildings on district heating (space heating + hot water)
# run ~1,800-2,500 full-load hours a year; 2,000 h is a common design value [M]. It is the
# building's own peak, summed without a simultaneity factor (the network peak is lower).
FULL_LOAD_HOURS_H = 2_000.0

# building=yes below this footprint is read as a house unless its context says otherwise: in
# Danish OSM (GeoDanmark import) most buildings are building=yes; the 90th percentile of tagged
# detached houses in the north Copenhagen extract is ~275 m2 [D].
HOUSE_FOOTPRINT_MAX_M2 = 300.0

# Danish standard heat use per home [V S30] (siting.homes), for comparison in the summary.
MWH_PER_FLAT_STANDARD = HOME_STANDARDS["dk_flat"].mwh_per_yr
MWH_PER_HOUSE_PRE_2025 = HOME_STANDARDS["dk_house_legacy"].mwh_per_yr

# Residential classes: dwellings, and the construction-period table applies to them.
HOUSE_CLASSES = ("house", "terrace")
# pandas 3 copies a column only when one of the frames sharing it writes to it
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
_RESIDENTIAL_CLASSES = (*HOUSE_CLASSES, "apartments")

# --- floor area ---------------------------------------------------------------------------
# OSM outlines traced from aerial images (and the Danish GeoDanmark import) follow the roof
# edge; BBR areas are measured to the outside of the outer walls (BBR instruks 5.1.1). Danish
# eaves overhang 0.2-0.6 m [M]; taking 0.3 m off all round turns a 138 m2 house outline into
# ~124 m2 of walls and a 600 m2 block into ~565 m2. Params: eaves_m (0-0.6).
EAVES_M = 0.3
# Floor area of one roof level (utilised attic) as a share of the storey below. BBR measures an
# attic 1.5 m above its floor to the outside of the roof (boligejer.dk, BBR instruks); on a
# 9-11 m deep house with a 35-45 degree roof and a 0-0.5 m knee wall that is 0.55-0.8 [M].
# Params: roof_level_area_factor (0.5-0.8).
ROOF_LEVEL_AREA_FACTOR = 0.65

# --- context rules for untyped building=yes (docs/model.md §8.2) -------------------------------
# A small building next to a much larger one is its garage, carport or shed: tagged garages,
# carports and sheds in the north Copenhagen extract have median footprints of 35-39 m2 and
# 90th percentiles of 53-66 m2 [D]; a Danish detached house is rarely under 60 m2 [M].
# Params: annex_max_footprint_m2, annex_distance_m.
ANNEX_MAX_FOOTPRINT_M2 = 60.0
ANNEX_DISTANCE_M = 10.0
# Depth of a footprint = width of the rectangle with its area and perimeter (the wing depth of
# an L- or U-shaped block). Tagged buildings >= 300 m2 in the north Copenhagen extract [D]:
# apartments median 11.0 m (90th percentile 13.6), building=residential 10.1 (11.8), terraces
# 9.1 (10.7), against university 15.6, commercial 14.5, retail 17.7, office 16.4 m. Depth
# <= 14 m catches 96 % of tagged residential buildings with 77 % precision; below 10 m lie 81 %
# of terraces and 26 % of apartment blocks. Below 6 m only rows of garages/carports/sheds fit.
# Params: block_max_depth_m, terrace_max_depth_m, shed_row_max_depth_m.
BLOCK_MAX_DEPTH_M = 14.0
TERRACE_MAX_DEPTH_M = 10.0
SHED_ROW_MAX_DEPTH_M = 6.0
# A large untyped building among tagged large buildings of one class (a campus, an industrial
# estate) takes their class: >= 3 tagged within this distance, >= 2/3 of them agreeing [M].
# Params: neighbour_radius_m.
NEIGHBOUR_RADIUS_M = 100.0
_NEIGHBOUR_MIN_COUNT = 3
_NEIGHBOUR_MIN_SHARE = 2.0 / 3.0
# Levels of an untagged block or non-residential building: median building:levels of >= 3
# tagged buildings of the same class within this distance (same estate, same street) [M].
# Params: neighbour_levels_radius_m.
NEIGHBOUR_LEVELS_RADIUS_M = 200.0
# An address layer covers a building when an address point lies within this distance; only then
# does "no address inside" count as evidence. Danish access addresses sit ~3 m inside the outline
# of their building (danmarksadresser.dk); in the Odense extract 92 % of detached houses, 91 % of
# terraces (4.9 addresses each) and 93 % of semi-detached houses (1.9 each) hold one [D].
# Params: address_coverage_m.
ADDRESS_COVERAGE_M = 100.0

# Land use (or amenity grounds) that classify an untyped building inside them; a priority
# order when polygons overlap (a specific use inside a large residential polygon wins).
_LANDUSE_ROWS = {  # landuse value -> (row for small, row for large buildings)
    "allotments": ("building=allotment_house", "building=allotment_house"),
    "industrial": ("landuse=industrial", "landuse=industrial"),
    "commercial": ("landuse=commercial", "landuse=commercial"),
    "retail": ("landuse=retail", "landuse=retail"),
    "farmyard": ("building=farmhouse", "building=barn"),
}
_LANDUSE_PRIORITY = {**{k: i for i, k in enumerate(_LANDUSE_ROWS)}, "residential": 99}

# Specific demand of residential buildings by construction year (kWh per m2 of heated = BBR
# floor area per year): detached houses on district heating, Vojens Fjernvarme 2021 [V,
# docs/model.md §8.2]: 1921-62 154, 1963-78 115, 1979-98 103, 1999-2006 93. Buildings before 1921
# get the oldest measured band (most are renovated). >= 2007 (BR08 and later): 93 x 60/85 = 66,
# the docs/model.md §6 ratio of >= 2007 to 1999-2006 [M]. Upper year bound of each period inclusive.
_PERIOD_UPPER_YEAR = np.array([1962, 1978, 1998, 2006])
_PERIOD_LABELS = np.array(
    ["<=1962", "1963-1978", "1979-1998", "1999-2006", ">=2007"],
    dtype=object,
)
_PERIOD_DEMAND = np.array([154.0, 115.0, 103.0, 93.0, 66.0])
PERIOD_SPECIFIC_DEMAND_KWH_PER_M2: dict[str, float] = dict(
    zip(_PERIOD_LABELS.tolist(), _PERIOD_DEMAND.tolist(), strict=True)
)

# Plausibility limits: a tag outside them is malformed and falls back to the next source.
_MAX_LEVELS = 100.0
_MAX_ROOF_LEVELS = 10.0
_MAX_FLATS = 5_000
_MAX_HOUSENUMBERS = 50
_MIN_YEAR = 1000
_MAX_YEAR = 2100

_UNTYPED_ROWS = ("building=yes", "building=*")
_RESIDENTIAL_UNTYPED_ROWS = ("building=residential", "landuse=residential")

OUTPUT_COLUMNS = (
    "building_class",
    "class_rule",
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

# the columns :func:`summary` reads (a tiled study reads only these from its tiles' files)
SUMMARY_COLUMNS = (
    "building_class",
    "class_rule",
    "residential",
    "levels_source",
    "floor_area_m2",
    "net_floor_area_m2",
    "construction_period",
    "dwellings",
    "heat_demand_mwh_per_yr",
    "peak_heat_mw",
)


def load_class_table() -> pd.DataFrame:
    """Return the building-class table shipped in ``siting/data/building_classes.csv``.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``"key=value"``; columns ``building_class``, ``residential`` (bool),
        ``default_levels``, ``specific_demand_kwh_per_m2`` (per heated m²), ``evidence``.
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


def _param(params: Params, name: str, default: float) -> float:
    """A calibration parameter: ``params.<name>`` when Params has it, else the module default."""
    value = float(getattr(params, name, default))
    if not (np.isfinite(value) and value >= 0):
        raise ConfigError(f"params.{name} must be a finite number >= 0, got {value!r}.")
    return value


def estimate(
    buildings: gpd.GeoDataFrame,
    params: Params | None = None,
    *,
    landuse: gpd.GeoDataFrame | None = None,
    addresses: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Estimate floor area, dwellings and heat demand of every building.

    Parameters
    ----------
    buildings
        Building footprints in a projected metric CRS, with the columns of pyrosm's
        ``OSM.get_buildings()`` (any may be missing; other tags are read from ``tags``).
    params
        Model parameters (``dwelling_area_*_m2``, ``min_heated_footprint_m2``,
        ``floor_height_m``, ``house_footprint_max_m2``, ``full_load_hours_h``,
        ``specific_demand_by_*``, ``net_to_gross`` for the informative net area, and the
        calibration constants of this module when Params carries them); defaults to ``Params()``.
    landuse
        Optional land-use polygons with a ``landuse`` column (and optionally ``amenity`` for
        school/hospital/university grounds), any CRS. Classifies untyped buildings inside them:
        allotments, industrial, commercial, retail, farmyard; residential is named in
        ``class_rule``. Without it the footprint and neighbours decide alone.
    addresses
        Optional address points (OSM nodes with ``addr:housenumber``), any CRS. The number
        inside a footprint counts houses of a terrace and the homes of a semi-detached house;
        where the layer covers an area, an untyped building with no address is not a home.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with the columns in ``OUTPUT_COLUMNS`` added. ``floor_area_m2`` is the heated
        (BBR, gross) floor area the demand is computed on. ``building:part`` features inside
        a building outline are dropped (the outline carries the building). Counts of malformed
        tags are in ``attrs["demand_warnings"]`` (tag -> count), the number of dropped parts in
        ``attrs["demand_parts_dropped"]``.
    """
    params = params or Params()
    require_metric(buildings, "buildings")
    gdf, parts_dropped = _drop_contained_parts(buildings)
    warnings: dict[str, int] = {}
    n = len(gdf)
    tags = _TagReader(gdf)
    geoms = np.asarray(gdf.geometry.values, dtype=object)

    is_polygon = gdf.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()
    footprint_m2 = np.where(is_polygon, np.nan_to_num(shapely.area(geoms), nan=0.0), 0.0)
    perimeter_m = np.where(is_polygon, np.nan_to_num(shapely.length(geoms), nan=0.0), 0.0)
    depth_m = _depth_m(footprint_m2, perimeter_m)

    check = _tag_checker(tags, warnings)

    # --- tags read before the class: levels, height and flats inform the context rules
    tag_levels_ok, roof_levels, height_ok, known_levels = _levels_of_tags(tags, check, params)
    flats = _parse_number(tags.get("building:flats"))
    flats_ok = check(
        "building:flats", (flats >= 1) & (flats <= _MAX_FLATS) & (np.round(flats) == flats)
    )
    # --- construction period: first parsable of start_date, building:year, construction_date
    year_src, known, period_idx = _year_of_tags(tags, check, n)
    n_addr, addr_covered = _address_counts(gdf, tags, geoms, is_polygon, addresses, params)

    # --- class: tags, else context (docs/model.md §8.2)
    table = _class_table()
    row, tag_src = _resolve_class(tags, table)
    # every tag is read: the reader's text of each (a country's: hundreds of MB) can go
    del tags, check
    row, class_rule = _classify_untyped(
        row=row,
        tag_src=tag_src,
        table=table,
        geoms=geoms,
        footprint_m2=footprint_m2,
        depth_m=depth_m,
        known_levels=known_levels,
        flats=np.where(flats_ok, flats, np.nan),
        n_addr=n_addr,
        addr_covered=addr_covered,
        landuse=_landuse_of(gdf, geoms, is_polygon, landuse),
        params=params,
    )
    del tag_src
    cls = table.loc[row]
    building_class = _text_rows(_same, cls["building_class"])
    residential = cls["residential"].to_numpy(dtype=bool)
    class_demand = cls["specific_demand_kwh_per_m2"].to_numpy(dtype=float)
    default_levels = cls["default_levels"].to_numpy(dtype=float)
    del cls, row  # a frame of the class table's columns per building
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

    # --- levels: building:levels (+ roof levels), else height, else tagged neighbours of the
    # same class (blocks and non-residential buildings only: houses are too varied and too
    # rarely tagged), else the class default.
    has_known = ~np.isnan(known_levels)
    by_neighbours = _neighbour_levels(
        geoms,
        building_class,
        known_levels,
        target=~has_known & (footprint_m2 > 0) & ~np.isin(building_class, HOUSE_CLASSES),
        radius_m=_param(params, "neighbour_levels_radius_m", NEIGHBOUR_LEVELS_RADIUS_M),
    )
    from_neighbours = ~has_known & ~np.isnan(by_neighbours)
    levels = np.select([has_known, from_neighbours], [known_levels, by_neighbours], default_levels)
    levels_source = _select_text(
        [tag_levels_ok, height_ok, from_neighbours],
        ["building:levels", "height", "neighbours"],
        "default",
    )
    levels_src_text = _select_text(
        [tag_levels_ok & (roof_levels > 0), tag_levels_ok, height_ok, from_neighbours],
        ["tag+roof", "tag", "height", "neighbours"],
        "default",
    )

    # Heated (BBR) floor area: outer-wall area (the outline less the eaves) x levels. For a
    # rectilinear outline, shrinking by e takes e x perimeter and gives back 4 e2 at the corners.
    eaves_m = _param(params, "eaves_m", EAVES_M)
    wall_area_m2 = np.clip(footprint_m2 - eaves_m * perimeter_m + 4 * eaves_m**2, 0, footprint_m2)
    floor_area_m2 = wall_area_m2 * levels
    net_floor_area_m2 = floor_area_m2 * params.net_to_gross

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
    # The period values are measured on homes; other classes keep their use-based value.
    by_age = known & np.isin(building_class, _RESIDENTIAL_CLASSES)
    specific = np.where(by_age, period_demand[period_idx], class_demand)

    # --- heated or not: unheated classes (demand 0 in the table) and small footprints
    heated = (class_demand > 0) & (footprint_m2 >= params.min_heated_footprint_m2)
    specific = np.where(heated, specific, 0.0)
    heat_mwh = floor_area_m2 * specific / 1_000.0

    # --- dwellings: building:flats, else addresses (houses: one each; blocks: at least one per
    # stairwell), else heated area / the standard home area (BBR areas, docs/model.md §6).
    # A flats tag makes a building residential (flats above shops).
    residential = residential | flats_ok
    dwellings, dwell_src = _dwellings(
        building_class, floor_area_m2, residential, heated, flats, flats_ok, n_addr, params
    )
    # the intermediate arrays go before the output is built (8 bytes a building each)
    del perimeter_m, depth_m, roof_levels, known_levels, flats, n_addr, class_demand
    del by_neighbours, default_levels, wall_area_m2, period_idx

    # the input's columns are shared, not copied (pandas' copy-on-write keeps them apart)
    out = gdf.copy(deep=not _COPY_ON_WRITE)
    out["building_class"] = pd.array(building_class, dtype=object)
    out["class_rule"] = pd.array(class_rule, dtype=object)
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
        _text_rows(
            lambda lv, cl, yr, dw: (
                "levels:" + lv + ";class:" + cl + ";period:" + yr + ";dwellings:" + dw
            ),
            levels_src_text,
            class_rule,
            year_src,
            dwell_src,
        ),
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
        MWh per dwelling (all, residential, houses, flats), the median MWh of a single-home
        house, the share of heat in the unclassified class "other", the Danish standard
        figures, the count of each class rule and the warning counts.
    """
    params = params or Params()
    b = buildings_estimated
    _require_estimated(b, "summary", SUMMARY_COLUMNS)
    heat = b["heat_demand_mwh_per_yr"].to_numpy(dtype=float)
    dwellings = b["dwellings"].to_numpy(dtype=np.int64)
    # the class tests on the column itself: cheap on a categorical (a country's summary)
    cls = b["building_class"]
    res = b["residential"].to_numpy(dtype=bool) & (heat > 0)
    house = res & cls.isin(HOUSE_CLASSES).to_numpy(dtype=bool)
    flat = res & ~house
    single_house = res & (cls == "house").to_numpy(dtype=bool) & (dwellings == 1)
    total = float(heat.sum())

    def per_dwelling(mask: np.ndarray) -> float:
        d = int(dwellings[mask].sum())
        return float(heat[mask].sum() / d) if d else 0.0

    floor = b["floor_area_m2"].to_numpy(dtype=float)
    return {
        "buildings": int(len(b)),
        "heated_buildings": int((heat > 0).sum()),
        "residential_buildings": int(res.sum()),
        "floor_area_m2": float(floor.sum()),
        "heated_floor_area_m2": float(floor[heat > 0].sum()),
        "net_floor_area_m2": float(b["net_floor_area_m2"].sum()),
        "heated_net_floor_area_m2": float(b["net_floor_area_m2"].to_numpy()[heat > 0].sum()),
        "dwellings": int(dwellings.sum()),
        "heat_demand_mwh_per_yr": total,
        "residential_heat_demand_mwh_per_yr": float(heat[res].sum()),
        "other_heat_share": float(heat[(cls == "other").to_numpy(dtype=bool)].sum() / total)
        if total
        else 0.0,
        "peak_heat_mw": float(b["peak_heat_mw"].sum()),
        "full_load_hours_h": params.full_load_hours_h,
        "mwh_per_dwelling": per_dwelling(np.ones(len(b), dtype=bool)),
        "residential_mwh_per_dwelling": per_dwelling(res),
        "house_mwh_per_dwelling": per_dwelling(house),
        "flat_mwh_per_dwelling": per_dwelling(flat),
        "median_single_house_mwh": float(np.median(heat[single_house]))
        if single_house.any()
        else 0.0,
        "standard_mwh_per_home": {
            "house_2025": float(params.mwh_per_home),
            "flat": MWH_PER_FLAT_STANDARD,
            "house_pre_2025": MWH_PER_HOUSE_PRE_2025,
        },
        "buildings_by_class": {
            str(k): int(v) for k, v in b["building_class"].value_counts().sort_index().items()
        },
        "class_rule_counts": {
            str(k): int(v) for k, v in b["class_rule"].value_counts().sort_index().items()
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
        f"  floor area          {s['floor_area_m2']:>12,.0f} m2 "
        f"(heated {s.get('heated_floor_area_m2', 0.0):,.0f} m2, BBR-like gross)",
        f"  dwellings           {s['dwellings']:>12,}",
        f"  heat demand         {s['heat_demand_mwh_per_yr']:>12,.0f} MWh/yr "
        f"(residential {s['residential_heat_demand_mwh_per_yr']:,.0f}; unclassified 'other' "
        f"{100 * s.get('other_heat_share', 0.0):.0f} %)",
        f"  peak (undiversified){s['peak_heat_mw']:>12,.1f} MW at "
        f"{s['full_load_hours_h']:,.0f} full-load hours",
        f"  MWh per dwelling    {s['mwh_per_dwelling']:>12,.1f} (all heat / dwellings)",
        f"  residential         {s['residential_mwh_per_dwelling']:>12,.1f} MWh/dwelling: houses "
        f"{s['house_mwh_per_dwelling']:.1f}, flats {s['flat_mwh_per_dwelling']:.1f}; median "
        f"single-home house {s.get('median_single_house_mwh', 0.0):.1f}",
        f"  Danish standard     house {std['house_2025']:.1f} MWh/yr (2025, 125 m2), flat "
        f"{std['flat']:.1f}, pre-2025 claims {std['house_pre_2025']:.1f} (130 m2)",
        f"  construction year   {s['period_known']:>12,} buildings with a parsable year",
        f"  tag warnings        {warn}",
    ]
    if s.get("parts_dropped"):
        lines.append(
            f"  building:part       {s['parts_dropped']:>12,} parts inside outlines dropped"
        )
    return "\n".join(lines)


def calibration_report(buildings_estimated: gpd.GeoDataFrame) -> pd.DataFrame:
    """Heated buildings by class and construction period against the Danish measured values.

    Parameters
    ----------
    buildings_estimated
        Output of :func:`estimate`.

    Returns
    -------
    pandas.DataFrame
        One row per (``building_class``, ``construction_period``; ``"unknown"`` when no year,
        ``"all"`` for the class total) with ``buildings``, ``floor_area_m2`` (heated),
        ``heat_mwh_per_yr``, ``kwh_per_m2``, ``dwellings``, ``mwh_per_dwelling``,
        ``median_mwh_per_dwelling`` (per building), ``reference_kwh_per_m2`` and
        ``reference`` (the Danish measured value of docs/model.md §8.2 for that class and period,
        NaN where there is none), and for homes ``standard_mwh`` (14.0 house 2025 / 7.8 flat),
        ``legacy_standard_mwh`` (18.1, houses) and ``vs_standard`` (MWh per dwelling /
        standard). Only heated buildings count.
    """
    _require_estimated(buildings_estimated, "calibration_report")
    b = pd.DataFrame(buildings_estimated.drop(columns=buildings_estimated.geometry.name))
    b = b[b["heat_demand_mwh_per_yr"] > 0]
    b = b.assign(
        period=b["construction_period"].astype(object).where(b["construction_period"].notna())
    )
    b["period"] = b["period"].fillna("unknown")
    b["per_dwelling"] = np.where(
        b["dwellings"] > 0, b["heat_demand_mwh_per_yr"] / b["dwellings"].clip(lower=1), np.nan
    )
    columns = [
        "building_class",
        "construction_period",
        "buildings",
        "floor_area_m2",
        "heat_mwh_per_yr",
        "kwh_per_m2",
        "dwellings",
        "mwh_per_dwelling",
        "median_mwh_per_dwelling",
        "reference_kwh_per_m2",
        "reference",
        "standard_mwh",
        "legacy_standard_mwh",
        "vs_standard",
    ]
    if len(b) == 0:
        return pd.DataFrame(columns=columns)

    def agg(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
        g = frame.groupby(keys, sort=True)
        return pd.DataFrame(
            {
                "buildings": g.size(),
                "floor_area_m2": g["floor_area_m2"].sum(),
                "heat_mwh_per_yr": g["heat_demand_mwh_per_yr"].sum(),
                "dwellings": g["dwellings"].sum(),
                "median_mwh_per_dwelling": g["per_dwelling"].median(),
            }
        ).reset_index()

    by_period = agg(b, ["building_class", "period"])
    by_class = agg(b, ["building_class"]).assign(period="all")
    t = pd.concat([by_period, by_class], ignore_index=True)
    t = t.sort_values(["building_class", "period"], kind="stable").reset_index(drop=True)
    t = t.rename(columns={"period": "construction_period"})
    t["kwh_per_m2"] = (
        t["heat_mwh_per_yr"] * 1_000 / t["floor_area_m2"].where(t["floor_area_m2"] > 0)
    )
    t["mwh_per_dwelling"] = t["heat_mwh_per_yr"] / t["dwellings"].where(t["dwellings"] > 0)
    ref = [
        _reference(c, p) for c, p in zip(t["building_class"], t["construction_period"], strict=True)
    ]
    t["reference_kwh_per_m2"] = [r[0] for r in ref]
    t["reference"] = [r[1] for r in ref]
    is_house = t["building_class"].isin(HOUSE_CLASSES)
    is_flat = t["building_class"].eq("apartments")
    t["standard_mwh"] = np.select(
        [is_house, is_flat],
        [HOME_STANDARDS["dk_house_2025"].mwh_per_yr, MWH_PER_FLAT_STANDARD],
        np.nan,
    )
    t["legacy_standard_mwh"] = np.where(is_house, MWH_PER_HOUSE_PRE_2025, np.nan)
    t["vs_standard"] = t["mwh_per_dwelling"] / t["standard_mwh"]
    return t[columns]


def _reference(building_class: str, period: str) -> tuple[float, str]:
    """Danish measured kWh/m² (docs/model.md §8.2) for a class and period, and its source."""
    if building_class in _RESIDENTIAL_CLASSES and period in PERIOD_SPECIFIC_DEMAND_KWH_PER_M2:
        if period == ">=2007":
            return PERIOD_SPECIFIC_DEMAND_KWH_PER_M2[period], "Vojens 1999-2006 x 60/85 [M]"
        return PERIOD_SPECIFIC_DEMAND_KWH_PER_M2[period], "Vojens 2021 detached houses"
    assens = {
        "house": 119.0,
        "terrace": 119.0,
        "apartments": 119.0,
        "education": 94.0,
        "public": 94.0,
        "religious": 94.0,
        "sports": 94.0,
        "health": 94.0,
        "commercial": 82.0,
        "office": 82.0,
        "retail": 82.0,
        "transport": 82.0,
        "industrial": 84.0,
    }
    if building_class in assens:
        return assens[building_class], "Assens 2016/17 by use"
    if building_class == "other":
        return 87.0, "Assens non-residential mean"
    return float("nan"), ""


def _require_estimated(
    b: gpd.GeoDataFrame, caller: str, columns: Sequence[str] = OUTPUT_COLUMNS
) -> None:
    missing = [c for c in columns if c not in b.columns]
    if missing:
        raise InputDataError(
            f"{caller}() needs the output of siting.demand.estimate(); columns {missing} are "
            "missing. Call estimate(buildings) first."
        )


# --------------------------------------------------------------------------------------------
# context of untyped buildings


def _dwellings(
    building_class: np.ndarray,
    floor_area_m2: np.ndarray,
    residential: np.ndarray,
    heated: np.ndarray,
    flats: np.ndarray,
    flats_ok: np.ndarray,
    n_addr: np.ndarray,
    params: Params,
) -> tuple[np.ndarray, np.ndarray]:
    """Dwellings of each building and what gave them ("flats", "addresses", "area", "none").

    building:flats, else addresses (houses: one each; blocks: at least one per stairwell),
    else heated area / the standard home area (BBR areas, docs/model.md §6).
    """
    flats_used = flats_ok & heated
    is_house = np.isin(building_class, HOUSE_CLASSES)
    dwelling_area = np.where(is_house, params.dwelling_area_house_m2, params.dwelling_area_flat_m2)
    by_area = np.maximum(1.0, np.round(floor_area_m2 / dwelling_area))
    # A detached or semi-detached house is one home until it holds two standard homes: 125 m2
    # is the standard house, not the largest (in the Odense extract the 165 tagged detached
    # houses hold 1.00 address each [D]); terraces are divided by area.
    one_home = (building_class == "house") & (floor_area_m2 < 2 * params.dwelling_area_house_m2)
    by_area = np.where(one_home, 1.0, by_area)
    # Unheated buildings (sheds, footprints below min_heated_footprint_m2) hold no dwellings.
    home = residential & heated & ~flats_used
    addr_used = home & (n_addr >= 1) & (is_house | (n_addr > by_area))
    dwellings = np.select([flats_used, addr_used, home], [flats, n_addr, by_area], 0.0).astype(
        np.int64
    )
    dwell_src = _select_text([flats_used, addr_used, home], ["flats", "addresses", "area"], "none")
    return dwellings, dwell_src


def _tag_checker(tags: _TagReader, warnings: dict[str, int]) -> Any:
    """`check(key, ok)`: count in `warnings` the rows whose `key` is tagged but not `ok`;
    returns `ok`."""

    def check(key: str, ok: np.ndarray) -> np.ndarray:
        _count(warnings, key, tags.present(key) & ~ok)
        return ok

    return check


def _levels_of_tags(
    tags: _TagReader, check: Any, params: Params
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Levels from building:levels (+ roof:levels - building:min_level), else height.

    Returns whether building:levels is usable, the roof levels (0 where unusable), whether
    height is usable and the known levels (NaN where neither is). `check(key, ok)` counts
    the malformed values of a tag.
    """
    floor_height_m = params.floor_height_m
    roof_factor = _param(params, "roof_level_area_factor", ROOF_LEVEL_AREA_FACTOR)
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
    height_ok = check("height", (height_m > 0) & (height_m / floor_height_m <= _MAX_LEVELS))
    # Round to whole storeys: a 4 m house has one storey, not 1.33.
    height_levels = np.maximum(1.0, np.round(np.where(height_ok, height_m, 0) / floor_height_m))
    known_levels = np.select(
        [tag_levels_ok, height_ok],
        [tag_levels - min_level + roof_factor * roof_levels, height_levels],
        np.nan,
    )
    return tag_levels_ok, roof_levels, height_ok, known_levels


def _year_of_tags(
    tags: _TagReader, check: Any, n: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first parsable year of `YEAR_KEYS` (start_date, building:year, construction_date).

    Returns the key each year came from ("none"), whether one was found, and the index of
    its construction period in `_PERIOD_UPPER_YEAR`.
    """
    year = np.full(n, np.nan)
    year_src = np.empty(n, dtype=object)
    year_src[:] = "none"  # one str for every row (np.full makes one per row)
    for key in YEAR_KEYS:
        parsed = _parse_year(tags.get(key))
        check(key, ~np.isnan(parsed))
        use = np.isnan(year) & ~np.isnan(parsed)
        year = np.where(use, parsed, year)
        year_src = np.where(use, key, year_src)
    known = ~np.isnan(year)
    period_idx = np.searchsorted(_PERIOD_UPPER_YEAR, np.where(known, year, 0), side="left")
    return year_src, known, period_idx


def _depth_m(area_m2: np.ndarray, perimeter_m: np.ndarray) -> np.ndarray:
    """Width of the rectangle with the same area and perimeter (a square's side if none).

    For a w x L rectangle it is w; for an L- or U-shaped block, about the depth of its wings.
    """
    half = perimeter_m / 2.0
    disc = half**2 - 4.0 * area_m2
    root = np.sqrt(np.maximum(disc, 0.0))
    return np.where(disc > 0, (half - root) / 2.0, np.sqrt(area_m2))


def _classify_untyped(
    *,
    row: np.ndarray,
    tag_src: np.ndarray,
    table: pd.DataFrame,
    geoms: np.ndarray,
    footprint_m2: np.ndarray,
    depth_m: np.ndarray,
    known_levels: np.ndarray,
    flats: np.ndarray,
    n_addr: np.ndarray,
    addr_covered: np.ndarray,
    landuse: tuple[np.ndarray, np.ndarray],
    params: Params,
) -> tuple[np.ndarray, np.ndarray]:
    """Class-table row and rule label for every building (docs/model.md §8.2).

    Typed buildings keep their tag (rule ``tag:<key=value>``). Untyped ones (building=yes or
    an unknown value with no hint tag) go through, first match wins: ``tag:building:flats``,
    ``context:amenity=<v>`` (school/hospital grounds), ``landuse:<v>`` (allotments, industrial,
    commercial, retail, farmyard); small footprints: ``annex`` (beside a building twice its
    size), ``addr:none`` (the address layer covers it, no address inside), ``shape:small``
    (a house); large: ``neighbours:<class>``, ``addr:none``, ``shape:shed_row`` (too shallow
    for a home), ``shape:terrace`` / ``shape:block`` (residential depth), ``shape:wide``
    ("other"). ``building=residential`` (type unknown) takes only the size and depth rules.
    A ``+landuse:residential`` suffix on a shape rule says the building lies in residential
    land use.
    """
    row = row.astype(object).copy()
    rule = _text_rows(lambda s: "tag:" + str(s), tag_src)
    untyped = np.isin(row, _UNTYPED_ROWS) & (footprint_m2 > 0)
    res_untyped = np.isin(row, _RESIDENTIAL_UNTYPED_ROWS) & (footprint_m2 > 0)
    open_ = untyped | res_untyped
    if not open_.any():
        return row, rule

    house_max = params.house_footprint_max_m2
    small = footprint_m2 < house_max
    lu_value, amenity_value = landuse

    def take(mask: np.ndarray, new_row: Any, label: Any) -> None:
        nonlocal open_
        mask = mask & open_
        row[mask] = new_row[mask] if isinstance(new_row, np.ndarray) else new_row
        rule[mask] = label[mask] if isinstance(label, np.ndarray) else label
        open_ = open_ & ~mask

    # 1. building:flats: one flat is a house, more a block of flats
    take(flats >= 2, "building=apartments", "tag:building:flats")
    take(flats == 1, "building=house", "tag:building:flats")
    untyped &= open_

    # 2. grounds and land use (only for building=yes: building=residential says it is a home)
    amen_row = _text_rows(lambda v: f"amenity={v}" if v else "", amenity_value)
    amen_ok = np.isin(amen_row, table.index[table["specific_demand_kwh_per_m2"] > 0])
    take(untyped & amen_ok, amen_row, _text_rows(lambda r: "context:" + r, amen_row))
    lu_small = _text_rows(lambda v: _LANDUSE_ROWS.get(v, ("",))[0], lu_value)
    lu_large = _text_rows(lambda v: _LANDUSE_ROWS.get(v, ("", ""))[1], lu_value)
    lu_row = np.where(small, lu_small, lu_large)
    lu_rule = _text_rows(lambda v: f"landuse:{v}", lu_value)
    take(untyped & (lu_row != ""), lu_row, lu_rule)
    untyped &= open_
    no_addr = addr_covered & (n_addr == 0)

    # 3. small footprints: garage/shed beside a larger building, else a house
    annex_max = _param(params, "annex_max_footprint_m2", ANNEX_MAX_FOOTPRINT_M2)
    is_annex = _beside_larger(
        geoms,
        footprint_m2,
        target=untyped & (footprint_m2 < annex_max),
        distance_m=_param(params, "annex_distance_m", ANNEX_DISTANCE_M),
    )
    take(untyped & is_annex, "building=shed", "annex")
    take(untyped & small & no_addr, "building=shed", "addr:none")
    take(small, "building=house", "shape:small")

    # 4. large footprints: tagged neighbours, addresses, depth
    cls_of_row = table["building_class"]
    row_class = _text_rows(_same, cls_of_row.reindex(row))
    typed_ref = (
        ~np.isin(row, (*_UNTYPED_ROWS, *_RESIDENTIAL_UNTYPED_ROWS))
        & (footprint_m2 >= house_max)
        & (row_class != "outbuilding")
        & _starts_with(rule, "tag:")
    )
    nb_row = _neighbour_majority(
        geoms,
        ref=typed_ref,
        ref_row=row,
        ref_class=row_class,
        target=untyped & ~small,
        radius_m=_param(params, "neighbour_radius_m", NEIGHBOUR_RADIUS_M),
    )
    nb_rule = _text_rows(lambda r: f"neighbours:{cls_of_row.get(r, '')}" if r else "", nb_row)
    take(untyped & (nb_row != ""), nb_row, nb_rule)
    take(untyped & no_addr, "building=yes", "addr:none")
    shed_row_m = _param(params, "shed_row_max_depth_m", SHED_ROW_MAX_DEPTH_M)
    take(untyped & (depth_m < shed_row_m), "building=garages", "shape:shed_row")
    block_max_m = _param(params, "block_max_depth_m", BLOCK_MAX_DEPTH_M)
    terrace_max_m = _param(params, "terrace_max_depth_m", TERRACE_MAX_DEPTH_M)
    # Terrace or block: tagged levels decide (<= 2 is a terrace), else addresses (a terrace has
    # one per house; a single address on a long building is a block's stairwell), else depth.
    has_levels = ~np.isnan(known_levels)
    low_rise = np.where(has_levels, known_levels <= 2.0, np.where(n_addr >= 1, n_addr >= 2, True))
    terrace = (depth_m < terrace_max_m) & low_rise
    home_depth = depth_m <= block_max_m
    take((untyped & home_depth | res_untyped) & terrace, "building=terrace", "shape:terrace")
    take(untyped & home_depth | res_untyped, "building=apartments", "shape:block")
    take(untyped, "building=yes", "shape:wide")

    decided = ~_starts_with(rule, "tag:")
    rule = np.where(
        decided & res_untyped, _text_rows(lambda t, r: "tag:" + t + "+" + r, tag_src, rule), rule
    )
    by_shape = _starts_with(rule, "shape:")
    rule = np.where(
        by_shape & (lu_value == "residential"),
        _text_rows(lambda r: r + "+landuse:residential", rule),
        rule,
    )
    return row, rule.astype(object)


def _landuse_of(
    gdf: gpd.GeoDataFrame,
    geoms: np.ndarray,
    is_polygon: np.ndarray,
    landuse: gpd.GeoDataFrame | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Land-use and amenity value of the polygon each building's inner point lies in ("")."""
    n = len(geoms)
    lu_value = np.full(n, "", dtype=object)
    amenity_value = np.full(n, "", dtype=object)
    if landuse is None or len(landuse) == 0 or n == 0:
        return lu_value, amenity_value
    if not isinstance(landuse, gpd.GeoDataFrame):
        raise InputDataError(
            f"landuse must be a GeoDataFrame of polygons, got {type(landuse).__name__}."
        )
    cols = [c for c in ("landuse", "amenity") if c in landuse.columns]
    if not cols:
        raise InputDataError(
            "landuse has neither a 'landuse' nor an 'amenity' column; pass OSM land-use "
            "polygons as read by pyrosm (OSM.get_landuse()) or siting.sources.osm.read_osm."
        )
    if landuse.crs is None:
        raise InputDataError("landuse has no CRS; set it (gdf.set_crs(...)) before passing it.")
    lu = landuse if landuse.crs == gdf.crs else landuse.to_crs(gdf.crs)
    lu = lu[lu.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).to_numpy()]
    if len(lu) == 0:
        return lu_value, amenity_value
    idx = np.flatnonzero(is_polygon)
    points = _inner_points(geoms[idx])
    tree = shapely.STRtree(_valid(np.asarray(lu.geometry.values, dtype=object)))
    b_pos, l_pos = tree.query(points, predicate="within")
    for col, out, priority in (
        ("landuse", lu_value, _LANDUSE_PRIORITY),
        ("amenity", amenity_value, None),
    ):
        if col not in lu.columns or len(b_pos) == 0:
            continue
        values = lu[col].astype(object).where(lu[col].notna(), "").astype(str).str.lower()
        v = values.to_numpy(dtype=object)[l_pos]
        keep = v != ""
        if priority is not None:
            keep &= np.isin(v, list(priority))
        if not keep.any():
            continue
        pairs = pd.DataFrame({"b": idx[b_pos[keep]], "v": v[keep]})
        rank = pairs["v"].map(priority) if priority is not None else pairs["v"].str.len()
        pairs = pairs.assign(rank=rank.to_numpy()).sort_values(["b", "rank"], kind="stable")
        first = pairs.drop_duplicates("b")
        out[first["b"].to_numpy()] = first["v"].to_numpy()
    return lu_value, amenity_value


def _address_counts(
    gdf: gpd.GeoDataFrame,
    tags: _TagReader,
    geoms: np.ndarray,
    is_polygon: np.ndarray,
    addresses: gpd.GeoDataFrame | None,
    params: Params,
) -> tuple[np.ndarray, np.ndarray]:
    """Addresses of each building and whether an address layer covers it.

    The count is the larger of the housenumbers tagged on the building ("1;3;5", "2-6") and the
    address points inside its outline (each point counted once, in its first building).
    """
    n = len(geoms)
    own = _housenumber_count(tags.get("addr:housenumber"))
    inside = np.zeros(n, dtype=np.int64)
    covered = own > 0
    if addresses is not None and len(addresses) and n:
        if not isinstance(addresses, gpd.GeoDataFrame) or addresses.crs is None:
            raise InputDataError(
                "addresses must be a GeoDataFrame of points with a CRS (OSM nodes with "
                "addr:housenumber); set its CRS or leave addresses=None."
            )
        pts = addresses if addresses.crs == gdf.crs else addresses.to_crs(gdf.crs)
        points = shapely.point_on_surface(np.asarray(pts.geometry.values, dtype=object))
        points = points[~shapely.is_missing(points) & ~shapely.is_empty(points)]
        idx = np.flatnonzero(is_polygon)
        if len(points) and len(idx):
            tree = shapely.STRtree(_valid(geoms[idx]))
            p_pos, b_pos = tree.query(points, predicate="within")
            _, first = np.unique(p_pos, return_index=True)
            inside = np.bincount(idx[b_pos[first]], minlength=n).astype(np.int64)
            radius_m = _param(params, "address_coverage_m", ADDRESS_COVERAGE_M)
            _, near = tree.query(points, predicate="dwithin", distance=radius_m)
            covered = covered.copy()
            covered[idx[np.unique(near)]] = True
    return np.maximum(own, inside), covered


def _valid(geoms: np.ndarray) -> np.ndarray:
    """The geometries, with the invalid ones (self-crossing OSM rings) repaired for predicates."""
    bad = ~shapely.is_valid(geoms)
    if bad.any():
        geoms = geoms.copy()
        geoms[bad] = shapely.make_valid(geoms[bad])
    return geoms


def _inner_points(geoms: np.ndarray) -> np.ndarray:
    """A point inside each polygon (on a repaired copy where GEOS cannot place one)."""
    try:
        return shapely.point_on_surface(geoms)
    except shapely.errors.GEOSException:
        return shapely.point_on_surface(_valid(geoms))


def _housenumber_count(values: pd.Series) -> np.ndarray:
    """Addresses a building's addr:housenumber tag names: "5" 1, "1;3;5" 3, "2-8" 4."""
    out = np.zeros(len(values), dtype=np.int64)
    present = values.notna().to_numpy(dtype=bool)
    for i in np.flatnonzero(present):
        total = 0
        for part in re.split(r"[;,]", str(values.iloc[i])):
            span = re.fullmatch(r"\s*(\d+)\s*[-–]\s*(\d+)\s*", part)
            if span:
                lo, hi = int(span[1]), int(span[2])
                # "2-8" on one side of a street: every other number
                step = 2 if (hi - lo) % 2 == 0 and hi > lo else 1
                total += (hi - lo) // step + 1 if 0 < hi - lo <= 2 * _MAX_HOUSENUMBERS else 1
            elif part.strip():
                total += 1
        out[i] = min(total, _MAX_HOUSENUMBERS)
    return out


def _beside_larger(
    geoms: np.ndarray, footprint_m2: np.ndarray, target: np.ndarray, distance_m: float
) -> np.ndarray:
    """Whether each target building has one at least twice its footprint within `distance_m`."""
    out = np.zeros(len(geoms), dtype=bool)
    ti = np.flatnonzero(target)
    if not len(ti):
        return out
    t_pos, other = _pairs_within(
        geoms[ti],
        geoms,
        distance_m,
        keep=lambda t, o: footprint_m2[o] >= 2.0 * footprint_m2[ti[t]],  # test larger ones only
    )
    out[ti[np.unique(t_pos)]] = True
    return out


def _neighbour_majority(
    geoms: np.ndarray,
    ref: np.ndarray,
    ref_row: np.ndarray,
    ref_class: np.ndarray,
    target: np.ndarray,
    radius_m: float,
) -> np.ndarray:
    """Row of the class most tagged reference buildings near each target share, else ""."""
    out = np.full(len(geoms), "", dtype=object)
    ti, ri = np.flatnonzero(target), np.flatnonzero(ref)
    if not len(ti) or not len(ri):
        return out
    t_pos, r_pos = _pairs_within(geoms[ti], geoms[ri], radius_m)
    if not len(t_pos):
        return out
    pairs = pd.DataFrame({"t": ti[t_pos], "cls": ref_class[ri[r_pos]], "row": ref_row[ri[r_pos]]})
    total = pairs.groupby("t").size()
    by_cls = pairs.groupby(["t", "cls"]).size().rename("k").reset_index()
    by_cls = by_cls.sort_values(["t", "k"], ascending=[True, False], kind="stable")
    top = by_cls.drop_duplicates("t").set_index("t")
    share = top["k"] / total.reindex(top.index)
    ok = (total.reindex(top.index) >= _NEIGHBOUR_MIN_COUNT) & (share >= _NEIGHBOUR_MIN_SHARE)
    top = top[ok]
    if len(top) == 0:
        return out
    # the most common row of that class among the neighbours (e.g. building=university)
    chosen = pairs.merge(top[["cls"]].reset_index(), on=["t", "cls"])
    mode = chosen.groupby(["t", "row"]).size().rename("k").reset_index()
    mode = mode.sort_values(["t", "k"], ascending=[True, False], kind="stable")
    mode = mode.drop_duplicates("t")
    out[mode["t"].to_numpy()] = mode["row"].to_numpy()
    return out


def _neighbour_levels(
    geoms: np.ndarray,
    building_class: np.ndarray,
    known_levels: np.ndarray,
    target: np.ndarray,
    radius_m: float,
) -> np.ndarray:
    """Median tagged levels of >= 3 same-class buildings within `radius_m`; NaN where none."""
    out = np.full(len(geoms), np.nan)
    ti = np.flatnonzero(target)
    ri = np.flatnonzero(~np.isnan(known_levels))
    if not len(ti) or not len(ri):
        return out
    t_pos, r_pos = _pairs_within(
        geoms[ti],
        geoms[ri],
        radius_m,
        keep=lambda t, r: building_class[ti[t]] == building_class[ri[r]],  # same class only
    )
    if not len(t_pos):
        return out
    pairs = pd.DataFrame({"t": ti[t_pos], "levels": known_levels[ri[r_pos]]})
    g = pairs.groupby("t")["levels"]
    med = g.median()[g.size() >= _NEIGHBOUR_MIN_COUNT]
    out[med.index.to_numpy()] = med.to_numpy()
    return out


# --------------------------------------------------------------------------------------------
# helpers


def _pairs_within(
    query: np.ndarray,
    geoms: np.ndarray,
    distance_m: float,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Positions (in `query`, in `geoms`) of the pairs within `distance_m`, as
    ``STRtree(geoms).query(query, predicate="dwithin", distance=distance_m)`` finds them,
    of those that `keep(query_pos, geoms_pos)` (a mask over candidate pairs) keeps.

    The tree's own dwithin query was the slowest step of the estimate (shapely 2.2): here
    the tree only finds candidates (envelopes grown by the distance, a superset) and one
    vectorised exact test runs over the pairs `keep` leaves. Lyngby's 20k buildings: the
    three neighbour searches 104 -> 43 ms of the estimate's ~260 ms.
    """
    tree = shapely.STRtree(geoms)
    found_q, found_g = [np.empty(0, np.intp)], [np.empty(0, np.intp)]
    # a country's boxes and candidate pairs a block of queries at a time (memory); the
    # pairs come in query order, as the whole query gives them
    for start in range(0, len(query), PAIRS_CHUNK_ROWS):
        box = shapely.bounds(query[start : start + PAIRS_CHUNK_ROWS])
        grown = shapely.box(
            box[:, 0] - distance_m,
            box[:, 1] - distance_m,
            box[:, 2] + distance_m,
            box[:, 3] + distance_m,
        )
        q_pos, g_pos = tree.query(grown)
        q_pos += start
        if keep is not None:
            wanted = keep(q_pos, g_pos)
            q_pos, g_pos = q_pos[wanted], g_pos[wanted]
        near = shapely.dwithin(query[q_pos], geoms[g_pos], distance_m)
        found_q.append(q_pos[near])
        found_g.append(g_pos[near])
    return np.concatenate(found_q), np.concatenate(found_g)


PAIRS_CHUNK_ROWS = 100_000  # queries of _pairs_within at a time


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
    out = gdf.take(np.flatnonzero(keep))  # a new frame already: no second copy
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
    if isinstance(values.dtype, pd.StringDtype):  # the reader's text: a cast, not a round
        text = values.astype("string")  # trip through a Python object per row (5x slower)
    else:
        text = values.astype(object).where(values.notna(), None).astype("string")
    text = text.str.strip()
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


def _same(value: Any) -> Any:
    return value


def _text_rows(func: Any, *columns: Any) -> np.ndarray:
    """``[func(*row) for row in zip(*columns)]`` as an object array, `func` called once per
    distinct row and its result shared by every row that holds it.

    A country's buildings repeat a few dozen labels: one str object per label, not one per
    building (a text column of a million rows is ~70 MB of str objects, its pointers 8 MB).
    `columns` are arrays or Series of equal length; NA in one is read row by row (None, NaN
    and pd.NA would otherwise meet as one value).
    """

    def row_by_row() -> np.ndarray:
        rows = zip(*(np.asarray(c, dtype=object) for c in columns), strict=True)
        return _object_array([func(*row) for row in rows])

    if any(bool(pd.isna(column).any()) for column in columns):
        return row_by_row()
    parts = [pd.factorize(column) for column in columns]
    parts = [(codes, np.asarray(uniques, dtype=object)) for codes, uniques in parts]
    if len(parts) == 1:
        codes, uniques = parts[0]
        return _object_array([func(u) for u in uniques])[codes]
    # one code per distinct row: the columns' codes as digits of a mixed-radix number
    sizes = [max(len(u), 1) for _, u in parts]
    if np.prod(np.array(sizes, dtype=float)) >= 2.0**62:
        return row_by_row()
    key = np.zeros(len(parts[0][0]), dtype=np.int64)
    for (codes, _), size in zip(parts, sizes, strict=True):
        key = key * size + codes
    rows, distinct = pd.factorize(key)
    digits = []
    for size in reversed(sizes):
        distinct, digit = np.divmod(distinct, size)
        digits.append(digit)
    values = zip(*(u[d] for (_, u), d in zip(parts, reversed(digits), strict=True)), strict=True)
    return _object_array([func(*row) for row in values])[rows]


def _object_array(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _select_text(conditions: list, choices: list[str], default: str) -> np.ndarray:
    """``np.select(conditions, choices, default).astype(object)`` with one str per choice."""
    labels = _object_array([*choices, default])
    return labels[np.select(conditions, np.arange(len(choices)), len(choices))]


def _starts_with(text: np.ndarray, prefix: str) -> np.ndarray:
    """``np.char.startswith(text.astype(str), prefix)`` without a fixed-width copy of `text`."""
    return _text_rows(lambda t: str(t).startswith(prefix), text).astype(bool)


def _count(warnings: dict[str, int], key: str, bad: np.ndarray) -> None:
    n = int(np.count_nonzero(bad))
    if n:
        warnings[key] = warnings.get(key, 0) + n


def _table_row(tag: pd.Series, labels: pd.Index) -> pd.Series:
    """`tag` ("key=value" text) where it is a row label of the class table, else NA: what
    mapping it through a label -> label Series gives, without pandas' slow indexer lookup
    on text (~30 ms per call on 20,000 buildings)."""
    return tag.where(tag.isin(labels)).astype("string")


def _resolve_class(tags: _TagReader, table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row label ("key=value") in the class table for each building, and the tag that chose it.

    Untyped buildings (building=yes or an unknown value, no hint tag) get ``building=yes`` or
    ``building=*``; :func:`_classify_untyped` then decides by context. Worked out once per
    distinct combination of the tags it reads (a country's million buildings hold a few
    thousand), then spread to the buildings that hold it.
    """
    columns = {key: tags.get(key) for key in ("building", *HINT_KEYS)}
    first, inverse = _distinct_rows(list(columns.values()))
    distinct = {key: col.iloc[first].reset_index(drop=True) for key, col in columns.items()}
    row, src = _class_rows(distinct, table)
    return row[inverse], src[inverse]


def _distinct_rows(columns: list[pd.Series]) -> tuple[np.ndarray, np.ndarray]:
    """Where each distinct row of `columns` first occurs, and each row's distinct row (NA is
    a value of its own)."""
    key = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column)  # NA: -1
        key = pd.factorize(key * (len(uniques) + 1) + codes + 1)[0]  # stays below n
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _class_rows(tags: dict[str, pd.Series], table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_resolve_class` on the text of each tag (`building` and `HINT_KEYS`)."""
    known = table.index
    value = tags["building"].str.lower().fillna("yes")  # no value = building=yes
    tag = "building=" + value
    row = _table_row(tag, known)
    src = tag.where(row.notna())
    # building=yes and unknown values: the hint keys decide before the generic rows.
    open_ = (row.isna() | tag.eq("building=yes")).to_numpy(dtype=bool)
    for key in HINT_KEYS:
        hint = tags[key].str.lower()
        hint_tag = key + "=" + hint
        found = _table_row(hint_tag, known)
        if f"{key}=*" in known:
            found = found.fillna(hint.where(hint.isna(), f"{key}=*"))
        take = open_ & found.notna().to_numpy(dtype=bool)
        row = row.mask(take, found)
        src = src.mask(take, hint_tag)
        open_ &= ~take
    generic = open_ & ~tag.eq("building=yes").to_numpy(dtype=bool)
    row = row.mask(generic, "building=*").mask(open_ & ~generic, "building=yes")
    src = src.mask(open_, tag)
    return row.to_numpy(dtype=object), src.to_numpy(dtype=object)
