"""Regional studies: partition a study into tiles and run them as Dask tasks.

A tile is a *core* polygon (grid cell, supply area, municipality) and a *buffer* around it
(`overlap_m`). Each candidate site belongs to exactly one tile, the one whose core holds its
representative point (sites outside every core go to the nearest core); the tile's study
sees every street, building and pipe intersecting its buffer, so a route or local network
that starts in the core is not cut as long as it stays within `overlap_m`.

Two passes over the tiles, then a third for the few sites that need it:

1. Each core is read with `PREPARE_MARGIN_M` around it. Its buildings are estimated once
   (against their neighbours within `DEMAND_CONTEXT_M`) and written to
   `workdir/demand/`; it returns its candidate features, its buildings' heat per 100 m
   cell of the Hotmaps grid (`siting.raster.cell_sums`), its share of the demand near the
   extract's pipes, and a hull.
2. The client turns those summaries into the whole study's facts: the candidate sites
   (de-duplicated and capped once, as `generate_sites` does on the whole area), the DH
   areas (found once on the summed grid: a tile's buildings would cut an area at its
   edge), whether any site matched a registry network, the network's demand near its
   pipes, the hull (sites outside it are flagged "outside the study area"). Each tile's
   study then runs on its core and `overlap_m` around it, reading the first pass's
   estimated buildings instead of estimating them again.
3. Exactness. What a site's result depends on lies within a radius of it (a route of
   cost C cannot be bettered by a path longer than C / the cheapest street multiplier,
   plus the snap at its ends; a local network looks `local_search_radius_m` around; a
   cable of `grid_distance_m` lies within that distance; a site that found no route or no
   substation needs the full :func:`default_overlap_m`). A site whose radius reaches past
   its tile's buffer runs again, in its tile, with the overlap it needs; the merged
   ranking is then the single run's. Grid tiles default to a small overlap
   (:func:`tile_overlap_m`, 2 km): routes to DH areas and registry networks are short, so
   few sites run again. Sites that would need more than the full overlap are listed in
   `results.unverified_sites` and in the notes.

Tile results are written to `workdir/tiles/<tile_id>-<key>/` where the key hashes the tile
geometry and overlap, the study configuration, the whole-area quantities and the input's
SHA-256; a re-run reads finished tiles from there and runs only the others. A tile that
fails is reported with its id and error; the other tiles' results are kept.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import logging
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from siting import pipes, stages
from siting.area import Area, convex_hull, metric_crs, reproject
from siting.building_parts import BuildingParts, write_centroids
from siting.cache import file_sha256
from siting.config import Params, Study
from siting.errors import ConfigError, InputDataError, SitingError
from siting.networks.areas import dh_areas_from_cell_sums
from siting.outputs import clean_tmp_dirs
from siting.pipeline import as_study, run_single, served_demand_mwh
from siting.ranking import RANKING_BASIS_START, ranking_basis
from siting.raster import cell_sums, centroid_xy
from siting.results import Results
from siting.routing import ACCESS_MULTIPLIER
from siting.sources.network import network_from_osm, read_network
from siting.sources.osm import WGS84, OsmData
from siting.sources.sites import (
    candidate_table,
    exclusion_zones,
    finalize_candidates,
    read_sites,
)
from siting.sources.stream import LAYERS as STORE_LAYERS
from siting.sources.stream import (
    ROW_COLUMN,
    clip_to_parquet,
    is_parquet_store,
    read_layer_coordinates,
    read_osm_parquet,
    store_meta,
)
from siting.stages.inputs import load_registry

log = logging.getLogger(__name__)

TILE_FORMAT = 1
SNAP_TOLERANCE_M = 50.0  # the lon/lat buffer used to read a tile differs from the metric one
MIN_TILE_SIDE_M = 1_000.0  # smallest useful grid tile (see max_grid_tiles)
CONNECT_TIMEOUT_S = 5.0  # a scheduler that does not answer within this is reported
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "inproc")
TILE_TMP_PREFIX = ".siting-tmp-tile-"
# The first pass reads each core and this much around it, not the whole overlap: a building's
# demand estimate looks at its neighbours within 200 m (siting.demand: 100 m for the class,
# 200 m for the levels), candidates are the core's own features, and every feature meets
# some core of a grid, so the hull of what the tiles read is the whole extract's.
DEMAND_CONTEXT_M = 500.0
PREPARE_MARGIN_M = DEMAND_CONTEXT_M
FIRST_OVERLAP_M = 2_000.0  # grid tiles' default overlap (tile_overlap_m)
TILE_INPUT_MB = 40.0  # extract (PBF) per tile by default (default_tile_count)
STORE_PER_PBF = 3.5  # a GeoParquet store's size for 1 MB of PBF (the 64-copy country: 431/123)


# --------------------------------------------------------------------------- partitioning


def tile_overlap_m(params: Params | None = None) -> float:
    """The overlap grid tiles get by default: `FIRST_OVERLAP_M`, at most the full one.

    Most routes are far shorter than the longest feasible one (tens to hundreds of metres
    to a DH area or a registry network's streets), so the tiles run with this small overlap
    and only the sites whose result could reach beyond it run again with the overlap they
    need (see :func:`run_tiled`): the tiled ranking stays the single run's.
    """
    return min(FIRST_OVERLAP_M, default_overlap_m(params))


def default_overlap_m(params: Params | None = None) -> float:
    """Overlap that keeps every feasible route and local network inside its tile.

    `max(max_route_length_m, local_search_radius_m) + max_snap_distance_m` (20.5 km with the
    defaults): a route is at most `max_route_length_m` long (longer ones are infeasible) and
    its ends snap to streets up to `max_snap_distance_m` away. Lower `max_route_length_m`
    (or pass `overlap_m`) for smaller tiles; shorter overlaps are checked per site.
    """
    p = params or Params()
    return max(p.max_route_length_m, p.local_search_radius_m) + p.max_snap_distance_m


def _bounds_of_pbf(path: Path) -> shapely.Geometry:
    import osmium

    box = osmium.io.Reader(str(path), osmium.osm.NOTHING).header().box()
    if box.valid():
        bl, tr = box.bottom_left, box.top_right
        return shapely.box(bl.lon, bl.lat, tr.lon, tr.lat)
    x0 = y0 = math.inf
    x1 = y1 = -math.inf
    for node in osmium.FileProcessor(str(path), osmium.osm.NODE):
        loc = node.location
        if loc.valid():
            x0, y0 = min(x0, loc.lon), min(y0, loc.lat)
            x1, y1 = max(x1, loc.lon), max(y1, loc.lat)
    if not math.isfinite(x0):
        raise InputDataError(f"{path} has no nodes with locations; is it an OSM extract?")
    return shapely.box(x0, y0, x1, y1)


def area_geometry(area: Any) -> gpd.GeoSeries:
    """One area polygon from a Study, an extract path, a GeoParquet store, OsmData, a
    (min_lon, min_lat, max_lon, max_lat) box, a shapely geometry (lon/lat) or a GeoDataFrame.
    """
    if isinstance(area, Study):
        if area.osm_path is None:
            raise InputDataError("the study has no osm_path to make tiles from.")
        area = area.osm_path
    if isinstance(area, str | Path):
        path = Path(area).expanduser()
        if is_parquet_store(path):
            geom = shapely.box(*store_meta(path)["bounds"])
        else:
            geom = _bounds_of_pbf(path)
        return gpd.GeoSeries([geom], crs=WGS84)
    if isinstance(area, OsmData):
        parts = [g.total_bounds for g in (area.streets, area.buildings) if len(g)]
        b = np.array(parts)
        return gpd.GeoSeries(
            [shapely.box(b[:, 0].min(), b[:, 1].min(), b[:, 2].max(), b[:, 3].max())],
            crs=area.streets.crs or WGS84,
        )
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        return gpd.GeoSeries([shapely.union_all(np.asarray(area.geometry.values))], crs=area.crs)
    if isinstance(area, shapely.Geometry):
        return gpd.GeoSeries([area], crs=WGS84)
    return gpd.GeoSeries([shapely.box(*map(float, area))], crs=WGS84)


def _grid_shape(n: int, width: float, height: float) -> tuple[int, int]:
    """(rows, cols) with rows*cols == n and cells as square as possible."""
    best = (n, 1)
    best_err = math.inf
    for rows in range(1, n + 1):
        if n % rows:
            continue
        cols = n // rows
        err = abs(math.log(max(width / cols, 1e-9) / max(height / rows, 1e-9)))
        if err < best_err:
            best, best_err = (rows, cols), err
    return best


def make_tiles(
    area_or_bounds: Any,
    n: int | None = None,
    polygons: gpd.GeoDataFrame | None = None,
    grid_m: float | None = None,
    overlap_m: float | None = None,
    params: Params | None = None,
    crs: str | pyproj.CRS | None = None,
    id_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Split an area into study tiles: `n` grid cells, square cells of `grid_m`, or `polygons`.

    Parameters
    ----------
    area_or_bounds : what to cover (see :func:`area_geometry`).
    n : number of grid tiles (rows × cols = n, cells as square as possible).
    polygons : a polygon layer (supply areas, municipalities): one tile per row, ids from
        `id_column` (else a `tile_id` or `name` column, else the row number).
    grid_m : square grid cells of this size in metres.
    overlap_m : buffer around each core; default :func:`tile_overlap_m` of `params` (sites
        needing more run again with more; see :func:`run_tiled`).
    crs : metric CRS of the tiles; default the study default (`siting.area.metric_crs`).

    Returns
    -------
    GeoDataFrame (metric CRS) with `tile_id`, `overlap_m` and the core polygon as geometry.
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1):
        raise ConfigError(
            f"the number of tiles must be a whole number of 1 or more, got {n!r}; use e.g. "
            "--tiles 4 (or a polygon file, one tile per polygon)."
        )
    area = area_geometry(area_or_bounds)
    target = metric_crs(area, crs)
    area_m = area.to_crs(target)
    shape = area_m.iloc[0]
    if n is not None and polygons is None and grid_m is None:
        limit, why = max_grid_tiles(shape, area_or_bounds)
        if n > limit:
            raise ConfigError(
                f"{n} tiles are more than this study can use: {why}; "
                + (
                    f"use at most {limit} tiles (a few per worker are enough)."
                    if limit > 1
                    else "run it as one study (without tiles)."
                )
            )
    overlap = float(tile_overlap_m(params) if overlap_m is None else overlap_m)
    if overlap < 0:
        raise ValueError(f"overlap_m must be >= 0, got {overlap}")
    if polygons is not None:
        if polygons.crs is None:
            raise InputDataError("the tile polygons have no CRS; set one (gdf.set_crs(...)).")
        poly = polygons.to_crs(target).reset_index(drop=True)
        col = id_column or next((c for c in ("tile_id", "name") if c in poly.columns), None)
        ids = poly[col].astype(str) if col else pd.Series([f"t{i}" for i in range(len(poly))])
        if ids.duplicated().any():
            raise InputDataError(f"tile ids in {col!r} must be unique; {ids[ids.duplicated()]}")
        cores = list(poly.geometry.values)
    else:
        x0, y0, x1, y1 = shape.bounds
        w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
        if grid_m is not None:
            cols, rows = max(1, math.ceil(w / grid_m)), max(1, math.ceil(h / grid_m))
            cw = ch = float(grid_m)
        else:
            rows, cols = _grid_shape(int(n or 1), w, h)
            cw, ch = w / cols, h / rows
        cores, ids = [], []
        for r in range(rows):
            for c in range(cols):
                cell = shapely.box(x0 + c * cw, y0 + r * ch, x0 + (c + 1) * cw, y0 + (r + 1) * ch)
                if grid_m is not None and not cell.intersects(shape):
                    continue
                cores.append(cell)
                ids.append(f"r{r}c{c}")
        ids = pd.Series(ids)
    return gpd.GeoDataFrame(
        {"tile_id": ids.to_numpy(), "overlap_m": overlap}, geometry=cores, crs=target
    )


def max_grid_tiles(area_m: shapely.Geometry, study: Any = None) -> tuple[int, str]:
    """How many grid tiles an area (metric polygon) and a study's sites can use, and why.

    A tile's core should be at least `MIN_TILE_SIDE_M` on a side (routes run for
    kilometres; smaller cores only repeat their neighbours' work), and a tile without a
    candidate site does no work: the sites file's feature count, else
    `max_generated_sites`, bounds the number too.
    """
    x0, y0, x1, y1 = area_m.bounds
    w_m, h_m = x1 - x0, y1 - y0
    by_area = max(1, int(w_m // MIN_TILE_SIDE_M)) * max(1, int(h_m // MIN_TILE_SIDE_M))
    why = (
        f"the {w_m / 1000:.1f} km × {h_m / 1000:.1f} km area holds at most {by_area} tile"
        f"{'s' * (by_area > 1)} of {MIN_TILE_SIDE_M / 1000:g} km × {MIN_TILE_SIDE_M / 1000:g} km"
    )
    limit = by_area
    if isinstance(study, Study):
        n_sites, source = study.max_generated_sites, "sites generated from OSM (at most)"
        if study.sites_path is not None:
            try:
                import pyogrio

                n_sites = int(pyogrio.read_info(study.sites_path)["features"])
                source = f"sites in {study.sites_path}"
            except Exception:  # the study's own read reports a bad file
                n_sites = limit
        if 0 < n_sites < limit:
            limit = n_sites
            why += f", and there are {n_sites} {source}"
    return limit, why


def default_tile_count(study: Study, n: int = 4) -> int:
    """`n` grid tiles, more for a large extract, fewer when the area and sites cannot use them.

    A tile's worker holds the tile's buildings and streets while it runs: with at most
    `TILE_INPUT_MB` of extract (PBF) per tile, each worker stays near 1.5 GB (measured on
    the 64-copy synthetic country, 123 MB in 4 tiles; `benchmarks/country.py`). Larger
    extracts get the next square number of tiles that keeps to it. Fewer, larger tiles
    repeat less work at their edges (the 64-copy country: 4 tiles 1.2x the single run's
    time, 16 tiles 1.5x).
    """
    need = math.ceil(_extract_mb(study.osm_path) / TILE_INPUT_MB) if study.osm_path else 0
    if need > n:
        n = math.isqrt(need - 1) + 1
        n *= n
    area = area_geometry(study)
    crs = metric_crs(area, study.crs)
    return max(1, min(n, max_grid_tiles(area.to_crs(crs).iloc[0], study)[0]))


def _extract_mb(path: str | Path) -> float:
    """The size of an extract in MB of PBF (a GeoParquet store's files count
    `STORE_PER_PBF` times as much)."""
    path = Path(path).expanduser()
    if is_parquet_store(path):
        size = sum(f.stat().st_size for f in path.rglob("*.parquet"))
        return size / 1e6 / STORE_PER_PBF
    return path.stat().st_size / 1e6 if path.is_file() else 0.0


def assign_tiles(points: gpd.GeoSeries, tiles: gpd.GeoDataFrame) -> np.ndarray:
    """Tile id of each point: the first core containing it, else the nearest core."""
    pts = points.to_crs(tiles.crs).values
    out = np.full(len(pts), -1, dtype=np.int64)
    pi, ti = tiles.sindex.query(pts, predicate="intersects")
    order = np.lexsort([ti, pi])
    pi, ti = pi[order], ti[order]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.zeros(0, dtype=bool)
    out[pi[first]] = ti[first]
    missing = np.flatnonzero(out < 0)
    if len(missing):
        mi, mt = tiles.sindex.nearest(pts[missing], return_all=False)
        out[missing[mi]] = mt
    return tiles["tile_id"].to_numpy()[out]


def _buffer_lonlat(buffer: shapely.Geometry, crs: pyproj.CRS) -> shapely.Geometry:
    dense = shapely.segmentize(buffer, 100.0)
    return gpd.GeoSeries([dense], crs=crs).to_crs(WGS84).iloc[0]


# --------------------------------------------------------------------------- results


@dataclass
class TiledResults(Results):
    """:class:`~siting.study.Results` of a tiled run, plus how each tile went.

    `tiles` (one row per tile: status "done"/"cached"/"failed"/"empty", sites, seconds,
    error), `failed_tiles` (tile id, error, the site ids that have no result), and
    `unverified_sites` (routes the overlap could not prove uncut).

    The buildings stay in the first pass's files under the workdir (`building_parts`,
    one per tile core, every core's): `to_files`, `map` and the report write them tile by
    tile, `n_buildings` counts them from the files' metadata, and `buildings` reads them
    all into one frame only when asked.
    """

    tiles: gpd.GeoDataFrame | None = None
    failed_tiles: list[dict] = field(default_factory=list)
    unverified_sites: list[str] = field(default_factory=list)
    building_parts: BuildingParts | None = None

    @property  # Results' dataclass field, read lazily here
    def buildings(self) -> gpd.GeoDataFrame:
        """Every building of the study in one frame, read from the first pass's files on first
        use and kept: this loads them all (several GB for a country); the result files,
        the map and `n_buildings` do not need it. Once read, the result files are written
        from this frame (with any change made to it), as a single run's are."""
        if self._buildings is None:
            if self.building_parts is None:
                crs = self.sites.crs
                return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs), crs=crs)
            self._buildings = self.building_parts.read()
        return self._buildings

    @buildings.setter
    def buildings(self, value: gpd.GeoDataFrame | None) -> None:
        # the dataclass __init__ sets it: None keeps the buildings on disk until read
        self._buildings = value

    def _building_parts(self) -> BuildingParts | None:
        return self.building_parts if self._buildings is None else None


