"""The `Area` container: every layer of a study in ONE projected metric CRS."""

from __future__ import annotations

import logging
from dataclasses import dataclass, fields

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from geopandas.array import GeometryArray

from siting.errors import CRSError, InputDataError
from siting.grids import area_crs
from siting.sources.ingest import release_memory
from siting.sources.osm import OsmData

log = logging.getLogger(__name__)


@dataclass
class Area:
    """Streets, buildings, DH network and candidate sites of one study area.

    All layers share `crs`, a projected metric CRS (the study's, else the national grid of
    the area, else its UTM zone: :func:`metric_crs`);
    `boundary` is the hull of the streets and buildings, used to reject sites outside.
    """

    crs: pyproj.CRS
    streets: gpd.GeoDataFrame
    buildings: gpd.GeoDataFrame
    network: gpd.GeoDataFrame | None
    landuse: gpd.GeoDataFrame
    data_centers: gpd.GeoDataFrame
    boundary: shapely.Geometry
    source: str
    railways: gpd.GeoDataFrame | None = None  # rail/light-rail/subway/tram lines (crossings)
    addresses: gpd.GeoDataFrame | None = None  # OSM address points (names of generated sites)
    power: gpd.GeoDataFrame | None = None  # substations, plants, lines (siting.sources.power)
    exclusions: gpd.GeoDataFrame | None = None  # land a data center may not take

    @classmethod
    def from_osm(
        cls,
        osm: OsmData,
        network: gpd.GeoDataFrame | None = None,
        crs: str | pyproj.CRS | None = None,
        streets_hull: shapely.Geometry | None = None,
        consume: bool = False,
    ) -> Area:
        """Project an OSM extract (and a network layer) into one metric CRS and check them.

        `streets_hull` (in `crs`, which must then be given) stands in for the streets when
        `osm` was read without them because the street graph came from the cache.
        `consume=True` projects `osm`'s layers in place (:func:`project_in_place`): the
        Area then holds `osm`'s own frames, and a country's layers are never held twice
        (the caller gives `osm` up; its heat pipes and plants stay as they are).
        """

        if consume and _layers_share_geometries(osm):
            consume = False  # projecting one layer in place would move another's too

        def project(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
            if gdf.crs is not None and gdf.crs == target:
                # the target spelt apart (e.g. a file's PROJJSON): equal, not "exactly the
                # same" to pyproj, so to_crs would move every point onto itself
                return gdf.set_crs(target, allow_override=True)
            return project_in_place(gdf, target) if consume else gdf.to_crs(target)

        cached = streets_hull is not None and crs is not None and len(osm.streets) == 0
        if len(osm.streets) == 0 and not cached:
            raise InputDataError(
                f"{osm.source} has no streets (highway=* ways); pipes are routed along streets, "
                "so use an extract that covers the street network of the area."
            )
        if len(osm.buildings) == 0:
            raise InputDataError(
                f"{osm.source} has no buildings (building=*); heat demand and homes come from "
                "building footprints, so use an extract that includes them."
            )
        target = metric_crs(osm.buildings if cached else osm.streets, crs)
        streets = project(osm.streets)
        buildings = project(osm.buildings)
        # hull of all vertices: robust to the invalid polygons OSM extracts often hold
        hull = convex_hull(
            _coordinates(
                np.array([streets_hull], dtype=object) if cached else streets.geometry.values._data,
                buildings.geometry.values._data,
            )
        )
        if network is not None:
            network = reproject(network, target, network.attrs.get("source", "network"))
        return cls(
            crs=target,
            streets=streets,
            buildings=buildings,
            network=network,
            landuse=project(osm.landuse),
            data_centers=project(osm.data_centers),
            boundary=hull,
            source=osm.source,
            railways=project(osm.railways),
            addresses=project(osm.addresses),
            power=project(osm.power),
            exclusions=project(osm.exclusions),
        )

    def drop_rows(self, name: str) -> None:
        """Replace layer `name` by an empty frame of its columns, dtypes and CRS.

        For a pipeline done with a layer (the streets once the graph holds what it routes
        on): its rows, a country's hundreds of MB, are freed; the Area stays whole.
        """
        setattr(self, name, empty_like(getattr(self, name)))


PROJECT_CHUNK_ROWS = 100_000  # geometries projected at a time by project_in_place


def project_in_place(gdf: gpd.GeoDataFrame, crs: pyproj.CRS) -> gpd.GeoDataFrame:
    """`gdf.to_crs(crs)` made in `gdf` itself, `PROJECT_CHUNK_ROWS` geometries at a time.

    Each chunk's projected geometries replace its originals in the frame's geometry array,
    so the originals are freed as the projection goes (and given back to the system: the
    reader's threads allocated them, in heaps of their own): memory is one chunk's copy,
    not the layer's. The coordinates are those `to_crs` gives (the same transformer, point by
    point). `gdf` must be the caller's alone: a frame sharing its geometry array with
    another would change that one too. Returns `gdf`.
    """
    values = gdf.geometry.values
    data = values._data
    if values.crs is None or values.crs.is_exact_same(crs) or not data.flags.writeable:
        return gdf.to_crs(crs)  # nothing to do in place (or to_crs names the problem)
    source = values.crs
    for start in range(0, len(data), PROJECT_CHUNK_ROWS):
        part = slice(start, start + PROJECT_CHUNK_ROWS)
        data[part] = GeometryArray(data[part], crs=source).to_crs(crs)._data
        # the reader's threads made the originals: their heaps give memory back only so
        release_memory()
    values.crs = crs
    return gdf


def _layers_share_geometries(osm: OsmData) -> bool:
    """Whether two of `osm`'s projected layers hold one geometry array (views of a frame)."""
    arrays = [
        getattr(osm, name).geometry.values._data
        for name in _PROJECTED
        if isinstance(getattr(osm, name), gpd.GeoDataFrame) and len(getattr(osm, name))
    ]
    return any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[i + 1 :])


