"""Large extracts: clip a `.osm.pbf` to an area in a streaming pass, store it as GeoParquet.

A country extract does not fit `read_osm`'s all-in-memory parse (pyrosm decodes the whole
file). :func:`clip_pbf` streams the file with pyosmium and keeps only what the area needs,
tracking object ids in osmium's compact C++ id sets (no location index, no geometry):

1. nodes inside the area's bounding box (grown by `margin_m`, so a street segment whose two
   nodes lie just outside but which crosses the area is still found);
2. ways with at least one of those nodes, and relations with a member among them;
3. the missing members of those relations and the nodes of all kept ways
   (``IdTracker.complete_backward_references``), so every way and multipolygon is complete;
4. one pass writing the kept objects to a small PBF.

The small PBF is then read by the same code as any extract (:func:`siting.sources.osm.read_osm`),
so the layers are exactly `read_osm`'s: each layer is filtered to the features that intersect
the area and written once to GeoParquet (:func:`clip_to_parquet`); :func:`read_osm_parquet`
reads it back as :class:`~siting.sources.osm.OsmData` (optionally only a bounding box or
polygon of it, using the files' bbox columns), so later studies and every tile of a tiled
study start from it. Measured on the Lyngby extract in README "Regional studies".
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import tempfile
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.cache import file_sha256
from siting.errors import InputDataError
from siting.sources import ingest
from siting.sources.osm import (
    WGS84,
    OsmData,
    _looks_like_pbf,
    check_pbf_structure,
    data_center_buildings,
    osm_from_layers,
    read_osm,
)
from siting.sources.power import exclusion_layer, power_layer

log = logging.getLogger(__name__)

LAYERS = (
    "streets",
    "buildings",
    "heat_pipes",
    "heat_plants",
    "landuse",
    "data_centers",
    "railways",
    "addresses",
    "power",
    "exclusions",
)
# layers a store written before they were kept lacks (read back empty)
OPTIONAL_LAYERS = ("addresses", "power", "exclusions")
META_FILE = "siting_osm.json"
STORE_VERSION = 2  # 2: rows in spatial order (bbox row groups), `_row` the original order
ROW_COLUMN = "_row"
ROW_GROUP_ROWS = 50_000
IN_MEMORY_MAX_BYTES = 64 << 20  # smaller PBFs: read whole (faster); larger: stream
DEFAULT_MARGIN_M = 2_000.0  # longest street segment (node to node) that crosses the area
# a streamed store orders each chunk on a world-wide grid of 2**20 cells a side (~38 m)
WORLD_BOUNDS = [-180.0, -90.0, 180.0, 90.0]
STREAM_ORDER_BITS = 20
STREAM_ROW_GROUP_ROWS = 10_000
PENDING_WRITES = 10  # layer chunks (about one chunk) queued for the store's writer thread


def _as_area(area: object) -> shapely.Geometry | None:
    """A lon/lat polygon from (minx, miny, maxx, maxy), a shapely geometry or a GeoDataFrame."""
    if area is None:
        return None
    if isinstance(area, gpd.GeoDataFrame | gpd.GeoSeries):
        geo = area.to_crs(WGS84) if area.crs is not None else area
        return shapely.union_all(geo.geometry.values if hasattr(geo, "geometry") else geo.values)
    if isinstance(area, shapely.Geometry):
        return area
    values = list(area)  # type: ignore[call-overload]
    if len(values) != 4:
        raise InputDataError(
            f"area {area!r} is not a bounding box; give (min_lon, min_lat, max_lon, max_lat), "
            "a shapely polygon in lon/lat or a GeoDataFrame."
        )
    return shapely.box(*map(float, values))


def _grow_bbox(bounds: tuple[float, ...], margin_m: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = bounds
    dlat = margin_m / 111_320.0
    dlon = margin_m / (111_320.0 * max(math.cos(math.radians(max(abs(y0), abs(y1)))), 0.05))
    return x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat


def clip_pbf(
    pbf: str | Path,
    area: object,
    out_pbf: str | Path,
    margin_m: float = DEFAULT_MARGIN_M,
) -> Path:
    """Stream `pbf` and write the objects needed for `area` (complete ways and relations).

    Memory is that of osmium's id sets of the kept objects, not of the file; time is four
    passes over the file (node pass in Python, the rest mostly in C++).
    """
    import osmium

    pbf, out_pbf = Path(pbf), Path(out_pbf)
    geom = _as_area(area)
    x0, y0, x1, y1 = _grow_bbox(geom.bounds, margin_m)
    tracker = osmium.IdTracker()
    t = time.perf_counter()
    for node in osmium.FileProcessor(str(pbf), osmium.osm.NODE):
        loc = node.location
        if loc.valid() and x0 <= loc.lon <= x1 and y0 <= loc.lat <= y1:
            tracker.add_node(node.id)
    for way in osmium.FileProcessor(str(pbf), osmium.osm.WAY):
        if tracker.contains_any_references(way):
            tracker.add_way(way.id)
    for rel in osmium.FileProcessor(str(pbf), osmium.osm.RELATION):
        if tracker.contains_any_references(rel):
            tracker.add_relation(rel.id)
    # members of the kept relations (one level of nested relations), then their ways' nodes
    tracker.complete_backward_references(str(pbf), relation_depth=1)
    out_pbf.parent.mkdir(parents=True, exist_ok=True)
    out_pbf.unlink(missing_ok=True)
    with osmium.SimpleWriter(str(out_pbf)) as writer:
        for obj in osmium.FileProcessor(str(pbf)).with_filter(tracker.id_filter()):
            writer.add(obj)
    log.info("clipped %s to %s in %.1f s", pbf, out_pbf, time.perf_counter() - t)
    return out_pbf


def _intersecting(gdf: gpd.GeoDataFrame, geom: shapely.Geometry | None) -> gpd.GeoDataFrame:
    if geom is None or len(gdf) == 0:
        return gdf.reset_index(drop=True)
    hit = gdf.sindex.query(geom, predicate="intersects")
    hit.sort()
    return gdf.iloc[hit].reset_index(drop=True)


def clip_osm(osm: OsmData, area: object) -> OsmData:
    """Keep the features of every layer of `osm` that intersect `area` (lon/lat)."""
    geom = _as_area(area)
    return OsmData(
        **{name: _intersecting(getattr(osm, name), geom) for name in LAYERS},
        source=osm.source,
    )


def _parquet_safe(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Object columns with mixed value types (Arrow needs one type) become strings."""
    out = gdf
    for col in gdf.columns:
        if col == "geometry" or gdf[col].dtype != object:
            continue
        kinds = {type(v) for v in gdf[col].dropna().head(100_000)}
        if len(kinds) > 1 or (kinds and not kinds <= {str, bool, int, float}):
            out = out.copy() if out is gdf else out
            out[col] = gdf[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def clip_to_parquet(
    pbf: str | Path,
    area: object,
    out_dir: str | Path,
    margin_m: float = DEFAULT_MARGIN_M,
    overwrite: bool = False,
    method: str = "auto",
    flush_rows: int | None = None,
) -> Path:
    """Clip `pbf` to `area` (bbox / polygon in lon/lat; None = the whole file) into GeoParquet.

    Writes `<layer>.parquet` for every :class:`OsmData` layer (EPSG:4326, with bbox covering
    columns so a bounding box of it reads fast) and `siting_osm.json` (source, its SHA-256,
    the area, counts, the streets' bounds). A store already written from the same file and
    area is reused (returned at once) unless `overwrite`.

    `method`:

    - "ingest": one streamed pass of the one-pass reader (:func:`ingest_to_parquet`): the
      layers of `read_osm`, clipped, written chunk by chunk (`flush_rows` features at a
      time); memory is the node locations (16 bytes a node) and one chunk;
    - "stream": "ingest" where the one-pass reader can read the file, else "osmium";
    - "osmium": :func:`clip_pbf` (pyosmium id sets, then `read_osm` of the small file);
    - "memory": `read_osm` of the whole file, then clip (memory grows with the file);
    - "auto": "memory" below `IN_MEMORY_MAX_BYTES` (64 MB of PBF), else "stream".

    Returns `out_dir`, which :func:`read_osm_parquet` and ``Study(osm_path=out_dir)`` in a
    tiled run read.
    """
    pbf, out = Path(pbf).expanduser(), Path(out_dir).expanduser()
    geom = _as_area(area)
    sha = file_sha256(pbf)
    meta_path = out / META_FILE
    area_wkt = _area_wkt(geom)
    if meta_path.is_file() and not overwrite:
        meta = json.loads(meta_path.read_text())
        if meta.get("osm_sha256") == sha and meta.get("area_wkt") == area_wkt:
            return out
    if method == "auto":
        method = "memory" if pbf.stat().st_size < IN_MEMORY_MAX_BYTES else "stream"
    if method == "stream":
        method = "ingest" if _ingest_can_read(pbf) else "osmium"
    if method == "ingest":
        return ingest_to_parquet(pbf, out, geom, sha=sha, flush_rows=flush_rows)
    if method not in ("memory", "osmium"):
        raise ValueError(f"method {method!r}: use auto, ingest, stream, osmium or memory.")
    t = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="siting-clip-") as tmp:
        if geom is None:
            osm = read_osm(pbf)
        elif method == "memory":
            osm = clip_osm(read_osm(pbf), geom)
        else:
            small = clip_pbf(pbf, geom, Path(tmp) / "clip.osm.pbf", margin_m=margin_m)
            osm = clip_osm(read_osm(small), geom)
    osm.source = str(pbf)
    write_osm_parquet(
        osm,
        out,
        osm_sha256=sha,
        area_wkt=area_wkt,
        margin_m=margin_m,
        method=method if geom is not None else "whole file",
        seconds=round(time.perf_counter() - t, 2),
    )
    return out


