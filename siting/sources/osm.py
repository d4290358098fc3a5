"""Read an OpenStreetMap extract into the layers a study needs.

Offline first: `.osm.pbf` is read in one pass (:mod:`siting.sources.ingest`, which gives
pyrosm's rows with the tags the study reads; pyrosm's own readers when its decoder is
missing); `.osm`, `.osm.gz` and `.osm.bz2` XML are re-encoded losslessly to PBF with
libosmium once and kept in the cache folder under the file's SHA-256. Online,
:func:`read_osm_place` fetches a place via osmnx. All layers are returned in EPSG:4326, as
parsed; :mod:`siting.area` projects them.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import validate
from siting.cachedir import cache_dir, evict, file_sha256, touch
from siting.errors import InputDataError
from siting.outputs import disk_full
from siting.sources import ingest
from siting.sources.ingest import ADDRESS_TAGS, RAILWAY_KINDS, blob_header
from siting.sources.power import exclusion_layer, power_layer, read_exclusions, read_power

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
HEAT_SUBSTANCES = {"heat", "hot_water", "hot water", "steam", "district_heating"}
XML_SUFFIXES = (".osm", ".osm.gz", ".osm.bz2", ".xml", ".xml.gz", ".osm.xml", ".osm.xml.gz")


@dataclass
class OsmData:
    """Layers parsed from one OSM extract (EPSG:4326).

    Attributes
    ----------
    streets : one row per street segment with `u`, `v` (OSM node ids), `highway`, `length`.
    buildings : building footprints with the OSM tags the study reads as columns
        (`siting.sources.ingest.BUILDING_TAGS`; pyrosm's columns and JSON `tags` when
        pyrosm read the file).
    heat_pipes : `man_made=pipeline` ways carrying heat.
    heat_plants : plants producing heat (`power=plant` with a hot-water/heat output).
    landuse : industrial and commercial land-use parcels (candidate sites).
    data_centers : features tagged `telecom=data_center` or `building=data_center`.
    source : the file read (or the place name).
    railways : `railway=rail|light_rail|subway|tram` lines (crossing costs); empty when none.
    addresses : address points (nodes with `addr:housenumber`; columns `addr:street`,
        `addr:housenumber`, `addr:postcode`, `addr:city`), to name candidate sites where the
        address is a separate node, as in Denmark; empty when none.
    power : the power grid: `power=substation|plant|line|cable|minor_line` with `voltage`
        (:func:`siting.sources.power.read_power`); empty when none.
    exclusions : land no data center may take, with its `exclusion` kind (residential,
        water, protected_area, nature_reserve; :func:`siting.sources.power.read_exclusions`).
    """

    streets: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    heat_pipes: gpd.GeoDataFrame
    heat_plants: gpd.GeoDataFrame
    landuse: gpd.GeoDataFrame
    data_centers: gpd.GeoDataFrame
    source: str
    railways: gpd.GeoDataFrame = field(default_factory=lambda: _empty())
    addresses: gpd.GeoDataFrame = field(default_factory=lambda: _empty())
    power: gpd.GeoDataFrame = field(default_factory=lambda: _empty())
    exclusions: gpd.GeoDataFrame = field(default_factory=lambda: _empty())


def _empty() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"geometry": gpd.GeoSeries([], crs=WGS84)}, crs=WGS84)


def _tag_dicts(gdf: gpd.GeoDataFrame) -> pd.Series:
    """Parse pyrosm's `tags` column (a JSON string of the less common tags) into dicts."""
    if "tags" not in gdf.columns:
        return pd.Series([{}] * len(gdf), index=gdf.index, dtype=object)

    def parse(value: object) -> dict:
        if isinstance(value, dict):
            return value
        if isinstance(value, str) and value:
            try:
                return json.loads(value)
            except ValueError:
                return {}
        return {}

    return gdf["tags"].map(parse)


def tag_values(gdf: gpd.GeoDataFrame, key: str) -> pd.Series:
    """Value of OSM tag `key` per row: its own column if pyrosm made one, else from `tags`."""
    out = pd.Series([None] * len(gdf), index=gdf.index, dtype=object)
    if key in gdf.columns:
        out = gdf[key].astype(object).where(gdf[key].notna(), None)
    missing = out.isna()
    if missing.any() and "tags" in gdf.columns:
        from_tags = _tag_dicts(gdf[missing]).map(lambda d: d.get(key))
        out.loc[missing] = from_tags
    return out


