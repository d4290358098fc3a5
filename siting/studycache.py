"""On-disk caches of a study's projected OSM layers and of its building demand estimate, so
a second study on the same extract skips the OSM read, the projection and the estimate.

Two kinds of entry live beside the street-graph cache (:mod:`siting.cache`), in the folder of
:func:`siting.cachedir.cache_dir`:

* ``layers-<key>.zip``: every layer `prepare_area` makes from the extract, in the study CRS
  (streets when they were read, buildings, land use, data centers, railways, addresses,
  power, exclusions), the extract's heat pipes and plants as parsed (EPSG:4326: the
  network is built from them before projection), the CRS and the area's boundary. Key:
  the SHA-256 of the OSM file's bytes, the study's `crs`, the entry format and
  :func:`siting.cachedir.code_fingerprint` (siting's files and the libraries' versions).
* ``demand-<key>.zip``: the buildings with their estimated demand and the streets' heat
  density (`estimate_demand`'s output). Key: the layers key, the street-graph key, every
  `Params` field, the weather file's SHA-256 and year, the format and the fingerprint.

An entry is a ZIP (stored, not compressed) of one Parquet file per layer (geometry as WKB,
streamed in chunks of rows, so a country-sized layer is not copied whole) and a
``meta.json`` with each layer's CRS, geometry column, dtypes, index and attrs (no pickles);
the ZIP's CRC of each member is checked before reading, so a truncated or damaged entry is
a miss (logged as a warning) and is written again. Entries are written to
a temporary file in the cache folder and moved into place (`os.replace`), so a reader never
sees half an entry; after a write the folder is trimmed to its size bound
(:func:`siting.cachedir.evict`). Nothing here changes a result: a hit returns the frames the
computation made, column for column and bit for bit (tests compare the ranking files).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from geopandas.array import GeometryDtype, from_shapely
from pandas.api.types import infer_dtype, is_object_dtype
from pyarrow.lib import ArrowException

from siting.cachedir import (
    cache_dir,
    code_fingerprint,
    file_sha256,
    max_bytes,
    spec_key,
    touch,
    write_file_entry,
    write_later,
)
from siting.sources.stream import LAYERS as OSM_LAYERS

log = logging.getLogger(__name__)

LAYERS_FORMAT = 1
DEMAND_FORMAT = 1
# layers kept as parsed (EPSG:4326): the extract's network is built from them
PARSED_LAYERS = ("heat_pipes", "heat_plants")
# the projected layers of an Area an entry holds (streets only when they were read)
AREA_LAYERS = tuple(name for name in OSM_LAYERS if name not in PARSED_LAYERS)
CHUNK_ROWS = 200_000  # rows converted to Arrow at a time when an entry is written
TEXT = ("string", "empty")  # what pandas infers of an object column Arrow keeps as it is
_ERRORS = (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile)


def layers_key(osm_path: str | Path, crs: str | None) -> str:
    """Cache key of the projected layers of `osm_path` in the study CRS `crs` (None: default)."""
    return spec_key(
        {
            "kind": "layers",
            "format": LAYERS_FORMAT,
            "osm_sha256": file_sha256(osm_path),
            "crs": crs,
            "reader": os.environ.get("SITING_OSM_READER", "").lower(),
            "code": code_fingerprint(),
        }
    )


def demand_key(
    layers: str, graph: str, params: Any, weather_path: Path | None, weather_year: int | None
) -> str:
    """Cache key of the demand estimate on the layers `layers` and street graph `graph`.

    Every field of `params` is in the key (the estimate reads many of them), as are the
    weather file's content and year (the climate factor).
    """
    return spec_key(
        {
            "kind": "demand",
            "format": DEMAND_FORMAT,
            "layers": layers,
            "graph": graph,
            "params": dataclasses.asdict(params),
            "weather_sha256": None if weather_path is None else file_sha256(weather_path),
            "weather_year": weather_year,
            "code": code_fingerprint(),
        }
    )


def entry_path(kind: str, key: str, folder: Path | None = None) -> Path:
    return (folder or cache_dir()) / f"{kind}-{key}.zip"


@dataclass
class CachedLayers:
    """The layers of one extract read from the cache (see the module docstring)."""

    crs: pyproj.CRS
    boundary: shapely.Geometry
    layers: dict[str, gpd.GeoDataFrame]
    has_streets: bool
    path: Path


@dataclass
class CachedDemand:
    """`estimate_demand`'s frames read from the cache."""

    buildings: gpd.GeoDataFrame
    street_density: gpd.GeoDataFrame
    meta: dict[str, Any]
    path: Path


