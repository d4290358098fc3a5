"""Folium maps of a siting study: the public API that assembles the map.

:func:`study_map` draws ranked candidate sites, routes, the district-heating network and
heat density; :func:`save_map` writes it. The parts live in this package's modules:

- ``layers``: what is drawn (sites, routes, network, heat-density grid, street density)
- ``popups``: site popup HTML and "why this rank" (against the median feasible site)
- ``colours``: one palette per layer, heat-density classes, legend number format
- ``legends``: the legend box (a section per layer) and the title box
- ``layout``: style sheet with the phone layout, responsive and marker-spreading scripts
- ``view``: initial bounds and the fit-around-controls script
- ``offline``: self-contained rendering (assets inlined via :mod:`siting.assets`)
- ``frames``: input checks, tolerant cell values, reprojection to lon/lat GeoJSON
- ``verbatim``: GeoJSON layers whose script goes into the page without a second Jinja pass

All inputs are GeoDataFrames in a projected metric CRS (the study's local UTM); they are
reprojected to EPSG:4326 in this package and nowhere else, because folium/Leaflet needs
lon/lat.
"""

from __future__ import annotations

import os
import pathlib
import tempfile

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from siting.area import require_metric
from siting.errors import ConfigError, InputDataError
from siting.maps.colours import HEAT_CAPTION as HEAT_CAPTION
from siting.maps.colours import NETWORK_CAPTION as NETWORK_CAPTION
from siting.maps.colours import RANK_CAPTION as RANK_CAPTION
from siting.maps.colours import STREET_CAPTION as STREET_CAPTION
from siting.maps.colours import _rank_colormap, _site_colors
from siting.maps.frames import _nonempty_geometries, _require_columns, _top_site_ids
from siting.maps.layers import DENSITY_COLUMN as DENSITY_COLUMN
from siting.maps.layers import GRID_LAYER as GRID_LAYER
from siting.maps.layers import HEAT_COLUMN as HEAT_COLUMN
from siting.maps.layers import HEAT_LAYER as HEAT_LAYER
from siting.maps.layers import NETWORK_LAYER as NETWORK_LAYER
from siting.maps.layers import SITES_LAYER as SITES_LAYER
from siting.maps.layers import STREET_DENSITY_LAYER as STREET_DENSITY_LAYER
from siting.maps.layers import (
    _add_grid_layer,
    _add_heat_layer,
    _add_network_layer,
    _add_routes_layer,
    _add_sites_layer,
    _add_street_density_layer,
    heat_density_grid,
)
from siting.maps.layout import _MeasureControl, _Responsive, _SpreadMarkers, add_style
from siting.maps.legends import DN_LEGEND_TITLE as DN_LEGEND_TITLE
from siting.maps.legends import OSM_ATTRIBUTION as OSM_ATTRIBUTION
from siting.maps.legends import _Legend as _Legend
from siting.maps.legends import _rank_legend, _title_box, _TitleBox
from siting.maps.offline import _OFFLINE_BACKGROUND, _Attribution, _SelfContainedFigure
from siting.maps.offline import OFFLINE_NOTE as OFFLINE_NOTE
from siting.maps.popups import _rank_label, median_site, rank_explanation, site_label
from siting.maps.view import _bounds_wgs84, _FitAroundControls, _sites_in_study_area
from siting.ranking import ranking_basis

__all__ = [
    "heat_density_grid",
    "median_site",
    "rank_explanation",
    "site_label",
    "study_map",
    "save_map",
]

# folium's page links Bootstrap, Font Awesome, glyphicons and Awesome Markers for widgets
# and icons the study map never uses: only Leaflet and jQuery (folium's popups) stay.
_USED_JS = ("leaflet", "jquery")
_USED_CSS = ("leaflet_css",)


