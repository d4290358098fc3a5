"""What is drawn on the map: candidate-site markers, routes, the district-heating network,
the heat-density grid of buildings and the streets worth a pipe.

Large inputs are aggregated before drawing (heat-density grid, top-N routes) so the HTML
stays small enough to open in a browser.
"""

from __future__ import annotations

import html
import json
import math
import warnings

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting.area import require_metric
from siting.errors import ConfigError, InputDataError
from siting.maps.colours import (
    _NETWORK_COLOR,
    _dn_color,
    _heat_colormap,
    _pipe_weight_px,
    _street_colormap,
    _text_color,
)
from siting.maps.frames import (
    _float_column,
    _geojson,
    _nonempty_geometries,
    _num,
    _require_columns,
    _text,
    _to_wgs84,
)
from siting.maps.legends import _add_legend, _class_legend, _dn_legend_html, _HtmlLegend
from siting.maps.popups import _eur, _rank_label, _site_popup_html

SITES_LAYER = "Candidate sites"
NETWORK_LAYER = "District-heating network"
HEAT_LAYER = "Heat density"
STREET_DENSITY_LAYER = "Streets worth a pipe (linear heat density)"

HEAT_COLUMN = "heat_demand_mwh_per_yr"
DENSITY_COLUMN = "heat_density_mwh_per_ha_per_yr"

_M2_PER_HA = 10_000.0
# Above this many heat cells the HTML passes ~20 MB and browsers struggle.
_MAX_HEAT_CELLS = 60_000


def heat_density_grid(buildings: gpd.GeoDataFrame, cell_m: float = 100.0) -> gpd.GeoDataFrame:
    """Aggregate building heat demand onto a square grid.

    Buildings are binned by centroid with floor division of x, y by `cell_m`, so cells
    are aligned to multiples of `cell_m` in the buildings' CRS (same grid in every study).

    Parameters
    ----------
    buildings : GeoDataFrame
        Building geometries in a projected metric CRS with column
        ``heat_demand_mwh_per_yr`` (NaN counts as 0).
    cell_m : float
        Cell edge length in metres.

    Returns
    -------
    GeoDataFrame
        One row per cell with non-zero demand, in the buildings' CRS: square ``geometry``,
        ``heat_demand_mwh_per_yr`` (cell sum), ``heat_density_mwh_per_ha_per_yr`` and
        ``n_buildings``. Sorted by cell (x, then y); total demand equals the buildings' total.
    """
    if not (isinstance(cell_m, int | float) and math.isfinite(cell_m) and cell_m > 0):
        raise ConfigError(f"heat_cell_m must be a positive number of metres, got {cell_m!r}.")
    require_metric(buildings, "buildings")
    _require_columns(buildings, "buildings", [HEAT_COLUMN])

    demand = pd.to_numeric(buildings[HEAT_COLUMN], errors="coerce").to_numpy(dtype=float)
    if np.any(demand < 0):
        n_neg = int(np.sum(demand < 0))
        raise InputDataError(
            f"buildings.{HEAT_COLUMN} has {n_neg} negative value(s); demand must be >= 0 MWh/yr."
        )
    centroids = shapely.centroid(buildings.geometry.to_numpy())
    x_m = shapely.get_x(centroids)  # NaN for missing/empty geometries
    y_m = shapely.get_y(centroids)
    keep = np.isfinite(x_m) & np.isfinite(y_m) & np.isfinite(demand) & (demand > 0)

    empty = gpd.GeoDataFrame(
        {
            HEAT_COLUMN: pd.Series(dtype=float),
            DENSITY_COLUMN: pd.Series(dtype=float),
            "n_buildings": pd.Series(dtype=np.int64),
        },
        geometry=gpd.GeoSeries([], crs=buildings.crs),
        crs=buildings.crs,
    )
    if not keep.any():
        return empty

    ix = np.floor(x_m[keep] / cell_m).astype(np.int64)
    iy = np.floor(y_m[keep] / cell_m).astype(np.int64)
    # One int64 key per cell so a 1-D np.unique does the grouping (no loops, no axis=0 unique).
    iy0 = iy.min()
    ny = int(iy.max() - iy0) + 1
    key = (ix - ix.min()) * ny + (iy - iy0)
    cell_keys, inverse = np.unique(key, return_inverse=True)
    inverse = inverse.ravel()
    cell_mwh = np.bincount(inverse, weights=demand[keep], minlength=len(cell_keys))
    cell_count = np.bincount(inverse, minlength=len(cell_keys))
    cell_ix = cell_keys // ny + ix.min()
    cell_iy = cell_keys % ny + iy0

    x0 = cell_ix * cell_m
    y0 = cell_iy * cell_m
    cells = shapely.box(x0, y0, x0 + cell_m, y0 + cell_m)
    cell_ha = cell_m * cell_m / _M2_PER_HA
    return gpd.GeoDataFrame(
        {
            HEAT_COLUMN: cell_mwh,
            DENSITY_COLUMN: cell_mwh / cell_ha,
            "n_buildings": cell_count.astype(np.int64),
        },
        geometry=cells,
        crs=buildings.crs,
    )


