"""Colour scales of the map: site rank, heat density, street heat density, route pipe size
(with the line width that goes with it), and marker text contrast."""

from __future__ import annotations

import math

import branca.colormap as cm
import numpy as np
import pandas as pd

from siting.maps.frames import _num

RANK_CAPTION = "Site rank (1 = best; grey = not feasible)"
HEAT_CAPTION = "Heat density (MWh/ha/yr)"

_INFEASIBLE_COLOR = "#9e9e9e"
_NETWORK_COLOR = "#8b0000"
_RANK_COLORS = ["#1a9850", "#fee08b", "#d73027"]  # green -> yellow -> red

# Route colour by pipe size: a blue scale, apart from the rank (green-red), the network (dark
# red) and the heat density (yellow-red).
_DN_COLORS = ["#41b6c4", "#2c7fb8", "#253494", "#081d58"]
_DN_RANGE = (50.0, 600.0)


def _rank_colormap(sites: pd.DataFrame) -> cm.LinearColormap:
    feasible = sites["feasible"].fillna(False).astype(bool)
    ranks = pd.to_numeric(sites.loc[feasible, "rank"], errors="coerce").dropna()
    vmax = float(max(2.0, ranks.max())) if not ranks.empty else 2.0
    return cm.LinearColormap(_RANK_COLORS, vmin=1.0, vmax=vmax, caption=RANK_CAPTION)


def _site_colors(sites: pd.DataFrame, colormap: cm.LinearColormap) -> pd.Series:
    colors = []
    for feasible, rank in zip(sites["feasible"], sites["rank"], strict=True):
        r = _num(rank)
        ok = bool(feasible) if not pd.isna(feasible) else False
        colors.append(colormap(r) if ok and r is not None else _INFEASIBLE_COLOR)
    return pd.Series(colors, index=sites.index, dtype=object)


def _heat_colormap(density: np.ndarray) -> tuple[cm.StepColormap, np.ndarray]:
    """Step colour scale of heat density (MWh/ha/yr) and its class breaks."""
    # Quantile class breaks: heat density is heavily skewed, a linear scale would be one colour.
    breaks = np.unique(np.round(np.quantile(density, [0, 0.2, 0.4, 0.6, 0.8, 0.95, 1.0]), 0))
    if len(breaks) < 2:
        breaks = np.array([breaks[0], breaks[0] + 1.0])
    colormap = cm.linear.YlOrRd_09.scale(float(breaks[0]), float(breaks[-1])).to_step(
        index=breaks.tolist()
    )
    colormap.caption = HEAT_CAPTION
    return colormap, breaks


def _street_colormap(values: np.ndarray) -> cm.LinearColormap:
    """Colour scale of linear heat density (MWh/m/yr), saturating at the 95th percentile."""
    return cm.LinearColormap(
        ["#fdd49e", "#fc8d59", "#b30000"],
        vmin=float(values.min()),
        vmax=float(np.quantile(values, 0.95)) if len(values) > 1 else float(values.max()) + 1,
    )


def _dn_color(dn: float) -> str:
    """Colour of a route by its DN on a log scale from DN50 to DN600."""
    if not math.isfinite(dn) or dn <= 0:
        return _INFEASIBLE_COLOR
    lo, hi = np.log(_DN_RANGE)
    x = float(np.clip((np.log(dn) - lo) / (hi - lo), 0.0, 1.0))
    return cm.LinearColormap(_DN_COLORS, vmin=0.0, vmax=1.0)(x)[:7]


def _pipe_weight_px(dn: np.ndarray) -> np.ndarray:
    """Line weight in pixels by nominal diameter; DN50 ~2.5 px, DN600 ~8 px."""
    dn = np.where(np.isfinite(dn), dn, 0.0)
    return np.round(np.interp(dn, [0, 50, 150, 300, 600, 1000], [2, 2.5, 3.5, 5, 8, 10]), 1)


def _text_color(background: str) -> str:
    """Black or white, whichever reads better on `background` (#rrggbb)."""
    h = background.lstrip("#")[:6]
    r, g, b = (int(h[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return "#111111" if 0.299 * r + 0.587 * g + 0.114 * b > 0.6 else "#ffffff"
