"""The power grid and the land a data center may not take, read from an OSM extract.

Power grid: `power=substation|plant|line|cable|minor_line` with their `voltage`; a
substation without a voltage tag takes the highest voltage of the lines and cables that end
at it (:func:`substations`). Land exclusions: residential land use, water
(`natural=water|wetland`, `landuse=reservoir|basin`, `waterway=riverbank`),
`boundary=protected_area|national_park` and `leisure=nature_reserve`, each row with its
`exclusion` kind (:data:`EXCLUSION_KINDS`).

:func:`power_layer` and :func:`exclusion_layer` make the layers from the elements the
one-pass reader selected (:mod:`siting.sources.ingest`, as `read_osm` reads an extract);
:func:`read_power` and :func:`read_exclusions` from an open `pyrosm.OSM`. Both give layers in
EPSG:4326; the rest works in the study's metric CRS.
"""

from __future__ import annotations

import re
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

POWER_KINDS = ("substation", "plant", "line", "cable", "minor_line")
# the power features a data center can connect at (lines and cables only carry voltages)
CONNECTION_KINDS = ("substation", "plant")
LINE_KINDS = ("line", "cable", "minor_line")
POWER_TAGS = ("power", "voltage", "name", "operator", "substation", "plant:source", "cables")
POWER_COLUMNS = ["id", "osm_type", *POWER_TAGS, "geometry"]
# exclusion kind -> OSM tag values that make it (wiki: Key:landuse, natural, boundary, leisure)
EXCLUSION_TAGS: dict[str, dict[str, tuple[str, ...]]] = {
    "residential": {"landuse": ("residential",)},
    "water": {
        "natural": ("water", "wetland"),
        "landuse": ("reservoir", "basin"),
        "waterway": ("riverbank",),
    },
    "protected_area": {"boundary": ("protected_area", "national_park")},
    "nature_reserve": {"leisure": ("nature_reserve",)},
}
EXCLUSION_KINDS = tuple(EXCLUSION_TAGS)
EXCLUSION_COLUMNS = ["id", "osm_type", "exclusion", "name", "geometry"]
# a line "ends at" a substation when its end point lies this close to the substation's outline
LINE_END_REACH_M = 50.0
WGS84 = "EPSG:4326"


def _empty(columns: list[str]) -> gpd.GeoDataFrame:
    data = {c: pd.Series([], dtype=object) for c in columns if c != "geometry"}
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries([], crs=WGS84), crs=WGS84)


def read_power(osm: Any) -> gpd.GeoDataFrame:
    """Substations, plants, lines and cables of a parsed extract (`pyrosm.OSM`), EPSG:4326.

    Columns `POWER_COLUMNS`: the OSM id and type, `power`, `voltage` (the raw tag, volts,
    ";"-separated for several levels), `name`, `operator`, `substation` (its role, e.g.
    transmission, distribution, minor_distribution), `plant:source`, `cables`.
    """
    return power_layer(
        osm.get_data_by_custom_criteria(
            custom_filter={"power": list(POWER_KINDS)},
            filter_type="keep",
            tags_as_columns=list(POWER_TAGS),
        )
    )