# --------------------------------------------------------------------------- tile tasks


def _metric_area(osm: OsmData, network: gpd.GeoDataFrame | None, crs: pyproj.CRS):
    return Area.from_osm(osm, network, crs=crs)


def _core_mask(gdf: gpd.GeoDataFrame, core: shapely.Geometry) -> np.ndarray:
    if len(gdf) == 0:
        return np.zeros(0, dtype=bool)
    return np.asarray(shapely.intersects(core, gdf.geometry.representative_point().values))


def _write_parquet_atomic(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """Write `gdf` to `path` through a temp file in the same folder (never half a file)."""
    _write_atomic(path, lambda tmp: gdf.to_parquet(tmp, write_covering_bbox=True))


def _write_atomic(path: Path, write: Any) -> None:
    """`write(tmp)` to a temp file beside `path`, then renamed to it (never half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TILE_TMP_PREFIX, suffix=".parquet", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prepare_tile(
    store: str,
    tile_id: str,
    core_wkb: bytes,
    buffer_wkb: bytes,
    crs_wkt: str,
    study: Study,
    network: gpd.GeoDataFrame | None,
    need_sites: bool,
    need_demand: bool,
    demand_path: str,
) -> dict:
    """First pass over a tile: its core's buildings estimated once, and summaries of them.

    `buffer_wkb` is the area read: the core and `PREPARE_MARGIN_M` around it. The core's
    buildings, with their heat demand estimated against their neighbours
    (`DEMAND_CONTEXT_M`), are written to `demand_path`: the second pass reads
    them instead of estimating again. Returned: the core's candidate sites, its buildings'
    heat per 100 m cell (for DH areas found once), its share of the demand near the pipes,
    and the hull of what was read (:func:`_summarise_core`).
    """
    t0 = time.perf_counter()
    try:
        crs = pyproj.CRS.from_wkt(crs_wkt)
        core, buffer = shapely.from_wkb(core_wkb), shapely.from_wkb(buffer_wkb)
        reads = _buffer_lonlat(buffer, crs)
        osm = read_osm_parquet(
            store,
            reads,
            layers=("buildings", "landuse", "data_centers", "exclusions"),
            keep_row=True,
        )
        # the streets only count for the hull: their vertices in the read's bounding box
        # (the hull of all cores' is the extract's either way), not the features
        lon_lat = read_layer_coordinates(store, "streets", reads)
        out, _ = _summarise_core(
            osm, lon_lat, core, crs, study, network, need_sites, need_demand, demand_path
        )
        out["tile_id"] = tile_id
        out["seconds"] = time.perf_counter() - t0
        return out
    except Exception as exc:  # reported with the tile id; other tiles go on
        return {
            "tile_id": tile_id,
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }


def _summarise_core(
    osm: OsmData,
    lon_lat: np.ndarray,
    core: shapely.Geometry,
    crs: pyproj.CRS,
    study: Study,
    network: gpd.GeoDataFrame | None,
    need_sites: bool,
    need_demand: bool,
    demand_path: str | Path | None,
    keep: shapely.Geometry | None = None,
    estimates: bool = True,
) -> tuple[dict, gpd.GeoDataFrame | None]:
    """A core's first pass on what was read around it (`osm`: buildings with their
    `ROW_COLUMN`, land use, data centers, exclusions; `lon_lat`: street vertices).

    Its buildings are estimated against their neighbours within `DEMAND_CONTEXT_M` and
    written to `demand_path` (with the buildings-layer rows and centroids beside it).
    Returned: the summaries (`_prepare_tile`), and with `keep` (a buffer around the core,
    read with `DEMAND_CONTEXT_M` more) the estimated buildings that meet it, in extract
    order: a tile's own buildings, each estimated as its own core's first pass would.
    Without `demand_path` (a site's re-run) nothing is written and no cells are summed;
    without `estimates` the estimated buildings themselves are not (the layer rows and
    centroids are: a forked tile keeps its buildings in memory for its own study).
    """
    if len(osm.buildings) == 0 and len(lon_lat) == 0:
        return {"ok": True, "empty": True}, None
    buildings = osm.buildings.to_crs(crs)
    # the hull of every vertex read: the streets' projected as arrays, the buildings'
    # from their projected copy
    to_crs = pyproj.Transformer.from_crs(WGS84, crs, always_xy=True)
    coords = [shapely.get_coordinates(buildings.geometry.values)]
    if len(lon_lat):
        coords.append(np.column_stack(to_crs.transform(lon_lat[:, 0], lon_lat[:, 1])))
    hull = convex_hull(np.vstack(coords))
    out: dict[str, Any] = {"ok": True, "empty": False, "hull_wkb": shapely.to_wkb(hull)}
    lu = osm.landuse.to_crs(crs)
    # each building's representative point, once (core and context masks)
    points = buildings.geometry.representative_point().values if len(buildings) else None
    in_core = np.asarray(shapely.intersects(core, points)) if points is not None else None
    if need_sites:
        # this core's qualifying features; joined and finalised once in run_tiled
        dc = osm.data_centers.to_crs(crs)  # holds building=data_center too (read_osm)
        plain = buildings.drop(columns=ROW_COLUMN, errors="ignore")
        out["candidates"] = candidate_table(
            plain[in_core] if len(plain) else plain,
            lu[_core_mask(lu, core)] if len(lu) else lu,
            dc[_core_mask(dc, core)] if len(dc) else dc,
            study,
            exclusion_zones(osm.exclusions, study, crs),
        )
    est = kept = buildings.iloc[:0]
    if len(buildings):
        # the buildings estimated and the neighbours their estimate looks at
        wanted = core if keep is None else keep
        near = np.asarray(shapely.intersects(shapely.buffer(wanted, DEMAND_CONTEXT_M), points))
        est_all, _ = stages.building_demand(
            buildings[near].reset_index(drop=True), study, stages.weather_of(study), lu
        )
        # the estimate keeps the rows it is given, in order
        mask = in_core[near] if len(est_all) == int(near.sum()) else _core_mask(est_all, core)
        est = est_all[mask].reset_index(drop=True)
        if keep is not None:
            meets = np.asarray(shapely.intersects(keep, est_all.geometry.values))
            kept = est_all[meets].sort_values(ROW_COLUMN, kind="stable")
            kept = kept.drop(columns=ROW_COLUMN).reset_index(drop=True)
    if demand_path is None:
        return out, (kept if keep is not None else None)
    if estimates:
        _write_parquet_atomic(est, Path(demand_path))
    # the core's rows of the study's buildings layer (the tiles' studies keep these
    # estimates as given): every core's, also of the tiles that hold no site
    layer = Results.buildings_layer(est.drop(columns=ROW_COLUMN, errors="ignore"))
    _write_parquet_atomic(layer, layer_path(demand_path))
    # their centroids: the outputs' heat cells are summed from these, not the polygons
    xy = centroid_xy(np.asarray(est.geometry.values, dtype=object))
    _write_atomic(centroid_path(demand_path), lambda tmp: write_centroids(tmp, *xy))
    out["n_buildings"] = len(est)
    out["cells"] = cell_sums(est, centroids=xy) if len(est) else None
    if need_demand and network is not None and len(network) and len(est):
        # the single run's estimate (study._network_demand_mwh) sums buildings: near a
        # pipe, or all heated ones for a plants-only network; so its sum over the tiles'
        # cores (each core's buildings against the pipes in the tile's buffer) is the same
        out["mwh"] = float(stages.network_demand_mwh(network, est, study.params))
    return out, (kept if keep is not None else None)


def layer_path(demand_path: str | Path) -> Path:
    """Where the first pass writes a core's rows of the buildings layer (beside its
    estimated buildings, `demand_path`)."""
    path = Path(demand_path)
    return path.with_name(path.stem + "-layer.parquet")


def centroid_path(demand_path: str | Path) -> Path:
    """Where the first pass writes the centroids of a core's buildings (beside them)."""
    path = Path(demand_path)
    return path.with_name(path.stem + "-centroids.parquet")


