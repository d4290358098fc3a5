"""`Results`: everything a study produced, its map, its files and its notebook summary."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely

from siting import demand
from siting.building_parts import DEFAULT_GRID, BuildingParts, layer_geometry_type
from siting.config import Study
from siting.errors import OutputError
from siting.gpkg_styles import style_geopackage
from siting.mapchild import MapChild, MapChildLost
from siting.naming import display_name
from siting.outputs import RESULT_FILES, check_output_dir, staged_output
from siting.raster import HEAT_COLUMN, heat_density, heat_density_cells, heat_density_from_cell_sums

# the buildings layer: OSM identity (osm_type way/relation + osm_id, as QGIS's QuickOSM
# names them), then every column siting.demand.estimate adds, then whether the heat demand
# was given by the user or estimated
BUILDING_COLUMNS = [
    "osm_id",
    "osm_type",
    "building",
    "name",
    *demand.OUTPUT_COLUMNS,
    "demand_source",
]


@dataclass
class Results:
    """Everything a study produced; all layers in the study's metric CRS.

    Attributes
    ----------
    sites : the ranking, one row per candidate site (geometry = the site).
    routes : the pipe route of each reachable site (transmission or local network).
    buildings : buildings with floor area, dwellings and heat demand.
    network : the district-heating network used (None in new-local-network mode).
    """

    study: Study
    sites: gpd.GeoDataFrame
    routes: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    network: gpd.GeoDataFrame | None
    mode: str
    timings_s: dict[str, float] = field(default_factory=dict)
    weather: pd.Series | None = None  # hourly outdoor °C the study used
    network_demand_mwh_per_yr: float = 0.0  # existing network's annual demand (used/estimated)
    notes: list[str] = field(default_factory=list)  # assumptions an analyst should know
    street_density: gpd.GeoDataFrame | None = None  # MWh/m/yr of buildings along each street
    dh_areas: gpd.GeoDataFrame | None = None  # district heating located from heat density
    series: Any = None  # hourly IT load / source temperature / price (stages.HourlySeries)
    grid_lines: gpd.GeoDataFrame | None = None  # each site's line to its substation
    substations: gpd.GeoDataFrame | None = None  # the extract's substations with their kV

    @staticmethod
    def buildings_layer(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        """The buildings columns a study keeps (`BUILDING_COLUMNS`), with the demand tags.

        An extract's buildings carry pyrosm's `id` and `osm_type`: `id` becomes `osm_id`
        (int64), so each row links to openstreetmap.org/<osm_type>/<osm_id>.
        """
        attrs = dict(buildings.attrs)  # tag warnings for the demand summary
        if "osm_id" not in buildings.columns and {"id", "osm_type"} <= set(buildings.columns):
            ids = pd.to_numeric(buildings["id"], errors="coerce").astype("Int64")
            buildings = buildings.assign(osm_id=ids)
        out = buildings[[c for c in BUILDING_COLUMNS if c in buildings.columns] + ["geometry"]]
        out.attrs = attrs
        return out

    def __repr__(self) -> str:
        n_ok = int(self.sites["feasible"].sum()) if len(self.sites) else 0
        return (
            f"<siting.Results {self.study.name!r}: {len(self.sites)} sites, {n_ok} feasible, "
            f"mode {self.mode}>"
        )

    def _repr_html_(self) -> str:
        """A short notebook summary: the best sites, the mode, the network, the notes."""
        esc = html.escape
        cols = [
            ("rank", "rank", "{:.0f}"),
            ("site", "site_id", "{}"),
            ("name", "label", "{}"),
            ("IT MW", "it_load_mw", "{:,.1f}"),
            ("route m", "route_length_m", "{:,.0f}"),
            ("delivered MWh/yr", "delivered_heat_mwh_per_yr", "{:,.0f}"),
            ("homes", "homes_served", "{:,.0f}"),
            ("LCOH EUR/MWh", "lcoh_eur_per_mwh", "{:,.1f}"),
        ]
        ok = self.sites[self.sites["feasible"]] if len(self.sites) else self.sites
        rows = []
        for _, site in ok.head(5).iterrows():
            cells = []
            for _, col, fmt in cols:
                v = site.get(col, "")
                try:
                    text = "" if v is None or v != v else fmt.format(v)
                except (TypeError, ValueError):
                    text = str(v)
                cells.append(f"<td>{esc(text)}</td>")
            rows.append("<tr>" + "".join(cells) + "</tr>")
        head = "".join(f"<th>{esc(h)}</th>" for h, _, _ in cols)
        if self.mode == "existing_network":
            attrs = self.network.attrs if self.network is not None else {}
            source = esc(str(attrs.get("source", "network")))
            net = f"existing network, {self.network_demand_mwh_per_yr:,.0f} MWh/yr ({source})"
        else:
            net = "new local networks (no existing network to tap)"
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return (
            f"<div><b>siting: {esc(display_name(self.study))}</b> &middot; "
            f"{len(self.sites)} candidate sites, {len(ok)} feasible &middot; {net}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
            + (
                f"<details><summary>{len(self.notes)} notes</summary><ul>{notes}</ul></details>"
                if self.notes
                else ""
            )
            + "<small>results.sites: the full ranking; results.map(); "
            "results.to_files(out_dir)</small></div>"
        )

    @property
    def ranking(self) -> pd.DataFrame:
        """The ranking as a plain table (no geometry; lon/lat of each site)."""
        pts = self.sites.geometry.representative_point().to_crs("EPSG:4326")
        table = pd.DataFrame(self.sites.drop(columns="geometry"))
        table["lon"] = pts.x.round(6).values
        table["lat"] = pts.y.round(6).values
        return table

    @property
    def n_buildings(self) -> int:
        """The number of buildings (a tiled run counts them in its files' metadata)."""
        parts = self._building_parts()
        return len(self.buildings) if parts is None else len(parts)

    def heat_density_grid(
        self, cell_m: float = 100.0, crs: str | None = "EPSG:3035"
    ) -> gpd.GeoDataFrame:
        """The buildings' heat demand per cell, as polygons: the cells of `heat_density.tif`
        with the defaults (:func:`siting.maps.heat_density_grid`; crs None: the study's).

        A tiled run sums them tile by tile, without gathering its buildings.
        """
        parts = self._building_parts()
        if parts is None:
            from siting.maps import heat_density_grid

            return heat_density_grid(self.buildings, cell_m, crs)
        return parts.cell_sums(cell_m, crs).frame()

    def demand_summary(self) -> dict[str, Any]:
        """:func:`siting.demand.summary` of the buildings (a tiled run reads only the
        columns it needs from its files)."""
        parts = self._building_parts()
        if parts is None:
            return demand.summary(self.buildings, self.study.params)
        columns = parts.read_columns(demand.SUMMARY_COLUMNS, text_as_category=True)
        return demand.summary(columns, self.study.params)

    def _building_parts(self) -> BuildingParts | None:
        """Where a tiled run keeps its buildings (one file per tile); None: in `buildings`."""
        return None

    def best(self) -> pd.Series | None:
        """The top-ranked feasible site, or None if no site is feasible."""
        ok = self.sites[self.sites["feasible"]]
        return ok.iloc[0] if len(ok) else None

    def map(self, self_contained: bool = True, **kwargs: Any):
        """The study as a folium map (displays inline in Jupyter).

        ``self_contained=True`` (default) inlines Leaflet and every other asset, so the saved
        HTML opens without a network (no base-map tiles then); False links them from CDNs
        and draws OpenStreetMap tiles.
        """
        # folium (~0.15 s) loads when a map is drawn, not with this module: the CLI draws
        # the map in a second process (siting.mapchild), and the first never loads it
        from siting.maps import study_map

        kwargs.setdefault("top_n_routes", self.study.top_n_routes)
        kwargs.setdefault("title", f"siting: {display_name(self.study)}")
        kwargs.setdefault("street_density", self.street_density)
        kwargs.setdefault("grid_lines", self.grid_lines)
        kwargs.setdefault("substations", self.substations)
        if "site_charts" not in kwargs and self.weather is not None:
            kwargs["site_charts"] = self._monthly_charts(kwargs["top_n_routes"])
        parts = self._building_parts()
        if parts is None:
            heat = {"buildings": self.buildings}
        elif len(parts):
            # a tiled run's heat layer from cells summed tile by tile, its view from the
            # bounds of the tiles' buildings (file metadata): no building is gathered
            cell_m, crs = DEFAULT_GRID
            grid = (kwargs.get("heat_cell_m", cell_m), kwargs.get("heat_crs", crs))
            heat = {"heat_grid": self.heat_density_grid(*grid), "buildings_extent": parts.extent()}
        else:
            heat = {}
        return study_map(
            self.sites,
            self.routes,
            self.network,
            self_contained=self_contained,
            **heat,
            **kwargs,
        )

    def _monthly_charts(self, n: int) -> dict[str, str]:
        """Monthly available/delivered SVGs for the popups of the n best feasible sites."""
        if self.sites.empty or not (self.sites.get("recovery_model") == "hourly").any():
            return {}
        from siting.figures import monthly_svgs

        best = self.sites[self.sites["feasible"]].head(n)
        ids = best["site_id"].astype(str).tolist()
        return dict(zip(ids, monthly_svgs(self, best.reset_index(drop=True)), strict=True))

    def to_files(
        self,
        out_dir: str | Path | None = None,
        map_html: bool = True,
        self_contained: bool = True,
        geoparquet: bool = False,
        map_child: MapChild | None = None,
    ) -> dict[str, Path]:
        """Write `ranking.csv`, `results.gpkg` (sites, routes, buildings[, network]) and `map.html`.

        The files are published as one set (:mod:`siting.outputs`): a reader of `out_dir`
        sees the whole earlier set or the whole new one, never a mix, whenever the process
        stops; files of the earlier set not written now (`map.html` with
        ``map_html=False``) go with it; your other files in `out_dir` stay. An empty or
        unwritable `out_dir` is an OutputError before anything is written.
        ``self_contained=True`` writes a map that opens without a network (see `map`);
        ``geoparquet=True`` adds one GeoParquet file per layer (`sites.parquet`, ...).
        `map_child` (:class:`siting.mapchild.MapChild`, started before the study ran) draws
        the map in a second process while this one writes the data files.
        """
        if out_dir is not None and not str(out_dir).strip():
            raise OutputError("out_dir is empty; give a folder name, e.g. 'results'.")
        out = check_output_dir(out_dir if out_dir is not None else self.study.out_dir)
        with staged_output(out, "results", legacy_names=RESULT_FILES) as stage:
            names = self.write_into(
                stage.dir,
                map_html=map_html,
                self_contained=self_contained,
                geoparquet=geoparquet,
                map_child=map_child,
            )
            final = stage.publish(list(names.values()))
        return {key: final[name] for key, name in names.items()}

    def layers(self) -> dict[str, gpd.GeoDataFrame]:
        """The map layers `results.gpkg` holds, by layer name (empty layers left out)."""
        return self._layers(self.buildings)

    def _layers(self, buildings: gpd.GeoDataFrame | BuildingParts) -> dict[str, Any]:
        out = {"sites": self.sites, "routes": self.routes, "buildings": buildings}
        if self.street_density is not None:
            lhd = self.street_density
            out["street_heat_density"] = lhd[lhd["heat_demand_mwh_per_yr"] > 0]
        if self.dh_areas is not None and len(self.dh_areas):
            out["dh_areas"] = self.dh_areas
        if self.network is not None and len(self.network):
            out["network"] = self.network
        if self.grid_lines is not None and len(self.grid_lines):
            out["grid_connections"] = self.grid_lines
        if self.substations is not None and len(self.substations):
            out["substations"] = self.substations
        return out

    def write_into(
        self,
        folder: Path,
        map_html: bool = True,
        self_contained: bool = True,
        geoparquet: bool = False,
        map_child: MapChild | None = None,
    ) -> dict[str, str]:
        """Write the result files into `folder` (a staging folder); return key -> file name.

        `to_files` publishes them; `siting.report.write_report` publishes them together
        with the report as one set. The GeoPackage gets QGIS default styles and layer
        descriptions (:mod:`siting.gpkg_styles`); `geoparquet` adds `<layer>.parquet`
        (GeoParquet, CRS in its metadata) for every layer, keys `parquet_<layer>`.
        """
        # The data files are written on a second thread while this one draws the map: most
        # of their time is GDAL's and the disk's, outside the GIL, so the map's (Python)
        # time hides theirs when a second core is free.
        if self._building_parts() is not None:
            # buildings on disk: the data files' pass sums the heat cells the map then draws
            names = self._write_data_files(folder, geoparquet)
            if map_html:
                self.map(self_contained=self_contained).save(str(folder / "map.html"))
        elif map_html and map_child is not None and map_child.takes(self):
            # the map in the second process (siting.mapchild), the data files here meanwhile
            try:
                map_child.draw(*self._map_job(), folder / "map.html", self_contained)
                lost = False
            except MapChildLost:
                lost = True
            names = self._write_data_files(folder, geoparquet)
            if not lost:
                try:
                    map_child.wait()
                except MapChildLost:
                    lost = True
            if lost:  # it died, or could not be sent these results: drawn here
                self.map(self_contained=self_contained).save(str(folder / "map.html"))
        else:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="siting-files") as pool:
                data_files = pool.submit(self._write_data_files, folder, geoparquet)
                if map_html:
                    page = self.map(self_contained=self_contained)
                    page.save(str(folder / "map.html"))
                names = data_files.result()
        if map_html:
            names["map"] = "map.html"
        return names

    def _map_job(self) -> tuple[Results, dict[str, Any]]:
        """What the map process is sent: these results without their buildings, and what
        `map` draws from the buildings (their heat cells, the bounds of their extent),
        worked out here: the pickle is a fraction of the size and the map is the same."""
        b = self.buildings
        if b is None or not len(b) or HEAT_COLUMN not in b.columns or b.crs is None:
            return self, {}
        grid = heat_density_cells(b, *DEFAULT_GRID, column=HEAT_COLUMN)
        geoms = np.asarray(b.geometry.values, dtype=object)
        drawn = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
        boxes = [shapely.box(*shapely.total_bounds(drawn))] if len(drawn) else []
        extent = gpd.GeoDataFrame(geometry=gpd.GeoSeries(boxes, crs=b.crs), crs=b.crs)
        light = replace(self, buildings=b.iloc[:0])
        return light, {"heat_grid": grid, "buildings_extent": extent}

    def _write_data_files(self, folder: Path, geoparquet: bool) -> dict[str, str]:
        """`ranking.csv`, `results.gpkg` (styled), the GeoParquet layers and the GeoTIFF."""
        names = {"ranking": "ranking.csv", "gpkg": "results.gpkg"}
        self.ranking.to_csv(folder / names["ranking"], index=False)
        gpkg = folder / names["gpkg"]
        # a tiled run's buildings stay in its tiles' files: written part by part
        parts = self._building_parts()
        # each layer is made plain (text columns) as it is written, not all at once
        layers = self._layers(self.buildings if parts is None else parts)
        write_gpkg_layers(gpkg, layers)
        style_geopackage(gpkg)
        if geoparquet:
            for name, gdf in layers.items():
                names[f"parquet_{name}"] = f"{name}.parquet"
                if isinstance(gdf, BuildingParts):
                    write_parquet_parts(gdf, folder / f"{name}.parquet")
                else:
                    _plain_columns(gdf).to_parquet(folder / f"{name}.parquet", index=False)
        if self.n_buildings:
            # Hotmaps-compatible 100 m grid in EPSG:3035, MWh/ha/yr
            names["heat_density"] = "heat_density.tif"
            tif = folder / names["heat_density"]
            if parts is None:
                heat_density(self.buildings, tif, source=self.study.name)
            else:
                heat_density_from_cell_sums(parts.cell_sums(), tif, source=self.study.name)
        return names


