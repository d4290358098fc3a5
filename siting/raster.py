"""Heat-density rasters: write them from buildings, read Hotmaps-style GeoTIFFs.

Rasters follow the Hotmaps convention (``heat_tot_curr_density``): one float32 band in
MWh/ha/yr (floor area: m2/ha), nodata 0, EPSG:3035 by default, cells aligned to multiples of the
cell size so rasters from different studies and the EU layers overlay cell for cell.

Writing bins building centroids with ``np.bincount`` (no loop over buildings); reading returns a
float64 array so sums over a city are not rounded in float32. Cell *totals* are density x cell
area in hectares (1 ha for 100 m cells).
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import rasterio.shutil
import shapely
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

from siting.area import require_metric
from siting.demand import FULL_LOAD_HOURS_H
from siting.errors import ConfigError, CRSError, InputDataError

log = logging.getLogger(__name__)

__all__ = [
    "HEAT_UNIT",
    "FLOOR_AREA_UNIT",
    "CellSums",
    "allocate_to_buildings",
    "cell_totals",
    "density_grid",
    "floor_area_density",
    "heat_density",
    "heat_density_cells",
    "heat_density_from_cell_sums",
    "read_heat_density",
]

HEAT_UNIT = "MWh/ha/yr"
# the heat-density GeoTIFF's tags, whichever way its cells were summed
_HEAT_TAGS = {
    "unit": HEAT_UNIT,
    "quantity": "annual heat demand density (space heating + hot water)",
    "total_unit": "MWh/yr",
}
FLOOR_AREA_UNIT = "m2/ha"
HEAT_COLUMN = "heat_demand_mwh_per_yr"
HEAT_DENSITY_COLUMN = "heat_density_mwh_per_ha_per_yr"
FLOOR_AREA_COLUMN = "floor_area_m2"
FLOOR_AREA_DENSITY_COLUMN = "floor_area_density_m2_per_ha"
_M2_PER_HA = 10_000.0
# 50 M cells is ~400 MB of float64 while binning (700 x 700 km at 100 m): larger grids are
# almost always a wrong CRS or a stray building far away, so stop with a message instead.
_MAX_CELLS = 50_000_000
# Spellings of the two units met in the wild (Hotmaps metadata, QGIS, our own tags).
_HEAT_UNITS = {"mwh/ha/yr", "mwh/ha/a", "mwh/ha", "mwh/(ha*yr)", "mwh/ha·yr", "mwh ha-1 yr-1"}
_AREA_UNITS = {"m2/ha", "m²/ha", "m^2/ha", "m2 ha-1"}
_FOOTER_OSM = "© OpenStreetMap contributors"

Bounds = tuple[float, float, float, float]


# --------------------------------------------------------------------------- writing


def heat_density(
    buildings: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    cell_m: float = 100.0,
    crs: str | pyproj.CRS = "EPSG:3035",
    *,
    column: str = HEAT_COLUMN,
    bounds: Bounds | None = None,
    source: str | None = None,
    attribution: str = _FOOTER_OSM,
) -> Path:
    """Write the buildings' heat demand as a heat-density GeoTIFF (MWh/ha/yr).

    Parameters
    ----------
    buildings
        Output of :func:`siting.demand.estimate` (any projected metric CRS); each building's
        ``column`` goes to the cell holding its centroid, taken in the buildings' CRS and then
        reprojected to ``crs``.
    path
        GeoTIFF to write; replaced atomically (temp file in the same folder, then rename).
    cell_m
        Cell edge in metres of ``crs``. Cells are aligned to multiples of ``cell_m`` (the
        Hotmaps EU grid for 100 m in EPSG:3035).
    crs
        Raster CRS, projected and in metres.
    column
        Annual heat demand per building, MWh/yr; NaN counts as 0.
    bounds
        ``(xmin, ymin, xmax, ymax)`` in ``crs`` to write a fixed extent (snapped outward to the
        grid), e.g. to match another raster. Default: the cells holding buildings. Demand
        outside is dropped, logged and recorded in the ``outside_bounds_total`` tag.
    source, attribution
        Text for the ``source`` and ``attribution`` tags.

    Returns
    -------
    pathlib.Path
        The written file: a Cloud-Optimized GeoTIFF with overviews (the mean density of 2x2,
        4x4, ... cells). Float32, nodata 0, deflate-compressed, 256x256 tiles; tags ``unit``,
        ``quantity``, ``source``, ``total`` (MWh/yr), ``n_buildings``, ``cell_m``.
    """
    return _write_density(
        buildings,
        path,
        cell_m,
        crs,
        column=column,
        **_HEAT_TAGS,
        bounds=bounds,
        source=source,
        attribution=attribution,
    )


def floor_area_density(
    buildings: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    cell_m: float = 100.0,
    crs: str | pyproj.CRS = "EPSG:3035",
    *,
    column: str = FLOOR_AREA_COLUMN,
    bounds: Bounds | None = None,
    source: str | None = None,
    attribution: str = _FOOTER_OSM,
) -> Path:
    """Write the buildings' gross floor area as a density GeoTIFF (m2/ha).

    Same grid, tags and options as :func:`heat_density`; ``column`` is gross floor area in m2
    (Hotmaps ``gfa_tot_curr_density`` is gross floor area too).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    return _write_density(
        buildings,
        path,
        cell_m,
        crs,
        column=column,
        unit=FLOOR_AREA_UNIT,
        quantity="gross floor area density",
        total_unit="m2",
        bounds=bounds,
        source=source,
        attribution=attribution,
    )


