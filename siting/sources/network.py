"""Read a district-heating network: pipes (lines) and/or plants and connection points.

Optional attributes, recognised under common names: supply and return temperature
(°C) and capacity (MW). A file without a CRS is taken as WGS84 only when its
coordinates fit longitude/latitude; otherwise it is an error naming the fix.
"""

from __future__ import annotations

import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.errors import CRSError, InputDataError

log = logging.getLogger(__name__)

# column name variants users and other tools write -> our name
ATTRIBUTE_ALIASES = {
    "supply_temp_c": ("supply_temp_c", "supply_temperature", "t_supply", "supply_c", "tv"),
    "return_temp_c": ("return_temp_c", "return_temperature", "t_return", "return_c", "tr"),
    "capacity_mw": ("capacity_mw", "capacity", "max_heat_mw", "p_max_mw"),
}


def read_network(path: str | Path) -> gpd.GeoDataFrame:
    """Read a DH network file (GeoJSON, GeoPackage, Shapefile, GeoParquet).

    Returns
    -------
    GeoDataFrame with `kind` ("pipe" or "plant"), `supply_temp_c`, `return_temp_c`,
    `capacity_mw` (NaN where unknown) and geometry, in the file's CRS (or EPSG:4326).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputDataError(f"network file {path} does not exist; check the path.")
    try:
        if path.suffix.lower() == ".parquet":
            gdf = gpd.read_parquet(path)
        else:
            gdf = gpd.read_file(path)
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputDataError(
            f"network file {path} could not be read as vector data ({exc}). Give GeoJSON, "
            "GeoPackage, Shapefile or GeoParquet with pipe lines and/or plant points."
        ) from exc
    return normalise_network(gdf, name=str(path))


def normalise_network(gdf: gpd.GeoDataFrame, name: str = "network") -> gpd.GeoDataFrame:
    """Check CRS and geometry, classify pipes vs plants and map attribute names."""
    gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].copy()
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
        raise InputDataError(f"{name} has unsupported geometry types {bad}; use lines or points.")
    out = gpd.GeoDataFrame(
        {"kind": np.where(is_line, "pipe", "plant")}, geometry=gdf.geometry.values, crs=gdf.crs
    )
    lower = {c.lower(): c for c in gdf.columns}
    for ours, aliases in ATTRIBUTE_ALIASES.items():
        source = next((lower[a] for a in aliases if a in lower), None)
        values = gdf[source] if source else pd.Series(np.nan, index=gdf.index)
        out[ours] = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    if "name" in lower:
        out["name"] = gdf[lower["name"]].astype(object).where(gdf[lower["name"]].notna(), "").values
    out.attrs["source"] = name  # named in later errors (reprojection, distance to the area)
    return out


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
    return normalise_network(gdf, name="OSM heat pipelines")