def _tile_buildings(demand_paths: list[str], buffer: shapely.Geometry) -> gpd.GeoDataFrame | None:
    """The estimated buildings of the first pass that intersect `buffer`, in extract order."""
    parts = []
    for path in demand_paths:
        part = gpd.read_parquet(path, bbox=tuple(buffer.bounds))
        if "bbox" in part.columns:
            part = part.drop(columns="bbox")
        if len(part):
            parts.append(part[np.asarray(shapely.intersects(buffer, part.geometry.values))])
    if not parts:
        return None
    b = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)
    # a building on the line between two cores is estimated in both: keep it once
    b = b.drop_duplicates(ROW_COLUMN).sort_values(ROW_COLUMN, kind="stable")
    return b.drop(columns=ROW_COLUMN).reset_index(drop=True)


def _tile_study_run(
    study: Study, osm: OsmData, network, sites, area: dict[str, Any] | None = None
) -> Results:
    """One tile's study (a seam the tests replace to make a tile fail).

    `area` holds the whole-area facts the tile must use: where the network came from
    (`network_from_extract`), the demand of the buildings its pipes serve
    (`network_demand_mwh`), the DH areas (`dh_areas`), whether any site matched a registry
    network (`registry_matched`) and that `osm.buildings` are already estimated
    (`buildings_estimated`).
    """
    return run_single(study, osm=osm, network=network, sites=sites, **(area or {}))


