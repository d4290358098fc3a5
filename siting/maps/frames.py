"""Input frames made ready to draw: column checks, tolerant cell values, best and top-N
sites, and reprojection to lon/lat GeoJSON.

All map inputs are GeoDataFrames in a projected metric CRS (the study's local UTM); they are
reprojected to EPSG:4326 in this package and nowhere else, because folium/Leaflet needs
lon/lat.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputDataError
from siting.naming import plain_text

# 1e-6 degree is ~0.1 m: far below what a web map shows, and it halves the GeoJSON size.
_COORD_DECIMALS = 6


def _require_columns(gdf: gpd.GeoDataFrame, name: str, columns: Iterable[str]) -> None:
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        raise InputDataError(
            f"{name} lacks column(s) {missing}; present: {list(gdf.columns)}. "
            "Add them (see the siting.maps input contract)."
        )


def _nonempty_geometries(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gdf[~(gdf.geometry.isna() | gdf.geometry.is_empty)]


def _num(value: object) -> float | None:
    """Return a finite float, or None for missing/NaN/non-numeric values."""
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


_text = plain_text  # the map's cells and popups: text or '' (siting.naming)


def _float_column(df: pd.DataFrame, column: str) -> np.ndarray:
    """Column as float array; all-NaN if absent (optional metrics must not break the map)."""
    if column not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[column], errors="coerce").to_numpy(dtype=float)


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
    return _feature_collection(_to_wgs84(gdf))


def _feature_collection(gdf: gpd.GeoDataFrame) -> dict:
    """The GeoJSON dict `json.loads(gdf.to_json(drop_id=False, show_bbox=False))` gives,
    built from the coordinate arrays: geopandas maps each geometry to nested tuples in
    Python and the text is parsed again (~50 ms for a map's heat grid).

    Features carry ``id`` (the index as text), ``properties`` (missing values as None)
    and ``geometry``, in row order; coordinates are lists, as JSON reads them.
    """
    geometry = gdf.geometry.name
    columns = [c for c in gdf.columns if c != geometry]
    geometries = _geometry_dicts(np.asarray(gdf.geometry.values, dtype=object))
    ids = [str(i) for i in gdf.index]
    if columns:
        # as geopandas does: Python scalars, and None for every missing value
        values = gdf[columns]
        plain = values.astype(object)
        plain[pd.isna(values).to_numpy()] = None
        rows = [dict(zip(columns, row, strict=True)) for row in plain.to_numpy().tolist()]
    else:
        rows = [{} for _ in ids]
    features = [
        {"id": i, "type": "Feature", "properties": row, "geometry": geom}
        for i, row, geom in zip(ids, rows, geometries, strict=True)
    ]
    return {"type": "FeatureCollection", "features": features}


def _geometry_dicts(geoms: np.ndarray) -> list[dict | None]:
    """GeoJSON geometry dicts (lists, not tuples) of shapely geometries; None when missing
    or empty. 2-D points, lines and polygons come from the coordinate arrays in one pass,
    the rest (multi-parts, 3-D) through shapely's ``__geo_interface__``."""
    out: list[dict | None] = [None] * len(geoms)
    kind = shapely.get_type_id(geoms)
    plain = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms) | shapely.has_z(geoms))
    for type_id, name in ((0, "Point"), (1, "LineString")):
        idx = np.flatnonzero(plain & (kind == type_id))
        coords = shapely.get_coordinates(geoms[idx]).tolist()
        if type_id == 0:
            parts = coords
        else:
            parts = _split(coords, shapely.get_num_coordinates(geoms[idx]))
        for i, part in zip(idx.tolist(), parts, strict=True):
            out[i] = {"type": name, "coordinates": part}
    idx = np.flatnonzero(plain & (kind == 3))
    rings, owner = shapely.get_rings(geoms[idx], return_index=True)  # exterior, then holes
    ring_coords = _split(
        shapely.get_coordinates(rings).tolist(), shapely.get_num_coordinates(rings)
    )
    polygons: list[list] = [[] for _ in idx]
    for k, ring in zip(owner.tolist(), ring_coords, strict=True):
        polygons[k].append(ring)
    for i, polygon in zip(idx.tolist(), polygons, strict=True):
        out[i] = {"type": "Polygon", "coordinates": polygon}
    for i in np.flatnonzero(~plain | ~np.isin(kind, (0, 1, 3))).tolist():
        geom = geoms[i]
        if geom is not None and not geom.is_empty:
            out[i] = _as_lists(geom.__geo_interface__)
    return out


def _split(coords: list, counts: np.ndarray) -> list[list]:
    """`coords` cut into consecutive runs of `counts` items."""
    ends = np.cumsum(counts).tolist()
    return [coords[a:b] for a, b in zip([0, *ends][:-1], ends, strict=True)]


def _as_lists(value: object) -> object:
    """Tuples made lists, all the way down (what a JSON round trip does to them)."""
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_as_lists(v) for v in value]
    return value
