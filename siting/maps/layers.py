"""What is drawn on the map: candidate-site markers, routes, the district-heating network,
the heat-density grid of buildings and the streets worth a pipe.

Large inputs are aggregated before drawing (heat-density grid, top-N routes) so the HTML
stays small enough to open in a browser. Each ``_add_*`` function returns its layer's
legend section (see :mod:`siting.maps.legends`), or None when it drew nothing.
"""

from __future__ import annotations

import html
import math

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from siting.area import require_metric
from siting.errors import ConfigError
from siting.maps.colours import (
    _GRID_COLOR,
    _NETWORK_COLOR,
    _dn_color,
    _heat_classes,
    _pipe_weight_px,
    _street_colormap,
    _text_color,
)
from siting.maps.frames import (
    _feature_collection,
    _float_column,
    _geojson,
    _nonempty_geometries,
    _num,
    _require_columns,
    _text,
    _to_wgs84,
)
from siting.maps.legends import (
    _HEAT_OPACITY,
    _dn_legend,
    _grid_legend,
    _heat_legend,
    _network_legend,
    _street_legend,
)
from siting.maps.popups import _eur, _rank_label, _site_popup_html, site_label
from siting.maps.verbatim import _GeoJson
from siting.raster import heat_density_cells

SITES_LAYER = "Candidate sites"
NETWORK_LAYER = "District-heating network"
HEAT_LAYER = "Heat density"
STREET_DENSITY_LAYER = "Streets worth a pipe (linear heat density)"
GRID_LAYER = "Power grid"
# substations drawn besides those the shown sites connect to: at least this voltage
_GRID_CONTEXT_KV = 30.0

HEAT_COLUMN = "heat_demand_mwh_per_yr"
DENSITY_COLUMN = "heat_density_mwh_per_ha_per_yr"

# Above this many heat cells the HTML passes ~20 MB and browsers struggle: larger areas are
# drawn on coarser cells (2x, 4x, ... the GeoTIFF's; the GeoTIFF keeps its own).
_MAX_HEAT_CELLS = 60_000