def _run_tile(
    store: str,
    tile_id: str,
    buffer_wkb: bytes,
    core_wkb: bytes,
    crs_wkt: str,
    study: Study,
    network: gpd.GeoDataFrame | None,
    sites: gpd.GeoDataFrame,
    out_dir: str,
    area: dict[str, Any] | None = None,
    demand_paths: list[str] | None = None,
) -> dict:
    """Run one tile's study and write its results to `out_dir` (atomically).

    `demand_paths`: the first pass's estimated buildings of the cores near this tile (read
    instead of the store's buildings, so no building is estimated twice).
    """
    t0 = time.perf_counter()
    try:
        crs = pyproj.CRS.from_wkt(crs_wkt)
        buffer, core = shapely.from_wkb(buffer_wkb), shapely.from_wkb(core_wkb)
        t_read = time.perf_counter()
        area = dict(area or {})
        if demand_paths is not None:
            layers = tuple(name for name in STORE_LAYERS if name != "buildings")
            osm = read_osm_parquet(store, _buffer_lonlat(buffer, crs), layers=layers)
            estimated = _tile_buildings(demand_paths, buffer)
            if estimated is not None:
                osm = dataclasses.replace(osm, buildings=estimated)
                area["buildings_estimated"] = True
        else:
            osm = read_osm_parquet(store, _buffer_lonlat(buffer, crs))
        read_s = time.perf_counter() - t_read
        return _study_tile(study, osm, network, sites, area, tile_id, core, out_dir, t0, read_s)
    except Exception as exc:
        return {
            "tile_id": tile_id,
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
            "seconds": time.perf_counter() - t0,
        }


def _study_tile(
    study: Study,
    osm: OsmData,
    network: gpd.GeoDataFrame | None,
    sites: gpd.GeoDataFrame,
    area: dict[str, Any],
    tile_id: str,
    core: shapely.Geometry,
    out_dir: str | Path,
    t0: float,
    read_s: float,
) -> dict:
    """One tile's study on what was read for it, its results written to `out_dir`
    (atomically: a folder that holds `done.json` is a finished tile)."""
    tmp = lock = None
    try:
        res = _tile_study_run(study, osm, network, sites, area)
        res.timings_s["tile_read_s"] = read_s
        table = res.sites.drop(columns=[c for c in ("rank", "pareto", "score") if c in res.sites])
        given = sites.set_index("site_id")
        for col in ("origin", "name"):  # run() re-normalises given sites as origin "file"
            table[col] = given[col].reindex(table["site_id"]).to_numpy()
        final = Path(out_dir)
        tmp = Path(tempfile.mkdtemp(prefix=f"{TILE_TMP_PREFIX}{final.name}-", dir=final.parent))
        lock = os.open(tmp, os.O_RDONLY | os.O_DIRECTORY)  # alive: the next run leaves it
        fcntl.flock(lock, fcntl.LOCK_EX)
        table.to_parquet(tmp / "sites.parquet")
        routes = res.routes.drop(columns=[c for c in ("rank", "capex_eur") if c in res.routes])
        routes.to_parquet(tmp / "routes.parquet")
        for name in ("grid_lines", "substations"):  # the power grid (stage connect_grid)
            layer = getattr(res, name, None)
            if layer is not None and len(layer):
                layer.to_parquet(tmp / f"{name}.parquet")
        info = {
            "viable_in_core": _viable_in_core(res.street_density, core),
            "tile_id": tile_id,
            "mode": res.mode,
            "notes": res.notes,
            "timings_s": res.timings_s,
            "seconds": time.perf_counter() - t0,
            "n_sites": len(table),
            "pid": os.getpid(),
        }
        (tmp / "done.json").write_text(json.dumps(info))
        if final.exists():  # a stale, unfinished attempt
            shutil.rmtree(final)
        os.replace(tmp, final)
        tmp = None
        return {"tile_id": tile_id, "ok": True, **info}
    finally:
        if tmp is not None:  # failed half-way: no partial tile is left
            shutil.rmtree(tmp, ignore_errors=True)
        if lock is not None:
            os.close(lock)


# --------------------------------------------------------------------------- orchestration


def _study_hash(study: Study) -> str:
    def plain(v: Any) -> Any:
        if isinstance(v, Path):
            return str(v)
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in sorted(v.items())}
        if isinstance(v, list | tuple):
            return [plain(x) for x in v]
        return v

    data = {f.name: plain(getattr(study, f.name)) for f in dataclasses.fields(study)}
    data["params"] = {
        f.name: plain(getattr(study.params, f.name)) for f in dataclasses.fields(study.params)
    }
    for key in ("out_dir", "use_cache", "top_n_routes", "name"):
        data.pop(key, None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _frame_hash(gdf: gpd.GeoDataFrame) -> str:
    h = hashlib.sha256(pd.util.hash_pandas_object(gdf.drop(columns="geometry")).to_numpy())
    for wkb in shapely.to_wkb(gdf.geometry.values):
        h.update(wkb)
    return h.hexdigest()


def _file_hash(path: Path | None) -> str | None:
    return file_sha256(path) if path is not None and Path(path).is_file() else None


def _ensure_store(study: Study, tiles: gpd.GeoDataFrame, workdir: Path) -> tuple[Path, str]:
    """The GeoParquet store of the study's extract (written once; reused) and its input hash."""
    if study.osm_path is None:
        raise InputDataError("a tiled study needs osm_path (an .osm.pbf or a GeoParquet store).")
    path = study.osm_path.expanduser()
    if not is_parquet_store(path):
        # the full overlap: sites run again with a wider overlap find their data
        reach_m = np.maximum(
            tiles["overlap_m"].to_numpy(dtype=float), default_overlap_m(study.params)
        )
        buffers = tiles.geometry.buffer(np.maximum(reach_m, PREPARE_MARGIN_M))
        reach = gpd.GeoSeries([shapely.union_all(buffers.values)], crs=tiles.crs).to_crs(WGS84)
        whole = area_geometry(path).iloc[0]
        area = None if reach.iloc[0].contains(whole) else reach.iloc[0]
        path = clip_to_parquet(path, area, workdir / "osm")
    meta = store_meta(path)
    key = (
        meta.get("osm_sha256")
        or hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()
    )
    return path, str(key) + str(meta.get("area_wkt"))


def check_scheduler_address(address: str) -> tuple[str, str, int]:
    """(address, host, port) of a dask scheduler address, checked; ConfigError otherwise.

    Accepted: ``tcp://HOST:PORT`` (also tls, ws, wss, ucx) or ``HOST:PORT`` (tcp).
    """
    text = str(address).strip()
    usage = "give it as tcp://HOST:PORT, e.g. tcp://10.0.0.5:8786"
    if not text:
        raise ConfigError(f"the scheduler address is empty; {usage}.")
    scheme, rest = text.split("://", 1) if "://" in text else ("tcp", text)
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        raise ConfigError(
            f"scheduler address {text!r} is a web address (the dashboard?); the scheduler "
            f"speaks its own protocol: {usage} (8786 is the scheduler's usual port)."
        )
    if scheme not in SCHEDULER_SCHEMES:
        raise ConfigError(
            f"scheduler address {text!r} has an unknown scheme {scheme!r}; {usage} (schemes: "
            f"{', '.join(SCHEDULER_SCHEMES)})."
        )
    if scheme == "inproc":
        return text, "", 0
    m = re.fullmatch(
        r"\[([0-9A-Fa-f:.]+)\]:(\d{1,5})|([A-Za-z0-9._-]+):(\d{1,5})", rest.rstrip("/")
    )
    if m is None:
        raise ConfigError(f"scheduler address {text!r} is not HOST:PORT; {usage}.")
    host = m.group(1) or m.group(3)
    port = int(m.group(2) or m.group(4))
    if not 1 <= port <= 65535:
        raise ConfigError(f"scheduler address {text!r}: port {port} is not 1-65535; {usage}.")
    shown_host = f"[{host}]" if m.group(1) else host
    return f"{scheme}://{shown_host}:{port}", host, port


def probe_scheduler(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> str:
    """Check a scheduler answers at `address` within `timeout_s`; return the address.

    A TCP connection first (a closed port fails at once), then for tcp:// the dask
    handshake (something else listening, e.g. a web server, would hang a client). Raises a
    one-line ConfigError naming the address.
    """
    import socket
    import threading

    address, host, port = check_scheduler_address(address)
    if not host:
        return address
    fix = "start the scheduler (`dask scheduler`) or leave out --scheduler for a local cluster"
    result: dict[str, Any] = {}

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout_s).close()
            result["ok"] = True
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=connect, daemon=True)  # name lookups can hang too
    worker.start()
    worker.join(timeout_s + 1.0)
    if "ok" not in result:
        exc = result.get("error")
        if exc is None or isinstance(exc, TimeoutError | socket.timeout):
            why = f"no answer within {timeout_s:g} s"
        elif isinstance(exc, socket.gaierror):
            why = f"host {host!r} not found"
        else:
            why = exc.strerror or str(exc)
        raise ConfigError(f"cannot reach the dask scheduler at {address} ({why}); {fix}.")
    if not address.startswith("tcp://"):
        return address

    def handshake() -> None:
        import asyncio

        from distributed.comm import connect as dask_connect

        async def ask() -> Any:
            comm = await dask_connect(address, timeout=timeout_s)
            try:
                await comm.write({"op": "identity", "reply": True})
                return await comm.read()
            finally:
                await comm.close()

        async def bounded() -> Any:
            return await asyncio.wait_for(ask(), timeout_s)

        try:
            result["identity"] = asyncio.run(bounded())
        except BaseException as exc:  # timeout, protocol error: reported below
            result["hs_error"] = exc

    worker = threading.Thread(target=handshake, daemon=True)  # own loop: works in Jupyter
    worker.start()
    worker.join(timeout_s + 2.0)
    ident = result.get("identity")
    if not isinstance(ident, dict) or ident.get("type") != "Scheduler":
        raise ConfigError(
            f"something listens at {address} but it is not a dask scheduler (no dask "
            f"answer within {timeout_s:g} s); check the address: the scheduler's port is "
            "usually 8786 (8787 is its dashboard)."
        )
    return address


