"""District-heating areas from heat density where pipes are unknown (Hotmaps method,
docs/model.md §8.4).

The Hotmaps calculation module "District heating potential areas: user-defined thresholds"
(HotMaps/dh_potential, cm/app/api_v1/my_calculation_module_directory/CM/CM_TUW4/
district_heating_potential.py; defaults in cm/app/constant.py):

1. keep the 1 ha cells whose heat density is above ``pix_threshold``, default **333 MWh/ha/yr**;
2. join kept cells one gap apart: binary dilation then erosion with a 3x3 structure;
3. label connected cells (8-neighbourhood) into coherent areas;
4. keep an area when its kept cells' demand reaches ``DH_threshold``, default **30 GWh/yr**;
   its potential is the demand of all its cells (gap cells included).

Here the grid is the 100 m EPSG:3035 heat-density raster :mod:`siting.raster` writes from the
buildings (or any such raster). :func:`area_edges` turns the areas' outlines into lines a
router can tap like pipes: a site routes to the nearest edge of an area that can take its heat.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio.features
import shapely
import shapely.geometry
from affine import Affine
from scipy import ndimage

from siting.area import require_metric
from siting.errors import ConfigError, InputDataError
from siting.raster import (
    CENTROID_CHUNK_ROWS,
    HEAT_COLUMN,
    density_grid,
    grid_from_cell_sums,
    heat_density,
    read_heat_density,
)

log = logging.getLogger(__name__)

__all__ = [
    "HOTMAPS_MIN_AREA_GWH_PER_YR",
    "HOTMAPS_MIN_CELL_MWH_PER_HA",
    "area_edges",
    "dh_areas_from_buildings",
    "dh_areas_from_grid",
    "dh_areas_from_raster",
    "scale_to_registry",
]

# [V] HotMaps/dh_potential cm/app/constant.py: "Min. heat demand in hectare" 333 MWh/(ha*yr),
# "Min. heat demand in a DH area" 30 GWh/yr (the CM's input defaults).
HOTMAPS_MIN_CELL_MWH_PER_HA = 333.0
HOTMAPS_MIN_AREA_GWH_PER_YR = 30.0
_M2_PER_HA = 10_000.0
_STRUCT = np.ones((3, 3), dtype=bool)
AREA_COLUMNS = [
    "area_id",
    "heat_demand_mwh_per_yr",
    "core_heat_demand_mwh_per_yr",
    "cells",
    "area_ha",
    "mean_density_mwh_per_ha",
    "geometry",
]


def dh_areas_from_grid(
    density_mwh_per_ha: np.ndarray,
    transform: Affine,
    crs: str | pyproj.CRS,
    *,
    min_cell_mwh_per_ha: float = HOTMAPS_MIN_CELL_MWH_PER_HA,
    min_area_gwh_per_yr: float = HOTMAPS_MIN_AREA_GWH_PER_YR,
    close_gaps: bool = True,
) -> gpd.GeoDataFrame:
    """DH areas on a heat-density grid (MWh/ha/yr), polygons in the grid's CRS.

    Parameters
    ----------
    density_mwh_per_ha
        2-D array, north-up, nodata as 0.
    transform, crs
        The grid's affine transform and projected metric CRS.
    min_cell_mwh_per_ha
        Cells at or below this density are dropped (Hotmaps keeps ``density > threshold``).
    min_area_gwh_per_yr
        An area is kept when its kept cells carry at least this much, GWh/yr.
    close_gaps
        Join kept cells one cell apart (Hotmaps' dilation + erosion); False labels only
        touching cells.

    Returns
    -------
    geopandas.GeoDataFrame
        ``area_id`` (``dh-1``, ... by falling demand), ``heat_demand_mwh_per_yr`` (all cells of
        the area), ``core_heat_demand_mwh_per_yr`` (cells above the threshold), ``cells``,
        ``area_ha``, ``mean_density_mwh_per_ha``, geometry. ``attrs``: the thresholds, grid
        total and the share of it inside areas.
    """
    _check_thresholds(min_cell_mwh_per_ha, min_area_gwh_per_yr)
    grid = np.asarray(density_mwh_per_ha, dtype=float)
    if grid.ndim != 2:
        raise InputDataError(f"heat density must be a 2-D grid, got shape {grid.shape}.")
    grid = np.where(np.isfinite(grid) & (grid > 0), grid, 0.0)
    cell_ha = abs(transform.a * transform.e) / _M2_PER_HA
    kept = grid > min_cell_mwh_per_ha
    if close_gaps:
        # pad so the erosion does not eat cells on the grid's edge
        pad = np.pad(kept, 2)
        closed = ndimage.binary_erosion(ndimage.binary_dilation(pad, _STRUCT), _STRUCT)
        region = closed[2:-2, 2:-2] | kept
    else:
        region = kept
    labels, n = ndimage.label(region, structure=_STRUCT)
    core = np.bincount(labels.ravel(), weights=(grid * kept).ravel(), minlength=n + 1) * cell_ha
    total = np.bincount(labels.ravel(), weights=grid.ravel(), minlength=n + 1) * cell_ha
    cells = np.bincount(labels.ravel(), minlength=n + 1)
    keep = np.flatnonzero(core >= min_area_gwh_per_yr * 1000.0)
    keep = keep[keep > 0]
    out_crs = pyproj.CRS.from_user_input(crs)
    attrs = {
        "min_cell_mwh_per_ha": float(min_cell_mwh_per_ha),
        "min_area_gwh_per_yr": float(min_area_gwh_per_yr),
        "close_gaps": bool(close_gaps),
        "grid_total_mwh_per_yr": float(grid.sum() * cell_ha),
        "method": "Hotmaps CM 'District heating potential areas: user-defined thresholds'",
    }
    if len(keep) == 0:
        empty = gpd.GeoDataFrame(
            {c: pd.Series(dtype=float) for c in AREA_COLUMNS if c != "geometry"},
            geometry=gpd.GeoSeries([], crs=out_crs),
            crs=out_crs,
        )
        empty["area_id"] = empty["area_id"].astype(object)
        empty.attrs.update(attrs, share_in_areas=0.0)
        return empty
    # keep only the areas that pass, renumbered, so polygonising skips the rest
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[keep] = np.arange(1, len(keep) + 1, dtype=np.int32)
    kept_labels = remap[labels]
    polys: dict[int, list[Any]] = {}
    for geom, value in rasterio.features.shapes(
        kept_labels, mask=kept_labels > 0, transform=transform, connectivity=8
    ):
        polys.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    geoms = [shapely.union_all(polys[i]) for i in range(1, len(keep) + 1)]
    areas = gpd.GeoDataFrame(
        {
            "heat_demand_mwh_per_yr": total[keep],
            "core_heat_demand_mwh_per_yr": core[keep],
            "cells": cells[keep].astype(np.int64),
            "area_ha": cells[keep] * cell_ha,
        },
        geometry=geoms,
        crs=out_crs,
    )
    areas["mean_density_mwh_per_ha"] = areas["heat_demand_mwh_per_yr"] / areas["area_ha"]
    areas = areas.sort_values("heat_demand_mwh_per_yr", ascending=False, ignore_index=True)
    areas.insert(0, "area_id", [f"dh-{i + 1}" for i in range(len(areas))])
    areas.attrs.update(
        attrs,
        share_in_areas=float(
            areas["heat_demand_mwh_per_yr"].sum() / max(attrs["grid_total_mwh_per_yr"], 1e-9)
        ),
    )
    return areas[AREA_COLUMNS]


def dh_areas_from_raster(
    raster_path: str | os.PathLike[str],
    *,
    min_cell_mwh_per_ha: float = HOTMAPS_MIN_CELL_MWH_PER_HA,
    min_area_gwh_per_yr: float = HOTMAPS_MIN_AREA_GWH_PER_YR,
    close_gaps: bool = True,
    crs: str | pyproj.CRS | None = None,
) -> gpd.GeoDataFrame:
    """DH areas on a heat-density GeoTIFF (MWh/ha/yr, e.g. Hotmaps ``heat_tot_curr_density``).

    Read with :func:`siting.raster.read_heat_density`; see :func:`dh_areas_from_grid` for the
    method and columns. ``crs``: CRS of the result (default the raster's).
    """
    array, transform, rcrs, unit = read_heat_density(raster_path)
    if unit.strip().lower().replace(" ", "") not in {"mwh/ha/yr", "mwh/ha/a", "mwh/ha"}:
        raise InputDataError(
            f"{raster_path} is in {unit!r}; DH areas need a heat density in MWh/ha/yr."
        )
    areas = dh_areas_from_grid(
        array,
        transform,
        rcrs,
        min_cell_mwh_per_ha=min_cell_mwh_per_ha,
        min_area_gwh_per_yr=min_area_gwh_per_yr,
        close_gaps=close_gaps,
    )
    areas.attrs["raster"] = str(raster_path)
    return areas if crs is None else _to_crs(areas, crs)


def dh_areas_from_buildings(
    buildings: gpd.GeoDataFrame,
    *,
    min_cell_mwh_per_ha: float = HOTMAPS_MIN_CELL_MWH_PER_HA,
    min_area_gwh_per_yr: float = HOTMAPS_MIN_AREA_GWH_PER_YR,
    close_gaps: bool = True,
    cell_m: float = 100.0,
    raster_crs: str | pyproj.CRS = "EPSG:3035",
    column: str = HEAT_COLUMN,
    raster_path: str | os.PathLike[str] | None = None,
) -> gpd.GeoDataFrame:
    """DH areas from buildings' heat demand: bin to the Hotmaps grid, then the Hotmaps method.

    Parameters
    ----------
    buildings
        Output of :func:`siting.demand.estimate` (projected metric CRS) with ``column``
        (MWh/yr per building).
    min_cell_mwh_per_ha, min_area_gwh_per_yr, close_gaps
        See :func:`dh_areas_from_grid` (Hotmaps defaults 333 MWh/ha/yr and 30 GWh/yr).
    cell_m, raster_crs
        Grid written by :func:`siting.raster.heat_density` (100 m EPSG:3035 = Hotmaps grid).
    column
        Annual heat demand per building, MWh/yr.
    raster_path
        Write the grid there as a GeoTIFF and find the areas on the file (else the grid
        stays in memory).

    Returns
    -------
    geopandas.GeoDataFrame
        Areas in the buildings' CRS (columns of :func:`dh_areas_from_grid`), also
        ``n_buildings`` (buildings whose centroid lies in the area).
    """
    require_metric(buildings, "buildings")
    _check_thresholds(min_cell_mwh_per_ha, min_area_gwh_per_yr)
    if raster_path is not None:
        path = heat_density(buildings, raster_path, cell_m, raster_crs, column=column)
        areas = dh_areas_from_raster(
            path,
            min_cell_mwh_per_ha=min_cell_mwh_per_ha,
            min_area_gwh_per_yr=min_area_gwh_per_yr,
            close_gaps=close_gaps,
        )
    else:  # the grid the GeoTIFF would hold, kept in memory
        density, transform, grid_crs = density_grid(buildings, cell_m, raster_crs, column=column)
        areas = dh_areas_from_grid(
            density,
            transform,
            grid_crs,
            min_cell_mwh_per_ha=min_cell_mwh_per_ha,
            min_area_gwh_per_yr=min_area_gwh_per_yr,
            close_gaps=close_gaps,
        )
    areas = _to_crs(areas, buildings.crs)
    heated = pd.to_numeric(buildings[column], errors="coerce").fillna(0).to_numpy() > 0
    if len(areas):
        tree = shapely.STRtree(areas.geometry.values)
        geoms = np.asarray(buildings.geometry.values, dtype=object)[heated]
        counts = np.zeros(len(areas), dtype=np.int64)
        for start in range(0, len(geoms), CENTROID_CHUNK_ROWS):  # not a Point per building
            centroids = shapely.centroid(geoms[start : start + CENTROID_CHUNK_ROWS])
            _, a_idx = tree.query(centroids, predicate="within")
            counts += np.bincount(a_idx, minlength=len(areas))
        areas["n_buildings"] = counts.astype(np.int64)
    else:
        areas["n_buildings"] = pd.Series(dtype=np.int64)
    return areas


def dh_areas_from_cell_sums(
    cells: pd.DataFrame,
    crs: str | pyproj.CRS,
    *,
    min_cell_mwh_per_ha: float = HOTMAPS_MIN_CELL_MWH_PER_HA,
    min_area_gwh_per_yr: float = HOTMAPS_MIN_AREA_GWH_PER_YR,
    close_gaps: bool = True,
    cell_m: float = 100.0,
    raster_crs: str | pyproj.CRS = "EPSG:3035",
) -> gpd.GeoDataFrame:
    """:func:`dh_areas_from_buildings` from per-cell sums (:func:`siting.raster.cell_sums`).

    A tiled study sums each core's buildings per cell and finds the areas once here, on the
    same grid the buildings would give; ``n_buildings`` counts the buildings of the cells
    whose centre lies in the area. Areas are returned in `crs`.
    """
    _check_thresholds(min_cell_mwh_per_ha, min_area_gwh_per_yr)
    density, transform = grid_from_cell_sums(cells, cell_m)
    areas = dh_areas_from_grid(
        density,
        transform,
        raster_crs,
        min_cell_mwh_per_ha=min_cell_mwh_per_ha,
        min_area_gwh_per_yr=min_area_gwh_per_yr,
        close_gaps=close_gaps,
    )
    if len(areas):
        centres = shapely.points(
            (cells["ix"].to_numpy(float) + 0.5) * cell_m,
            (cells["iy"].to_numpy(float) + 0.5) * cell_m,
        )
        c_idx, a_idx = shapely.STRtree(areas.geometry.values).query(centres, predicate="within")
        weights = cells["n"].to_numpy(float)[c_idx]
        areas["n_buildings"] = np.bincount(a_idx, weights, minlength=len(areas)).astype(np.int64)
    else:
        areas["n_buildings"] = pd.Series(dtype=np.int64)
    return _to_crs(areas, crs)


def area_edges(
    areas: gpd.GeoDataFrame, *, min_heat_demand_mwh_per_yr: float = 0.0
) -> gpd.GeoDataFrame:
    """Outlines of DH areas as lines a router can tap like pipes.

    Parameters
    ----------
    areas
        Output of a ``dh_areas_*`` function (projected metric CRS).
    min_heat_demand_mwh_per_yr
        Keep only areas that can take this much heat a year (e.g. the site's delivered heat
        divided by ``share_max``).

    Returns
    -------
    geopandas.GeoDataFrame
        One LineString per ring (outer and holes), in the areas' CRS, in the network-layer
        format (:func:`siting.sources.network.normalise_network`): ``kind`` = "pipe",
        ``supply_temp_c``/``return_temp_c``/``capacity_mw`` NaN, ``name`` = area id; plus
        ``area_id`` and ``heat_demand_mwh_per_yr``.
    """
    require_metric(areas, "areas")
    if not np.isfinite(min_heat_demand_mwh_per_yr) or min_heat_demand_mwh_per_yr < 0:
        raise ConfigError(
            f"min_heat_demand_mwh_per_yr must be >= 0, got {min_heat_demand_mwh_per_yr!r}."
        )
    sel = areas[areas["heat_demand_mwh_per_yr"] >= min_heat_demand_mwh_per_yr]
    polys = shapely.get_parts(np.asarray(sel.geometry.values, dtype=object), return_index=True)
    parts, owner = polys
    rings, ring_owner = [], []
    for part, o in zip(parts, owner, strict=True):
        for ring in (part.exterior, *part.interiors):
            rings.append(shapely.LineString(ring.coords))
            ring_owner.append(o)
    ring_owner = np.asarray(ring_owner, dtype=np.int64)
    ids = sel["area_id"].to_numpy()[ring_owner] if len(rings) else np.array([], dtype=object)
    demand = sel["heat_demand_mwh_per_yr"].to_numpy()[ring_owner] if len(rings) else []
    n = len(rings)
    return gpd.GeoDataFrame(
        {
            "kind": np.full(n, "pipe", dtype=object),
            "supply_temp_c": np.full(n, np.nan),
            "return_temp_c": np.full(n, np.nan),
            "capacity_mw": np.full(n, np.nan),
            "name": ids,
            "area_id": ids,
            "heat_demand_mwh_per_yr": np.asarray(demand, dtype=float),
        },
        geometry=gpd.GeoSeries(rings, crs=areas.crs),
        crs=areas.crs,
    )


def scale_to_registry(
    areas: gpd.GeoDataFrame,
    annual_heat_mwh: float,
    *,
    network_id: str | None = None,
    covers_network: bool = False,
) -> gpd.GeoDataFrame:
    """Relate DH areas to a registry network's delivered heat.

    Adds ``registry_network_id``, ``registry_annual_heat_mwh`` and ``registry_share`` (the
    area's estimated demand / the registry figure: how much of the network it is). With
    ``covers_network=True`` (the areas are the whole network, not part of it) also
    ``scaled_heat_demand_mwh_per_yr``: the registry figure split in proportion to the areas'
    estimated demand, so measured delivery replaces the estimate.
    """
    if not (np.isfinite(annual_heat_mwh) and annual_heat_mwh > 0):
        raise ConfigError(f"annual_heat_mwh must be > 0, got {annual_heat_mwh!r}.")
    out = areas.copy()
    demand = out["heat_demand_mwh_per_yr"].to_numpy(dtype=float)
    out["registry_network_id"] = network_id
    out["registry_annual_heat_mwh"] = float(annual_heat_mwh)
    out["registry_share"] = demand / annual_heat_mwh
    if covers_network:
        total = demand.sum()
        out["scaled_heat_demand_mwh_per_yr"] = (
            annual_heat_mwh * demand / total if total > 0 else np.nan
        )
    return out


def _to_crs(areas: gpd.GeoDataFrame, crs: Any) -> gpd.GeoDataFrame:
    attrs = dict(areas.attrs)
    out = areas.to_crs(crs)
    out.attrs.update(attrs)
    return out


def _check_thresholds(min_cell: float, min_area: float) -> None:
    if not (np.isfinite(min_cell) and min_cell >= 0):
        raise ConfigError(f"min_cell_mwh_per_ha must be >= 0 MWh/ha/yr, got {min_cell!r}.")
    if not (np.isfinite(min_area) and min_area >= 0):
        raise ConfigError(f"min_area_gwh_per_yr must be >= 0 GWh/yr, got {min_area!r}.")