def _plain_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose object columns hold only text (GPKG and Parquet need one type each); a
    geometry column (its own dtype, not object) stays as it is."""
    # shallow under copy-on-write (pandas 3): only the replaced columns are new
    frame = frame.copy(deep=not _COPY_ON_WRITE)
    for col in frame.columns:
        if frame[col].dtype == object:
            frame[col] = _plain_text(frame[col])
    return frame


def _prefetched(items: Iterator[Any]) -> Iterator[Any]:
    """`items`, each made on a thread while the consumer works on the one before (at most
    one waits): the next part is read while GDAL, outside the GIL, writes this one."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="siting-prefetch") as pool:
        ahead = pool.submit(next, items, _DONE)
        while (item := ahead.result()) is not _DONE:
            ahead = pool.submit(next, items, _DONE)
            yield item


_DONE = object()


def _plain_text(values: pd.Series) -> pd.Series:
    """An object column with every value but None as text; other columns as they are."""
    if values.dtype != object:
        return values
    return values.map(lambda v: v if v is None or isinstance(v, str) else str(v))


def write_gpkg_layers(path: Path, layers: dict[str, gpd.GeoDataFrame | BuildingParts]) -> None:
    """Write each frame as a layer of GeoPackage `path`, through Arrow, without SQLite's
    fsync after each layer; `BuildingParts` are appended part by part (the layer the
    concatenated parts would make: same fields, geometry type and rows).

    The file is a staged one: publishing it (:mod:`siting.outputs`) fsyncs it before it
    becomes visible, so syncing each of SQLite's commits too only costs time (about half of
    the writing on a small study). Arrow moves the columns to GDAL in bulk; it is used when
    pyogrio and GDAL (3.8 or later) support it, else the rows are written as before.
    """
    import pyogrio

    old = pyogrio.get_gdal_config_option(_SQLITE_SYNC)
    pyogrio.set_gdal_config_options({_SQLITE_SYNC: "OFF"})
    try:
        for name, gdf in layers.items():
            if isinstance(gdf, BuildingParts):
                _append_parts(path, name, gdf)
            elif _ARROW[0] and len(gdf) > GPKG_CHUNK_ROWS and gdf.crs is not None:
                _append_parts(path, name, _FrameChunks(gdf))
            else:
                _write_frame(path, name, gdf)
    except _NO_ARROW as exc:
        if not _ARROW[0] or "arrow" not in str(exc).lower():
            raise
        _ARROW[0] = False  # this pyogrio/GDAL cannot: rows, from the start of the file
        path.unlink(missing_ok=True)
        write_gpkg_layers(path, layers)
    finally:
        pyogrio.set_gdal_config_options({_SQLITE_SYNC: old})