def _attrs_json(attrs: dict) -> dict | None:
    """`attrs` when JSON keeps them exactly (then they can be stored), else None."""
    try:
        if json.loads(json.dumps(attrs)) == attrs:
            return attrs
    except (TypeError, ValueError):
        pass
    return None


def _layer_meta(gdf: gpd.GeoDataFrame) -> dict | None:
    """What a frame needs besides its columns: geometry column, CRS, attrs, dtypes, index;
    None when Parquet and JSON cannot keep it exactly (attrs JSON would change, a second
    geometry column, an object column holding anything but text: Arrow would give it another
    dtype; an index other than a RangeIndex)."""
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf._geometry_column_name not in gdf.columns:
        return None
    geometry = gdf.geometry.name
    index = gdf.index
    if not gdf.columns.is_unique or not isinstance(index, pd.RangeIndex):
        return None
    if not all(isinstance(c, str) for c in gdf.columns) or index.name is not None:
        return None
    for name in gdf.columns:
        column = gdf[name]
        if name != geometry and isinstance(column.dtype, GeometryDtype):
            return None
        if is_object_dtype(column.dtype):
            if infer_dtype(column, skipna=True) not in TEXT:
                return None
            values = column.to_numpy()
            if any(v is not None for v in values[pd.isna(values)]):
                return None  # NaN for a missing text: it would come back as None
    attrs = _attrs_json(dict(gdf.attrs))
    if attrs is None:
        return None
    return {
        "geometry": geometry,
        "crs_wkt": None if gdf.crs is None else gdf.crs.to_wkt(),
        "attrs": attrs,
        "dtypes": [str(dtype) for dtype in gdf.dtypes],
        "index": [index.start, index.stop, index.step],
    }