def _to_pbf(path: Path, workdir: Path, fmt: str = "osm") -> Path:
    """Re-encode OSM XML to PBF losslessly (pyrosm reads PBF only).

    `fmt` is the format found from the file's content, so a misnamed file still parses.
    """
    import osmium

    target = workdir / ((path.name.split(".")[0] or "extract") + ".osm.pbf")
    try:
        writer = osmium.WriteHandler(str(target))  # copied in C++, no Python per object
        try:
            osmium.apply(osmium.io.Reader(osmium.io.File(str(path), fmt)), writer)
        finally:
            writer.close()
    except OSError as exc:  # the temp folder: full disk, permissions
        raise InputDataError(
            f"{path} could not be converted to PBF in the temporary folder {workdir} "
            f"({exc.strerror or exc}); {validate.fix_for_os_error(exc, reading=False)} "
            "(set TMPDIR to a folder with space)."
        ) from exc
    except Exception as exc:  # pyosmium raises RuntimeError/ValueError subclasses
        full = disk_full(workdir)  # osmium reports a failed write in its own words
        if full:
            raise InputDataError(
                f"{path} could not be converted to PBF in the temporary folder {workdir}: "
                f"{full}; free space there or set TMPDIR to a folder on a disk with room."
            ) from exc
        damaged = any(w in str(exc).lower() for w in ("gzip", "bzip", "zlib", "compress"))
        fix = (
            "the compressed file is corrupt or truncated: download the extract again"
            if damaged
            else "Give an OpenStreetMap extract (.osm.pbf, .osm, .osm.gz), e.g. from "
            "Geofabrik or the OSM export"
        )
        raise InputDataError(
            f"{path} could not be parsed as OSM XML ({validate.brief(str(exc), 200)}); {fix}."
        ) from exc
    return target


def _xml_as_pbf(path: Path, fmt: str) -> Path | None:
    """The XML re-encoded to PBF once and kept in the cache folder under the XML's SHA-256,
    so a later run (from any path) reads it at PBF speed; one entry per distinct file.
    None when the cache folder cannot be written (then a temporary PBF is used)."""
    folder = cache_dir() / "osm"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"xml-{file_sha256(path)[:40]}.osm.pbf"
        if target.is_file():
            touch(target)  # used: evicted after the others
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".xml-", dir=folder))
    except OSError:
        return None
    try:
        os.replace(_to_pbf(path, tmp, fmt), target)
    except OSError:
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    evict(folder.parent, keep=target)
    return target


def _forget_pyrosm_results(pbf: Path) -> None:
    """Drop pyrosm's cached reads of a temporary PBF (kept in $TMPDIR/pyrosm/cache, keyed by
    the path): its path dies with this run, so they would never hit and would pile up."""
    try:
        from pyrosm.engine import cache as pyrosm_cache

        pyrosm_cache.clear(str(pbf))
    except (ImportError, AttributeError, OSError):  # another pyrosm: nothing of it to drop
        pass


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputDataError(f"OSM file {path} does not exist; check the path.")
    if path.is_dir():
        raise InputDataError(f"OSM input {path} is a folder; give an .osm.pbf or .osm file.")
    if path.stat().st_size == 0:
        raise InputDataError(f"OSM file {path} is empty; download the extract again.")
    validate.check_readable(path, "OSM file")


def _looks_like_pbf(path: Path) -> bool:
    # A PBF starts with a 4-byte length then a BlobHeader whose type is "OSMHeader"
    # (bytes 4..15: field tag 0x0a, length 9, b"OSMHeader").
    with path.open("rb") as fh:
        head = fh.read(64)
    return b"OSMHeader" in head


def _blob_datasize(header: bytes) -> int:
    """`datasize` (field 3) of a PBF BlobHeader message."""
    datasize = blob_header(header)[1]
    if datasize is None:
        raise ValueError("BlobHeader without datasize")
    return datasize