def _write_frame(path: Path, layer: str, gdf: gpd.GeoDataFrame) -> None:
    """`gdf` (made plain) as GeoPackage layer `layer`, in one write."""
    _plain_columns(gdf).to_file(
        path, layer=layer, driver="GPKG", engine="pyogrio", use_arrow=_ARROW[0]
    )


def _append_parts(path: Path, layer: str, parts: BuildingParts) -> None:
    """Write `parts` as GeoPackage layer `layer`, one part at a time: the layer the
    concatenation makes (fields, geometry type, rows in order).

    Through Arrow the parts go to GDAL as one stream of record batches (one layer
    creation, the spatial index built once at the end: appending part by part updates it
    row by row, 1.7x the writing time on 1.3 M buildings); without Arrow, part by part.
    """
    geometry_type, promote = parts.geometry_type()
    if not len(parts):  # no building: the empty layer of the (empty) concatenation
        _write_frame(path, layer, parts.read())
        return
    frames = (_plain_columns(part) for part in parts.frames() if len(part))
    if _ARROW[0]:
        import pyogrio

        flat = isinstance(parts, BuildingParts) and not any(
            t.endswith(" Z") for t in parts.geometry_types()
        )
        if flat:
            # the stored WKB goes to GDAL as it is (2D: what shapely would write again)
            tables = (
                _wkb_arrow(_plain_columns(part), parts.geometry_name, wkb, promote)
                for part, wkb in parts.wkb_parts()
                if len(part)
            )
        else:
            tables = (_gpkg_arrow(part, promote) for part in frames)
        if isinstance(parts, BuildingParts):
            # the next part is read and converted while GDAL writes this one (outside the
            # GIL); a frame in memory is not: its second chunk's table would be memory the
            # single run's peak cannot spare
            tables = _prefetched(tables)
        first = next(tables)

        def batches() -> Any:
            yield from first.to_batches()
            for table in tables:  # a part without a value in a text column has it as null
                yield from table.cast(first.schema).to_batches()

        epsg = parts.crs.to_epsg()
        pyogrio.write_arrow(
            pa.RecordBatchReader.from_batches(first.schema, batches()),
            path,
            layer=layer,
            driver="GPKG",
            geometry_name=first.schema.names[-1],  # the geometry, last (_gpkg_arrow)
            geometry_type=geometry_type,
            crs=f"EPSG:{epsg}" if epsg else parts.crs.to_wkt("WKT1_GDAL"),
        )
        return
    for k, part in enumerate(frames):
        part.to_file(
            path,
            layer=layer,
            driver="GPKG",
            engine="pyogrio",
            append=k > 0,
            # what pyogrio infers from the whole frame, given: a part may hold one kind
            geometry_type=geometry_type,
            promote_to_multi=promote,
        )