def _write_parquet(stream: Any, gdf: gpd.GeoDataFrame, geometry: str) -> None:
    """Write the frame to a binary stream as Parquet, its geometry as WKB, `CHUNK_ROWS` rows
    at a time (one row group each), so a country's layers need one chunk's copy at most."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    plain = pd.DataFrame(gdf, copy=False)
    others = plain.drop(columns=[geometry])
    # one schema for every chunk, from the whole frame (a chunk of gaps alone is no type)
    schema = pa.Schema.from_pandas(others, preserve_index=False)
    schema = schema.insert(list(plain.columns).index(geometry), pa.field(geometry, pa.binary()))
    with pq.ParquetWriter(stream, schema, compression="none") as writer:
        for start in range(0, max(len(plain), 1), CHUNK_ROWS):
            part = plain.iloc[start : start + CHUNK_ROWS].reset_index(drop=True)
            part[geometry] = shapely.to_wkb(gdf.geometry.values._data[start : start + CHUNK_ROWS])
            writer.write_table(pa.Table.from_pandas(part, schema=schema, preserve_index=False))


def _read_parquet(stream: Any, info: dict, crs_cache: dict) -> gpd.GeoDataFrame:
    """A frame written by :func:`_write_parquet` with its geometry, CRS, index and attrs."""
    import pyarrow.parquet as pq

    df = pq.read_table(stream).to_pandas(self_destruct=True, split_blocks=True)
    df.index = pd.RangeIndex(*info["index"])
    geometry = info["geometry"]
    for name, dtype in zip(df.columns, info["dtypes"], strict=True):
        if dtype == "object" and name != geometry and not is_object_dtype(df[name].dtype):
            # text kept in an object column: pandas reads Arrow strings as `str` by default
            text = df[name]
            df[name] = pd.Series(
                np.where(text.isna().to_numpy(), None, text.to_numpy(dtype=object)),
                index=df.index,
                dtype=object,
            )
        elif dtype == "category" and not isinstance(df[name].dtype, pd.CategoricalDtype):
            # a categorical with no category (a tag no row carries) comes back as nulls
            df[name] = df[name].astype("category")
    wkt = info["crs_wkt"]
    if wkt is not None and wkt not in crs_cache:  # parsing a CRS costs milliseconds
        crs_cache[wkt] = pyproj.CRS.from_wkt(wkt)
    values = from_shapely(shapely.from_wkb(df[geometry].to_numpy()))
    df[geometry] = gpd.GeoSeries(
        values, index=df.index, crs=None if wkt is None else crs_cache[wkt]
    )
    gdf = gpd.GeoDataFrame(df, geometry=geometry)
    got = [str(dtype) for dtype in gdf.dtypes]
    if got != info["dtypes"]:
        diff = [
            f"{c}: {w} -> {g}"
            for c, w, g in zip(gdf.columns, info["dtypes"], got, strict=True)
            if w != g
        ]
        raise ValueError(f"a column came back with another dtype ({'; '.join(diff)})")
    gdf.attrs = info["attrs"]
    return gdf


def _approx_bytes(frames: dict[str, gpd.GeoDataFrame]) -> int:
    """About what `frames` take as Parquet: 16 bytes per vertex, 8 per other cell."""
    total = 0
    for gdf in frames.values():
        if isinstance(gdf, gpd.GeoDataFrame) and gdf.geometry.name in gdf.columns:
            total += 16 * int(shapely.get_num_coordinates(gdf.geometry.values).sum())
        total += 8 * len(gdf) * max(len(gdf.columns), 1)
    return total


def _write_entry(path: Path, frames: dict[str, gpd.GeoDataFrame], meta: dict) -> Path | None:
    """Write frames and meta as one ZIP atomically; None (logged) when it cannot be written."""
    infos = {}
    for name, gdf in frames.items():
        info = _layer_meta(gdf)
        if info is None:
            log.info("cache: layer %s cannot be stored exactly; %s not cached", name, path.name)
            return None
        infos[name] = info
    meta = {**meta, "frames": infos}
    size = _approx_bytes(frames)
    if size > max_bytes() // 4:
        # a country's layers: the write would cost seconds and evict everything else
        log.info(
            "cache: %s would take ~%d MB, over a quarter of the cache bound; not cached",
            path.name,
            size >> 20,
        )
        return None

    def write(fh: BinaryIO) -> None:
        with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for name, gdf in frames.items():
                with zf.open(f"{name}.parquet", "w", force_zip64=True) as member:
                    _write_parquet(member, gdf, infos[name]["geometry"])
            zf.writestr("meta.json", json.dumps(meta))

    # a layer pyarrow cannot store (mixed object column) or a full disk: no entry
    return write_file_entry(
        path, write, "cache entry", (OSError, ValueError, TypeError, ImportError, ArrowException)
    )


def _read_entry(
    path: Path, skip: tuple[str, ...] = (), crs_cache: dict | None = None
) -> tuple[dict[str, gpd.GeoDataFrame], dict] | None:
    """The frames (all but `skip`) and meta of an entry; None when missing or damaged.

    `crs_cache` maps CRS WKT to the CRS object the frames get (filled as they are read).
    """
    if not path.is_file():
        return None
    crs_cache = {} if crs_cache is None else crs_cache
    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()  # every member against its CRC (reading seeks, unchecked)
            if bad is not None:
                raise zipfile.BadZipFile(f"{bad} fails its CRC check")
            meta = json.loads(zf.read("meta.json"))
            frames = {}
            for name, info in meta["frames"].items():
                if name in skip:
                    continue
                with zf.open(f"{name}.parquet") as member:
                    frames[name] = _read_parquet(member, info, crs_cache)
    except (*_ERRORS, ArrowException, shapely.errors.GEOSException) as exc:
        log.warning(
            "cache entry %s is damaged (%s: %s); computing it again", path, type(exc).__name__, exc
        )
        return None
    touch(path)
    return frames, meta


def load_layers(key: str, streets: bool, folder: Path | None = None) -> CachedLayers | None:
    """The cached layers for `key`, or None (missing, damaged, or without the streets
    `streets=True` asks for). `streets=False` leaves the streets unread (a cached graph)."""
    path = entry_path("layers", key, folder)
    if streets and path.is_file():
        try:
            with zipfile.ZipFile(path) as zf:
                if not json.loads(zf.read("meta.json")).get("has_streets"):
                    return None  # read when the graph came from its cache: read the file
        except _ERRORS:
            pass  # _read_entry says it is damaged
    crs_cache: dict[str, pyproj.CRS] = {}
    got = _read_entry(path, skip=() if streets else ("streets",), crs_cache=crs_cache)
    if got is None:
        return None
    frames, meta = got
    try:
        crs = crs_cache.get(meta["crs_wkt"]) or pyproj.CRS.from_wkt(meta["crs_wkt"])
        boundary = shapely.from_wkb(bytes.fromhex(meta["boundary_wkb"]))
    except (KeyError, ValueError, pyproj.exceptions.CRSError, shapely.errors.GEOSException) as exc:
        log.warning("cache entry %s is damaged (%s); computing it again", path, exc)
        return None
    return CachedLayers(
        crs=crs,
        boundary=boundary,
        layers=frames,
        has_streets=bool(meta.get("has_streets")),
        path=path,
    )


def save_layers(
    key: str,
    area: Any,
    parsed: dict[str, gpd.GeoDataFrame],
    has_streets: bool,
    folder: Path | None = None,
    *,
    later: bool = False,
) -> Path | None:
    """Write `area`'s layers (an :class:`siting.area.Area`) and the `parsed` ones.

    `later=True` writes on the cache-writer thread (:func:`siting.cachedir.write_later`)
    and returns None at once.
    """
    frames = {name: getattr(area, name) for name in AREA_LAYERS if name != "streets" or has_streets}
    frames.update({name: parsed[name] for name in PARSED_LAYERS})
    meta = {
        "format": LAYERS_FORMAT,
        "crs_wkt": area.crs.to_wkt(),
        "boundary_wkb": shapely.to_wkb(area.boundary).hex(),
        "has_streets": bool(has_streets),
    }
    return _save(entry_path("layers", key, folder), frames, meta, later)


def _save(path: Path, frames: dict[str, gpd.GeoDataFrame], meta: dict, later: bool) -> Path | None:
    """Write the entry now, or (`later`) shallow copies of its frames on the writer thread."""
    if not later:
        return _write_entry(path, frames, meta)
    # the run goes on changing its frames' columns; copies on write keep these as they are
    write_later(_write_entry, path, {n: f.copy(deep=False) for n, f in frames.items()}, meta)
    return None


def load_demand(key: str, folder: Path | None = None) -> CachedDemand | None:
    """The cached demand estimate for `key`, or None (missing or damaged)."""
    path = entry_path("demand", key, folder)
    got = _read_entry(path)
    if got is None:
        return None
    frames, meta = got
    if set(frames) != {"buildings", "street_density"}:
        return None
    return CachedDemand(frames["buildings"], frames["street_density"], meta, path)


def save_demand(
    key: str,
    buildings: gpd.GeoDataFrame,
    street_density: gpd.GeoDataFrame,
    meta: dict[str, Any],
    folder: Path | None = None,
    *,
    later: bool = False,
) -> Path | None:
    """Write the estimate's buildings, street density and `meta` (JSON: factor, notes).

    `later=True` writes on the cache-writer thread and returns None at once.
    """
    frames = {"buildings": buildings, "street_density": street_density}
    meta = {"format": DEMAND_FORMAT, **meta}
    return _save(entry_path("demand", key, folder), frames, meta, later)
