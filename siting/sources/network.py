"""Read a district-heating network: pipes (lines) and/or plants and connection points.

Optional attributes, recognised under common names: supply and return temperature
(°C) and capacity (MW). A file without a CRS is taken as WGS84 only when its
coordinates fit longitude/latitude; otherwise it is an error naming the fix.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting import validate
from siting.errors import CRSError, InputDataError

log = logging.getLogger(__name__)

# column name variants users and other tools write -> our name
ATTRIBUTE_ALIASES = {
    "supply_temp_c": ("supply_temp_c", "supply_temperature", "t_supply", "supply_c", "tv"),
    "return_temp_c": ("return_temp_c", "return_temperature", "t_return", "return_c", "tr"),
    "capacity_mw": ("capacity_mw", "capacity", "max_heat_mw", "p_max_mw"),
}
# A Shapefile's .dbf keeps 10 characters of a field name (supply_temp_c -> supply_tem)
DBF_NAME_CHARS = 10
ATTRIBUTE_RANGES = {
    "supply_temp_c": validate.SUPPLY_TEMP_C,
    "return_temp_c": validate.RETURN_TEMP_C,
    "capacity_mw": validate.CAPACITY_MW,
}
ATTRIBUTE_FIX = {
    "supply_temp_c": "Give the supply temperature of the pipe in °C (e.g. 75), or leave it empty",
    "return_temp_c": "Give the return temperature of the pipe in °C (e.g. 40), or leave it empty",
    "capacity_mw": "Give the heat the pipe or plant can take in MW (e.g. 50), or leave it empty "
    "for no limit",
}
# words in a field name that suggest one of our attributes (an unrecognised one is warned)
_LOOKALIKE = ("temp", "supply", "return", "capac", "flow", "heat", "mw", "kw")


def _aliases(ours: str) -> tuple[str, ...]:
    """Our name's accepted field names, then their Shapefile-truncated forms."""
    names = ATTRIBUTE_ALIASES[ours]
    return names + tuple(dict.fromkeys(a[:DBF_NAME_CHARS] for a in names if len(a) > 10))


def read_vector(path: Path, what: str, fix: str) -> gpd.GeoDataFrame:
    """Read a vector file (GeoJSON, GeoPackage, Shapefile, GeoParquet) or name the problem.

    The file is opened first, so "permission denied" and I/O errors say so (with the fix)
    instead of a reader's message; a file that is not vector data is an InputDataError.
    """
    if not path.exists():
        raise InputDataError(f"{what} {path} does not exist; check the path.")
    validate.check_readable(path, what)
    try:
        with warnings.catch_warnings():
            # mixed-type properties: geopandas warns and keeps them as text; we check them
            warnings.simplefilter("ignore", UserWarning)
            if path.suffix.lower() == ".parquet":
                return gpd.read_parquet(path)
            return gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputDataError(
            f"{what} {path} could not be read as vector data ({validate.brief(str(exc), 200)}). "
            f"{fix}"
        ) from exc


def read_network(path: str | Path) -> gpd.GeoDataFrame:
    """Read a DH network file (GeoJSON, GeoPackage, Shapefile, GeoParquet).

    Every value is checked here (see :func:`normalise_network`).

    Returns
    -------
    GeoDataFrame with `kind` ("pipe" or "plant"), `supply_temp_c`, `return_temp_c`,
    `capacity_mw` (NaN where unknown) and geometry, in the file's CRS (or EPSG:4326).
    """
    path = Path(path).expanduser()
    gdf = read_vector(
        path,
        "network file",
        "Give GeoJSON, GeoPackage, Shapefile or GeoParquet with pipe lines and/or plant points.",
    )
    return normalise_network(gdf, name=str(path))