# the extract's layers projected into the study CRS (the heat pipes and plants become the
# network), in OsmData's order
_PROJECTED = tuple(
    f.name for f in fields(OsmData) if f.name not in ("source", "heat_pipes", "heat_plants")
)


def _coordinates(*geoms: np.ndarray) -> np.ndarray:
    """`np.vstack([shapely.get_coordinates(g) for g in geoms])`, filled chunk by chunk
    (a country's vertices are hundreds of MB; the stack would hold them twice)."""
    counts = [int(shapely.get_num_coordinates(g).sum()) for g in geoms]
    out = np.empty((sum(counts), 2))
    at = 0
    for g in geoms:
        for start in range(0, len(g), PROJECT_CHUNK_ROWS):
            xy = shapely.get_coordinates(g[start : start + PROJECT_CHUNK_ROWS])
            out[at : at + len(xy)] = xy
            at += len(xy)
    return out


def empty_like(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """An empty frame with the columns, dtypes and CRS of `gdf`, sharing nothing with it
    (a zero-row slice would be a view that keeps every row's geometry alive)."""
    if gdf is None:
        return None
    geometry = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else "geometry"
    crs = getattr(gdf, "crs", None)
    data = {c: pd.Series([], dtype=gdf[c].dtype) for c in gdf.columns if c != geometry}
    data[geometry] = gpd.GeoSeries([], crs=crs)
    return gpd.GeoDataFrame(data, geometry=geometry, crs=crs)


def convex_hull(coords: np.ndarray) -> shapely.Geometry:
    """The convex hull of points (an (n, 2) array), exactly as GEOS makes it.

    GEOS needs a MultiPoint of every point first (~100 bytes each: gigabytes for a country's
    vertices); Qhull works on the array. Its vertices are put in GEOS's order (clockwise,
    from the lowest point), so the polygon equals `MultiPoint(coords).convex_hull`.
    """
    from scipy.spatial import ConvexHull, QhullError

    coords = np.asarray(coords, dtype=float).reshape(-1, 2)
    if len(coords) >= 3:
        try:
            vertices = coords[ConvexHull(coords).vertices][::-1]
        except QhullError:  # all on a line or a point: GEOS gives a line or a point
            pass
        else:
            first = np.lexsort((vertices[:, 0], vertices[:, 1]))[0]
            ring = np.roll(vertices, -first, axis=0)
            return shapely.Polygon(np.vstack([ring, ring[:1]]))
    return shapely.MultiPoint(coords).convex_hull


def metric_crs(gdf: gpd.GeoDataFrame, crs: str | pyproj.CRS | None = None) -> pyproj.CRS:
    """The study CRS: `crs` if given (must be projected, in metres), else the area's default.

    The default (:func:`siting.grids.area_crs`) is the national grid of the country the
    layer's extent is centred in (EPSG:25832 in Denmark), else its ETRS89 UTM zone in
    Europe, else its WGS 84 UTM zone. The tiled run uses this same function.
    """
    if crs is not None:
        try:
            target = pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError as exc:
            raise CRSError(
                f"study crs {crs!r} is not a CRS pyproj knows ({exc}); give an EPSG code of a "
                "projected metric CRS (e.g. EPSG:25832) or leave crs empty for the national grid "
                "(else local UTM)."
            ) from exc
        if not target.is_projected:
            raise CRSError(
                f"study crs {crs} is geographic (degrees); distances need a projected metric CRS, "
                "e.g. a UTM zone (EPSG:25832 for Denmark) or leave crs empty for the national "
                "grid (else local UTM)."
            )
        unit = target.axis_info[0].unit_name if target.axis_info else "metre"
        if unit not in ("metre", "meter", "m"):
            raise CRSError(f"study crs {crs} is in {unit}; choose a CRS in metres.")
        return target
    return area_crs(gdf)


def reproject(gdf: gpd.GeoDataFrame, crs: pyproj.CRS, name: str) -> gpd.GeoDataFrame:
    """Reproject `gdf` to the study CRS; an error that names `name` when it cannot."""
    if gdf.crs is None:
        raise CRSError(f"{name} has no CRS; set it (gdf.set_crs(...)) or save the file with one.")
    try:
        out = gdf.to_crs(crs)
    except Exception as exc:  # pyproj.exceptions.CRSError and friends
        raise CRSError(f"{name} cannot be reprojected from {gdf.crs} to {crs}: {exc}") from exc
    bounds = out.total_bounds
    if len(out) and not (np.isfinite(bounds).all() and (np.abs(bounds) < 1e8).all()):
        raise CRSError(
            f"{name} lands outside the valid area of {crs.name} after reprojection from "
            f"{gdf.crs}; its CRS is probably wrong (check the file's .prj or crs field)."
        )
    return out


def require_metric(gdf: gpd.GeoDataFrame, name: str) -> None:
    """Raise unless `gdf` is a GeoDataFrame in a projected CRS in metres.

    Every area, length and distance in siting is computed in such a CRS; the message
    names the layer and the fix.
    """
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise InputDataError(f"{name} must be a GeoDataFrame, got {type(gdf).__name__}.")
    fix = f"reproject first, e.g. {name}.to_crs({name}.estimate_utm_crs())"
    if gdf.crs is None:
        raise CRSError(
            f"{name}: no CRS; set the one the data are in (e.g. .set_crs('EPSG:4326')) and {fix}."
        )
    if not gdf.crs.is_projected:
        raise CRSError(
            f"{name} is in geographic CRS {gdf.crs.to_string()} (degrees), so areas and "
            f"distances would be wrong; {fix}."
        )
    units = {a.unit_name for a in gdf.crs.axis_info}
    if not units <= {"metre", "meter", "m"}:
        raise CRSError(
            f"{name} CRS {gdf.crs.to_string()} is in {sorted(units)}, not metres; {fix}."
        )