def check_pbf_structure(path: Path) -> None:
    """Walk the blob headers of a PBF (seeks only, no decoding) and reject a cut-off file.

    A truncated or corrupt PBF makes pyrosm raise protobuf errors deep in its reader (or
    worse); checking the framing first turns that into an error that names the fix.
    """
    size = path.stat().st_size
    with path.open("rb") as fh:
        offset = 0
        while offset < size:
            raw = fh.read(4)
            problem = None
            if len(raw) < 4:
                problem = f"a blob header length is cut off at byte {offset:,}"
            else:
                hlen = int.from_bytes(raw, "big")
                header = fh.read(hlen) if hlen <= 64 * 1024 else b""
                if not 0 < hlen <= 64 * 1024:
                    problem = f"an invalid blob header length ({hlen}) at byte {offset:,}"
                elif len(header) < hlen:
                    problem = f"a blob header is cut off at byte {offset:,}"
                else:
                    try:
                        datasize = _blob_datasize(header)
                    except ValueError:
                        problem = f"an unreadable blob header at byte {offset:,}"
                    else:
                        end = offset + 4 + hlen + datasize
                        if end > size:
                            problem = (
                                f"a data block at byte {offset:,} needs {end - size:,} bytes "
                                "more than the file has"
                            )
                        offset = end
                        fh.seek(end)
            if problem:
                raise InputDataError(
                    f"OSM file {path} is truncated or corrupt: {problem} (file size "
                    f"{size:,} bytes). An interrupted download does this; download the "
                    "extract again (and compare its size or checksum with the source's)."
                )


def _xml_format(path: Path) -> str | None:
    """osmium format name ("osm", "osm.gz", "osm.bz2") if `path` holds OSM XML, else None."""
    import bz2
    import gzip
    import zlib

    with path.open("rb") as fh:
        magic = fh.read(3)
    if magic[:2] == b"\x1f\x8b":
        opener, fmt = gzip.open, "osm.gz"
    elif magic == b"BZh":
        opener, fmt = bz2.open, "osm.bz2"
    else:
        opener, fmt = open, "osm"
    try:
        with opener(path, "rb") as fh:
            head = fh.read(4096)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        if opener is open:
            return None
        # the magic bytes say compressed, the stream says damaged (zlib.error is no OSError)
        raise InputDataError(
            f"OSM file {path} is a {fmt.split('.')[-1]} file whose compressed data is corrupt "
            f"or truncated ({exc}); download the extract again (and "
            f"check it with `{'gzip' if fmt.endswith('gz') else 'bzip2'} -t FILE`)."
        ) from exc
    return fmt if b"<osm" in head else None


def read_osm(path: str | Path, streets: bool = True) -> OsmData:
    """Read streets, railways, buildings, heat pipes and plants, land use and data centers.

    Parameters
    ----------
    path : an OSM extract: `.osm.pbf`, or XML `.osm` / `.osm.gz` / `.osm.bz2`.
    streets : False skips the layers the street graph is built from (streets and
        railways come back empty), for a study whose street graph is cached.

    Returns
    -------
    OsmData with every layer in EPSG:4326 (layers may be empty, never None).
    """
    path = Path(path).expanduser()
    _check_file(path)
    if _looks_like_pbf(path):
        check_pbf_structure(path)
        if path.name.lower().endswith(".pbf"):
            return _read_pbf(path, source=str(path), streets=streets)
        with tempfile.TemporaryDirectory(prefix="siting-osm-") as tmp:
            # pyrosm insists on the .pbf suffix; a misnamed PBF is read through a link
            link = Path(tmp) / "extract.osm.pbf"
            try:
                link.symlink_to(path.resolve())
            except OSError:
                shutil.copyfile(path, link)
            return _read_pbf(link, source=str(path), streets=streets)
    fmt = _xml_format(path)
    if fmt is not None:
        cached = _xml_as_pbf(path, fmt)
        if cached is not None:
            return _read_pbf(cached, source=str(path), streets=streets)
        with tempfile.TemporaryDirectory(prefix="siting-osm-") as tmp:
            pbf = _to_pbf(path, Path(tmp), fmt)
            try:
                return _read_pbf(pbf, source=str(path), streets=streets)
            finally:
                _forget_pyrosm_results(pbf)
    raise InputDataError(
        f"{path} is not an OpenStreetMap file (no PBF header and no <osm> XML root). "
        "Give an extract as .osm.pbf (Geofabrik, BBBike) or .osm/.osm.gz XML (OSM export)."
    )