def _client(client: Any, processes: bool, n_workers: int, worker_log: Path | None = None):
    """(client, owned): a given Client, a scheduler address, or a new LocalCluster
    (its worker processes write their output to `worker_log`, see _workers_ignore_sigint).
    """
    from dask.distributed import Client, LocalCluster

    if client is None:
        # the scheduler's HTTP endpoint falls back to a free port when 8787 is taken; the
        # dashboard is off, so the warning about it is noise
        warnings.filterwarnings(
            "ignore", message=r"Port \d+ is already in use", category=UserWarning
        )
        # held until the cluster is closed (_close_quietly): workers dask starts or
        # restarts later are started the same way
        stack = contextlib.ExitStack()
        try:
            if processes:
                stack.enter_context(_workers_ignore_sigint(worker_log))
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=processes,
                dashboard_address=None,
                silence_logs=logging.CRITICAL,  # shutdown chatter; task errors come back
            )
            cl = Client(cluster)
            cl._siting_stack = stack
            return cl, True
        except BaseException:  # Ctrl-C while it starts: close what started, quietly
            from distributed.deploy.spec import SpecCluster

            _quiet_dask_logs()
            for half in list(SpecCluster._instances):
                with contextlib.suppress(BaseException):
                    half.close(timeout=2)
                _forget_cluster(half)
            stack.close()
            raise
    if isinstance(client, str):
        address = probe_scheduler(client)
        try:
            return Client(address, timeout=2 * CONNECT_TIMEOUT_S), True
        except (OSError, TimeoutError) as exc:
            raise ConfigError(
                f"cannot connect to the dask scheduler at {address} ({exc}); check the "
                "address or leave out --scheduler for a local cluster."
            ) from exc
    return client, False


@contextlib.contextmanager
def _workers_ignore_sigint(worker_log: Path | None = None):
    """Start worker processes that ignore SIGINT, so Ctrl-C in a terminal reaches only us.

    Ctrl-C goes to the terminal's whole process group, and workers interrupted mid-task
    print tracebacks. Workers are forked from a multiprocessing *forkserver* started with
    SIGINT ignored (the server then hands its children the ignored signal); the parent is
    deaf to SIGINT only for the few milliseconds that server takes to start. The parent
    handles Ctrl-C and closes the cluster, which stops the workers. The server's (and so
    the workers') stdout and stderr go to `worker_log` when given: a worker starting
    while the run is being stopped fails with a traceback nobody needs on the terminal.
    Not on the main thread, or without forkserver (Windows), workers start as dask
    starts them.
    """
    import multiprocessing

    with _quiet_worker_logs():
        if (
            threading.current_thread() is not threading.main_thread()
            or "forkserver" not in multiprocessing.get_all_start_methods()
        ):
            yield
            return
        import dask
        from distributed.utils import get_mp_context

        with dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"}):
            get_mp_context()  # dask sets the server's preload list the first time
            from multiprocessing import forkserver

            old = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                with _output_to(worker_log):
                    forkserver.ensure_running()
            finally:
                signal.signal(signal.SIGINT, old)
            yield


@contextlib.contextmanager
def _output_to(path: Path | None):
    """Point this process's stdout/stderr (fds 1, 2) at `path` while a child is started."""
    if path is None:
        yield
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = [os.dup(1), os.dup(2)]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for f in (fd, *saved):
            os.close(f)


@contextlib.contextmanager
def _quiet_worker_logs():
    """Worker processes log dask's INFO chatter (connections opened and closed) to our
    stderr; they configure logging from the environment when they import dask, so the
    processes started here log errors only, unless the user set the level themselves.
    """
    key = "DASK_LOGGING__DISTRIBUTED"
    if key in os.environ:
        yield
        return
    os.environ[key] = "error"
    try:
        yield
    finally:
        os.environ.pop(key, None)


def _quiet_dask_logs() -> None:
    """Silence dask's loggers for good: after Ctrl-C its teardown only reports itself."""
    for name in ("distributed", "asyncio", "tornado"):
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _close_quietly(cl: Any, interrupted: bool) -> None:
    """Close a client and its cluster; after Ctrl-C quickly and without their chatter
    (workers still busy are killed by their nanny, or exit with this process).
    """
    if interrupted:
        _quiet_dask_logs()
    timeout = 2 if interrupted else 10
    cluster = getattr(cl, "cluster", None)
    try:
        cl.close(timeout=timeout)
        if cluster is not None:
            cluster.close(timeout=timeout)
    except BaseException:  # a second Ctrl-C, a worker already gone: nothing left to keep
        if not interrupted:
            raise
    finally:
        if interrupted and cluster is not None:
            _forget_cluster(cluster)
        stack = getattr(cl, "_siting_stack", None)
        if stack is not None:
            stack.close()


def _forget_cluster(cluster: Any) -> None:
    """Keep dask's exit hook from closing `cluster` again (another 10 s wait after Ctrl-C);
    its worker processes watch ours and exit with it.
    """
    from distributed.deploy.spec import SpecCluster

    SpecCluster._instances.discard(cluster)


def _gather(client, futures: dict[str, Any]) -> dict[str, dict]:
    from dask.distributed import as_completed

    out = {}
    index = {f.key: tid for tid, f in futures.items()}
    for fut in as_completed(list(futures.values())):
        tid = index[fut.key]
        try:
            out[tid] = fut.result()
        except Exception as exc:  # worker died, unpicklable result, ...
            out[tid] = {"tile_id": tid, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return out


def _viable_in_core(density: gpd.GeoDataFrame | None, core: shapely.Geometry) -> list[float]:
    """Count and length (m) of the viable street segments whose midpoint is in `core`."""
    if density is None or not len(density) or "viable" not in density:
        return [0, 0.0]
    viable = density[density["viable"].fillna(False).astype(bool)]
    mid = shapely.line_interpolate_point(viable.geometry.values, 0.5, normalized=True)
    mine = np.asarray(shapely.intersects(core, mid))
    return [int(mine.sum()), float(viable["length_m"].to_numpy(dtype=float)[mine].sum())]


def _settle(rows: list[dict], done: dict[str, dict]) -> None:
    """Record each submitted tile's outcome in its report row."""
    for row in rows:
        r = done.get(row["tile_id"])
        if r is None:
            continue
        row["seconds"] = float(r.get("seconds", 0.0))
        if r["ok"]:
            row["status"] = "done"
        else:
            row.update(status="failed", error=r["error"], traceback=r.get("traceback", ""))
            log.error("tile %s failed: %s", row["tile_id"], r["error"])


def _last_per_site(parts: list[gpd.GeoDataFrame], crs: pyproj.CRS) -> gpd.GeoDataFrame | None:
    """`parts` (one run's rows each, in run order) as one frame, keeping each site's last run."""
    if not parts:
        return None
    gdf = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=crs)
    if "site_id" not in gdf.columns:
        return gdf
    run = np.concatenate([np.full(len(x), k) for k, x in enumerate(parts)])
    last = pd.Series(run).groupby(gdf["site_id"].to_numpy()).transform("max").to_numpy()
    return gdf[run == last].reset_index(drop=True)


