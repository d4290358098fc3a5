"""A study's buildings kept on disk as GeoParquet parts, read one part at a time.

A tiled run (:mod:`siting.tiles`) leaves each tile core's estimated buildings in its own
file; the study's buildings are those files concatenated in order. :class:`BuildingParts`
stands for that concatenation without building it: its count and extent come from the
files' metadata, :meth:`BuildingParts.frames` yields the parts with the columns and dtypes
the concatenation would have, and the heat-density cells are summed part by part
(:class:`siting.raster.CellSums`), so the result files and the map are written with one
part in memory. :meth:`BuildingParts.read` builds the whole frame (for analysts; several GB
at the size of a country).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyproj
import shapely

from siting.errors import InputDataError
from siting.raster import HEAT_COLUMN, CellSums

# the GeoTIFF's grid, which the map's heat layer shares by default: summed while the
# parts are read for the GeoPackage, so that pass serves both
DEFAULT_GRID = (100.0, "EPSG:3035")

# pyogrio's inference for a whole frame (GPKG holds no mixed single and multi types)
_MULTI = {"Point": "MultiPoint", "LineString": "MultiLineString", "Polygon": "MultiPolygon"}


def layer_geometry_type(types: Iterable[str]) -> tuple[str, bool]:
    """The GeoPackage layer type pyogrio infers for geometries of `types` (GeoParquet's
    names, e.g. "Polygon Z"), and whether it promotes single geometries to multi
    (Polygon and MultiPolygon: MultiPolygon); "Unknown" for other mixes."""
    types = set(types)
    has_z = any(t.endswith(" Z") for t in types)
    plain = {t.removesuffix(" Z") for t in types}
    if len(plain) == 1:
        kind, promote = plain.pop(), False
    elif len(plain) == 2 and any(plain == {s, m} for s, m in _MULTI.items()):
        kind, promote = max(plain, key=len), True  # the multi type's name is longer
    else:
        return "Unknown", False
    return (f"{kind} Z" if has_z else kind), promote


class BuildingParts:
    """Buildings as GeoParquet files, one per part, disjoint; the study's are their concatenation.

    Parameters
    ----------
    paths : the parts in order (a tiled run: tile order, then each core's own order).
    crs : the buildings' (metric) CRS; the frame of no parts has it too.
    centroid_paths : for each part, the file :func:`write_centroids` made of its buildings'
        centroids (a tiled run's first pass has them): the heat cells are then summed
        without reading a polygon. None: from the polygons.
    """

    def __init__(
        self,
        paths: Sequence[str | Path],
        crs: pyproj.CRS | str,
        centroid_paths: Sequence[str | Path] | None = None,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.crs = pyproj.CRS.from_user_input(crs)
        self.centroid_paths = None if centroid_paths is None else [Path(p) for p in centroid_paths]
        if self.centroid_paths is not None and len(self.centroid_paths) != len(self.paths):
            raise ValueError("give one centroid file per part.")
        self._cells: dict[tuple[float, str], CellSums] = {}

    def __repr__(self) -> str:
        return f"<BuildingParts: {len(self.paths)} files, {len(self):,} buildings>"

    # ----------------------------------------------------------------- metadata only

    @cached_property
    def _meta(self) -> list[dict]:
        """Each part's row count, bbox, geometry types and attrs, from its Parquet footer."""
        missing = [p for p in self.paths if not p.is_file()]
        if missing:
            raise InputDataError(
                f"the study's buildings were kept in {missing[0].parent.parent}, and "
                f"{len(missing)} of their {len(self.paths)} files are gone (first: "
                f"{missing[0]}); run the study again (it writes them anew)."
            )
        out = []
        for path in self.paths:
            md = pq.read_metadata(path)
            kv = md.metadata or {}
            geo = json.loads(kv[b"geo"])
            col = geo["columns"][geo["primary_column"]]
            attrs = kv.get(b"PANDAS_ATTRS")
            out.append(
                {
                    "rows": md.num_rows,
                    "bbox": col.get("bbox"),
                    "types": col.get("geometry_types", []),
                    "attrs": json.loads(attrs) if attrs else {},
                    "geometry": geo["primary_column"],
                    # the bbox column of GeoParquet 1.1's covering (read_parquet drops it)
                    "covering": [
                        c["covering"]["bbox"]["xmin"][0]
                        for c in geo["columns"].values()
                        if "covering" in c
                    ],
                }
            )
        return out

    def __len__(self) -> int:
        """The number of buildings (from the files' metadata; nothing is read)."""
        return sum(m["rows"] for m in self._meta)

    def extent(self) -> gpd.GeoDataFrame:
        """One box per part holding buildings: their bounds are the buildings' bounds."""
        boxes = [
            shapely.box(*m["bbox"])
            for m in self._meta
            if m["rows"] and m["bbox"] and all(map(_finite, m["bbox"]))
        ]
        return gpd.GeoDataFrame(geometry=gpd.GeoSeries(boxes, crs=self.crs), crs=self.crs)

    @property
    def attrs(self) -> dict:
        """The concatenation's attrs: the parts' when all parts have the same, else none."""
        attrs = [m["attrs"] for m in self._meta]
        return dict(attrs[0]) if attrs and all(a == attrs[0] for a in attrs) else {}

    def geometry_types(self) -> list[str]:
        """The geometry types of all parts (GeoParquet's names, e.g. "Polygon Z"), sorted."""
        return sorted({t for m in self._meta if m["rows"] for t in m["types"]})

    def first_with_values(self, column: str) -> Path | None:
        """The first part holding a value (not null) in `column` (from the files' statistics
        where they have them), or None."""
        for path in self.paths:
            md = pq.read_metadata(path)
            names = [md.schema.column(j).name for j in range(md.num_columns)]
            if column not in names:
                continue
            j = names.index(column)
            for g in range(md.num_row_groups):
                chunk = md.row_group(g).column(j)
                stats = chunk.statistics
                if stats is None or not stats.has_null_count:
                    if pq.read_table(path, columns=[column])[column].null_count < md.num_rows:
                        return path
                    break
                if stats.null_count < chunk.num_values:
                    return path
        return None

    @property
    def geometry_name(self) -> str:
        """The geometry column's name in the parts' files."""
        return self._meta[0]["geometry"] if self._meta else "geometry"

    def geometry_type(self) -> tuple[str, bool]:
        """The layer geometry type pyogrio gives the concatenation, and whether it promotes
        single geometries to multi (Polygon and MultiPolygon: MultiPolygon)."""
        return layer_geometry_type(self.geometry_types())

    @cached_property
    def dtypes(self) -> pd.Series:
        """Each column's dtype in the concatenation (a category whose categories differ
        between parts becomes text, an int column with a float one float, ...)."""
        proxies = []
        for path in self.paths:
            schema = pq.read_schema(path)
            geo = json.loads(schema.metadata[b"geo"])["columns"]
            cols = [n for n in schema.names if n not in geo and not n.startswith("__index")]
            proxy = schema.empty_table().select(cols).to_pandas()
            # a category's categories are in the data, not the schema
            cats = [f.name for f in schema if f.name in cols and pa.types.is_dictionary(f.type)]
            if cats:
                read = pq.read_table(path, columns=cats).to_pandas()
                proxy = proxy.astype({c: read[c].dtype for c in cats})
            proxies.append(proxy)
        if not proxies:
            return pd.Series(dtype=object)
        return pd.concat(proxies, ignore_index=True).dtypes

    # ----------------------------------------------------------------- reading

    def frames(self, columns: Sequence[str] | None = None) -> Iterator[gpd.GeoDataFrame]:
        """Each part as it is in the concatenation: its rows, index and dtypes.

        A full pass over the parts also sums the heat-density cells of `DEFAULT_GRID`
        (:meth:`cell_sums` then reads nothing).
        """
        pending = None
        if columns is None and DEFAULT_GRID not in self._cells:
            pending = CellSums(*DEFAULT_GRID)
        target, attrs, start = self.dtypes, self.attrs, 0
        self._meta  # noqa: B018  (missing files: one clear error before any is read)
        for path in self.paths:
            part = gpd.read_parquet(path, columns=None if columns is None else list(columns))
            # the one CRS the concatenation is given (a worker's copy may spell it apart)
            part.set_crs(self.crs, allow_override=True, inplace=True)
            part = _as_in_concatenation(part, start, target, attrs)
            start += len(part)
            if pending is not None:
                pending.add(part)
            yield part
        if pending is not None:
            self._cells[DEFAULT_GRID] = pending

    def read(self) -> gpd.GeoDataFrame:
        """Every building in one frame (all parts in memory at once; several GB for a country)."""
        self._meta  # noqa: B018
        if not self.paths:
            return gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=self.crs), crs=self.crs)
        parts = [gpd.read_parquet(p) for p in self.paths]
        return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=self.crs)

    def read_columns(self, columns: Sequence[str], text_as_category: bool = False) -> pd.DataFrame:
        """`columns` (not the geometry) of every building, in one frame: a few columns of a
        country fit where its polygons do not. Read a column at a time (one column of one
        part held besides the frame).

        `text_as_category`: text columns as categoricals (sorted categories: the same
        values, counts and comparisons) instead of a string per row: 5.3 M buildings'
        summary columns then take ~0.3 GB.
        """
        self._meta  # noqa: B018
        target = self.dtypes
        out = pd.DataFrame(index=pd.RangeIndex(len(self)))
        for c in columns:
            parts = []
            for path in self.paths:
                # the conversion gpd.read_parquet makes of a non-geometry column
                part = pq.read_table(path, columns=[c]).column(c).to_pandas()
                part = part.astype(target[c]) if part.dtype != target[c] else part
                parts.append(
                    part.astype("category") if text_as_category and _is_text(part) else part
                )
            if not parts:
                out[c] = pd.Series([], dtype=target.get(c, object))
            elif isinstance(parts[0].dtype, pd.CategoricalDtype):
                cats = sorted({v for part in parts for v in part.cat.categories})
                codes = [pd.Categorical(p.astype(object), categories=cats).codes for p in parts]
                joined = pd.Categorical.from_codes(np.concatenate(codes), categories=cats)
                out[c] = pd.Series(joined, index=out.index)
            else:
                out[c] = pd.concat(parts, ignore_index=True)
        out.attrs = self.attrs
        return out

    def cell_sums(
        self, cell_m: float = DEFAULT_GRID[0], crs: str | pyproj.CRS | None = DEFAULT_GRID[1]
    ) -> CellSums:
        """The buildings' heat per cell of `cell_m` in `crs` (None: the buildings' CRS), as
        :func:`siting.raster.heat_density` bins them; summed once per grid and kept."""
        cells = CellSums(cell_m, self.crs if crs is None else crs)
        key = (cells.cell_m, cells.crs.to_wkt())
        key = DEFAULT_GRID if key == _default_key() else key
        if key not in self._cells:
            if self.centroid_paths is not None:
                self._meta  # noqa: B018  (missing files: one clear error)
                for k, path in enumerate(self.paths):
                    self._add_centroids(cells, k, pq.read_table(path, columns=[HEAT_COLUMN]))
            else:
                for part in self.frames(columns=[HEAT_COLUMN, self.geometry_name]):
                    cells.add(part)
            self._cells[key] = cells
        return self._cells[key]

    def _add_centroids(self, cells: CellSums, k: int, table: pa.Table) -> None:
        """Add part `k` to `cells` from its centroid file and its heat column (in `table`)."""
        xy = pq.read_table(self.centroid_paths[k])
        if xy.num_rows != table.num_rows:
            raise InputDataError(
                f"{self.centroid_paths[k]} holds {xy.num_rows} centroids for the "
                f"{table.num_rows} buildings of {self.paths[k]}; run the study again."
            )
        x, y = (xy[c].to_numpy() for c in ("x", "y"))
        cells.add_centroids(x, y, table[HEAT_COLUMN].to_pandas(), self.crs)

    def wkb_parts(self) -> Iterator[tuple[pd.DataFrame, pa.ChunkedArray]]:
        """Each part's columns but the geometry (as :meth:`frames` gives them) and its
        geometries as stored (WKB), not decoded: for writers that pass WKB on (GDAL).

        With centroid files, a full pass also sums the heat cells of `DEFAULT_GRID`.
        """
        pending = None
        if self.centroid_paths is not None and DEFAULT_GRID not in self._cells:
            pending = CellSums(*DEFAULT_GRID)
        target, attrs, start = self.dtypes, self.attrs, 0
        for k, path in enumerate(self.paths):
            table = pq.read_table(path)
            name = self._meta[k]["geometry"]
            # the conversion gpd.read_parquet makes of the other columns
            part = table.drop_columns([name, *self._meta[k]["covering"]]).to_pandas()
            part = _as_in_concatenation(part, start, target, attrs)
            start += len(part)
            if pending is not None:
                self._add_centroids(pending, k, table)
            yield part, table[name]
        if pending is not None:
            self._cells[DEFAULT_GRID] = pending


def _as_in_concatenation(part: pd.DataFrame, start: int, dtypes: pd.Series, attrs: dict):
    """`part` as its rows are in the concatenation: index from `start`, the concatenation's
    `dtypes`, its `attrs`."""
    part.index = pd.RangeIndex(start, start + len(part))
    cast = {c: t for c, t in dtypes.items() if c in part.columns and part[c].dtype != t}
    if cast:
        part = part.astype(cast)
    part.attrs = dict(attrs)
    return part


def _is_text(column: pd.Series) -> bool:
    return column.dtype == object or pd.api.types.is_string_dtype(column.dtype)


def write_centroids(path: str | Path, x: np.ndarray, y: np.ndarray) -> None:
    """Save a part's building centroids (:func:`siting.raster.centroid_xy`, in the
    part's CRS, in its row order) for :class:`BuildingParts`' `centroid_paths`."""
    pq.write_table(pa.table({"x": np.asarray(x, float), "y": np.asarray(y, float)}), path)


def _default_key() -> tuple[float, str]:
    cells = CellSums(*DEFAULT_GRID)
    return cells.cell_m, cells.crs.to_wkt()


def _finite(x: float | None) -> bool:
    return x is not None and x == x and abs(x) != float("inf")