def _add_heat_layer(m: folium.Map, buildings: gpd.GeoDataFrame, cell_m: float) -> None:
    grid = heat_density_grid(buildings, cell_m)
    if grid.empty:
        return
    density = grid[DENSITY_COLUMN].to_numpy()
    colormap, breaks = _heat_colormap(density)

    if len(grid) > _MAX_HEAT_CELLS:
        warnings.warn(
            f"heat-density layer has {len(grid):,} cells of {cell_m:g} m; the map HTML will be "
            f"~{len(grid) * 350 / 1e6:.0f} MB. Pass a larger heat_cell_m for large areas.",
            stacklevel=3,
        )

    drawn = grid.copy()
    drawn[DENSITY_COLUMN] = np.round(density, 0)
    drawn[HEAT_COLUMN] = np.round(grid[HEAT_COLUMN].to_numpy(), 0)

    layer = folium.FeatureGroup(name=HEAT_LAYER, show=True)
    folium.GeoJson(
        _geojson(drawn[[DENSITY_COLUMN, HEAT_COLUMN, "n_buildings", "geometry"]]),
        name=HEAT_LAYER,
        # Colour is computed here, not stored per feature: folium groups features by style,
        # so the HTML carries one style per colour class instead of one per cell.
        style_function=lambda f: {
            "fillColor": colormap(f["properties"][DENSITY_COLUMN]),
            "fillOpacity": 0.55,
            "color": colormap(f["properties"][DENSITY_COLUMN]),
            "weight": 0.3,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=[DENSITY_COLUMN, HEAT_COLUMN, "n_buildings"],
            aliases=["Heat density (MWh/ha/yr)", "Heat demand in cell (MWh/yr)", "Buildings"],
            localize=True,
        ),
    ).add_to(layer)
    layer.add_to(m)
    _add_legend(m, _class_legend(colormap, breaks.tolist()))


def _add_street_density_layer(m: folium.Map, streets: gpd.GeoDataFrame, limit: int) -> None:
    """Viable streets coloured by MWh per metre of street per year (off until ticked)."""
    lhd = "linear_heat_density_mwh_per_m"
    viable = streets[streets["viable"].astype(bool)] if "viable" in streets else streets
    viable = viable[[lhd, "geometry"]].sort_values(lhd, ascending=False, kind="stable")
    viable = _nonempty_geometries(viable.head(limit))
    if viable.empty:
        return
    cmap = _street_colormap(viable[lhd].to_numpy(dtype=float))
    data = _to_wgs84(viable).round({lhd: 2})
    layer = folium.FeatureGroup(name=STREET_DENSITY_LAYER, show=False)
    folium.GeoJson(
        json.loads(data.to_json()),
        style_function=lambda f: {
            "color": cmap(min(f["properties"][lhd], cmap.vmax)),
            "weight": 4,
            "opacity": 0.9,
        },
        tooltip=folium.GeoJsonTooltip([lhd], aliases=["MWh per metre of street per year"]),
    ).add_to(layer)
    layer.add_to(m)


def _add_network_layer(m: folium.Map, network: gpd.GeoDataFrame) -> None:
    network = _nonempty_geometries(network)
    if network.empty:
        return
    layer = folium.FeatureGroup(name=NETWORK_LAYER, show=True)
    is_line = network.geom_type.isin(["LineString", "MultiLineString", "LinearRing"])
    lines = network[is_line]
    if not lines.empty:
        folium.GeoJson(
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
            # A square DivIcon, not RegularPolygonMarker: that needs leaflet-dvf from a CDN,
            # which self-contained maps do not bundle.
            folium.Marker(
                location=[row.geometry.y, row.geometry.x],
                icon=folium.DivIcon(
                    html=(
                        '<div class="siting-plant" style="width:14px;height:14px;'
                        f"background:{_NETWORK_COLOR};border:1.5px solid #3b0000;"
                        'box-sizing:border-box"></div>'
                    ),
                    icon_size=(14, 14),
                    icon_anchor=(7, 7),
                    class_name="siting-plant-icon",
                ),
                tooltip=label,
            ).add_to(layer)
    layer.add_to(m)


def _add_routes_layer(
    m: folium.Map,
    routes: gpd.GeoDataFrame,
    top_ids: list[str],
    rank_of: dict[str, str],
    top_n: int,
) -> None:
    routes = _nonempty_geometries(routes)
    routes = routes[routes["site_id"].astype(str).isin(top_ids)]
    layer = folium.FeatureGroup(name=f"Routes (top {top_n})", show=True)
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
            label = f"{rank_of[sid]} {sid}" if sid in rank_of else sid
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
        folium.GeoJson(
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
            _HtmlLegend(
                _dn_legend_html(sizes),
                "siting-dn-legend leaflet-control",
                style=(
                    "background:white;padding:5px 8px;border-radius:4px;font:12px sans-serif;"
                    "box-shadow:0 1px 4px rgba(0,0,0,.3)"
                ),
            ).add_to(m)
    layer.add_to(m)


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
    best: pd.Series | None,
    charts: dict[str, str] | None = None,
) -> None:
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
    for i, (_, row) in enumerate(points.iterrows()):
        ok = bool(row["feasible"]) if not pd.isna(row["feasible"]) else False
        site_id = html.escape(_text(row["site_id"]))
        rank = _num(row["rank"])
        tip = f"{_rank_label(row['rank'])} {site_id}"
        if not ok:
            tip += " (not feasible)"
        folium.Marker(
            location=[row.geometry.y, row.geometry.x],
            icon=_rank_icon(str(int(rank)) if rank is not None else "?", row["_color"], ok),
            tooltip=folium.Tooltip(tip),
            popup=folium.Popup(
                _site_popup_html(row, best) + (charts or {}).get(str(row["site_id"]), ""),
                max_width=400,
            ),
            # Leaflet stacks markers by latitude; keep the better rank on top instead.
            z_index_offset=1000 * i,
        ).add_to(layer)
    layer.add_to(m)