def _site_table(tables: list[gpd.GeoDataFrame], crs: pyproj.CRS) -> gpd.GeoDataFrame:
    """The site tables of the finished runs: each site's last run (an empty table if none)."""
    table = _last_per_site(tables, crs)
    if table is None:
        table = gpd.GeoDataFrame({"site_id": []}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return table


def _merge(rows: list[dict], crs: pyproj.CRS) -> dict[str, Any]:
    """The finished tiles' results as one set; a later row's sites replace an earlier's.

    Re-runs (tile ids ending in "+") hold a few sites of a tile run again with a wider
    overlap: their sites, routes and cables replace the first run's. (The buildings are
    the first pass's, one file per core: :func:`layer_path`.)
    """
    tables, routes, lines, subs, notes, timings = [], [], [], [], [], {}
    viable = [0, 0.0]  # registry mains: street segments and metres, over the cores
    overlap: dict[str, float] = {}
    for row in rows:
        if row["status"] not in ("done", "cached"):
            continue
        d = row["dir"]
        table = gpd.read_parquet(d / "sites.parquet")
        tables.append(table)
        overlap.update(dict.fromkeys(table["site_id"], float(row["overlap_m"])))
        routes.append(gpd.read_parquet(d / "routes.parquet"))
        if (d / "grid_lines.parquet").is_file():
            lines.append(gpd.read_parquet(d / "grid_lines.parquet"))
        if (d / "substations.parquet").is_file():
            subs.append(gpd.read_parquet(d / "substations.parquet"))
        info = json.loads((d / "done.json").read_text())
        notes.extend(n for n in info["notes"] if n not in notes)
        if not row["tile_id"].endswith("+"):
            n_seg, len_m = info.get("viable_in_core", [0, 0.0])
            viable[0] += int(n_seg)
            viable[1] += float(len_m)
        for k, v in info["timings_s"].items():
            timings[k] = timings.get(k, 0.0) + float(v)
        if row["status"] == "cached":
            row["seconds"] = float(info["seconds"])

    table = _site_table(tables, crs)
    substations = _last_per_site(subs, crs)
    if substations is not None:  # a substation read by several tiles, once
        substations = substations.drop_duplicates("substation_id").reset_index(drop=True)
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    return {
        "table": table,
        "routes": _last_per_site(routes, crs) if routes else empty,
        "grid_lines": _last_per_site(lines, crs),
        "substations": substations,
        "notes": notes,
        "viable_streets": viable,
        "timings": timings,
        "overlap_m": pd.Series(overlap, dtype=float),
    }


@dataclass
class _WholeArea:
    """The whole study's facts, from the first pass's summaries (`_whole_area_facts`)."""

    sites: gpd.GeoDataFrame  # with their tile (`_tile`)
    notes: list[str]  # on the sites
    hull: shapely.Geometry  # of everything read
    network_mwh: float  # the network's demand near its pipes
    area: dict[str, Any]  # what every tile's study is given (`_tile_study_run`)
    key: list  # the part of them a finished tile's key holds


@dataclass
class _TiledRun:
    """What a tiled run (Dask or forked) knows before its first pass, for the merge."""

    study: Study
    tiles: gpd.GeoDataFrame
    crs: pyproj.CRS
    network: gpd.GeoDataFrame | None
    mode: str
    demand_files: dict[str, Path]
    workdir: Path
    strict: bool
    t0: float
    timings: dict[str, float]


def _whole_area_facts(
    study: Study,
    prep: dict[str, dict],
    tiles: gpd.GeoDataFrame,
    crs: pyproj.CRS,
    mode: str,
    need_demand: bool,
    user_sites: gpd.GeoDataFrame | None,
    read_addresses: Any,
) -> _WholeArea:
    """The whole study's facts from the first pass's summaries of its cores (`prep`): the
    sites (a file's, or all cores' candidates ranked and capped once, named from
    `read_addresses()`), the hull, the network demand, the DH areas (`_WholeArea`)."""
    p = study.params
    hulls = [shapely.from_wkb(r["hull_wkb"]) for r in prep.values() if not r["empty"]]
    if not hulls:
        raise InputDataError(f"{study.osm_path} has no streets or buildings in the tiles.")
    hull = convex_hull(np.vstack([shapely.get_coordinates(h) for h in hulls]))
    network_mwh = float(p.network_annual_demand_mwh) if mode == "existing_network" else 0.0
    if need_demand:
        network_mwh = float(sum(r.get("mwh", 0.0) for r in prep.values()))

    # the sites: a file, or the candidates of all cores ranked and capped once
    site_notes: list[str] = []
    if user_sites is not None:
        sites = reproject(user_sites, crs, "sites")
    else:
        frames = [r["candidates"] for r in prep.values() if r.get("candidates") is not None]
        if not frames:
            raise InputDataError(
                f"no candidate sites found in {study.osm_path}: it has no data centers, no "
                f"industrial/commercial parcels over {study.min_site_parcel_m2:.0f} m² "
                f"and no non-residential buildings over {study.min_site_building_m2:.0f} "
                "m². Give a sites file (--sites FILE) or lower the thresholds."
            )
        cand = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=crs)
        # address points name the sites, as in the single run (a small layer)
        addresses = read_addresses().to_crs(crs)
        sites = finalize_candidates(cand, study, addresses)
        site_notes = list(sites.attrs.get("notes", []))
    inside = sites.geometry.intersects(shapely.buffer(hull, p.max_snap_distance_m))
    if not inside.any():
        raise InputDataError(
            f"none of the {len(sites)} candidate sites lies inside the study area of "
            f"{study.osm_path}; give sites in the area of the extract."
        )
    tile_of = assign_tiles(sites.geometry.representative_point(), tiles)
    # a tile's study needs one site inside the area: outside sites join the first
    # tile that has an inside one (they are flagged "outside" wherever they run)
    if (~inside).any():
        holders = pd.unique(tile_of[inside.to_numpy()])
        tile_of = np.where(inside.to_numpy() | np.isin(tile_of, holders), tile_of, holders[0])
    sites = sites.assign(_tile=tile_of)

    # whole-area facts every tile uses: the demand near the pipes of the whole extract,
    # whether any site matched a registry network, the DH areas of every building
    matched = stages.registry_matched(sites, load_registry(study), p)
    dh_areas = None
    cells = [r["cells"] for r in prep.values() if r.get("cells") is not None]
    if p.dh_areas and cells:
        dh_areas = dh_areas_from_cell_sums(
            pd.concat(cells, ignore_index=True),
            crs,
            min_cell_mwh_per_ha=p.dh_area_min_cell_mwh_per_ha,
            min_area_gwh_per_yr=stages.dh_area_min_gwh(p, matched),
        )
    area_facts = {
        "network_from_extract": study.network_path is None,
        "network_demand_mwh": network_mwh if need_demand else None,
        "registry_matched": matched,
    }
    facts_key = [dict(area_facts), _frame_hash(dh_areas) if dh_areas is not None else None]
    area_facts["dh_areas"] = dh_areas
    return _WholeArea(sites, site_notes, hull, network_mwh, area_facts, facts_key)


def _needed_overlap_m(
    table: pd.DataFrame, sites: gpd.GeoDataFrame, tiles: gpd.GeoDataFrame, p: Params
) -> pd.DataFrame:
    """The overlap each site's result needs to be the single run's, and the site's tile.

    What a site reaches lies within a radius of it: a route of cost C (equivalent metres)
    cannot be bettered by a path longer than C / (cheapest street multiplier), plus the
    snap at its ends; a local network looks `local_search_radius_m` around; a cable of
    `grid_distance_m` (along roads or straight) lies within that distance. A site that found
    no route (or no substation) might find one farther away: it needs the full
    :func:`default_overlap_m`. The overlap is that radius less the site's distance inside
    its core (its tile's buffer reaches that much farther from it), capped at the full one.
    Indexed by site_id: ``tile`` (row in `tiles`) and ``overlap_m``.
    """
    full = default_overlap_m(p)
    if len(table) == 0:
        return pd.DataFrame({"tile": [], "overlap_m": []})
    mults = {**pipes.STREET_CLASS_MULTIPLIER, **p.street_class_multiplier}
    m_min = min(min(mults.values()), pipes.STREET_DEFAULT_MULTIPLIER, ACCESS_MULTIPLIER)
    feas = table["feasible"].to_numpy(dtype=bool)
    mode = table["mode"].to_numpy() if "mode" in table else np.full(len(table), "")
    cost = pd.to_numeric(table["route_cost_eq_m"], errors="coerce").to_numpy(dtype=float)
    radius = np.where(
        mode == "existing_network",
        cost / m_min + p.max_snap_distance_m,
        p.local_search_radius_m + p.max_snap_distance_m,
    )
    radius = np.where(feas & np.isfinite(radius), radius, full)
    if "grid_distance_m" in table:
        grid_m = pd.to_numeric(table["grid_distance_m"], errors="coerce").to_numpy(dtype=float)
        radius = np.maximum(radius, np.where(np.isfinite(grid_m), grid_m, full))
    t_index = {tid: i for i, tid in enumerate(tiles["tile_id"])}
    tile = sites.set_index("site_id")["_tile"].reindex(table["site_id"]).map(t_index)
    tile = tile.to_numpy(dtype=np.int64)
    pts = shapely.points(
        shapely.get_coordinates(
            gpd.GeoSeries(table.geometry.values, crs=tiles.crs).representative_point().values
        )
    )
    cores = tiles.geometry.values[tile]
    depth = np.where(
        shapely.intersects(cores, pts),
        shapely.distance(pts, shapely.boundary(cores)),
        -shapely.distance(pts, cores),
    )
    need = np.minimum(radius + SNAP_TOLERANCE_M - depth, full)
    # whole hundreds of metres: re-runs of neighbouring needs share one buffer
    need = np.minimum(np.ceil(np.maximum(need, 0.0) / 100.0) * 100.0, full)
    return pd.DataFrame({"tile": tile, "overlap_m": need}, index=table["site_id"].to_numpy())


def _network_near(
    network: gpd.GeoDataFrame | None, mode: str, geom: shapely.Geometry, core: shapely.Geometry
) -> gpd.GeoDataFrame | None:
    """The network's features that meet a tile's `geom` (None without an existing network)."""
    if mode != "existing_network":
        return None
    hit = np.sort(network.sindex.query(geom, predicate="intersects"))
    if len(hit) == 0:  # keep the mode: the nearest feature (routes to it are too long)
        hit = network.sindex.nearest(core)[1][:1]
    return network.iloc[hit]