class _FrameChunks:
    """A large frame as parts of `GPKG_CHUNK_ROWS` rows for :func:`_append_parts`: the
    layer's Arrow table (WKB of every geometry) exists for one chunk at a time."""

    def __init__(self, gdf: gpd.GeoDataFrame) -> None:
        self.gdf, self.crs = gdf, gdf.crs

    def __len__(self) -> int:
        return len(self.gdf)

    def geometry_type(self) -> tuple[str, bool]:
        geoms = self.gdf.geometry
        z = " Z" if bool(geoms.has_z.any()) else ""
        return layer_geometry_type({t + z for t in geoms.geom_type.dropna().unique()})

    def frames(self) -> Any:
        for start in range(0, len(self.gdf), GPKG_CHUNK_ROWS):
            yield self.gdf.iloc[start : start + GPKG_CHUNK_ROWS]

    def read(self) -> gpd.GeoDataFrame:
        return self.gdf


def _gpkg_arrow(part: gpd.GeoDataFrame, promote: bool) -> pa.Table:
    """`part` as the Arrow table pyogrio's `write_dataframe` hands GDAL (text, numbers and
    booleans; the geometry as WKB in the last column, single types made multi if
    `promote`)."""
    geoms = np.asarray(part.geometry.values, dtype=object)
    if promote:
        kinds = shapely.get_type_id(geoms)
        for kind, multi in _MULTI_OF.items():
            if (kinds == kind).any():
                geoms[kinds == kind] = multi(np.atleast_2d(geoms[kinds == kind]), axis=0)
    name = part.geometry.name
    frame = pd.DataFrame(part.drop(columns=name), copy=False)
    frame[name] = shapely.to_wkb(geoms)
    return _arrow_table(frame)