def _write_density(
    buildings: gpd.GeoDataFrame,
    path: str | os.PathLike[str],
    cell_m: float,
    crs: str | pyproj.CRS,
    **tags: Any,
) -> Path:
    """Bin the buildings' `tags["column"]` and write it (`tags`: :func:`_write_binned`'s
    keywords)."""
    target, ix, iy, values = _buildings_cells(buildings, cell_m, crs, tags["column"])
    return _write_binned(ix, iy, values, None, path, cell_m, target, **tags)


def _write_binned(
    ix: np.ndarray,
    iy: np.ndarray,
    values: np.ndarray,
    counts: np.ndarray | None,
    path: str | os.PathLike[str],
    cell_m: float,
    target: pyproj.CRS,
    *,
    column: str,
    unit: str,
    quantity: str,
    total_unit: str,
    bounds: Bounds | None,
    source: str | None,
    attribution: str,
) -> Path:
    """Write `values` binned to cells (ix, iy) as a density GeoTIFF; `counts` is how many
    buildings each value holds (None: one each)."""
    if bounds is None and len(values) == 0:
        raise InputDataError(
            f"no building has {column} > 0 with a valid geometry; nothing to write to {path}."
        )

    density, transform, inside, total = _density_grid(ix, iy, values, cell_m, bounds)
    n_buildings = inside if counts is None else np.where(inside, counts, 0)
    outside_total = float(values[~inside].sum())
    if outside_total > 0:
        n_outside = ~inside if counts is None else np.where(inside, 0, counts)
        log.warning(
            "%d buildings with %.1f %s lie outside bounds %s and are not in %s",
            int(n_outside.sum()),
            outside_total,
            total_unit,
            bounds,
            path,
        )

    tags = {
        "unit": unit,
        "quantity": quantity,
        "source": source
        or f"siting.raster from building column {column!r} (siting.demand.estimate, "
        "docs/model.md §6)",
        "attribution": attribution,
        "total": f"{total:.6f}",
        "total_unit": total_unit,
        "n_buildings": str(int(n_buildings.sum())),
        "cell_m": f"{cell_m:g}",
        "outside_bounds_total": f"{outside_total:.6f}",
        "AREA_OR_POINT": "Area",
    }
    return _write_atomic(Path(path), density, transform, target, unit, quantity, tags)


def density_grid(
    buildings: gpd.GeoDataFrame,
    cell_m: float = 100.0,
    crs: str | pyproj.CRS = "EPSG:3035",
    *,
    column: str = HEAT_COLUMN,
) -> tuple[np.ndarray, Affine, pyproj.CRS]:
    """The grid :func:`heat_density` writes, without writing it: the density per hectare
    (float32, north-up, empty cells 0), its transform and its CRS, as
    :func:`read_heat_density` would read them back from the file (as float64)."""
    target, _, (density, transform, _, _) = _buildings_grid(
        buildings, cell_m, crs, column, None, "there is no density grid"
    )
    return density, transform, target


def _buildings_grid(
    buildings: gpd.GeoDataFrame,
    cell_m: float,
    crs: str | pyproj.CRS,
    column: str,
    bounds: Bounds | None,
    what: str,
) -> tuple[pyproj.CRS, np.ndarray, tuple[np.ndarray, Affine, np.ndarray, float]]:
    """The grid's CRS, the buildings' values (> 0, with a cell) and `_density_grid` of
    them; `what` ends the error when no building has a value."""
    target, ix, iy, values = _buildings_cells(buildings, cell_m, crs, column)
    if bounds is None and len(values) == 0:
        raise InputDataError(f"no building has {column} > 0 with a valid geometry; {what}.")
    return target, values, _density_grid(ix, iy, values, cell_m, bounds)


def _buildings_cells(
    buildings: gpd.GeoDataFrame, cell_m: float, crs: str | pyproj.CRS, column: str
) -> tuple[pyproj.CRS, np.ndarray, np.ndarray, np.ndarray]:
    """The grid's CRS and each valued building's cell (ix, iy) and value (`cell_m` checked)."""
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise ConfigError(f"cell_m must be a positive number of metres, got {cell_m!r}.")
    target = _metric_target_crs(crs)
    values = _building_values(buildings, column, "densities must be >= 0")
    ix, iy, values = _cell_index(buildings, values, cell_m, target)
    return target, ix, iy, values