def _area_wkt(geom: shapely.Geometry | None) -> str | None:
    """The area as a store's `siting_osm.json` records it (None: the whole file)."""
    return None if geom is None else shapely.to_wkt(geom, rounding_precision=9)


def _union_bounds(boxes: list) -> list[float] | None:
    """The box (min x, min y, max x, max y) around `boxes` (None entries left out)."""
    boxes = [b for b in boxes if b is not None]
    if not boxes:
        return None
    a = np.asarray(boxes, dtype=float)
    return [float(a[:, 0].min()), float(a[:, 1].min()), float(a[:, 2].max()), float(a[:, 3].max())]


def _write_meta(out: Path, source: str, counts: dict, streets_bounds, bounds, **meta) -> None:
    """A store's `siting_osm.json`: format, source, layer counts, bounds and `meta`."""
    info = {
        "format": STORE_VERSION,
        "source": source,
        "counts": counts,
        "streets_bounds": streets_bounds,
        "bounds": bounds,
        **meta,
    }
    info.setdefault("osm_sha256", None)
    (out / META_FILE).write_text(json.dumps(info, indent=1))


def _ingest_can_read(pbf: Path) -> bool:
    return ingest.available() and _looks_like_pbf(pbf)


class _StoreSink:
    """Writes the chunks of a streamed read (:func:`siting.sources.ingest.stream_layers`)
    to one GeoParquet file per layer, as `read_osm` would have made the layers.

    Each chunk is post-processed as `read_osm` does it (row by row), clipped to `area`,
    given its rows' `_row` (the place in the whole layer) and written in spatial order
    (:func:`_z_order` on a world-wide grid: a chunk covers the whole file's area, so
    its row groups are small, `STREAM_ROW_GROUP_ROWS`, and each covers a compact patch).
    The data-center layer is written last: the buildings tagged data_center follow it.
    """

    def __init__(self, folder: Path, area: shapely.Geometry | None, source: str) -> None:
        self.folder, self.area, self.source = folder, area, source
        # WKB encoding, Parquet's encoding and compression run outside the GIL: one thread
        # writes each layer's chunks in order while this one post-processes the next
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="siting-store")
        self.pending: deque[Future] = deque()
        self.reset()

    def _wait(self, keep: int = 0) -> None:
        """Wait until at most `keep` writes are pending (their errors raised here)."""
        while len(self.pending) > keep:
            self.pending.popleft().result()

    def abort(self) -> None:
        """Stop: pending writes finish (errors dropped), the files are closed."""
        while self.pending:
            with contextlib.suppress(Exception):
                self.pending.popleft().result()
        for writer in getattr(self, "writers", {}).values():
            with contextlib.suppress(Exception):
                writer.close()
        self.writers = {}
        self.pool.shutdown()

    def reset(self) -> None:
        self._wait()
        for writer in getattr(self, "writers", {}).values():
            writer.close()
        for f in self.folder.glob("*.parquet"):
            f.unlink()
        self.writers: dict[str, object] = {}
        self.schemas: dict[str, object] = {}
        self.rows = dict.fromkeys(LAYERS, 0)
        self.dc: list[gpd.GeoDataFrame] = []
        self.dc_buildings: list[gpd.GeoDataFrame] = []
        self.bounds: dict[str, list[float]] = {}
        self.empty: dict[str, gpd.GeoDataFrame] = {}

    def write(self, raw: dict) -> None:
        raw = dict(raw)
        raw["power"] = power_layer(raw["power"])
        raw["exclusions"] = exclusion_layer(raw["exclusions"])
        osm = osm_from_layers(raw, self.source, dc_buildings=False)
        if self.area is not None:
            osm = clip_osm(osm, self.area)
        for name in LAYERS:
            gdf = getattr(osm, name)
            if name == "data_centers":
                self.dc.append(gdf)
            else:
                self._append(name, gdf)
        if len(osm.buildings):
            self.dc_buildings.append(data_center_buildings(osm.buildings))

    def _append(self, name: str, gdf: gpd.GeoDataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq
        from geopandas.io.arrow import _geopandas_to_arrow

        if len(gdf) == 0:
            if len(gdf.columns) > len(self.empty.get(name, gdf).columns) or name not in self.empty:
                self.empty[name] = gdf  # the columns of a layer no chunk has a row of
            return
        gdf = _parquet_safe(gdf)
        geoms = np.asarray(gdf.geometry.values)
        b = shapely.bounds(geoms)  # once: the order, the bbox columns and the store's bounds
        if name in ("streets", "buildings") and np.isfinite(b).any():
            box = [*np.nanmin(b[:, :2], axis=0), *np.nanmax(b[:, 2:], axis=0)]
            self.bounds[name] = _union_bounds([self.bounds.get(name), box])
        order = _z_order(b, WORLD_BOUNDS, STREAM_ORDER_BITS)
        geom_col = gdf.geometry.name
        plain = pd.DataFrame(gdf.drop(columns=geom_col)).take(order)
        plain[ROW_COLUMN] = self.rows[name] + order  # `_row`: the place in the whole layer
        self.rows[name] += len(gdf)
        if name not in self.writers:  # the schema and GeoParquet metadata, from geopandas
            head = gdf.iloc[order[:1]].assign(**{ROW_COLUMN: plain[ROW_COLUMN].iloc[:1].values})
            schema = _canonical_schema(
                _geopandas_to_arrow(head, index=False, write_covering_bbox=True).schema
            )
            self.schemas[name] = schema
            self.writers[name] = pq.ParquetWriter(self.folder / f"{name}.parquet", schema)
        schema, writer = self.schemas[name], self.writers[name]

        def write() -> None:
            table = pa.Table.from_pandas(plain, preserve_index=False)
            cols = {c: table.column(c) for c in table.column_names}
            cols[geom_col] = pa.array(shapely.to_wkb(geoms[order]), type=pa.binary())
            bb = b[order]
            cols["bbox"] = pa.StructArray.from_arrays(
                [pa.array(bb[:, i]) for i in range(4)], names=["xmin", "ymin", "xmax", "ymax"]
            )
            table = pa.Table.from_arrays([cols[f.name].cast(f.type) for f in schema], schema=schema)
            writer.write_table(table, row_group_size=STREAM_ROW_GROUP_ROWS)

        self._wait(keep=PENDING_WRITES - 1)  # memory: a few chunks' tables, not the file's
        self.pending.append(self.pool.submit(write))

    def close(self) -> dict[str, int]:
        """Write the data centers, close the files, write empty layers; the row counts."""
        dc = [g for g in self.dc + self.dc_buildings if len(g)]
        if dc:
            self._append(
                "data_centers",
                gpd.GeoDataFrame(pd.concat(dc, ignore_index=True), geometry="geometry", crs=WGS84),
            )
        self._wait()
        self.pool.shutdown()
        for writer in self.writers.values():
            writer.close()
        for name in LAYERS:
            if name not in self.writers:  # no row: an empty layer, as the memory method writes
                empty = self.empty.get(name)
                if empty is None:
                    empty = gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=WGS84)}, crs=WGS84)
                _spatial_order(_parquet_safe(empty), None).to_parquet(
                    self.folder / f"{name}.parquet", write_covering_bbox=True, index=False
                )
        return dict(self.rows)