def _demand_files(
    study: Study, input_key: str, tiles: gpd.GeoDataFrame, workdir: Path
) -> dict[str, Path]:
    """Where each core's first pass writes its buildings (`workdir/demand/`): named by the
    study, the input and the core, so a re-run finds them."""
    demand_dir = workdir / "demand"
    demand_dir.mkdir(parents=True, exist_ok=True)
    clean_tmp_dirs(demand_dir, TILE_TMP_PREFIX)
    key = hashlib.sha256((_study_hash(study) + input_key).encode()).hexdigest()[:12]
    return {
        tid: demand_dir
        / f"{tid}-{key}-{hashlib.sha256(shapely.to_wkb(core)).hexdigest()[:8]}.parquet"
        for tid, core in zip(tiles["tile_id"], tiles.geometry.values, strict=True)
    }


def _check_first_pass(
    prep: dict[str, dict], tiles: gpd.GeoDataFrame, timings: dict[str, float], t: float
) -> None:
    """Every core's first pass must have run (the whole-area facts need them all)."""
    bad = {tid: r for tid, r in prep.items() if not r["ok"]}
    if bad:
        detail = "; ".join(f"tile {tid}: {r['error']}" for tid, r in sorted(bad.items()))
        raise SitingError(
            f"{len(bad)} of {len(tiles)} tiles could not be read in the first pass "
            f"(whole-area sites and network demand need every tile): {detail}"
        )
    timings["prepare_s"] = time.perf_counter() - t
    timings["prepare_sum_s"] = sum(float(r.get("seconds", 0.0)) for r in prep.values())


def _tile_study(study: Study, crs: pyproj.CRS) -> Study:
    """The study each tile runs: in the whole study's CRS, its sites and network given."""
    return study.replace(
        crs=crs.to_string() if crs.to_epsg() else crs.to_wkt(),
        use_cache=False,
        sites_path=None,
        network_path=None,
    )


def _tile_dir(
    tiles_dir: Path,
    tiles: gpd.GeoDataFrame,
    i: int,
    mine: gpd.GeoDataFrame,
    overlap_m: float,
    config_key: str,
    whole: _WholeArea,
) -> Path:
    """Where tile `i`'s run with `mine` and `overlap_m` is written: its key hashes what its
    result depends on, so a finished one is found again (any backend's)."""
    key_src = json.dumps(
        [
            TILE_FORMAT,
            shapely.to_wkb(tiles.geometry.iloc[i], hex=True),
            overlap_m,
            config_key,
            sorted(mine["site_id"]),
            _frame_hash(mine),
            whole.key,
        ]
    )
    key = hashlib.sha256(key_src.encode()).hexdigest()[:20]
    return tiles_dir / f"{tiles['tile_id'].iloc[i]}-{key}"


def _report_row(tid: str, mine: gpd.GeoDataFrame, overlap_m: float) -> dict:
    """A tile's row of `results.tiles` before it runs."""
    return {
        "tile_id": tid,
        "n_sites": len(mine),
        "status": "empty",
        "seconds": 0.0,
        "error": "",
        "site_ids": list(mine["site_id"]),
        "overlap_m": overlap_m,
    }


def _reruns(
    report: list[dict],
    sites: gpd.GeoDataFrame,
    tiles: gpd.GeoDataFrame,
    crs: pyproj.CRS,
    p: Params,
) -> Iterator[tuple[int, gpd.GeoDataFrame, float]]:
    """The sites the finished tiles could not prove exact, by tile: (tile's row, its
    sites, the overlap they need)."""
    # (only the site tables: the routes and buildings are read once, by the merge)
    first = [
        gpd.read_parquet(row["dir"] / "sites.parquet")
        for row in report
        if row["status"] in ("done", "cached")
    ]
    need = _needed_overlap_m(_site_table(first, crs), sites, tiles, p)
    overlap = tiles["overlap_m"].to_numpy(dtype=float)
    for i in range(len(tiles)):
        wants = need[(need["tile"] == i) & (need["overlap_m"] > overlap[i])]
        if not len(wants):
            continue
        mine = sites[sites["site_id"].isin(wants.index)].drop(columns="_tile")
        yield i, mine.reset_index(drop=True), float(wants["overlap_m"].max())


def run_tiled(
    study: Study | dict | str | Path,
    tiles: gpd.GeoDataFrame | int | None = None,
    client: Any = None,
    workdir: str | Path | None = None,
    strict: bool = False,
    processes: bool = True,
    n_workers: int = 2,
) -> TiledResults:
    """Run `study` tile by tile as Dask tasks and merge the tiles into one ranking.

    Parameters
    ----------
    study : a Study (or mapping / YAML path); `osm_path` a PBF or a GeoParquet store.
    tiles : from :func:`make_tiles`, or a number of grid tiles (None:
        :func:`default_tile_count`: 4, more for an extract over 160 MB, fewer when the area
        and its sites cannot use 4).
    client : a dask.distributed Client or scheduler address; None starts a LocalCluster of
        `n_workers` single-threaded worker processes (`processes=False`: threads).
    workdir : where the GeoParquet store and the finished tiles are kept (a re-run skips
        finished tiles); default `study.out_dir / "tiles"`.
    strict : raise a SitingError when any tile fails (by default only when all fail).
    """
    study = as_study(study)
    p = study.params
    t0 = time.perf_counter()
    if tiles is None:
        tiles = default_tile_count(study)
    if isinstance(tiles, int):
        tiles = make_tiles(study, n=tiles, params=p, crs=study.crs)
    # what can fail fast fails before anything is written: the user's files, the scheduler
    user_network = read_network(study.network_path) if study.network_path is not None else None
    user_sites = read_sites(study.sites_path, study) if study.sites_path is not None else None
    connected = None
    if isinstance(client, str):
        connected = client = _client(client, processes, n_workers)[0]
    workdir = Path(workdir or Path(study.out_dir) / "tiles").expanduser()
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        clean_tmp_dirs(workdir / "tiles", TILE_TMP_PREFIX)  # tiles of killed runs
    except BaseException:
        if connected is not None:
            _close_quietly(connected, True)
        raise
    tiles = tiles.reset_index(drop=True)
    if tiles["tile_id"].duplicated().any():
        raise InputDataError("tile ids must be unique.")
    store, input_key = _ensure_store(study, tiles, workdir)
    meta = store_meta(store)
    if study.crs is not None:
        crs = pyproj.CRS.from_user_input(study.crs)
    elif meta.get("streets_bounds"):
        crs = metric_crs(gpd.GeoSeries([shapely.box(*meta["streets_bounds"])], crs=WGS84))
    else:
        raise InputDataError(f"{study.osm_path} has no streets; a study needs them.")
    tiles = tiles.to_crs(crs)
    overlap = tiles["overlap_m"].to_numpy(dtype=float)
    reads = tiles.geometry.buffer(PREPARE_MARGIN_M)
    timings: dict[str, float] = {"store_s": time.perf_counter() - t0}

    # the network: read once (a file, or the extract's heat pipes and plants; small layers)
    network = user_network
    if network is None and study.use_osm_network:
        heat = read_osm_parquet(store, layers=("heat_pipes", "heat_plants"))
        network = network_from_osm(heat.heat_pipes, heat.heat_plants)
    if network is not None:
        network = reproject(network, crs, network.attrs.get("source", "network"))
    mode = "existing_network" if network is not None and len(network) else "new_local_network"

    def tile_network(geom: shapely.Geometry, core: shapely.Geometry) -> gpd.GeoDataFrame | None:
        return _network_near(network, mode, geom, core)

    cl, owned = (
        (connected, True)
        if connected is not None
        else _client(client, processes, n_workers, worker_log=workdir / "workers.log")
    )
    interrupted = False
    try:
        # pass 1: each core's buildings estimated once; candidate sites, heat per cell,
        # network-demand shares and hulls per core
        t = time.perf_counter()
        need_sites = study.sites_path is None
        need_demand = mode == "existing_network" and p.network_annual_demand_mwh <= 0
        crs_wkt = crs.to_wkt()
        demand_files = _demand_files(study, input_key, tiles, workdir)
        futs = {
            tid: cl.submit(
                _prepare_tile,
                str(store),
                tid,
                shapely.to_wkb(tiles.geometry.iloc[i]),
                shapely.to_wkb(reads.iloc[i]),
                crs_wkt,
                study,
                tile_network(reads.iloc[i], tiles.geometry.iloc[i]),
                need_sites,
                need_demand,
                str(demand_files[tid]),
                key=f"siting-prepare-{tid}-{input_key[:12]}-{time.time_ns()}",
                pure=False,
            )
            for i, tid in enumerate(tiles["tile_id"])
        }
        prep = _gather(cl, futs)
        _check_first_pass(prep, tiles, timings, t)
        whole = _whole_area_facts(
            study,
            prep,
            tiles,
            crs,
            mode,
            need_demand,
            user_sites,
            lambda: read_osm_parquet(store, layers=("addresses",)).addresses,
        )
        sites = whole.sites
        with_demand = [tid for tid, r in prep.items() if not r["empty"]]
        core_index = shapely.STRtree(
            tiles.set_index("tile_id").geometry.reindex(with_demand).values
        )

        # pass 2: the tiles' studies (finished tiles are read back from workdir)
        tile_study = _tile_study(study, crs)
        config_key = _study_hash(tile_study) + input_key
        tiles_dir = workdir / "tiles"
        tiles_dir.mkdir(parents=True, exist_ok=True)

        def submit(i: int, mine: gpd.GeoDataFrame, overlap_i: float, row: dict) -> Any:
            """The tile's future, or None when a finished run of it is in workdir."""
            tid = tiles["tile_id"].iloc[i]
            buffer = tiles.geometry.iloc[i].buffer(overlap_i)
            out_dir = _tile_dir(tiles_dir, tiles, i, mine, overlap_i, config_key, whole)
            row["dir"] = out_dir
            if (out_dir / "done.json").is_file():
                row["status"] = "cached"
                return None
            near = [with_demand[k] for k in np.sort(core_index.query(buffer))]
            return cl.submit(
                _run_tile,
                str(store),
                tid,
                shapely.to_wkb(buffer),
                shapely.to_wkb(tiles.geometry.iloc[i]),
                crs_wkt,
                tile_study,
                tile_network(buffer, tiles.geometry.iloc[i]),
                mine,
                str(out_dir),
                whole.area,
                [str(demand_files[n]) for n in near],
                key=f"siting-tile-{out_dir.name}-{time.time_ns()}",
                pure=False,
            )

        t = time.perf_counter()
        report, futs = [], {}
        for i, tid in enumerate(tiles["tile_id"]):
            mine = sites[sites["_tile"] == tid].drop(columns="_tile").reset_index(drop=True)
            row = _report_row(tid, mine, overlap[i])
            report.append(row)
            if len(mine) == 0:
                continue
            fut = submit(i, mine, float(overlap[i]), row)
            if fut is not None:
                futs[tid] = fut
        done = _gather(cl, futs)
        _settle(report, done)
        timings["tiles_s"] = time.perf_counter() - t

        # pass 3: sites the first overlap could not prove exact, again with the overlap
        # each needs (a tile's core and just those sites)
        t = time.perf_counter()
        rerun, futs = [], {}
        for i, mine, wider in _reruns(report, sites, tiles, crs, p):
            row = _report_row(f"{tiles['tile_id'].iloc[i]}+", mine, wider)
            rerun.append(row)
            fut = submit(i, mine, wider, row)
            if fut is not None:
                futs[row["tile_id"]] = fut
        if rerun:
            done = _gather(cl, futs)
            _settle(rerun, done)
            report += rerun
        timings["rerun_s"] = time.perf_counter() - t
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if owned:
            _close_quietly(cl, interrupted)

    run = _TiledRun(study, tiles, crs, network, mode, demand_files, workdir, strict, t0, timings)
    return _finish_tiled(run, whole, report, prep)