def normalise_network(
    gdf: gpd.GeoDataFrame, name: str = "network", strict: bool = True
) -> gpd.GeoDataFrame | None:
    """Check CRS, geometry and values, classify pipes vs plants and map attribute names.

    `strict` (a user's file): a row without geometry, a degenerate geometry (zero-length
    line, zero-area polygon, non-finite coordinates) or a bad value is an error naming the
    row. Not strict (OSM heat pipes): degenerate features are dropped with a log line.
    Attribute fields are matched by name (case-insensitive) under the names of
    `ATTRIBUTE_ALIASES` and their Shapefile-truncated forms (`supply_tem`, `capacity_m`).
    """
    gdf = gdf.reset_index(drop=True)
    labels_all = _labels(gdf)
    missing = gdf.geometry.isna() | gdf.geometry.is_empty
    if strict and missing.any() and not missing.all():
        rows = [labels_all[i] for i in np.flatnonzero(missing.to_numpy())]
        raise InputDataError(
            f"{name}: {_some(rows)} {'has' if len(rows) == 1 else 'have'} no geometry; give "
            "each feature a pipe line or a plant point, or remove the row."
        )
    gdf = gdf[~missing]
    if len(gdf) == 0:
        raise InputDataError(
            f"{name} has no geometries; it must hold DH pipes (lines) or plants (points)."
        )
    gdf = ensure_crs(gdf, name)
    geom_type = gdf.geom_type
    is_line = geom_type.isin(["LineString", "MultiLineString"])
    is_point = geom_type.isin(["Point", "MultiPoint", "Polygon", "MultiPolygon"])
    if not (is_line | is_point).all():
        bad = sorted(set(geom_type[~(is_line | is_point)]))
        first = labels_all[int(gdf.index[~(is_line | is_point)][0])]
        raise InputDataError(
            f"{name} has unsupported geometry types {bad} (first at {first}); use lines or points."
        )
    problems = validate.geometry_problems(gdf.geometry.values, lines=True)
    if problems:
        shown = [f"{labels_all[int(gdf.index[i])]} {text}" for i, text in problems]
        if strict:
            more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
            raise InputDataError(
                f"{name}: {'; '.join(shown[:3])}{more}; fix or remove these features (QGIS: "
                "Vector > Geometry Tools > Check Validity)."
            )
        log.info("%s: %d degenerate features left out: %s", name, len(shown), "; ".join(shown))
        keep = np.ones(len(gdf), dtype=bool)
        keep[[i for i, _ in problems]] = False
        gdf, is_line = gdf[keep], is_line[keep]
        if len(gdf) == 0:
            return None
    labels = [labels_all[int(i)] for i in gdf.index]
    out = gpd.GeoDataFrame(
        {"kind": np.where(is_line, "pipe", "plant")}, geometry=gdf.geometry.values, crs=gdf.crs
    )
    lower: dict[str, str] = {}
    for c in gdf.columns:
        if c != gdf.geometry.name:
            lower.setdefault(str(c).lower(), c)
    used: set[str] = set()
    for ours in ATTRIBUTE_ALIASES:
        found = [lower[a] for a in _aliases(ours) if a in lower]
        if len(found) > 1:
            raise InputDataError(
                f"{name}: fields {' and '.join(repr(f) for f in found)} all give {ours}; keep one "
                "of them (rename or delete the others) so the value used is unambiguous."
            )
        if not found:
            out[ours] = np.nan
            continue
        used.add(found[0])
        field = f"{ours} (field {found[0]!r})" if found[0] != ours else ours
        fix = ATTRIBUTE_FIX[ours] + "."
        values = validate.parse_numbers(gdf[found[0]], field, name, labels, "", fix)
        validate.check_range(values, field, name, labels, ATTRIBUTE_RANGES[ours], fix)
        out[ours] = values
    both = out["supply_temp_c"].to_numpy() <= out["return_temp_c"].to_numpy()
    if both.any():  # NaN compares False: only rows giving both
        rows = [labels[i] for i in np.flatnonzero(both)]
        raise InputDataError(
            f"{name}: {_some(rows)}: supply_temp_c must be above return_temp_c (the water "
            "cools in the buildings); check the two fields are not swapped."
        )
    unknown = [
        c
        for key, c in lower.items()
        if c not in used and key != "name" and any(w in key for w in _LOOKALIKE)
    ]
    if unknown:
        known = ", ".join(a for names in ATTRIBUTE_ALIASES.values() for a in names)
        validate.warn_once(
            f"{name}: field{'s' * (len(unknown) > 1)} {', '.join(repr(c) for c in unknown)} "
            f"{'are' if len(unknown) > 1 else 'is'} not a known network attribute and "
            f"{'are' if len(unknown) > 1 else 'is'} ignored; recognised names: {known} "
            "(case-insensitive; Shapefile-truncated forms too)."
        )
    if "name" in lower:
        col = gdf[lower["name"]]
        out["name"] = [("" if validate.is_missing(v) else str(v)) for v in col.tolist()]
    out.attrs["source"] = name  # named in later errors (reprojection, distance to the area)
    return out


def _labels(gdf: gpd.GeoDataFrame) -> list[str]:
    """`row N` labels (file order), with the feature's name or id when it has one."""
    for col in ("name", "id", "pipe_id", "plant_id"):
        if col in gdf.columns:
            ids = [None if validate.is_missing(v) else v for v in gdf[col].tolist()]
            return [validate.row_label(i, ids, col) for i in range(len(gdf))]
    return [validate.row_label(i) for i in range(len(gdf))]


def _some(rows: list[str]) -> str:
    return ", ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")


def ensure_crs(gdf: gpd.GeoDataFrame, name: str) -> gpd.GeoDataFrame:
    """Give `gdf` a CRS: keep its own; assume WGS84 only when coordinates fit lon/lat.

    A layer that says it is geographic but holds coordinates beyond ±180/±90 is an error
    (typically GeoJSON in metres without a `crs` member, which readers take as WGS84).
    """
    minx, miny, maxx, maxy = gdf.total_bounds
    fits_lonlat = -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    if gdf.crs is not None:
        if gdf.crs.is_geographic and not fits_lonlat:
            raise CRSError(
                f"{name} says its CRS is {gdf.crs.to_string()} (longitude/latitude) but its "
                f"coordinates ({minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}) are not degrees; "
                "GeoJSON without a crs member is always read as WGS84. Save the layer with its "
                "real CRS (e.g. as GeoPackage) or reproject it to EPSG:4326 before saving."
            )
        return gdf
    if fits_lonlat:
        log.warning(
            "%s has no CRS; its coordinates fit longitude/latitude, so EPSG:4326 is used", name
        )
        return gdf.set_crs("EPSG:4326")
    raise CRSError(
        f"{name} has no CRS and its coordinates ({minx:.0f}, {miny:.0f}, {maxx:.0f}, {maxy:.0f}) "
        "are not longitude/latitude. Save it with its CRS (e.g. in QGIS: Export > Save "
        "Features As, choosing the layer CRS) or set one with gdf.set_crs('EPSG:25832')."
    )


def network_from_osm(
    heat_pipes: gpd.GeoDataFrame, heat_plants: gpd.GeoDataFrame
) -> gpd.GeoDataFrame | None:
    """Build a network layer from OSM heat pipes and plants; None when the extract has none."""
    parts = [g[["geometry"]] for g in (heat_pipes, heat_plants) if g is not None and len(g)]
    if not parts:
        return None
    gdf = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
    return normalise_network(gdf, name="OSM heat pipelines", strict=False)
