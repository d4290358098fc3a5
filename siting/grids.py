"""National grids: the projected CRS a GIS user in the study's country expects.

A study's layers share one metric CRS (:mod:`siting.area`). Without `Study.crs` it is the
national grid of the country the study area lies in (EPSG:25832 in Denmark, SWEREF99 TM in
Sweden, ...: `NATIONAL_GRIDS`), else the ETRS89 UTM zone of the area in Europe (Germany's
25832/25833 and most other European mapping agencies' choice), else the WGS 84 UTM zone.

The country is found from the centre of the area on coarse outlines (a few dozen vertices
each, drawn on the land borders and the sea midlines; accurate to a few kilometres). A
study within a few kilometres of a border (Flensburg/Padborg, Haparanda/Tornio, Venlo)
should set `Study.crs` if the grid chosen is not the one its users work in.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import geopandas as gpd
import pyproj
import shapely

__all__ = ["NATIONAL_GRIDS", "NationalGrid", "area_crs", "default_crs", "national_grid"]


@dataclass(frozen=True)
class NationalGrid:
    """A country's projected grid and the coarse outline (lon/lat) it applies in."""

    country: str
    crs: str
    outline: tuple[tuple[tuple[float, float], ...], ...]  # polygons of (lon, lat) vertices

    @property
    def shape(self) -> shapely.Geometry:
        return _shape(self.outline)


# Shared borders, west/south to east/north, so neighbouring outlines meet without overlap.
_DK_SE = (  # Øresund and Kattegat midline, Falsterbo to the Skagerrak
    (12.65, 55.35), (12.75, 55.55), (12.88, 55.65), (12.75, 55.80), (12.64, 55.92),
    (12.655, 56.05), (12.45, 56.2), (12.0, 56.55), (11.9, 56.95), (11.5, 57.45), (10.9, 57.95),
)  # fmt: skip
_SE_NO = (  # Skagerrak, Svinesund, the keel to Treriksröset
    (10.9, 57.95), (10.55, 58.75), (11.05, 59.02), (11.27, 59.09), (11.55, 58.97), (11.78, 59.2),
    (11.75, 59.5), (11.95, 59.8), (12.35, 60.0), (12.55, 60.4), (12.3, 61.0), (12.45, 61.5),
    (12.1, 61.75), (12.15, 62.3), (12.1, 62.9), (12.0, 63.3), (12.1, 63.6), (12.7, 64.0),
    (13.9, 64.4), (14.1, 64.9), (14.5, 65.3), (14.6, 65.9), (15.5, 66.25), (15.6, 66.6),
    (16.4, 67.2), (16.8, 67.7), (17.9, 68.2), (18.1, 68.5), (19.0, 68.55), (20.0, 68.5),
    (20.55, 69.06),
)  # fmt: skip
_NO_FI = (  # Treriksröset, the Finnish arm, the Anarjohka and Teno rivers, to Russia
    (20.55, 69.06), (21.1, 69.24), (21.7, 69.28), (22.4, 68.72), (23.0, 68.72), (24.9, 68.58),
    (25.7, 68.95), (25.8, 69.45), (26.5, 69.75), (27.0, 69.93), (27.3, 69.97), (28.05, 70.1),
    (28.4, 69.85), (29.15, 69.68), (29.0, 69.4), (28.93, 69.05),
)  # fmt: skip
_SE_FI = (  # Treriksröset, the Muonio and Torne rivers, the Gulf of Bothnia, the Sea of Åland
    (20.55, 69.06), (22.5, 68.45), (23.6, 67.95), (23.55, 67.3), (23.68, 66.4), (24.145, 65.84),
    (24.1, 65.7), (23.0, 65.1), (22.0, 64.3), (20.95, 63.5), (19.5, 62.3), (19.3, 61.0),
    (19.13, 60.3), (19.2, 59.8),
)  # fmt: skip

