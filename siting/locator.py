"""A static locator map of a study's top sites (matplotlib, the study's CRS, no tiles).

For the report: a PNG that needs no script, no network and no tile server, so the page
stays self-contained, prints, and can be e-mailed. It draws the heat-density cells of the
study's GeoTIFF grid as context, the district-heating network, every candidate as a small
dot, and the top sites as numbered circles in the map's rank colours with their routes;
circles that would overlap are moved apart with a thin line to the site. Where the study
found the power grid, each top site's cable to its substation is drawn dashed, with the
substation as a diamond and its voltage.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from siting.maps.colours import (
    _DN_COLORS,
    _GRID_COLOR,
    _INFEASIBLE_COLOR,
    _NETWORK_COLOR,
    _heat_classes,
    _rank_colormap,
    _site_colors,
    _text_color,
)
from siting.maps.layers import DENSITY_COLUMN

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
_MARKER_PT = 15  # circle diameter, points
_SCALE_STEPS_M = (50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000)


def locator_map_figure(results, top: pd.DataFrame, width_in: float = 8.0):
    """A matplotlib Figure locating `top` (rows of ``results.sites``) in the study area.

    The view is the top sites and their routes, padded (at least 1 km across); the rest of
    the study is context. Returns a Figure (not attached to pyplot).
    """
    from matplotlib.figure import Figure

    sites = results.sites
    crs = sites.crs
    top_ids = set(top["site_id"].astype(str))
    routes = results.routes
    if routes is not None and len(routes):
        routes = routes[routes["site_id"].astype(str).isin(top_ids)]
    grid = getattr(results, "grid_lines", None)
    if grid is not None and len(grid):
        grid = grid[grid["site_id"].astype(str).isin(top_ids)]
    x0, y0, x1, y1 = _view(
        top if len(top) else sites,
        routes,
        grid if grid is not None and len(grid) else None,
    )
    aspect = (y1 - y0) / (x1 - x0)
    fig = Figure(figsize=(width_in, min(max(width_in * aspect, 4.0), 11.0)), dpi=110)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_axis_off()
    ax.set_facecolor("#f2efe9")
    fig.patch.set_facecolor("#f2efe9")

    if results.n_buildings:
        # the GeoTIFF's grid, EPSG:3035 (a tiled run sums it tile by tile)
        cells = results.heat_density_grid(100.0)
        if len(cells):
            classes = _heat_classes(cells[DENSITY_COLUMN].to_numpy())
            colors = np.asarray(classes.colors)[classes.classify(cells[DENSITY_COLUMN].to_numpy())]
            cells.to_crs(crs).plot(ax=ax, color=list(colors), alpha=0.5, linewidth=0)
    network = results.network
    if network is not None and len(network):
        lines = network[network.geom_type.isin(["LineString", "MultiLineString"])]
        if len(lines):
            lines.to_crs(crs).plot(ax=ax, color=_NETWORK_COLOR, linewidth=1.6)
        plants = network[~network.geom_type.isin(["LineString", "MultiLineString"])]
        if len(plants):
            pts = plants.to_crs(crs).geometry.representative_point()
            ax.scatter(pts.x, pts.y, marker="s", s=40, color=_NETWORK_COLOR, zorder=3)
    if routes is not None and len(routes):
        routes.plot(ax=ax, color=_DN_COLORS[1], linewidth=2.2, zorder=4)
    if grid is not None and len(grid):
        _grid(ax, grid, getattr(results, "substations", None), crs)

    all_pts = sites.geometry.representative_point()
    ax.scatter(all_pts.x, all_pts.y, s=10, color=_INFEASIBLE_COLOR, zorder=5, linewidths=0)
    _numbered_markers(ax, sites, top)
    _scale_bar(ax, x0, x1, y0, y1)
    ax.text(
        0.995,
        0.005,
        f"Map data {OSM_ATTRIBUTION}",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=7,
        color="#444",
    )
    return fig


def _grid(ax, grid: gpd.GeoDataFrame, subs: gpd.GeoDataFrame | None, crs) -> None:
    """The top sites' cables (dashed) and the substations they connect to (diamonds, kV)."""
    grid.to_crs(crs).plot(ax=ax, color=_GRID_COLOR, linewidth=1.4, linestyle="--", zorder=4)
    if subs is None or not len(subs):
        return
    used = subs[subs["substation_id"].astype(str).isin(set(grid["substation_id"].astype(str)))]
    pts = used.to_crs(crs).geometry.representative_point()
    ax.scatter(pts.x, pts.y, marker="D", s=36, color=_GRID_COLOR, edgecolors="#222", zorder=5)
    for x, y, kv in zip(pts.x, pts.y, used["voltage_kv"], strict=True):
        if np.isfinite(kv):
            ax.annotate(
                f"{kv:g} kV",
                (x, y),
                xytext=(5, 4),
                textcoords="offset points",
                fontsize=7,
                color=_GRID_COLOR,
                zorder=6,
            )


