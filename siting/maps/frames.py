"""Input frames made ready to draw: column checks, tolerant cell values, best and top-N
sites, and reprojection to lon/lat GeoJSON.

All map inputs are GeoDataFrames in a projected metric CRS (the study's local UTM); they are
reprojected to EPSG:4326 in this package and nowhere else, because folium/Leaflet needs
lon/lat.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.errors import InputDataError

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


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if value is pd.NA or value is pd.NaT:
        return ""
    return str(value).strip()


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
    return json.loads(_to_wgs84(gdf).to_json(drop_id=False, show_bbox=False))