def _canonical_schema(schema):
    """`schema` with types every chunk can be cast to: text columns as string, categorical
    ones as dictionary(int32, string) (a chunk's own codes are 1-4 bytes), geometry types
    and bbox left out of the GeoParquet metadata (they describe the first chunk only)."""
    import pyarrow as pa

    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_dictionary(t):
            t = pa.dictionary(pa.int32(), pa.string())
        elif pa.types.is_null(t) or pa.types.is_large_string(t) or pa.types.is_string(t):
            t = pa.string()
        fields.append(pa.field(f.name, t, nullable=True))
    meta = dict(schema.metadata or {})
    if b"geo" in meta:
        geo = json.loads(meta[b"geo"])
        for col in geo.get("columns", {}).values():
            col["geometry_types"] = []
            col.pop("bbox", None)
        meta[b"geo"] = json.dumps(geo).encode()
    return pa.schema(fields, metadata=meta)


def ingest_to_parquet(
    pbf: str | Path,
    out_dir: str | Path,
    area: object = None,
    sha: str | None = None,
    flush_rows: int | None = None,
) -> Path:
    """The GeoParquet store of `pbf` (clipped to `area`, lon/lat; None: all of it) in one
    streamed pass of the one-pass reader (:func:`siting.sources.ingest.stream_layers`).

    The layers are `read_osm`'s (the same rows, columns and `_row` order); memory holds the
    node locations and one chunk of `flush_rows` features, not the file's features. The
    store is written in a temporary folder beside `out_dir` and renamed into place.
    """
    pbf, out = Path(pbf).expanduser(), Path(out_dir).expanduser()
    check_pbf_structure(pbf)
    geom = _as_area(area)
    sha = sha or file_sha256(pbf)
    t = time.perf_counter()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".siting-tmp-store-", dir=out.parent))
    try:
        sink = _StoreSink(tmp, geom, str(pbf))
        try:
            ingest.stream_layers(pbf, sink, flush_rows=flush_rows or ingest.FLUSH_ROWS)
            counts = sink.close()
        except BaseException:
            sink.abort()  # no write may go on in the folder removed below
            raise
        streets_bounds = sink.bounds.get("streets")
        _write_meta(
            tmp,
            str(pbf),
            counts,
            streets_bounds,
            _union_bounds([streets_bounds, sink.bounds.get("buildings")]),
            osm_sha256=sha,
            area_wkt=_area_wkt(geom),
            method="ingest",
            seconds=round(time.perf_counter() - t, 2),
        )
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=".siting-tmp-old-", dir=out.parent))
            out.rename(old / "store")
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("ingested %s into %s in %.1f s", pbf, out, time.perf_counter() - t)
    return out