def _view(
    frame: gpd.GeoDataFrame,
    routes: gpd.GeoDataFrame | None,
    grid: gpd.GeoDataFrame | None = None,
) -> tuple[float, float, float, float]:
    """Bounds of `frame`, `routes` and the sites' grid cables, padded 12 %, at least 1 km
    on each side."""
    geoms = [frame.geometry]
    for lines in (routes, grid):
        if lines is not None and len(lines):
            geoms.append(lines.to_crs(frame.crs).geometry)
    x0, y0, x1, y1 = gpd.GeoSeries(pd.concat(geoms, ignore_index=True), crs=frame.crs).total_bounds
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0, 1_000.0) * 0.56
    return cx - half, cy - half, cx + half, cy + half


def _numbered_markers(ax, sites: gpd.GeoDataFrame, top: pd.DataFrame) -> None:
    """Numbered circles of the top sites, pushed apart where they would overlap."""
    if top.empty:
        return
    colors = _site_colors(top, _rank_colormap(sites))
    pts = top.geometry.representative_point()
    home = ax.transData.transform(np.column_stack([pts.x, pts.y]))
    diameter_px = _MARKER_PT * ax.figure.dpi / 72 * 1.1
    pos = _spread(home, diameter_px)
    xy = ax.transData.inverted().transform(pos)
    for (hx, hy), (x, y), (_, row), color in zip(
        np.column_stack([pts.x, pts.y]), xy, top.iterrows(), colors, strict=True
    ):
        if abs(hx - x) + abs(hy - y) > 0:
            ax.plot([hx, x], [hy, y], color="#444", linewidth=0.7, zorder=6)
        ax.plot(
            x,
            y,
            marker="o",
            markersize=_MARKER_PT,
            markerfacecolor=color,
            markeredgecolor="#222",
            markeredgewidth=1.2,
            zorder=7,
        )
        ax.text(
            x,
            y,
            str(int(row["rank"])),
            ha="center",
            va="center",
            fontsize=7.5,
            fontweight="bold",
            color=_text_color(color),
            zorder=8,
        )


def _spread(points: np.ndarray, distance: float, rounds: int = 100) -> np.ndarray:
    """Push points closer than `distance` apart, pairwise, until none is (deterministic)."""
    pos = np.array(points, dtype=float)
    for _ in range(rounds):
        moved = False
        for i in range(len(pos)):
            for j in range(i + 1, len(pos)):
                d = pos[j] - pos[i]
                dist = float(np.hypot(*d))
                if dist >= distance:
                    continue
                if dist < 0.01:  # same place: a fixed direction per point
                    d, dist = np.array([np.cos(2.39996 * j), np.sin(2.39996 * j)]), 1.0
                push = d * ((distance - dist) / 2 / dist + 0.02)
                pos[i] -= push
                pos[j] += push
                moved = True
        if not moved:
            break
    return pos


def _scale_bar(ax, x0: float, x1: float, y0: float, y1: float) -> None:
    """A scale bar of a round length, about a fifth of the view, at the bottom left."""
    target = (x1 - x0) / 5
    length = max([s for s in _SCALE_STEPS_M if s <= target] or [_SCALE_STEPS_M[0]])
    bx, by = x0 + 0.03 * (x1 - x0), y0 + 0.04 * (y1 - y0)
    ax.plot([bx, bx + length], [by, by], color="#222", linewidth=3, solid_capstyle="butt")
    text = f"{length / 1000:g} km" if length >= 1000 else f"{length} m"
    ax.text(bx + length / 2, by + 0.012 * (y1 - y0), text, ha="center", va="bottom", fontsize=8)