def _finish_tiled(
    run: _TiledRun, whole: _WholeArea, report: list[dict], prep: dict[str, dict]
) -> TiledResults:
    """The finished tiles (`report`'s rows) merged into one ranking: failures, notes,
    exactness, the single run's rank stage, the buildings of the first pass's files."""
    study, tiles, crs, network, mode = run.study, run.tiles, run.crs, run.network, run.mode
    strict, workdir, t0, timings = run.strict, run.workdir, run.t0, run.timings
    sites, site_notes, hull, network_mwh = whole.sites, whole.notes, whole.hull, whole.network_mwh
    demand_files = run.demand_files
    p = study.params
    failed = [
        {
            "tile_id": row["tile_id"],
            "error": row["error"],
            "site_ids": row["site_ids"],
            "traceback": row.get("traceback", ""),
        }
        for row in report
        if row["status"] == "failed"
    ]
    if failed and (strict or not any(r["status"] in ("done", "cached") for r in report)):
        detail = "; ".join(f"tile {f['tile_id']}: {f['error']}" for f in failed)
        raise SitingError(
            f"{len(failed)} of {sum(r['n_sites'] > 0 for r in report)} tiles failed "
            f"({detail}); fix the cause and run again: finished tiles are kept in {workdir}."
        )

    # merge: one table, re-ranked; routes and buildings of all tiles; a site run again
    # with a wider overlap takes that run's rows
    merged = _merge(report, crs)
    table, notes = merged["table"], list(site_notes)
    notes.extend(n for n in merged["notes"] if n not in notes)
    # each tile counted its buffer's streets: one note with the cores' counts instead
    at = [k for k, n in enumerate(notes) if n.startswith(stages.VIABLE_NOTE_START)]
    if at:
        empty = sum(r["status"] == "empty" for r in report)
        where = f" of the {len(report) - empty} tiles holding sites" if empty else ""
        n_seg, len_m = merged["viable_streets"]
        notes[at[0]] = stages.viable_streets_note(n_seg, len_m, p, where)
        notes = [n for k, n in enumerate(notes) if k not in at[1:]]
    tile_timings = merged["timings"]
    site_overlap = merged["overlap_m"]
    if table["site_id"].duplicated().any():
        raise SitingError("internal error: a site was run in two tiles")
    # the ranking basis is the whole table's: one tile's sites may share a load the others
    # do not, and a tile of one site says nothing
    basis = ranking_basis(table)
    if not basis:
        notes = [n for n in notes if not n.startswith(RANKING_BASIS_START)]
    elif not any(n.startswith(RANKING_BASIS_START) for n in notes):
        notes.insert(0, basis)
    # the area hull of the whole extract decides "outside the study area" (a tile's hull is
    # smaller): a site a tile flagged outside but inside the whole area has no street near
    outside_text = "outside the study area"
    flagged = table["reason"].eq(outside_text).to_numpy()
    whole_inside = np.asarray(
        shapely.intersects(shapely.buffer(hull, p.max_snap_distance_m), table.geometry.values)
    )
    fix = flagged & whole_inside
    if fix.any():
        table.loc[fix, "reason"] = (
            f"unreachable: no street within {p.max_snap_distance_m:.0f} m of the site"
        )
    # each tile decided its own mode (DH areas and registry networks are found per tile)
    tile_mode = table["mode"].to_numpy() if "mode" in table else np.full(len(table), mode)
    mode = "existing_network" if (tile_mode == "existing_network").any() else mode
    # exactness: the overlap each site's result needs against the one it ran with
    need = _needed_overlap_m(table, sites, tiles, p)
    used = site_overlap.reindex(table["site_id"]).to_numpy(dtype=float)
    exact = need["overlap_m"].reindex(table["site_id"]).to_numpy(dtype=float) <= used + 1e-6
    unverified = sorted(table.loc[~exact, "site_id"].astype(str))
    # the single run's rank stage on the merged table (same columns, geometry last)
    site_geoms = gpd.GeoDataFrame({"site_id": table["site_id"]}, geometry=table.geometry, crs=crs)
    ranked_gdf, route_gdf = stages.rank(
        pd.DataFrame(table.drop(columns="geometry")),
        study,
        site_geoms,
        merged["routes"],
    )
    grid = {name: merged[name] for name in ("grid_lines", "substations")}
    if failed:
        notes.append(
            "tiles failed, their sites are missing from the ranking: "
            + "; ".join(f"{f['tile_id']} ({f['error']})" for f in failed)
        )
    if unverified:
        notes.append(
            f"{len(unverified)} site(s) could have a cheaper route, a nearer substation or "
            f"a network beyond their tile's overlap (at most {default_overlap_m(p):.0f} m "
            "was tried) and may not be exact: "
            + ", ".join(unverified[:20])
            + (" ..." if len(unverified) > 20 else "")
        )
    timings.update({f"tiles_sum_{k}": v for k, v in tile_timings.items()})
    timings["total_s"] = time.perf_counter() - t0
    core_of = tiles.set_index("tile_id").geometry
    report_gdf = gpd.GeoDataFrame(
        pd.DataFrame(report).drop(columns=["site_ids", "dir", "traceback"], errors="ignore"),
        geometry=[core_of[r["tile_id"].rstrip("+")] for r in report],
        crs=crs,
    )
    # every core's buildings (estimated once in the first pass), in tile order
    with_buildings = [
        tid
        for tid in tiles["tile_id"]
        if not prep[tid]["empty"] and prep[tid].get("n_buildings", 0) > 0
    ]
    return TiledResults(
        study=study,
        sites=ranked_gdf,
        routes=route_gdf,
        buildings=None,
        network=network,
        mode=mode,
        timings_s=timings,
        weather=stages.weather_of(study),
        network_demand_mwh_per_yr=served_demand_mwh(ranked_gdf, network_mwh),
        notes=notes,
        tiles=report_gdf,
        failed_tiles=failed,
        unverified_sites=unverified,
        grid_lines=grid["grid_lines"],
        substations=grid["substations"],
        building_parts=BuildingParts(
            [layer_path(demand_files[tid]) for tid in with_buildings],
            crs,
            centroid_paths=[centroid_path(demand_files[tid]) for tid in with_buildings],
        ),
    )


__all__ = [
    "TiledResults",
    "area_geometry",
    "assign_tiles",
    "default_overlap_m",
    "check_scheduler_address",
    "default_tile_count",
    "tile_overlap_m",
    "make_tiles",
    "max_grid_tiles",
    "probe_scheduler",
    "run_tiled",
]