def _cell_index(
    buildings: gpd.GeoDataFrame, values: np.ndarray, cell_m: float, target: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid column, row (multiples of `cell_m` in `target`) and value of each building with
    a value > 0 and a geometry: the one binning rule of every grid siting writes or draws."""
    x, y = _centroids_in(buildings, target)
    return _bin(x, y, values, cell_m)


def _bin(
    x: np.ndarray, y: np.ndarray, values: np.ndarray, cell_m: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_cell_index` of centroids already in the grid's CRS."""
    keep = np.isfinite(x) & np.isfinite(y) & np.isfinite(values) & (values > 0)
    ix = np.floor(x[keep] / cell_m).astype(np.int64)
    iy = np.floor(y[keep] / cell_m).astype(np.int64)
    return ix, iy, values[keep]


def cell_sums(
    buildings: gpd.GeoDataFrame,
    cell_m: float = 100.0,
    crs: str | pyproj.CRS = "EPSG:3035",
    *,
    column: str = HEAT_COLUMN,
    centroids: tuple[np.ndarray, np.ndarray] | None = None,
) -> pd.DataFrame:
    """Per-cell totals of :func:`heat_density`'s binning, without writing a raster.

    A tiled study sums each core's buildings here and adds the tables up (cells split
    between cores add exactly), so the whole study's grid is built from a few numbers per
    cell instead of every building in one process.

    `centroids`: the buildings' :func:`centroid_xy`, when the caller has them already.

    Returns
    -------
    pandas.DataFrame
        ``ix``, ``iy`` (grid column, row: multiples of `cell_m` in `crs`), ``total`` (sum of
        `column`) and ``n`` (buildings with a value > 0), one row per non-empty cell.
    """
    values = _building_values(buildings, column, "densities must be >= 0")
    target = _metric_target_crs(crs)
    if centroids is None:
        ix, iy, values = _cell_index(buildings, values, cell_m, target)
    else:
        ix, iy, values = _bin(*_xy_in(*centroids, buildings.crs, target), values, cell_m)
    cells = pd.DataFrame({"ix": ix, "iy": iy, "total": values, "n": np.ones(len(ix), np.int64)})
    return cells.groupby(["ix", "iy"], sort=True, as_index=False).sum()


class CellSums:
    """Per-cell totals of :func:`heat_density`'s binning, added part by part.

    Each building is added to its cell's running total in the order given, as
    ``np.bincount`` adds them over one frame: once every part is in, the totals are
    bit for bit those of the concatenated parts, so the GeoTIFF
    (:func:`heat_density_from_cell_sums`) and the cells (:meth:`frame`) are the whole
    frame's, from one part in memory at a time.
    """

    def __init__(
        self,
        cell_m: float = 100.0,
        crs: str | pyproj.CRS = "EPSG:3035",
        *,
        column: str = HEAT_COLUMN,
    ) -> None:
        if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
            raise ConfigError(f"cell_m must be a positive number of metres, got {cell_m!r}.")
        self.cell_m = float(cell_m)
        self.crs = _metric_target_crs(crs)
        self.column = column
        self.key = np.empty(0, np.int64)  # one per cell with demand, sorted (_cell_key)
        self.total = np.empty(0, float)  # `column` summed, MWh/yr
        self.n = np.empty(0, np.int64)  # buildings with a value > 0

    @property
    def ix(self) -> np.ndarray:
        """Grid column of each cell (multiples of `cell_m` in `crs`)."""
        return self.key >> 32

    @property
    def iy(self) -> np.ndarray:
        """Grid row of each cell."""
        return (self.key & 0xFFFFFFFF) + _KEY_LOW

    def add(self, buildings: gpd.GeoDataFrame) -> None:
        """Add `buildings` (metric CRS, `column` in MWh/yr) to their cells' totals."""
        values = _building_values(buildings, self.column, "densities must be >= 0")
        self._add_cells(*_cell_index(buildings, values, self.cell_m, self.crs))

    def add_centroids(
        self, x: np.ndarray, y: np.ndarray, values: np.ndarray, crs: pyproj.CRS | str
    ) -> None:
        """Add buildings given by their centroids (:func:`centroid_xy`, in their metric
        `crs`) and their `column` values (MWh/yr): what :meth:`add` does with their
        polygons, without them (a tiled run keeps each part's centroids beside it)."""
        values = _checked_values(values, self.column, "densities must be >= 0")
        x, y = _xy_in(np.asarray(x, float), np.asarray(y, float), crs, self.crs)
        self._add_cells(*_bin(x, y, values, self.cell_m))

    def _add_cells(self, ix: np.ndarray, iy: np.ndarray, values: np.ndarray) -> None:
        if len(values) == 0:
            return
        keys, inverse = np.unique(
            np.concatenate([self.key, _cell_key(ix, iy)]), return_inverse=True
        )
        old, new = inverse[: len(self.key)], inverse[len(self.key) :]
        total = np.zeros(len(keys))
        total[old] = self.total
        np.add.at(total, new, values)  # unbuffered, in order: the running sum bincount makes
        n = np.zeros(len(keys), np.int64)
        n[old] = self.n
        np.add.at(n, new, 1)
        self.key, self.total, self.n = keys, total, n

    def __len__(self) -> int:
        return len(self.total)

    def frame(self) -> gpd.GeoDataFrame:
        """The cells as :func:`heat_density_cells` returns them for the concatenated parts."""
        return _cells_frame(self.ix, self.iy, self.total, self.n, self.cell_m, self.crs)


_KEY_LOW = -(2**31)


def _cell_key(ix: np.ndarray, iy: np.ndarray) -> np.ndarray:
    """One int64 per cell, ordered by column then row (the order of ``np.unique(axis=0)``)."""
    if len(ix) and (min(ix.min(), iy.min()) < _KEY_LOW or max(ix.max(), iy.max()) >= -_KEY_LOW):
        raise ConfigError(
            "the grid has more than 2**31 cells across; check the buildings' CRS or pass a "
            "larger cell_m."
        )
    return (ix << 32) + (iy - _KEY_LOW)


def heat_density_from_cell_sums(
    cells: CellSums,
    path: str | os.PathLike[str],
    *,
    bounds: Bounds | None = None,
    source: str | None = None,
    attribution: str = _FOOTER_OSM,
) -> Path:
    """Write the heat-density GeoTIFF of the buildings added to `cells`.

    The file :func:`heat_density` writes for all those buildings in one frame (same grid,
    values and tags), from per-cell totals (`cells.crs`, `cells.cell_m`).
    """
    return _write_binned(
        cells.ix,
        cells.iy,
        cells.total,
        cells.n,
        path,
        cells.cell_m,
        cells.crs,
        column=cells.column,
        **_HEAT_TAGS,
        bounds=bounds,
        source=source,
        attribution=attribution,
    )


def grid_from_cell_sums(cells: pd.DataFrame, cell_m: float = 100.0) -> tuple[np.ndarray, Affine]:
    """The density grid (MWh/ha/yr, float32, north-up) and transform :func:`heat_density`
    writes for the buildings whose :func:`cell_sums` are `cells` (summed over parts)."""
    if len(cells) == 0:
        raise InputDataError("no building has heat demand > 0; there is no heat-density grid.")
    cells = cells.groupby(["ix", "iy"], sort=True, as_index=False)[["total", "n"]].sum()
    density, transform, _, _ = _density_grid(
        cells["ix"].to_numpy(np.int64),
        cells["iy"].to_numpy(np.int64),
        cells["total"].to_numpy(float),
        cell_m,
    )
    return density, transform


def _density_grid(
    ix: np.ndarray,
    iy: np.ndarray,
    values: np.ndarray,
    cell_m: float,
    bounds: Bounds | None = None,
) -> tuple[np.ndarray, Affine, np.ndarray, float]:
    """`values` summed into the cells (ix, iy) as a north-up float32 grid per hectare, its
    transform, which values fall inside it, and their float64 total. The extent is `bounds`
    snapped outward to the grid, else the cells holding values: the one gridding of every
    density siting writes."""
    if bounds is not None:
        xmin, ymin, xmax, ymax = (float(b) for b in bounds)
        if not (xmax > xmin and ymax > ymin):
            raise ConfigError(f"bounds must be (xmin, ymin, xmax, ymax) with max > min: {bounds}")
        # Outward snap; the small tolerance keeps an exact multiple from growing a cell.
        c0, r0 = math.floor(xmin / cell_m + 1e-9), math.floor(ymin / cell_m + 1e-9)
        c1, r1 = math.ceil(xmax / cell_m - 1e-9) - 1, math.ceil(ymax / cell_m - 1e-9) - 1
    else:
        c0, c1, r0, r1 = int(ix.min()), int(ix.max()), int(iy.min()), int(iy.max())
    width, height = c1 - c0 + 1, r1 - r0 + 1
    if width * height > _MAX_CELLS:
        raise ConfigError(
            f"the raster would have {width} x {height} cells of {cell_m} m "
            f"(more than {_MAX_CELLS:,}); check the buildings' CRS or far-away outliers, or "
            "pass a larger cell_m or bounds=."
        )
    inside = (ix >= c0) & (ix <= c1) & (iy >= r0) & (iy <= r1)
    # Row 0 is the northern edge (north-up GeoTIFF), so rows count down from r1.
    flat = (r1 - iy[inside]) * width + (ix[inside] - c0)
    totals = np.bincount(flat, weights=values[inside], minlength=width * height)
    cell_ha = cell_m * cell_m / _M2_PER_HA
    density = (totals / cell_ha).reshape(height, width).astype(np.float32)
    transform = Affine(cell_m, 0.0, c0 * cell_m, 0.0, -cell_m, (r1 + 1) * cell_m)
    return density, transform, inside, float(totals.sum())


def heat_density_cells(
    buildings: gpd.GeoDataFrame,
    cell_m: float = 100.0,
    crs: str | pyproj.CRS | None = "EPSG:3035",
    *,
    column: str = HEAT_COLUMN,
) -> gpd.GeoDataFrame:
    """The non-empty cells :func:`heat_density` writes, as square polygons in `crs`.

    Same binning (building centroid, then floor division by `cell_m` in `crs`), so a map
    drawn from these cells shows exactly the GeoTIFF's cells and values.

    Parameters
    ----------
    buildings
        Buildings in a projected metric CRS with `column` (annual heat demand, MWh/yr).
    cell_m
        Cell edge in metres of `crs`.
    crs
        Grid CRS, projected in metres (default EPSG:3035, as the GeoTIFF); None: the
        buildings' own CRS.
    column
        Annual heat demand per building, MWh/yr; NaN and 0 count as no demand.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cell with demand, sorted by column then row, in `crs`:
        ``heat_demand_mwh_per_yr`` (cell total), ``heat_density_mwh_per_ha_per_yr`` and
        ``n_buildings``.
    """
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise ConfigError(f"cell_m must be a positive number of metres, got {cell_m!r}.")
    values = _building_values(buildings, column, "demand must be >= 0 MWh/yr")
    target = _metric_target_crs(buildings.crs if crs is None else crs)
    ix, iy, values = _cell_index(buildings, values, cell_m, target)
    if len(values) == 0:
        return _cells_frame(ix, iy, values, ix, cell_m, target)
    cells, inverse = np.unique(np.column_stack([ix, iy]), axis=0, return_inverse=True)
    inverse = inverse.ravel()
    totals = np.bincount(inverse, weights=values, minlength=len(cells))
    counts = np.bincount(inverse, minlength=len(cells)).astype(np.int64)
    return _cells_frame(cells[:, 0], cells[:, 1], totals, counts, cell_m, target)


def _cells_frame(
    ix: np.ndarray,
    iy: np.ndarray,
    totals: np.ndarray,
    counts: np.ndarray,
    cell_m: float,
    crs: pyproj.CRS,
) -> gpd.GeoDataFrame:
    """Cells (ix, iy) with their totals as square polygons: :func:`heat_density_cells`."""
    if len(totals) == 0:
        columns = {
            HEAT_COLUMN: pd.Series(dtype=float),
            HEAT_DENSITY_COLUMN: pd.Series(dtype=float),
            "n_buildings": pd.Series(dtype=np.int64),
        }
        return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    x0, y0 = ix * cell_m, iy * cell_m
    return gpd.GeoDataFrame(
        {
            HEAT_COLUMN: totals,
            HEAT_DENSITY_COLUMN: totals / (cell_m * cell_m / _M2_PER_HA),
            "n_buildings": counts,
        },
        geometry=shapely.box(x0, y0, x0 + cell_m, y0 + cell_m),
        crs=crs,
    )


def _write_atomic(
    path: Path,
    array: np.ndarray,
    transform: Affine,
    crs: pyproj.CRS,
    unit: str,
    quantity: str,
    tags: dict[str, str],
) -> Path:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputDataError(f"cannot write {path}: folder {folder} does not exist; create it.")
    height, width = array.shape
    profile = {
        "driver": "GTiff",
        "dtype": "float32",
        "count": 1,
        "width": width,
        "height": height,
        "crs": rasterio.crs.CRS.from_wkt(crs.to_wkt()),
        "transform": transform,
    }
    # Same folder so os.replace is an atomic rename: readers never see a half-written file.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        with rasterio.MemoryFile() as mem, mem.open(**profile) as src:
            src.write(array, 1)
            # Overviews average the density with empty cells as 0 (set as nodata only after),
            # so a coarser cell shows its true mean MWh/ha, the total over its area.
            src.build_overviews(_overview_factors(width, height), Resampling.average)
            src.nodata = 0.0
            src.update_tags(**tags)
            src.update_tags(1, unit=unit)
            src.set_band_description(1, f"{quantity} ({unit})")
            src.units = (unit,)
            _copy_cog(src, tmp_name)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; a map layer is for sharing
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _overview_factors(width: int, height: int) -> list[int]:
    """2, 4, 8, ... down to a 2-cell overview (at least one level, even on a small grid)."""
    factors, f = [2], 4
    while max(width, height) / f >= 2:
        factors.append(f)
        f *= 2
    return factors


def _copy_cog(src: rasterio.io.DatasetWriter, dst: str) -> None:
    """Copy `src` (with its overviews) to `dst` as a Cloud-Optimized GeoTIFF.

    GDAL's COG driver where the installed GDAL has it (3.1+), else a tiled GeoTIFF with
    the overviews copied in front of the data (COPY_SRC_OVERVIEWS: the COG layout).
    Float32, deflate with the floating-point predictor, 256 x 256 tiles.
    """
    with rasterio.Env() as env:
        has_cog = "COG" in env.drivers()
    if has_cog:
        rasterio.shutil.copy(
            src,
            dst,
            driver="COG",
            BLOCKSIZE=256,
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            OVERVIEWS="FORCE_USE_EXISTING",
        )
    else:  # pragma: no cover - GDAL before 3.1
        rasterio.shutil.copy(
            src,
            dst,
            driver="GTiff",
            TILED="YES",
            BLOCKXSIZE=256,
            BLOCKYSIZE=256,
            COMPRESS="DEFLATE",
            PREDICTOR=3,
            COPY_SRC_OVERVIEWS="YES",
        )


# --------------------------------------------------------------------------- reading


def read_heat_density(
    path: str | os.PathLike[str], *, band: int = 1, default_unit: str = HEAT_UNIT
) -> tuple[np.ndarray, Affine, pyproj.CRS, str]:
    """Read a heat (or floor-area) density GeoTIFF.

    Parameters
    ----------
    path
        GeoTIFF (or any raster GDAL reads) in a projected metric CRS.
    band
        Band to read.
    default_unit
        Unit assumed when the file does not say (Hotmaps files carry no unit tag; their heat
        layers are MWh/ha/yr, floor-area layers m2/ha).

    Returns
    -------
    array : numpy.ndarray
        float64, nodata and NaN set to 0 (so sums are totals).
    transform : affine.Affine
    crs : pyproj.CRS
    unit : str
        From the band units, band ``unit`` tag or file ``unit`` tag, else ``default_unit``.
    """
    path = Path(path)
    if not path.exists():
        raise InputDataError(f"heat-density raster {path} does not exist; check the path.")
    try:
        with warnings.catch_warnings():
            # We check georeferencing ourselves and say what to do about it.
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                if not 1 <= band <= src.count:
                    raise InputDataError(f"{path} has {src.count} band(s); band={band} is absent.")
                array = src.read(band).astype(np.float64)
                nodata = src.nodatavals[band - 1]
                transform = src.transform
                rcrs = src.crs
                unit = (
                    (src.units[band - 1] if src.units else None)
                    or src.tags(band).get("unit")
                    or src.tags().get("unit")
                )
    except RasterioIOError as exc:
        raise InputDataError(
            f"{path} is not a raster GDAL can read ({exc}); give a GeoTIFF such as the Hotmaps "
            "heat_tot_curr_density layer."
        ) from exc
    if rcrs is None:
        raise CRSError(
            f"{path} has no CRS, so its cells cannot be placed; set it, e.g. "
            "`gdal_edit.py -a_srs EPSG:3035 file.tif` (Hotmaps layers are EPSG:3035)."
        )
    crs = pyproj.CRS.from_user_input(rcrs.to_wkt())
    if not crs.is_projected or transform.is_identity:
        raise CRSError(
            f"{path} is in {crs.name} without a metric grid; a density per hectare needs a "
            "projected CRS in metres (warp it, e.g. `gdalwarp -t_srs EPSG:3035`)."
        )
    if transform.b != 0 or transform.d != 0:
        raise InputDataError(f"{path} has a rotated grid; warp it north-up with gdalwarp first.")
    if nodata is not None:
        array[array == nodata] = 0.0
    array[~np.isfinite(array)] = 0.0
    n_neg = int((array < 0).sum())
    if n_neg:
        raise InputDataError(
            f"{path} has {n_neg} negative cells; a density is >= 0. If they mean 'no data', "
            "set the nodata value (gdal_edit.py -a_nodata <value>)."
        )
    return array, transform, crs, str(unit or default_unit)


def cell_totals(
    raster_path: str | os.PathLike[str],
    area_polygon: shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame | None = None,
    crs: str | pyproj.CRS | None = None,
    *,
    default_unit: str = HEAT_UNIT,
) -> gpd.GeoDataFrame:
    """Non-empty raster cells as polygons with their annual totals.

    For network-level demand where building footprints are missing: the totals of the cells
    in an area are its demand.

    Parameters
    ----------
    raster_path
        Heat (MWh/ha/yr) or floor-area (m2/ha) density raster.
    area_polygon
        Keep only cells whose centre lies in it. Centres, not overlaps: a cell is never split
        (its demand is not spread evenly inside), and adjacent areas never count it twice.
        A GeoSeries/GeoDataFrame carries its CRS; a bare geometry is in ``crs`` (or the
        raster's CRS when ``crs`` is None).
    crs
        CRS of the result (default: the raster's).
    default_unit
        Unit when the file carries none (pass ``"m2/ha"`` for an untagged floor-area layer).

    Returns
    -------
    geopandas.GeoDataFrame
        ``row``, ``col``, the density (``heat_density_mwh_per_ha_per_yr`` or
        ``floor_area_density_m2_per_ha``) and the cell total (``heat_demand_mwh_per_yr`` or
        ``floor_area_m2``); ``attrs`` hold ``unit``, ``total``, ``raster``.
    """
    array, transform, rcrs, unit = read_heat_density(raster_path, default_unit=default_unit)
    density_col, total_col = _column_names(unit, raster_path)
    rows, cols = np.nonzero(array)
    cx, cy = _xy(transform, cols + 0.5, rows + 0.5)
    if area_polygon is not None:
        poly = _area_in(area_polygon, crs, rcrs)
        inside = shapely.contains_xy(poly, cx, cy)
        rows, cols, cx, cy = rows[inside], cols[inside], cx[inside], cy[inside]
    x0, y0 = _xy(transform, cols, rows + 1)
    x1, y1 = _xy(transform, cols + 1, rows)
    values = array[rows, cols]
    cell_ha = abs(transform.a * transform.e) / _M2_PER_HA
    out = gpd.GeoDataFrame(
        {
            "row": rows.astype(np.int64),
            "col": cols.astype(np.int64),
            density_col: values,
            total_col: values * cell_ha,
        },
        geometry=shapely.box(x0, y0, x1, y1),
        crs=rcrs,
    )
    if crs is not None:
        out = out.to_crs(crs)
    out.attrs.update(unit=unit, total=float(out[total_col].sum()), raster=str(raster_path))
    return out


def allocate_to_buildings(
    buildings: gpd.GeoDataFrame,
    raster_path: str | os.PathLike[str],
    *,
    weight_column: str = FLOOR_AREA_COLUMN,
    column: str = HEAT_COLUMN,
) -> gpd.GeoDataFrame:
    """Share each cell's annual heat demand among the buildings whose centroid lies in it.

    Use it when a measured or modelled raster (Hotmaps, a municipal heat atlas) is more
    trustworthy than estimates from footprints but routing needs buildings.

    Parameters
    ----------
    buildings
        Buildings in a projected metric CRS; ``weight_column`` (default gross floor area
        from :func:`siting.demand.estimate`) sets the shares, the footprint area when absent.
        In a cell whose buildings all have weight 0, they share equally.
    raster_path
        Heat-density raster, MWh/ha/yr.
    weight_column, column
        Share weights; output column (MWh/yr). When it is ``heat_demand_mwh_per_yr`` an existing
        ``peak_heat_mw`` is recomputed from it and ``source`` gets ``;heat:raster``.

    Returns
    -------
    geopandas.GeoDataFrame
        A copy with ``column`` set (0 outside the raster and in empty cells). ``attrs``:
        ``allocated_mwh_per_yr``, ``unallocated_mwh_per_yr`` and ``unallocated_cells`` (cells
        with demand but no building), ``buildings_outside_raster``, ``raster``.
    """
    require_metric(buildings, "buildings")
    array, transform, rcrs, unit = read_heat_density(raster_path)
    _column_names(unit, raster_path, expect_heat=True)
    height, width = array.shape
    cell_ha = abs(transform.a * transform.e) / _M2_PER_HA
    cell_mwh = (array * cell_ha).ravel()

    x, y = _centroids_in(buildings, rcrs)
    fcol, frow = _xy(~transform, x, y)
    with np.errstate(invalid="ignore"):
        col = np.floor(fcol).astype(np.int64, copy=False)
        row = np.floor(frow).astype(np.int64, copy=False)
    inside = (np.isfinite(fcol) & np.isfinite(frow) & (col >= 0) & (col < width) & (row >= 0)) & (
        row < height
    )
    flat = np.where(inside, row * width + col, 0)

    if weight_column in buildings.columns:
        weight = pd.to_numeric(buildings[weight_column], errors="coerce").to_numpy(dtype=float)
    else:
        log.info("no %s column: sharing cell demand by footprint area", weight_column)
        weight = np.asarray(buildings.geometry.area, dtype=float)
    weight = np.where(np.isfinite(weight) & (weight > 0) & inside, weight, 0.0)

    n_cells = height * width
    weight_sum = np.bincount(flat[inside], weights=weight[inside], minlength=n_cells)
    count = np.bincount(flat[inside], minlength=n_cells)
    # Cells whose buildings all weigh 0 (points, missing floor area) share equally: the cell's
    # demand is real and must land somewhere rather than vanish.
    equal = weight_sum[flat] == 0
    share = np.where(
        equal, 1.0 / np.maximum(count[flat], 1), weight / np.where(equal, 1, weight_sum[flat])
    )
    demand = np.where(inside, cell_mwh[flat] * share, 0.0)

    orphan = (cell_mwh > 0) & (count == 0)
    out = buildings.copy()
    out[column] = demand
    if column == HEAT_COLUMN:
        if "peak_heat_mw" in out.columns:
            out["peak_heat_mw"] = demand / FULL_LOAD_HOURS_H
        if "source" in out.columns:
            out["source"] = out["source"].astype(object) + ";heat:raster"
    out.attrs.update(
        allocated_mwh_per_yr=float(demand.sum()),
        unallocated_mwh_per_yr=float(cell_mwh[orphan].sum()),
        unallocated_cells=int(orphan.sum()),
        buildings_outside_raster=int((~inside).sum()),
        raster=str(raster_path),
    )
    return out


# --------------------------------------------------------------------------- helpers


def _building_values(buildings: gpd.GeoDataFrame, column: str, rule: str) -> np.ndarray:
    """`buildings[column]` as floats, checked: metric CRS, the column there, none negative."""
    require_metric(buildings, "buildings")
    if column not in buildings.columns:
        raise InputDataError(
            f"buildings have no column {column!r}; run siting.demand.estimate(buildings) first "
            "or pass column= the name of your values."
        )
    return _checked_values(buildings[column], column, rule)


def _checked_values(values: pd.Series | np.ndarray, column: str, rule: str) -> np.ndarray:
    """Buildings' `column` values as floats (not numbers: NaN), none negative."""
    values = pd.to_numeric(pd.Series(values, copy=False), errors="coerce").to_numpy(dtype=float)
    if np.any(values < 0):
        raise InputDataError(
            f"buildings.{column} has {int(np.sum(values < 0))} negative value(s); {rule}."
        )
    return values


def _xy(t: Affine, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply an affine transform to arrays (spelled out: affine's `*` on tuples is deprecated)."""
    return t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f


def _metric_target_crs(crs: str | pyproj.CRS) -> pyproj.CRS:
    try:
        target = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"raster crs {crs!r} is not a CRS pyproj knows: {exc}") from exc
    units = {a.unit_name for a in target.axis_info}
    if not target.is_projected or not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"raster crs {crs!r} is not a projected CRS in metres; cells must be in metres "
            "(EPSG:3035 for EU rasters, or the study's UTM zone)."
        )
    return target


def _centroids_in(gdf: gpd.GeoDataFrame, target: pyproj.CRS) -> tuple[np.ndarray, np.ndarray]:
    """Centroid x, y of every row in `target` (NaN for missing or empty geometry)."""
    # Centroids in the metric source CRS first: a centroid taken after reprojection would be
    # of a slightly distorted polygon, and points are much cheaper to reproject than polygons.
    x, y = centroid_xy(np.asarray(gdf.geometry.values, dtype=object))
    return _xy_in(x, y, gdf.crs, target)


def _xy_in(
    x: np.ndarray, y: np.ndarray, crs: pyproj.CRS | str, target: pyproj.CRS
) -> tuple[np.ndarray, np.ndarray]:
    """Points x, y of `crs` in `target` (NaN where they cannot be projected)."""
    src = pyproj.CRS.from_user_input(crs)
    if not src.equals(target):
        transformer = pyproj.Transformer.from_crs(src, target, always_xy=True)
        x, y = transformer.transform(x, y)
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        # pyproj returns inf for points it cannot project
        bad = ~(np.isfinite(x) & np.isfinite(y))
        x[bad], y[bad] = np.nan, np.nan
    return x, y


CENTROID_CHUNK_ROWS = 100_000  # centroids made (as shapely Points) at a time


def centroid_xy(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """x and y of each geometry's centroid (NaN for missing or empty ones).

    The centroids are made `CENTROID_CHUNK_ROWS` at a time: a Point per building at once is
    ~150 bytes each, hundreds of MB for a country.
    """
    x, y = np.empty(len(geoms)), np.empty(len(geoms))
    for start in range(0, len(geoms), CENTROID_CHUNK_ROWS):
        part = slice(start, start + CENTROID_CHUNK_ROWS)
        cent = shapely.centroid(geoms[part])
        x[part], y[part] = shapely.get_x(cent), shapely.get_y(cent)
    return x, y


def _area_in(
    area: shapely.Geometry | gpd.GeoSeries | gpd.GeoDataFrame,
    crs: str | pyproj.CRS | None,
    target: pyproj.CRS,
) -> shapely.Geometry:
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        if area.crs is None:
            raise CRSError("area_polygon has no CRS; set it with .set_crs(...).")
        series = area.geometry if isinstance(area, gpd.GeoDataFrame) else area
        return series.to_crs(target).union_all()
    if not isinstance(area, shapely.Geometry):
        raise InputDataError(
            f"area_polygon must be a shapely geometry or GeoSeries, got {type(area).__name__}."
        )
    if crs is not None:
        return gpd.GeoSeries([area], crs=crs).to_crs(target).iloc[0]
    return area


def _column_names(
    unit: str, path: str | os.PathLike[str], expect_heat: bool = False
) -> tuple[str, str]:
    """(density column, cell-total column) for a raster unit."""
    key = unit.strip().lower().replace(" ", "")
    if key in {u.replace(" ", "") for u in _HEAT_UNITS}:
        return HEAT_DENSITY_COLUMN, HEAT_COLUMN
    if key in {u.replace(" ", "") for u in _AREA_UNITS} and not expect_heat:
        return FLOOR_AREA_DENSITY_COLUMN, FLOOR_AREA_COLUMN
    want = HEAT_UNIT if expect_heat else f"{HEAT_UNIT} or {FLOOR_AREA_UNIT}"
    raise InputDataError(
        f"{path} is in {unit!r}; expected {want}. Convert it (e.g. GWh/km2 x 10 = MWh/ha) or "
        "tag the band unit."
    )