def _read_pbf(path: Path, source: str, streets: bool = True) -> OsmData:
    osm = osm_from_layers(_raw_layers(path, source, streets), source)
    log.info(
        "read %s: %d street segments, %d railway lines, %d buildings, %d heat pipes, "
        "%d heat plants",
        source,
        len(osm.streets),
        len(osm.railways),
        len(osm.buildings),
        len(osm.heat_pipes),
        len(osm.heat_plants),
    )
    return osm


def osm_from_layers(raw: dict, source: str, dc_buildings: bool = True) -> OsmData:
    """:class:`OsmData` from the raw layers of the one-pass reader (or pyrosm's reads).

    Each row is kept or dropped on its own (empty geometries, railway kinds, pipes that do
    not carry heat, plants without heat output), so the layers of a file read in chunks
    (:func:`siting.sources.ingest.stream_layers`) are the chunks' layers concatenated.
    `dc_buildings`: append the buildings tagged data_center to `data_centers` (False: a
    chunked read appends them once, after the last chunk: :func:`data_center_buildings`).
    """
    streets, railways, buildings = raw["streets"], raw["railways"], raw["buildings"]
    pipes, plants, landuse, dc = raw["pipes"], raw["plants"], raw["landuse"], raw["dc"]
    addresses = raw["addresses"]
    power, exclusions = raw["power"], raw["exclusions"]
    streets = _clean(streets, "LineString")
    railways = _clean(railways, "LineString")
    if len(railways):
        kind = tag_values(railways, "railway").astype(str)
        railways = railways[kind.isin(RAILWAY_KINDS)].reset_index(drop=True)
        cols = [c for c in ("id", "railway", "name", "tunnel", "bridge") if c in railways]
        railways = railways[[*cols, "geometry"]]
    buildings = _clean(buildings, "Polygon")
    pipes = _clean(pipes, "LineString")
    if len(pipes):
        substance = tag_values(pipes, "substance").fillna("").astype(str).str.lower()
        kind = tag_values(pipes, "type").fillna("").astype(str).str.lower()
        pipes = pipes[substance.isin(HEAT_SUBSTANCES) | kind.isin(HEAT_SUBSTANCES)]
    plants = _clean(plants, None)
    if len(plants):
        heat_out = tag_values(plants, "plant:output:hot_water").notna()
        heat_out |= tag_values(plants, "plant:output:heat").notna()
        heat_out |= tag_values(plants, "generator:output:hot_water").notna()
        plants = plants[heat_out]
    landuse = _clean(landuse, "Polygon")
    data_centers = _clean(dc, None)
    addresses = _clean(addresses, None)
    if len(addresses):
        cols = [c for c in ("id", *ADDRESS_TAGS) if c in addresses]
        addresses = addresses[addresses.geom_type == "Point"][[*cols, "geometry"]]
    dc_b = data_center_buildings(buildings) if dc_buildings else buildings.iloc[:0]
    if len(dc_b):
        data_centers = pd.concat([data_centers, dc_b], ignore_index=True)
        data_centers = gpd.GeoDataFrame(data_centers, geometry="geometry", crs=WGS84)
    return OsmData(
        streets=streets,
        buildings=buildings,
        heat_pipes=pipes.reset_index(drop=True),
        heat_plants=plants.reset_index(drop=True),
        landuse=landuse,
        data_centers=data_centers.reset_index(drop=True),
        source=source,
        railways=railways,
        addresses=addresses.reset_index(drop=True),
        power=power,
        exclusions=exclusions,
    )