def _square_marker(
    point, css: str, size: int, fill: str, border: str, tooltip: str, rotate: bool = False
) -> folium.Marker:
    """A square (or, rotated, diamond) DivIcon marker: plants and substations.

    Not RegularPolygonMarker: that needs leaflet-dvf from a CDN, which self-contained maps
    do not bundle.
    """
    turn = "transform:rotate(45deg);" if rotate else ""
    return folium.Marker(
        location=[point.y, point.x],
        icon=folium.DivIcon(
            html=(
                f'<div class="{css}" style="width:{size}px;height:{size}px;'
                f"background:{fill};border:1.5px solid {border};"
                f'{turn}box-sizing:border-box"></div>'
            ),
            icon_size=(size, size),
            icon_anchor=((size + 1) // 2, (size + 1) // 2),
            class_name=f"{css}-icon",
        ),
        tooltip=tooltip,
    )


def heat_density_grid(
    buildings: gpd.GeoDataFrame,
    cell_m: float = 100.0,
    crs: str | pyproj.CRS | None = "EPSG:3035",
) -> gpd.GeoDataFrame:
    """Aggregate building heat demand onto the heat-density GeoTIFF's square grid.

    The cells of :func:`siting.raster.heat_density_cells`: buildings binned by centroid,
    with floor division of x, y by `cell_m` in `crs` (EPSG:3035 by default, the GeoTIFF's
    grid, so the map's cells are the GeoTIFF's cells; None: the buildings' own CRS).

    Parameters
    ----------
    buildings : GeoDataFrame
        Building geometries in a projected metric CRS with column
        ``heat_demand_mwh_per_yr`` (NaN counts as 0).
    cell_m : float
        Cell edge length in metres.
    crs : CRS, optional
        CRS of the grid (projected, metres).

    Returns
    -------
    GeoDataFrame
        One row per cell with non-zero demand, in `crs`: square ``geometry``,
        ``heat_demand_mwh_per_yr`` (cell sum), ``heat_density_mwh_per_ha_per_yr`` and
        ``n_buildings``. Sorted by cell (x, then y); total demand equals the buildings' total.
    """
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise ConfigError(f"heat_cell_m must be a positive number of metres, got {cell_m!r}.")
    require_metric(buildings, "buildings")
    _require_columns(buildings, "buildings", [HEAT_COLUMN])
    return heat_density_cells(buildings, cell_m, crs, column=HEAT_COLUMN)


def _add_heat_layer(
    m: folium.Map,
    buildings: gpd.GeoDataFrame | None,
    cell_m: float,
    crs: str | pyproj.CRS | None,
    grid: gpd.GeoDataFrame | None = None,
) -> str | None:
    """The heat-density cells (`grid`, else binned from `buildings`), one colour per class;
    returns the legend section."""
    if grid is None:
        grid = heat_density_grid(buildings, cell_m, crs)
    if grid.empty:
        return None
    grid, drawn_m = coarsen_cells(grid, cell_m, _MAX_HEAT_CELLS)
    density = grid[DENSITY_COLUMN].to_numpy()
    classes = _heat_classes(density)
    name = HEAT_LAYER if drawn_m == cell_m else f"{HEAT_LAYER} ({drawn_m:g} m cells)"

    drawn = grid.copy()
    drawn[DENSITY_COLUMN] = np.round(density, 0)
    drawn[HEAT_COLUMN] = np.round(grid[HEAT_COLUMN].to_numpy(), 0)
    # the class of the exact density (not the rounded one shown), so a cell's colour is the
    # class the GeoTIFF's value falls in
    drawn["heat_class"] = classes.classify(density).astype(int)
    colors = classes.colors

    layer = folium.FeatureGroup(name=name, show=True)
    _GeoJson(
        _geojson(drawn[[DENSITY_COLUMN, HEAT_COLUMN, "n_buildings", "heat_class", "geometry"]]),
        name=name,
        # Colour is computed here, not stored per feature: folium groups features by style,
        # so the HTML carries one style per class instead of one per cell.
        style_function=lambda f: {
            "fillColor": colors[f["properties"]["heat_class"]],
            "fillOpacity": _HEAT_OPACITY,
            "color": colors[f["properties"]["heat_class"]],
            "weight": 0.3,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=[DENSITY_COLUMN, HEAT_COLUMN, "n_buildings"],
            aliases=["Heat density (MWh/ha/yr)", "Heat demand in cell (MWh/yr)", "Buildings"],
            localize=True,
        ),
    ).add_to(layer)
    layer.add_to(m)
    return _heat_legend(name, classes)


def coarsen_cells(
    grid: gpd.GeoDataFrame, cell_m: float, max_cells: int
) -> tuple[gpd.GeoDataFrame, float]:
    """The cells of `grid` (edge `cell_m`, on the grid of multiples of `cell_m`) merged 2x2,
    4x4, ... until at most `max_cells` remain; returns the cells and their edge in metres.

    The coarse grid nests the fine one, so each coarse cell's demand is the sum of its fine
    cells and the total is unchanged; density is per hectare of the coarse cell.
    """
    if len(grid) <= max_cells:
        return grid, float(cell_m)
    bounds = shapely.bounds(grid.geometry.values)
    x0 = np.round(bounds[:, 0] / cell_m).astype(np.int64)
    y0 = np.round(bounds[:, 1] / cell_m).astype(np.int64)
    heat = grid[HEAT_COLUMN].to_numpy(dtype=float)
    count = grid["n_buildings"].to_numpy()
    factor = 1
    while True:
        factor *= 2
        cells, inverse = np.unique(
            np.column_stack([x0 // factor, y0 // factor]), axis=0, return_inverse=True
        )
        if len(cells) <= max_cells:
            break
    inverse = inverse.ravel()
    edge = cell_m * factor
    totals = np.bincount(inverse, weights=heat, minlength=len(cells))
    cx, cy = cells[:, 0] * edge, cells[:, 1] * edge
    coarse = gpd.GeoDataFrame(
        {
            HEAT_COLUMN: totals,
            DENSITY_COLUMN: totals / (edge * edge / 10_000.0),
            "n_buildings": np.bincount(inverse, weights=count, minlength=len(cells)).astype(
                np.int64
            ),
        },
        geometry=shapely.box(cx, cy, cx + edge, cy + edge),
        crs=grid.crs,
    )
    return coarse, float(edge)


def _add_street_density_layer(m: folium.Map, streets: gpd.GeoDataFrame, limit: int) -> str | None:
    """Viable streets coloured by MWh per metre of street per year (off until ticked)."""
    lhd = "linear_heat_density_mwh_per_m"
    viable = streets[streets["viable"].astype(bool)] if "viable" in streets else streets
    viable = viable[[lhd, "geometry"]].sort_values(lhd, ascending=False, kind="stable")
    viable = _nonempty_geometries(viable.head(limit))
    if viable.empty:
        return None
    cmap = _street_colormap(viable[lhd].to_numpy(dtype=float))
    data = _to_wgs84(viable).round({lhd: 2})
    layer = folium.FeatureGroup(name=STREET_DENSITY_LAYER, show=False)
    _GeoJson(
        _feature_collection(data),
        style_function=lambda f: {
            "color": cmap(min(f["properties"][lhd], cmap.vmax))[:7],
            "weight": 4,
            "opacity": 0.9,
        },
        tooltip=folium.GeoJsonTooltip([lhd], aliases=["MWh per metre of street per year"]),
    ).add_to(layer)
    layer.add_to(m)
    return _street_legend(STREET_DENSITY_LAYER, cmap.vmin, cmap.vmax, shown=False)


def _add_network_layer(m: folium.Map, network: gpd.GeoDataFrame) -> str | None:
    network = _nonempty_geometries(network)
    if network.empty:
        return None
    layer = folium.FeatureGroup(name=NETWORK_LAYER, show=True)
    is_line = network.geom_type.isin(["LineString", "MultiLineString", "LinearRing"])
    lines = network[is_line]
    if not lines.empty:
        _GeoJson(
            _geojson(lines[["geometry"]]),
            name="District-heating pipes",
            style_function=lambda f: {"color": _NETWORK_COLOR, "weight": 3, "opacity": 0.85},
            tooltip="Existing district-heating pipe",
        ).add_to(layer)
    plants = network[~is_line]
    if not plants.empty:
        points = plants.copy()
        points = points.set_geometry(points.geometry.representative_point())
        points = _to_wgs84(points)
        for _, row in points.iterrows():
            label = "District-heating plant"
            if plant_name := _text(row.get("name")):
                label += f": {html.escape(plant_name)}"
            _square_marker(
                row.geometry, "siting-plant", 14, _NETWORK_COLOR, "#3b0000", label
            ).add_to(layer)
    layer.add_to(m)
    return _network_legend(NETWORK_LAYER, pipes=not lines.empty, plants=not plants.empty)


def _add_routes_layer(
    m: folium.Map,
    routes: gpd.GeoDataFrame,
    top_ids: list[str],
    rank_of: dict[str, str],
    top_n: int,
    label_of: dict[str, str] | None = None,
) -> str | None:
    label_of = label_of or {}
    routes = _nonempty_geometries(routes)
    routes = routes[routes["site_id"].astype(str).isin(top_ids)]
    name = f"Routes (top {top_n})"
    layer = folium.FeatureGroup(name=name, show=True)
    legend = None
    if not routes.empty:
        drawn = gpd.GeoDataFrame(
            {"site_id": routes["site_id"].astype(str).to_numpy()},
            geometry=routes.geometry.to_numpy(),
            crs=routes.crs,
        )
        dn, length_m, capex = (
            _float_column(routes, c) for c in ("pipe_dn", "length_m", "capex_eur")
        )
        drawn["weight"] = _pipe_weight_px(dn)
        drawn["color"] = [_dn_color(d) for d in dn]
        summaries = []
        for sid, d, length, cost in zip(drawn["site_id"], dn, length_m, capex, strict=True):
            label = f"{rank_of[sid]} {label_of.get(sid, sid)}" if sid in rank_of else sid
            parts = [f"Route of {html.escape(label)}"]
            if np.isfinite(length):
                parts.append(f"{length:,.0f} m")
            if np.isfinite(d) and d > 0:
                parts.append(f"DN{int(d)}")
            if np.isfinite(cost):
                parts.append(_eur(cost))
            summaries.append(", ".join(parts))
        drawn["summary"] = summaries
        # Thickest first, so thin pipes stay visible on top of big ones.
        drawn = drawn.iloc[np.argsort(-drawn["weight"].to_numpy(), kind="stable")]
        _GeoJson(
            _geojson(drawn),
            name="Routes",
            style_function=lambda f: {
                "color": f["properties"]["color"],
                "weight": f["properties"]["weight"],
                "opacity": 0.9,
            },
            tooltip=folium.GeoJsonTooltip(fields=["summary"], labels=False),
        ).add_to(layer)
        sizes = sorted({float(d) for d in dn if np.isfinite(d) and d > 0})
        if sizes:
            legend = _dn_legend(name, sizes)
    layer.add_to(m)
    return legend


def _rank_icon(label: str, color: str, feasible: bool) -> folium.DivIcon:
    """A round marker with the rank number inside, coloured by rank (grey if infeasible)."""
    size = 26 if feasible else 22
    width = max(size, 8 + 8 * len(label))
    border = "2px solid #222" if feasible else "2px dashed #555"
    style = (
        f"box-sizing:border-box;width:{width}px;height:{size}px;border-radius:{size // 2}px;"
        f"background:{color};color:{_text_color(color)};border:{border};"
        f"font:bold {12 if feasible else 11}px/{size - 4}px sans-serif;text-align:center;"
        "box-shadow:0 1px 3px rgba(0,0,0,.45);opacity:" + ("1" if feasible else "0.8")
    )
    return folium.DivIcon(
        html=f'<div class="siting-rank" style="{style}">{html.escape(label)}</div>',
        icon_size=(width, size),
        icon_anchor=(width // 2, size // 2),
        class_name="siting-site-icon",
    )


def _add_sites_layer(
    m: folium.Map,
    sites: gpd.GeoDataFrame,
    colors: pd.Series,
    reference: pd.Series | None,
    charts: dict[str, str] | None = None,
) -> folium.FeatureGroup:
    """A numbered marker per site (best on top) with its popup; returns the layer."""
    layer = folium.FeatureGroup(name=SITES_LAYER, show=True)
    points = sites.copy()
    # Polygons (site footprints) get a marker inside the footprint, not at a centroid outside it.
    points = points.set_geometry(points.geometry.representative_point())
    points["_color"] = colors
    points = _to_wgs84(points)
    feasible = points["feasible"].fillna(False).astype(bool)
    order = pd.to_numeric(points["rank"], errors="coerce").where(feasible, np.inf).fillna(np.inf)
    # Draw worst first so the best-ranked markers end up on top where they overlap.
    points = points.iloc[np.argsort(-order.to_numpy(), kind="stable")]
    n = len(points)
    for i, (_, row) in enumerate(points.iterrows()):
        ok = bool(row["feasible"]) if not pd.isna(row["feasible"]) else False
        rank = _num(row["rank"])
        tip = f"{_rank_label(row['rank'])} {html.escape(site_label(row))}"
        if not ok:
            tip += " (not feasible)"
        lonlat = (float(row.geometry.x), float(row.geometry.y))
        folium.Marker(
            location=[row.geometry.y, row.geometry.x],
            icon=_rank_icon(str(int(rank)) if rank is not None else "?", row["_color"], ok),
            tooltip=folium.Tooltip(tip),
            popup=folium.Popup(
                _site_popup_html(row, reference, lonlat)
                + (charts or {}).get(str(row["site_id"]), ""),
                max_width=360,
            ),
            # Leaflet stacks markers by latitude; keep the better rank on top instead.
            z_index_offset=1000 * i,
            # best first when overlapping markers are spread around a circle (layout.py)
            siting_order=n - i,
        ).add_to(layer)
    layer.add_to(m)
    return layer


def _add_grid_layer(
    m: folium.Map,
    lines: gpd.GeoDataFrame | None,
    substations: gpd.GeoDataFrame | None,
    top_ids: list[str],
    rank_of: dict[str, str],
    label_of: dict[str, str],
) -> str | None:
    """Each shown site's cable to its substation (dashed), and the substations: those the
    shown sites use and every other of at least 30 kV (the thousands of small ones only
    where a site uses them)."""
    layer = folium.FeatureGroup(name=GRID_LAYER, show=True)
    drew_lines = drew_subs = False
    used: set[str] = set()
    if lines is not None and len(lines):
        lines = _nonempty_geometries(lines)
        lines = lines[lines["site_id"].astype(str).isin(top_ids)]
    if lines is not None and len(lines):
        used = set(lines["substation_id"].astype(str))
        drawn = gpd.GeoDataFrame(
            {"site_id": lines["site_id"].astype(str).to_numpy()},
            geometry=lines.geometry.to_numpy(),
            crs=lines.crs,
        )
        tips = []
        for _, row in lines.iterrows():
            sid = str(row["site_id"])
            name = _text(row.get("substation_name")) or _text(row.get("substation_id"))
            kv = _num(row.get("substation_voltage_kv"))
            km = _num(row.get("grid_distance_m"))
            text = f"Grid: {rank_of.get(sid, '')} {label_of.get(sid, sid)} to {name}".strip()
            if kv is not None:
                text += f" ({kv:g} kV)"
            if km is not None:
                text += f", {km / 1000:,.1f} km {_text(row.get('grid_distance_basis'))}"
            tips.append(html.escape(text))
        drawn["summary"] = tips
        _GeoJson(
            _geojson(drawn),
            name="Grid connections",
            style_function=lambda f: {
                "color": _GRID_COLOR,
                "weight": 2,
                "opacity": 0.9,
                "dashArray": "6 4",
            },
            tooltip=folium.GeoJsonTooltip(fields=["summary"], labels=False),
        ).add_to(layer)
        drew_lines = True
    if substations is not None and len(substations):
        subs = _nonempty_geometries(substations)
        kv = pd.to_numeric(subs.get("voltage_kv"), errors="coerce").to_numpy(dtype=float)
        keep = subs["substation_id"].astype(str).isin(used).to_numpy() | (
            np.nan_to_num(kv) >= _GRID_CONTEXT_KV
        )
        subs = _to_wgs84(subs[keep].set_geometry(subs[keep].geometry.representative_point()))
        for _, row in subs.iterrows():
            name = _text(row.get("name")) or "Substation"
            v = _num(row.get("voltage_kv"))
            tip = html.escape(f"{name}, {v:g} kV" if v is not None else f"{name}, voltage unknown")
            _square_marker(
                row.geometry, "siting-substation", 11, _GRID_COLOR, "#222", tip, rotate=True
            ).add_to(layer)
            drew_subs = True
    if not (drew_lines or drew_subs):
        return None
    layer.add_to(m)
    return _grid_legend(GRID_LAYER, drew_lines, drew_subs)