def study_map(
    sites: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame | None = None,
    network: gpd.GeoDataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    *,
    top_n_routes: int = 50,
    heat_cell_m: float = 100.0,
    heat_crs: str | None = "EPSG:3035",
    title: str = "siting",
    tiles: str = "OpenStreetMap",
    self_contained: bool = True,
    street_density: gpd.GeoDataFrame | None = None,
    max_street_edges: int = 3_000,
    site_charts: dict[str, str] | None = None,
    grid_lines: gpd.GeoDataFrame | None = None,
    substations: gpd.GeoDataFrame | None = None,
    heat_grid: gpd.GeoDataFrame | None = None,
    buildings_extent: gpd.GeoDataFrame | None = None,
) -> folium.Map:
    """Build the study map: ranked sites, top-N routes, DH network and heat density.

    `street_density` (from :func:`siting.heat_density.street_linear_heat_density`) adds a
    hidden-by-default layer of the streets whose linear heat density is viable for district
    heating, at most `max_street_edges` of the densest. `site_charts` maps a site id to HTML
    (e.g. :func:`siting.figures.monthly_svg`) appended to that site's popup. `grid_lines`
    (each site's cable to its substation, :func:`siting.stages.connect_grid`) and
    `substations` add the power-grid layer: the cables of the top `top_n_routes` sites,
    the substations they use and every other of at least 30 kV.

    The page works on any screen: on a phone (at most 600 px wide) the layer list starts
    collapsed, the legend and the title box's details start closed and popups fit the
    screen (:mod:`siting.maps.layout`). Markers that would overlap are moved apart.

    Parameters
    ----------
    sites : GeoDataFrame
        One row per candidate site (Point or Polygon) with at least ``site_id``, ``rank``
        and ``feasible``; metric columns (see module contract) fill the popups, ``label``
        (else ``name``) names the site, ``address``, ``operator``, ``landuse`` and
        ``osm_url`` say where it is.
    routes : GeoDataFrame, optional
        Route lines with ``site_id``, ``pipe_dn``, ``length_m``, ``capex_eur``.
    network : GeoDataFrame, optional
        Existing DH pipes (lines) and plants (points/polygons).
    buildings : GeoDataFrame, optional
        Building polygons with ``heat_demand_mwh_per_yr``; drawn as a heat-density grid.
    top_n_routes : int
        Draw routes of the best `top_n_routes` feasible sites only.
    heat_cell_m : float
        Heat-density grid cell edge, metres.
    heat_crs : str, optional
        CRS of the heat-density grid: EPSG:3035 (default) is the grid of the study's
        GeoTIFF (:func:`siting.raster.heat_density`), so the map shows the GeoTIFF's cells;
        None bins in the buildings' CRS.
    title : str
        Text of the title box.
    tiles : str
        Folium tile name or URL template (URLs are attributed to OpenStreetMap contributors);
        used only when `self_contained` is False.
    self_contained : bool
        True (default): inline Leaflet and every other script/stylesheet from the copies
        installed with siting (``siting/data/assets``), so the saved HTML opens without a
        network. Base-map tiles cannot be offline: the layers are drawn on a plain
        background (the title box says so) and `tiles` is ignored. False: link the scripts
        from CDNs and draw `tiles` (needs a network to open).
    heat_grid : GeoDataFrame, optional
        Instead of `buildings`: their cells as :func:`heat_density_grid` returns them (edge
        `heat_cell_m`), e.g. summed tile by tile when the buildings are too many to gather.
    buildings_extent : GeoDataFrame, optional
        Instead of `buildings` for the initial view: geometries with the buildings' bounds
        (a box per tile of them).

    Returns
    -------
    folium.Map
    """
    if isinstance(top_n_routes, bool) or not isinstance(top_n_routes, int | np.integer):
        raise ConfigError(f"top_n_routes must be an integer >= 0, got {top_n_routes!r}.")
    if top_n_routes < 0:
        raise ConfigError(f"top_n_routes must be >= 0, got {top_n_routes}.")
    require_metric(sites, "sites")
    _require_columns(sites, "sites", ["site_id", "rank", "feasible"])
    sites = _nonempty_geometries(sites)
    if sites.empty:
        raise InputDataError("sites has no rows with geometry; nothing to map.")
    # Empty optional layers (e.g. no reachable site, no network) are simply not drawn; they
    # often come without columns or CRS, so validate only what will be drawn.
    routes = routes if routes is not None and len(routes) else None
    network = network if network is not None and len(network) else None
    buildings = buildings if buildings is not None and len(buildings) else None
    if routes is not None:
        require_metric(routes, "routes")
        _require_columns(routes, "routes", ["site_id"])
    if network is not None:
        require_metric(network, "network")
    if buildings is not None:
        require_metric(buildings, "buildings")

    in_view = _sites_in_study_area(sites, buildings if buildings is not None else buildings_extent)
    bounds = _bounds_wgs84([sites[in_view]] + ([network] if network is not None else []))
    assert bounds is not None  # in_view keeps at least one site
    center = [(bounds[0][0] + bounds[1][0]) / 2, (bounds[0][1] + bounds[1][1]) / 2]

    # zoom_snap 0.25: fit the study area closely instead of jumping a whole zoom level out.
    m = folium.Map(location=center, zoom_start=13, tiles=None, control_scale=True, zoom_snap=0.25)
    m.default_js = [(k, v) for k, v in m.default_js if k in _USED_JS]
    m.default_css = [(k, v) for k, v in m.default_css if k in _USED_CSS]
    if self_contained:
        # Re-parent onto a figure that inlines the assets on every render (save, notebook).
        _SelfContainedFigure().add_child(m)
        m.get_root().header.add_child(
            folium.Element(
                f"<style>.folium-map.leaflet-container{{background:{_OFFLINE_BACKGROUND}}}</style>"
            ),
            name="siting_offline_background",
        )
        _Attribution(OSM_ATTRIBUTION).add_to(m)
    else:
        is_url = "{" in tiles or "://" in tiles
        folium.TileLayer(tiles, attr=OSM_ATTRIBUTION if is_url else None, name="Base map").add_to(m)
    add_style(m)

    # Add order = drawing order: area fill at the bottom, site markers on top. Legend
    # sections in the same order, bottom layer last (the sites, read first, on top).
    sections = []
    if buildings is not None or heat_grid is not None:
        sections.append(_add_heat_layer(m, buildings, heat_cell_m, heat_crs, heat_grid))
    if street_density is not None and len(street_density):
        require_metric(street_density, "street_density")
        sections.append(_add_street_density_layer(m, street_density, max_street_edges))
    if network is not None:
        sections.append(_add_network_layer(m, network))

    rank_cmap = _rank_colormap(sites)
    colors = _site_colors(sites, rank_cmap)
    if routes is not None:
        rank_of = {
            str(sid): _rank_label(rank)
            for sid, rank in zip(sites["site_id"], sites["rank"], strict=True)
        }
        label_of = {str(r["site_id"]): site_label(r) for _, r in sites.iterrows()}
        top_ids = _top_site_ids(sites, top_n_routes)
        if "pipe_dn" not in routes.columns and "pipe_dn" in sites.columns:
            # the study's routes carry the site's pipe size only in the ranking table
            dn_of = dict(zip(sites["site_id"].astype(str), sites["pipe_dn"], strict=True))
            routes = routes.assign(pipe_dn=routes["site_id"].astype(str).map(dn_of))
        sections.append(_add_routes_layer(m, routes, top_ids, rank_of, top_n_routes, label_of))
    if (grid_lines is not None and len(grid_lines)) or (
        substations is not None and len(substations)
    ):
        for name, layer in (("grid_lines", grid_lines), ("substations", substations)):
            if layer is not None and len(layer):
                require_metric(layer, name)
        grid_rank = {
            str(sid): _rank_label(rank)
            for sid, rank in zip(sites["site_id"], sites["rank"], strict=True)
        }
        grid_label = {str(r["site_id"]): site_label(r) for _, r in sites.iterrows()}
        sections.append(
            _add_grid_layer(
                m,
                grid_lines,
                substations,
                _top_site_ids(sites, top_n_routes),
                grid_rank,
                grid_label,
            )
        )
    sites_layer = _add_sites_layer(m, sites, colors, median_site(sites), site_charts)
    feasible = sites["feasible"].fillna(False).astype(bool)
    ranks = pd.to_numeric(sites.loc[feasible, "rank"], errors="coerce").dropna()
    max_rank = int(ranks.max()) if len(ranks) else 1
    sections.append(_rank_legend(SITES_LAYER, max_rank, bool((~feasible).any())))
    _Legend([s for s in reversed(sections) if s]).add_to(m)

    _TitleBox(
        _title_box(
            title,
            len(sites),
            int(feasible.sum()),
            top_n_routes,
            self_contained,
            int((~in_view).sum()),
            ranking_basis(sites),
        )
    ).add_to(m)
    _MeasureControl(
        position="bottomleft",
        primary_length_unit="meters",
        secondary_length_unit="miles",
        primary_area_unit="hectares",
        secondary_area_unit="acres",
    ).add_to(m)
    layers = folium.LayerControl(collapsed=False)
    layers.add_to(m)
    _Responsive(layers).add_to(m)
    _SpreadMarkers(sites_layer).add_to(m)
    # Once the page is drawn, fit into the largest area no control covers. (No folium
    # fit_bounds before it: its animated zoom would finish after, and undo, this one.)
    _FitAroundControls(bounds).add_to(m)
    return m


def save_map(m: folium.Map, path: str | os.PathLike[str]) -> pathlib.Path:
    """Write `m` as HTML atomically (temp file in the same directory, then os.replace).

    Parameters
    ----------
    m : folium.Map
    path : str or PathLike
        Target ``.html`` file; parent directories are created.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    page = m.get_root().render()
    # Same directory so os.replace is a rename on one filesystem (atomic), never a copy.
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # mkstemp creates 0600; a map is meant to be shared, so make it world-readable.
        os.chmod(tmp_name, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(page)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        pathlib.Path(tmp_name).unlink(missing_ok=True)
        raise
    return target