def data_center_buildings(buildings: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The buildings tagged building=data_center (or data_centre): candidate sites too."""
    if not len(buildings):
        return buildings
    is_dc = tag_values(buildings, "building").astype(str).isin(["data_center", "data_centre"])
    return buildings[is_dc.to_numpy()]


def _raw_layers(path: Path, source: str, streets: bool) -> dict:
    """The layers: from the one-pass reader (`siting.sources.ingest`) when pyrosm's decoder
    is there, else by pyrosm's readers (the same rows and geometries; the one-pass reader
    keeps only the tags the study reads). `SITING_OSM_READER=pyrosm` asks for pyrosm's
    ten reads instead.
    """
    if os.environ.get("SITING_OSM_READER", "").lower() != "pyrosm" and ingest.available():
        try:
            raw = ingest.read_layers(path, streets=streets)
        except InputDataError:
            raise
        except Exception as exc:  # a file the one-pass reader trips on: pyrosm reads it
            log.warning(
                "one-pass read of %s failed (%s: %s); reading it with pyrosm",
                source,
                type(exc).__name__,
                exc,
            )
        else:
            raw["power"] = power_layer(raw["power"])
            raw["exclusions"] = exclusion_layer(raw["exclusions"])
            return raw
    return _pyrosm_layers(path, source, streets)


def _power_layers(osm: Any) -> dict:
    """The power grid and the land a data center may not take (siting.sources.power)."""
    return {"power": read_power(osm), "exclusions": read_exclusions(osm)}


def _pyrosm_read(path: Path, source: str, read: Any) -> dict:
    """`read(pyrosm.OSM(path))` with pyrosm's warnings quiet and its errors named."""
    import pyrosm

    with warnings.catch_warnings():
        # pyrosm warns "Could not find any OSM data" for every empty layer; we report below.
        warnings.simplefilter("ignore", UserWarning)
        warnings.simplefilter("ignore", FutureWarning)
        try:
            return read(pyrosm.OSM(str(path)))
        except Exception as exc:  # protobuf DecodeError, zlib.error, KeyError, ... from pyrosm
            tmp = Path(tempfile.gettempdir())
            # only temporary folders are probed (never the folder of the user's extract)
            for folder in {path.parent, tmp} if path.parent.is_relative_to(tmp) else {tmp}:
                full = disk_full(folder) if folder.is_dir() else None
                if full:  # a converted extract written to a full disk reads as corrupt
                    raise InputDataError(
                        f"OSM file {source} could not be read: {full} in {folder}; free space "
                        "there (or set TMPDIR to a folder on a disk with room)."
                    ) from exc
            raise InputDataError(
                f"OSM file {source} could not be parsed as OpenStreetMap PBF "
                f"({type(exc).__name__}: {exc}); it is probably corrupt: download the extract "
                "again, or check it with `osmium fileinfo -e FILE`."
            ) from exc


def _pyrosm_layers(path: Path, source: str, streets: bool) -> dict:
    """Every layer by pyrosm's own readers (one decode per read)."""

    def read(osm: Any) -> dict:
        railways = None
        street_rows = None
        if streets:
            _, street_rows = osm.get_network(network_type="all", nodes=True)
            railways = osm.get_data_by_custom_criteria(
                custom_filter={"railway": list(RAILWAY_KINDS)},
                filter_type="keep",
                keep_nodes=False,
                keep_relations=False,
            )
        return {
            "streets": street_rows,
            "railways": railways,
            "buildings": osm.get_buildings(),
            "pipes": osm.get_data_by_custom_criteria(
                custom_filter={"man_made": ["pipeline"]}, filter_type="keep", keep_nodes=False
            ),
            "plants": osm.get_data_by_custom_criteria(
                custom_filter={"power": ["plant", "generator"]}, filter_type="keep"
            ),
            "landuse": osm.get_landuse(custom_filter={"landuse": ["industrial", "commercial"]}),
            "dc": osm.get_data_by_custom_criteria(
                custom_filter={"telecom": ["data_center", "data_centre"]}, filter_type="keep"
            ),
            # address nodes (Denmark and others map addresses apart from the buildings)
            "addresses": osm.get_data_by_custom_criteria(
                custom_filter={"addr:housenumber": True},
                filter_type="keep",
                keep_ways=False,
                keep_relations=False,
                tags_as_columns=list(ADDRESS_TAGS),
            ),
            **_power_layers(osm),
        }

    return _pyrosm_read(path, source, read)


def _clean(gdf: gpd.GeoDataFrame | None, kind: str | None) -> gpd.GeoDataFrame:
    """Drop empty/invalid geometries; keep only lines or polygons when `kind` says so."""
    if gdf is None or len(gdf) == 0:
        return _empty()
    geoms = np.asarray(gdf.geometry.values)
    kinds = shapely.get_type_id(geoms)  # -1: missing
    keep = (kinds >= 0) & ~shapely.is_empty(geoms)
    if kind == "LineString":
        keep &= np.isin(kinds, [1, 5])
    elif kind == "Polygon":
        keep &= np.isin(kinds, [3, 6])
    if not keep.all():  # (a layer of millions of rows is not copied for nothing)
        gdf = gdf[keep]
    gdf = gdf.set_crs(WGS84, allow_override=True) if gdf.crs is None else gdf.to_crs(WGS84)
    return gdf.reset_index(drop=True)


