"""The `Area` container: every layer of a study in ONE projected metric CRS."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from siting.errors import CRSError, InputDataError
from siting.grids import area_crs
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
    ) -> Area:
        """Project an OSM extract (and a network layer) into one metric CRS and check them.

        `streets_hull` (in `crs`, which must then be given) stands in for the streets when
        `osm` was read without them because the street graph came from the cache.
        """
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
        if cached:
            target = metric_crs(osm.buildings, crs)
            streets = osm.streets.to_crs(target)
            street_coords = shapely.get_coordinates(streets_hull)
        else:
            target = metric_crs(osm.streets, crs)
            streets = osm.streets.to_crs(target)
            street_coords = shapely.get_coordinates(streets.geometry.values)
        buildings = osm.buildings.to_crs(target)
        # hull of all vertices: robust to the invalid polygons OSM extracts often hold
        coords = np.vstack([street_coords, shapely.get_coordinates(buildings.geometry.values)])
        hull = convex_hull(coords)
        if network is not None:
            network = reproject(network, target, network.attrs.get("source", "network"))
        return cls(
            crs=target,
            streets=streets,
            buildings=buildings,
            network=network,
            landuse=osm.landuse.to_crs(target),
            data_centers=osm.data_centers.to_crs(target),
            boundary=hull,
            source=osm.source,
            railways=osm.railways.to_crs(target),
            addresses=osm.addresses.to_crs(target),
            power=osm.power.to_crs(target),
            exclusions=osm.exclusions.to_crs(target),
        )


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