def write_osm_parquet(osm: OsmData, out_dir: str | Path, **meta: object) -> Path:
    """Write every layer of `osm` to `<layer>.parquet` in `out_dir` and `siting_osm.json`.

    Also for data not read from a file (a synthetic region, a pre-processed extract); extra
    `meta` (e.g. `osm_sha256`, the key tiled runs use for their results) goes in the json.
    """
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    counts = {}
    bounds = _store_bounds(osm)
    for name in LAYERS:
        gdf = _spatial_order(_parquet_safe(getattr(osm, name)), bounds)
        gdf.to_parquet(
            out / f"{name}.parquet",
            write_covering_bbox=True,
            index=False,
            row_group_size=ROW_GROUP_ROWS,
        )
        counts[name] = len(gdf)
    streets_bounds = osm.streets.total_bounds.tolist() if len(osm.streets) else None
    _write_meta(out, osm.source, counts, streets_bounds, bounds, **meta)
    return out


def _spatial_order(gdf: gpd.GeoDataFrame, bounds: list[float] | None) -> gpd.GeoDataFrame:
    """The rows in Z-order of their bounding-box centres on a 1024 x 1024 grid over the
    store, with `_row` their original position: each row group then covers a compact patch,
    so a bounding-box read skips the others (OSM id order spreads every group country-wide).
    """
    out = gdf.assign(**{ROW_COLUMN: np.arange(len(gdf), dtype=np.int64)})
    if len(gdf) < 2 or bounds is None:
        return out
    return out.iloc[_z_order(shapely.bounds(np.asarray(gdf.geometry.values)), bounds, 10)]