def read_osm_place(place: str) -> OsmData:
    """Fetch a place's streets, buildings, heat pipes and land use via osmnx (online only).

    `place` is anything Nominatim geocodes ("Odense, Denmark"). Pipelines are kept only
    when they carry heat (`substance` or `type` in `HEAT_SUBSTANCES`, as for an extract);
    a place without heat pipes or industrial land use gives empty layers, not an error.
    Heat plants, railways, addresses and data centers are not fetched (empty layers).
    Without osmnx, or offline, the InputDataError names the fix: download an extract.
    """
    try:
        import osmnx as ox
    except ImportError as exc:
        raise InputDataError(
            f"reading the place {place!r} online needs osmnx (pip install 'siting[online]'); "
            "or download an extract of the area (.osm.pbf from Geofabrik or BBBike) and pass "
            "--osm FILE (osm_path in a study)."
        ) from exc

    def online(call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if type(exc).__name__ == "InsufficientResponseError" and "tags" in kwargs:
                return None  # osmnx: no feature with these tags in the place
            raise InputDataError(
                f"could not fetch {place!r} from OpenStreetMap online ({type(exc).__name__}: "
                f"{validate.brief(str(exc), 160)}); --place needs internet access (Nominatim "
                "and Overpass). Offline, download an extract of the area (.osm.pbf from "
                "Geofabrik or BBBike) and pass --osm FILE."
            ) from exc

    def features(tags: dict) -> gpd.GeoDataFrame:
        gdf = online(ox.features_from_place, place, tags=tags)
        if gdf is None or len(gdf) == 0:
            return _empty()
        gdf = gdf.reset_index()  # osmnx 2: index (element, id); osmnx 1: (element_type, osmid)
        return gdf.rename(
            columns={"element": "osm_type", "element_type": "osm_type", "osmid": "id"}
        )

    graph = online(ox.graph_from_place, place, network_type="all", simplify=False)
    edges = ox.graph_to_gdfs(graph, nodes=False).reset_index()
    streets = gpd.GeoDataFrame(edges[["u", "v", "highway", "length", "geometry"]], crs=edges.crs)
    pipes = _clean(features({"man_made": "pipeline"}), "LineString")
    if len(pipes):
        substance = tag_values(pipes, "substance").fillna("").astype(str).str.lower()
        kind = tag_values(pipes, "type").fillna("").astype(str).str.lower()
        pipes = pipes[substance.isin(HEAT_SUBSTANCES) | kind.isin(HEAT_SUBSTANCES)]
    buildings = _clean(features({"building": True}), "Polygon")
    landuse = _clean(features({"landuse": ["industrial", "commercial"]}), "Polygon")
    log.info(
        "read %s online: %d street segments, %d buildings, %d heat pipes",
        place,
        len(streets),
        len(buildings),
        len(pipes),
    )
    return OsmData(
        streets=_clean(streets, "LineString"),
        buildings=buildings,
        heat_pipes=pipes.reset_index(drop=True),
        heat_plants=_empty(),
        landuse=landuse,
        data_centers=_empty(),
        source=f"osmnx:{place}",
    )


def highway_class(values: pd.Series) -> np.ndarray:
    """Normalise OSM `highway` values (str, list, JSON list, None) to one string each."""

    def first(value: object) -> str:
        if isinstance(value, list | tuple) and value:
            return str(value[0])
        if isinstance(value, str):
            if value.startswith("["):
                try:
                    parsed = json.loads(value)
                    return str(parsed[0]) if parsed else "unclassified"
                except ValueError:
                    return value
            return value
        return "unclassified"

    values = pd.Series(values)
    plain = values.map(type).eq(str) & ~values.astype(str).str.startswith("[")
    out = values.astype(object).copy()
    out[~plain] = values[~plain].map(first)  # lists, JSON lists, None: the slow path
    return np.asarray(out, dtype=object)