def _wkb_arrow(frame: pd.DataFrame, name: str, wkb: pa.ChunkedArray, promote: bool) -> pa.Table:
    """:func:`_gpkg_arrow` of a part given as its other columns and its 2D geometries'
    WKB (column `name`), without decoding them (`promote`: :func:`multi_wkb`)."""
    wkb = wkb.combine_chunks()
    if promote:
        wkb = multi_wkb(wkb)
    return _arrow_table(frame).append_column(name, wkb.cast(pa.binary()))


def multi_wkb(wkb: pa.BinaryArray) -> pa.BinaryArray:
    """2D single geometries' WKB (Point, LineString, Polygon) as that of their multi of one
    part; the others as they are.

    A multi's WKB is its byte order, type and part count (9 bytes) followed by each part's
    own WKB, so each single geometry gets those 9 bytes in front of it: what shapely writes
    for ``multipolygons([polygon])``, made on the bytes of a whole part at once.
    """
    n = len(wkb)
    if wkb.offset or wkb.type != pa.binary():
        wkb = pa.concat_arrays([wkb.cast(pa.binary())])  # offsets from 0, 32-bit
    validity, offsets_buf, data_buf = wkb.buffers()
    offsets = np.frombuffer(offsets_buf, np.int32, n + 1).astype(np.int64)
    data = np.frombuffer(data_buf, np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    start, length = offsets[:-1], np.diff(offsets)
    ok = (length >= 5) & ~np.asarray(wkb.is_null(), dtype=bool)
    first = np.where(ok, start, 0)
    head = data[first[:, None] + np.arange(5)] if len(data) else np.zeros((n, 5), np.uint8)
    little = head[:, 0] == 1
    kind_bytes = np.where(little[:, None], head[:, 1:5], head[:, 4:0:-1]).astype(np.uint32)
    kind = kind_bytes @ np.array([1, 1 << 8, 1 << 16, 1 << 24], np.uint32)
    wrap = ok & np.isin(kind, (1, 2, 3))
    if not wrap.any():
        return wkb
    # each wrapped row's 9 bytes: its byte order, its multi type (kind + 3), count 1
    rows = np.flatnonzero(wrap)
    multi = (kind[rows] + 3).astype("<u4").view(np.uint8).reshape(-1, 4)
    one = np.array([1, 0, 0, 0], np.uint8)
    header = np.empty((len(rows), 9), np.uint8)
    header[:, 0] = head[rows, 0]
    lil = little[rows][:, None]
    header[:, 1:5] = np.where(lil, multi, multi[:, ::-1])
    header[:, 5:9] = np.where(lil, one, one[::-1])
    # the headers as one binary array (empty where nothing is put in front), joined
    # row by row to the geometries in Arrow's C++
    head_offsets = (9 * np.concatenate([[0], np.cumsum(wrap)])).astype(np.int32)
    heads = pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(head_offsets), pa.py_buffer(header.ravel())]
    )
    return pc.binary_join_element_wise(heads, wkb, b"")


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """`frame` (geometry as WKB in its last column) as the Arrow table GDAL is given."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    for k, f in enumerate(table.schema):
        if pa.types.is_null(f.type):  # GDAL has no null type: text, as pyogrio does
            table = table.set_column(k, f.with_type(pa.string()), table[k].cast(pa.string()))
    return table


def write_parquet_parts(parts: BuildingParts, path: Path) -> None:
    """Write `parts` as one GeoParquet file, one row group per part: the columns, types
    and metadata `to_parquet(index=False)` writes for the concatenation."""
    from geopandas.io.arrow import _geopandas_to_arrow  # the table to_parquet writes

    frames = (_plain_columns(part) for part in parts.frames() if len(part))
    writer = None
    try:
        for part in frames:
            table = _geopandas_to_arrow(part, index=False)
            if writer is None:
                schema = _parts_schema(table.schema, parts)
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table.cast(schema))
        if writer is None:  # no building: the concatenation (empty) as to_parquet writes it
            _plain_columns(parts.read()).to_parquet(path, index=False)
    finally:
        if writer is not None:
            writer.close()


def _parts_schema(first: pa.Schema, parts: BuildingParts) -> pa.Schema:
    """The schema `to_parquet` gives the concatenation, from its first part's: a column
    that part holds no value of (Arrow null) gets the type of the first part that has one,
    and the geo metadata's bbox and geometry types are the whole's."""
    meta = dict(first.metadata)
    pandas_meta = json.loads(meta[b"pandas"])
    fields = []
    for f in first:
        path = parts.first_with_values(f.name) if pa.types.is_null(f.type) else None
        if path is not None:
            # that part's column as the writer sees it: its field and pandas metadata
            col = pq.read_table(path, columns=[f.name]).to_pandas()[f.name]
            col = _plain_text(col.astype(parts.dtypes[f.name]))
            one = pa.Table.from_pandas(pd.DataFrame({f.name: col}), preserve_index=False)
            f = f.with_type(one.schema.field(f.name).type)
            entry = json.loads(one.schema.metadata[b"pandas"])["columns"][0]
            pandas_meta["columns"] = [
                entry if c["name"] == f.name else c for c in pandas_meta["columns"]
            ]
        fields.append(f)
    geo = json.loads(meta[b"geo"])
    col_meta = geo["columns"][geo["primary_column"]]
    col_meta["bbox"] = [float(v) for v in parts.extent().total_bounds]
    col_meta["geometry_types"] = parts.geometry_types()
    meta[b"geo"] = json.dumps(geo).encode()
    meta[b"pandas"] = json.dumps(pandas_meta).encode()
    return pa.schema(fields, metadata=meta)


# shapely type id of Point, LineString, Polygon: the multi type pyogrio promotes them to
_MULTI_OF = {0: shapely.multipoints, 1: shapely.multilinestrings, 3: shapely.multipolygons}
_SQLITE_SYNC = "OGR_SQLITE_SYNCHRONOUS"
GPKG_CHUNK_ROWS = 100_000  # a layer longer than this goes to GDAL as a stream of chunks
_COPY_ON_WRITE = int(pd.__version__.split(".")[0]) >= 3
_ARROW = [True]  # whether pyogrio's Arrow writer works here (learnt on the first write)
_NO_ARROW = (ImportError, RuntimeError, NotImplementedError)


def write_layer(gdf: gpd.GeoDataFrame, path: Path, layer: str) -> None:
    """Write `gdf` as layer `layer` of GeoPackage `path` (object columns as text)."""
    _plain_columns(gdf).to_file(path, layer=layer, driver="GPKG", engine="pyogrio")
