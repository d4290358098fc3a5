"""The map's initial view: the bounds of what it must show, which sites are in the study
area, and the script that fits that area around the title box, layer control and legends."""

from __future__ import annotations

from collections.abc import Sequence

import branca.element
import geopandas as gpd
import jinja2
import numpy as np
import pandas as pd
import shapely

from siting.maps.frames import _nonempty_geometries


def _bounds_wgs84(frames: Sequence[gpd.GeoDataFrame]) -> list[list[float]] | None:
    """[[south, west], [north, east]] over all frames, padded so single points get context."""
    boxes = []
    for gdf in frames:
        gdf = _nonempty_geometries(gdf)
        if gdf.empty:
            continue
        minx, miny, maxx, maxy = gdf.total_bounds
        # Pad in metres (before reprojecting) so the view is the same at any latitude.
        pad_m = max(40.0, 0.02 * max(maxx - minx, maxy - miny))
        box = shapely.box(minx - pad_m, miny - pad_m, maxx + pad_m, maxy + pad_m)
        boxes.append(gpd.GeoSeries([box], crs=gdf.crs).to_crs(4326).total_bounds)
    if not boxes:
        return None
    b = np.array(boxes)
    return [
        [float(b[:, 1].min()), float(b[:, 0].min())],
        [float(b[:, 3].max()), float(b[:, 2].max())],
    ]


def _sites_in_study_area(sites: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame | None) -> pd.Series:
    """Which sites the initial view must show: those within the buildings' extent.

    A candidate far outside the extract (infeasible: outside the study area) would otherwise
    zoom the view out until the study area is a speck in a corner. All sites when none or
    all are inside, or when there are no buildings.
    """
    everything = pd.Series(True, index=sites.index)
    if buildings is None:
        return everything
    b = _nonempty_geometries(buildings)
    if b.empty:
        return everything
    minx, miny, maxx, maxy = b.to_crs(sites.crs).total_bounds
    pad_m = max(500.0, 0.1 * max(maxx - minx, maxy - miny))
    area = shapely.box(minx - pad_m, miny - pad_m, maxx + pad_m, maxy + pad_m)
    inside = pd.Series(sites.geometry.intersects(area).to_numpy(), index=sites.index)
    return inside if inside.any() else everything


class _FitAroundControls(branca.element.MacroElement):
    """Fit the study area into the part of the map no control covers, as tight as possible.

    folium's fit_bounds pads by fixed pixels on every side. Here, once the title box, layer
    control and legends are drawn, the script measures the control corners and tries two
    layouts: the area between the top and bottom controls (full width) and the area between
    the left and right controls (full height), and keeps the one that allows the larger zoom.
    A tall study area thus fills the middle column, a wide one the middle band.
    """

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, bounds, margin) {
            var c = map.getContainer().getBoundingClientRect();
            function edges(selector) {
                var out = null;
                document.querySelectorAll(selector).forEach(function (el) {
                    var r = el.getBoundingClientRect();
                    if (!r.width || !r.height) { return; }
                    out = out ? {left: Math.min(out.left, r.left), top: Math.min(out.top, r.top),
                                 right: Math.max(out.right, r.right),
                                 bottom: Math.max(out.bottom, r.bottom)}
                              : {left: r.left, top: r.top, right: r.right, bottom: r.bottom};
                });
                return out;
            }
            var corner = '#' + map.getContainer().id + ' .leaflet-';
            var tl = edges('.siting-title'), tl2 = edges(corner + 'top.leaflet-left > *');
            var tr = edges(corner + 'top.leaflet-right > *');
            var bl = edges(corner + 'bottom.leaflet-left > *');
            var br = edges(corner + 'bottom.leaflet-right > *');
            var top = 0, bottom = 0, left = 0, right = 0;
            [tl, tl2, tr].forEach(function (e) {
                if (e) { top = Math.max(top, e.bottom - c.top); } });
            [bl, br].forEach(function (e) {
                if (e) { bottom = Math.max(bottom, c.bottom - e.top); } });
            [tl, tl2, bl].forEach(function (e) {
                if (e) { left = Math.max(left, e.right - c.left); } });
            [tr, br].forEach(function (e) {
                if (e) { right = Math.max(right, c.right - e.left); } });
            var layouts = [
                [[margin, top + margin], [margin, bottom + margin]],
                [[left + margin, margin], [right + margin, margin]]
            ];
            var best = null, bestZoom = -Infinity;
            layouts.forEach(function (p) {
                var w = c.width - p[0][0] - p[1][0], h = c.height - p[0][1] - p[1][1];
                if (w < 120 || h < 120) { return; }
                var z = map.getBoundsZoom(bounds, false, L.point(p[0]).add(p[1]));
                if (z > bestZoom) { bestZoom = z; best = p; }
            });
            // Fallback (a tiny map): clear of the top and bottom controls by a fixed amount.
            best = best || [[30, 130], [30, 130]];
            map.fitBounds(bounds, {paddingTopLeft: best[0], paddingBottomRight: best[1],
                                   animate: false});
        })({{ this._parent.get_name() }}, {{ this.bounds|tojson }}, {{ this.margin }});
        {% endmacro %}
        """
    )

    def __init__(self, bounds: list[list[float]], margin_px: int = 18) -> None:
        super().__init__()
        self._name = "FitAroundControls"
        self.bounds = bounds
        self.margin = int(margin_px)