def power_layer(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """:func:`read_power`'s layer from the `power=POWER_KINDS` elements as read (pyrosm's
    read, or the one-pass reader's `power` layer, :mod:`siting.sources.ingest`)."""
    if gdf is None or len(gdf) == 0:
        return _empty(POWER_COLUMNS)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    return _layer(gdf[gdf["power"].astype(str).isin(POWER_KINDS)], POWER_COLUMNS)


def exclusion_filter() -> dict[str, list[str]]:
    """The keys of `EXCLUSION_TAGS` with every value any kind lists."""
    keys: dict[str, list[str]] = {}
    for tags in EXCLUSION_TAGS.values():
        for key, values in tags.items():
            keys.setdefault(key, []).extend(values)
    return keys


def read_exclusions(osm: Any) -> gpd.GeoDataFrame:
    """Areas no data center may take (`EXCLUSION_KINDS`) of a parsed extract, EPSG:4326.

    One polygon per OSM feature with its `exclusion` kind; a feature matching two kinds
    (a reservoir in a nature reserve) is listed under the first of `EXCLUSION_KINDS`.
    """
    keys = exclusion_filter()
    return exclusion_layer(
        osm.get_data_by_custom_criteria(
            custom_filter=keys,
            filter_type="keep",
            keep_nodes=False,
            tags_as_columns=[*keys, "name"],
        )
    )


def exclusion_layer(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """:func:`read_exclusions`'s layer from the ways and relations with one of the
    `EXCLUSION_TAGS` as read (pyrosm's read, or the one-pass reader's `exclusions` layer),
    with their columns of those keys and `name`."""
    if gdf is None or len(gdf) == 0:
        return _empty(EXCLUSION_COLUMNS)
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
    gdf = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    kind = pd.Series(None, index=gdf.index, dtype=object)
    for name in reversed(EXCLUSION_KINDS):  # the first kind listed wins
        hit = np.zeros(len(gdf), dtype=bool)
        for key, values in EXCLUSION_TAGS[name].items():
            if key in gdf:
                hit |= gdf[key].astype(str).isin(values).to_numpy()
        kind[hit] = name
    return _layer(gdf.assign(exclusion=kind)[kind.notna().to_numpy()], EXCLUSION_COLUMNS)


def _layer(gdf: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    """`gdf`'s `columns` (missing ones empty) in EPSG:4326 with a fresh index."""
    gdf = gdf.assign(**{col: None for col in columns if col not in gdf})
    out = gpd.GeoDataFrame(gdf[columns], geometry="geometry")
    out = out.set_crs(WGS84, allow_override=True) if out.crs is None else out.to_crs(WGS84)
    return out.reset_index(drop=True)


_NUMBER = re.compile(r"(\d+(?:[.,]\d+)?)\s*(k?v)?", re.IGNORECASE)


def voltage_kv(values: pd.Series | list | np.ndarray) -> np.ndarray:
    """The highest voltage (kV) of OSM `voltage` tags, NaN where none can be read.

    The tag is in volts, several levels ";"-separated: "400000;132000;50000;10000" -> 400,
    "10000;400" -> 10, "?;1650" -> 1.65. A value written in kV ("132 kV") is read as kV.
    """
    out = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        best = np.nan
        for part in str(value).replace(",", ".").split(";"):
            m = _NUMBER.search(part)
            if not m:
                continue
            number = float(m.group(1))
            unit = (m.group(2) or "").lower()
            kv = number if unit == "kv" else number / 1000.0
            best = kv if not np.isfinite(best) else max(best, kv)
        out[i] = best
    return out


def substations(power: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Where a data center can connect: substations and plants with their voltage (kV).

    `power` is :func:`read_power`'s layer in a metric CRS. Each substation or plant gets
    `voltage_kv` (the highest level of its own tag) and `voltage_source`: "tag", "lines"
    (untagged, but lines or cables of that voltage end within `LINE_END_REACH_M` of it)
    or "" (unknown: NaN kV, it qualifies for no threshold). Returns columns `substation_id`
    ("node/123"), `name`, `power`, `role` (the `substation` tag), `voltage`, `voltage_kv`,
    `voltage_source` and a point geometry (the feature's representative point).
    """
    cols = [
        "substation_id",
        "name",
        "power",
        "role",
        "voltage",
        "voltage_kv",
        "voltage_source",
        "geometry",
    ]
    if power is None or len(power) == 0:
        return gpd.GeoDataFrame(
            {c: [] for c in cols[:-1]},
            geometry=gpd.GeoSeries([], crs=None if power is None else power.crs),
        )
    kind = power["power"].astype(str).to_numpy()
    sub = power[np.isin(kind, CONNECTION_KINDS)].reset_index(drop=True)
    kv = voltage_kv(sub["voltage"].tolist() if "voltage" in sub else [None] * len(sub))
    source = np.where(np.isfinite(kv), "tag", "").astype(object)
    lines = power[np.isin(kind, LINE_KINDS)]
    missing = np.flatnonzero(~np.isfinite(kv))
    if len(lines) and len(missing):
        line_kv = voltage_kv(lines["voltage"].tolist())
        ok = np.isfinite(line_kv)
        ends = shapely.get_coordinates(
            shapely.boundary(shapely.line_merge(lines.geometry.values[ok])), return_index=True
        )
        if len(ends[0]):
            points = shapely.points(ends[0])
            end_kv = line_kv[ok][ends[1]]
            tree = shapely.STRtree(points)
            geoms = sub.geometry.values[missing]
            hit_sub, hit_end = tree.query(geoms, predicate="dwithin", distance=LINE_END_REACH_M)
            if len(hit_sub):
                best = pd.Series(end_kv[hit_end]).groupby(hit_sub).max()
                kv[missing[best.index.to_numpy()]] = best.to_numpy()
                source[missing[best.index.to_numpy()]] = "lines"
    osm_type = sub["osm_type"].fillna("way").astype(str) if "osm_type" in sub else "way"
    ids = sub["id"].astype("int64").astype(str) if "id" in sub else sub.index.astype(str)
    role = (sub["substation"] if "substation" in sub else pd.Series(None, index=sub.index)).astype(
        object
    )
    return gpd.GeoDataFrame(
        {
            "substation_id": (osm_type + "/" + ids).to_numpy(),
            "name": sub["name"].fillna("").astype(str).to_numpy() if "name" in sub else "",
            "power": sub["power"].astype(str).to_numpy(),
            "role": role.fillna("").astype(str).to_numpy(),
            "voltage": sub["voltage"].fillna("").astype(str).to_numpy(),
            "voltage_kv": kv,
            "voltage_source": source,
        },
        geometry=sub.geometry.representative_point().to_numpy(),
        crs=power.crs,
    )


__all__ = [
    "CONNECTION_KINDS",
    "EXCLUSION_KINDS",
    "EXCLUSION_TAGS",
    "POWER_KINDS",
    "exclusion_filter",
    "exclusion_layer",
    "power_layer",
    "read_exclusions",
    "read_power",
    "substations",
    "voltage_kv",
]