_DENMARK = (
    (
        (7.5, 55.065), (8.45, 55.065), (8.66, 54.91), (8.9, 54.895), (9.2, 54.86), (9.37, 54.818),
        (9.44, 54.832), (9.55, 54.85), (9.62, 54.845), (10.0, 54.77), (10.6, 54.62),
        (11.2, 54.58), (11.8, 54.5), (12.2, 54.5), (12.75, 54.85), *_DK_SE, (7.5, 57.9),
    ),
    ((14.6, 54.95), (15.25, 54.95), (15.25, 55.35), (14.6, 55.35)),  # Bornholm, Christiansø
)  # fmt: skip
_SWEDEN = (
    (
        *_SE_NO, *_SE_FI[1:], (20.2, 58.5), (20.0, 57.0), (18.0, 56.1), (15.5, 55.45),
        (14.5, 55.38), (13.4, 55.25), *_DK_SE[:-1],
    ),
)  # fmt: skip
_NORWAY = (
    (
        (4.0, 57.9), (7.5, 57.9), *_SE_NO, *_NO_FI[1:], (29.35, 69.15), (29.9, 69.3),
        (30.15, 69.45), (30.2, 69.65), (30.85, 69.78), (31.1, 70.0), (31.5, 70.5), (27.0, 71.5),
        (20.0, 71.0), (15.0, 70.0), (11.0, 67.5), (8.0, 64.5), (4.0, 62.0),
    ),
)  # fmt: skip
_FINLAND = (
    (
        *_NO_FI, (28.8, 68.9), (28.5, 68.5), (29.3, 68.07), (29.5, 67.5), (29.2, 66.9),
        (29.9, 66.1), (29.9, 65.6), (29.7, 65.0), (30.0, 64.5), (30.5, 64.0), (30.9, 63.5),
        (31.5, 62.9), (31.0, 62.2), (29.7, 61.55), (28.9, 61.2), (27.85, 60.55), (27.7, 60.3),
        (25.0, 59.85), (23.0, 59.65), (21.0, 59.55), *_SE_FI[::-1][:-1],
    ),
)  # fmt: skip
_NETHERLANDS = (
    (
        (3.37, 51.37), (3.36, 51.3), (3.45, 51.24), (3.55, 51.22), (3.8, 51.21), (4.2, 51.3),
        (4.25, 51.37), (4.3, 51.39), (4.45, 51.49), (4.76, 51.5), (4.9, 51.42), (5.1, 51.33),
        (5.3, 51.27), (5.6, 51.26), (5.85, 51.15), (5.76, 50.95), (5.64, 50.85), (5.7, 50.76),
        (6.02, 50.75), (6.075, 50.88), (6.07, 50.9), (5.98, 50.97), (5.88, 51.03),
        (5.92, 51.07), (6.1, 51.15), (6.21, 51.37), (6.05, 51.68), (5.97, 51.78), (6.12, 51.85),
        (6.49, 51.85), (6.8, 51.97), (6.78, 52.05), (7.0, 52.2), (7.07, 52.35), (6.97, 52.45),
        (6.75, 52.5), (6.79, 52.63), (7.07, 52.65), (7.2, 52.9), (7.2, 53.2), (7.05, 53.3),
        (6.9, 53.45), (6.62, 53.7), (4.5, 53.6), (3.5, 53.0), (3.0, 51.9),
    ),
)  # fmt: skip
_GREAT_BRITAIN = (  # England, Scotland, Wales: not Northern Ireland, Man, the Channel Islands
    (
        (-6.6, 49.8), (-3.0, 50.0), (-1.5, 50.45), (1.0, 50.75), (1.5, 51.05), (2.0, 51.5),
        (2.2, 52.6), (1.0, 54.5), (-1.0, 56.5), (-1.0, 58.0), (0.0, 60.0), (0.0, 61.0),
        (-2.0, 61.0), (-6.0, 59.5), (-9.0, 58.0), (-8.5, 56.3), (-6.7, 55.6), (-5.95, 55.35),
        (-5.25, 54.8), (-4.95, 54.5), (-3.9, 54.35), (-3.9, 53.9), (-5.0, 53.45), (-5.7, 52.3),
        (-6.0, 51.5),
    ),
)  # fmt: skip
_IRELAND = (  # the island: Ireland and Northern Ireland share ITM
    (
        (-10.8, 51.3), (-10.8, 55.0), (-8.0, 55.5), (-6.9, 55.55), (-6.0, 55.3), (-5.4, 54.8),
        (-5.3, 54.3), (-5.7, 53.9), (-5.9, 52.5), (-6.1, 52.0), (-9.0, 51.3),
    ),
)  # fmt: skip

NATIONAL_GRIDS: tuple[NationalGrid, ...] = (
    NationalGrid("Denmark", "EPSG:25832", _DENMARK),  # ETRS89 / UTM 32N, Bornholm too
    NationalGrid("Sweden", "EPSG:3006", _SWEDEN),  # SWEREF99 TM
    NationalGrid("Norway", "EPSG:25833", _NORWAY),  # ETRS89 / UTM 33N (national datasets)
    NationalGrid("Finland", "EPSG:3067", _FINLAND),  # ETRS-TM35FIN
    NationalGrid("Netherlands", "EPSG:28992", _NETHERLANDS),  # Amersfoort / RD New
    NationalGrid("Great Britain", "EPSG:27700", _GREAT_BRITAIN),  # British National Grid
    NationalGrid("Ireland", "EPSG:2157", _IRELAND),  # Irish Transverse Mercator
)


@cache
def _shape(outline: tuple[tuple[tuple[float, float], ...], ...]) -> shapely.Geometry:
    return shapely.MultiPolygon([shapely.Polygon(ring) for ring in outline])


def national_grid(lon: float, lat: float) -> NationalGrid | None:
    """The national grid of the country holding (lon, lat), or None where none is listed."""
    point = shapely.Point(lon, lat)
    return next((g for g in NATIONAL_GRIDS if g.shape.covers(point)), None)


def default_crs(lon: float, lat: float) -> pyproj.CRS:
    """The study CRS at (lon, lat): the national grid, else ETRS89 UTM in Europe, else UTM."""
    grid = national_grid(lon, lat)
    if grid is not None:
        return pyproj.CRS.from_user_input(grid.crs)
    zone = min(60, int((lon + 180.0) // 6.0) + 1)
    if lat >= 0 and 28 <= zone <= 38:  # ETRS89 / UTM (EPSG:25828-25838), where PROJ says it applies
        etrs = pyproj.CRS.from_epsg(25800 + zone)
        west, south, east, north = etrs.area_of_use.bounds
        if west <= lon <= east and south <= lat <= north:
            return etrs
    return gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326").estimate_utm_crs()


def area_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> pyproj.CRS:
    """:func:`default_crs` at the centre of a layer's extent (any CRS; EPSG:4326 if unset)."""
    lonlat = gdf if gdf.crs is None else gdf.to_crs("EPSG:4326")
    x0, y0, x1, y1 = lonlat.total_bounds
    return default_crs((x0 + x1) / 2.0, (y0 + y1) / 2.0)