def _z_order(b: np.ndarray, bounds: list[float], bits: int) -> np.ndarray:
    """The permutation that sorts boxes `b` (n x 4) by the Morton code of their centres on
    a 2**bits square grid over `bounds` (stable: equal codes keep their order)."""
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    x0, y0, x1, y1 = bounds
    top = float(2**bits - 1)
    ix = np.clip((cx - x0) / max(x1 - x0, 1e-12) * top, 0, top)
    iy = np.clip((cy - y0) / max(y1 - y0, 1e-12) * top, 0, top)
    ix = np.nan_to_num(ix).astype(np.uint64)
    iy = np.nan_to_num(iy).astype(np.uint64)
    key = np.zeros(len(b), dtype=np.uint64)
    for bit in range(bits):  # interleave the bits: Morton (Z-order) code
        key |= ((ix >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit)
        key |= ((iy >> np.uint64(bit)) & np.uint64(1)) << np.uint64(2 * bit + 1)
    return np.argsort(key, kind="stable")


def _store_bounds(osm: OsmData) -> list[float] | None:
    return _union_bounds(
        [getattr(osm, n).total_bounds for n in ("streets", "buildings") if len(getattr(osm, n))]
    )


def is_parquet_store(path: str | Path) -> bool:
    return (Path(path).expanduser() / META_FILE).is_file()


def store_meta(path: str | Path) -> dict:
    """The `siting_osm.json` of a store written by :func:`clip_to_parquet`."""
    meta_path = Path(path).expanduser() / META_FILE
    if not meta_path.is_file():
        raise InputDataError(
            f"{path} is not a GeoParquet store written by clip_to_parquet (no {META_FILE}); "
            "make one with siting.sources.stream.clip_to_parquet(pbf, area, out_dir)."
        )
    return json.loads(meta_path.read_text())


def read_osm_parquet(
    path: str | Path,
    area: object = None,
    layers: tuple[str, ...] = LAYERS,
    keep_row: bool = False,
) -> OsmData:
    """Read a store written by :func:`clip_to_parquet` back as :class:`OsmData`.

    `area` (bbox or lon/lat polygon) reads only the features intersecting it (row groups
    outside its bounding box are skipped via the bbox columns). Layers not in `layers` come
    back empty. `keep_row`: keep the `_row` column (each feature's place in the extract), so
    parts read separately can be put back in the extract's order.
    """
    path = Path(path).expanduser()
    meta = store_meta(path)
    geom = _as_area(area)
    data = {}
    for name in LAYERS:
        if name not in layers:
            data[name] = gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=WGS84)}, crs=WGS84)
            continue
        if name in OPTIONAL_LAYERS and not (path / f"{name}.parquet").exists():
            # a store written before the layer was kept (addresses, power grid, exclusions)
            data[name] = gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=WGS84)}, crs=WGS84)
            continue
        kwargs = {"bbox": tuple(geom.bounds)} if geom is not None else {}
        gdf = gpd.read_parquet(path / f"{name}.parquet", **kwargs)
        if "bbox" in gdf.columns:
            gdf = gdf.drop(columns="bbox")
        if gdf.crs is None:
            gdf = gdf.set_crs(WGS84)
        gdf = _intersecting(gdf, geom)
        if ROW_COLUMN in gdf.columns:  # back to the extract's order
            gdf = gdf.sort_values(ROW_COLUMN, kind="stable").reset_index(drop=True)
            if not keep_row:
                gdf = gdf.drop(columns=ROW_COLUMN)
        data[name] = gdf
    return OsmData(**data, source=meta.get("source", str(path)))


def read_layer_coordinates(path: str | Path, name: str, area: object = None) -> np.ndarray:
    """The vertices (x, y; lon/lat) of layer `name`'s features whose bounding box meets
    `area`'s (all features: None), without their other columns.

    For hulls: every feature meets some box of a set covering the store, so the hull of
    what such boxes read is the whole layer's, from a cheaper read than the features'.
    """
    file = Path(path).expanduser() / f"{name}.parquet"
    if not file.exists():  # a layer a store written before it was kept lacks
        return np.empty((0, 2))
    geom = _as_area(area)
    kwargs = {"bbox": tuple(geom.bounds)} if geom is not None else {}
    part = gpd.read_parquet(file, columns=["geometry"], **kwargs)
    return shapely.get_coordinates(part.geometry.values)


__all__ = [
    "LAYERS",
    "clip_osm",
    "clip_pbf",
    "clip_to_parquet",
    "ingest_to_parquet",
    "is_parquet_store",
    "read_layer_coordinates",
    "read_osm_parquet",
    "store_meta",
    "write_osm_parquet",
]
