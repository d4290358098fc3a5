"""Colours of the map: one palette per layer, none shared (rank, heat-density classes, route
pipe size, the district-heating network, the streets worth a pipe), the line width that goes
with a pipe size, marker text contrast, and the number format of legend labels."""

from __future__ import annotations

import math
from dataclasses import dataclass

import branca.colormap as cm
import numpy as np
import pandas as pd

from siting.maps.frames import _num

RANK_CAPTION = "Site rank (1 = best; grey = not feasible)"
HEAT_CAPTION = "Heat density (MWh/ha/yr)"
NETWORK_CAPTION = "District-heating network (existing)"
STREET_CAPTION = "Streets worth a pipe (MWh per metre of street per year)"
GRID_CAPTION = "Power-grid connection (cable to the substation)"

_INFEASIBLE_COLOR = "#9e9e9e"
# Near-black: apart from every sequential palette below (heat is yellow-red, streets pink-
# purple, routes blue), and it reads on OSM tiles and on the plain offline background.
_NETWORK_COLOR = "#252525"
# The power grid: BrBG brown, apart from the heat (yellow-red), street (pink-purple), route
# (blue) and rank (green-yellow-red) palettes.
_GRID_COLOR = "#8c510a"
_RANK_COLORS = ["#1a9850", "#fee08b", "#d73027"]  # green -> yellow -> red (markers only)
# Route colour by pipe size: a blue scale.
_DN_COLORS = ["#7fcdbb", "#41b6c4", "#2c7fb8", "#253494"]  # no navy: the network is near-black
_DN_RANGE = (50.0, 600.0)
# Linear heat density of streets: ColorBrewer RdPu (pink to purple), not the heat cells' YlOrRd.
_STREET_COLORS = ["#fcc5c0", "#f768a1", "#7a0177"]
# Heat-density classes: quantiles of the cells' density, one ColorBrewer YlOrRd colour each.
_HEAT_QUANTILES = (0.2, 0.4, 0.6, 0.8, 0.95)


def _rank_colormap(sites: pd.DataFrame) -> cm.LinearColormap:
    """Green (rank 1) to red (the worst feasible rank); used for markers, not drawn itself."""
    feasible = sites["feasible"].fillna(False).astype(bool)
    ranks = pd.to_numeric(sites.loc[feasible, "rank"], errors="coerce").dropna()
    vmax = float(max(2.0, ranks.max())) if not ranks.empty else 2.0
    return cm.LinearColormap(_RANK_COLORS, vmin=1.0, vmax=vmax, caption=RANK_CAPTION)


def _site_colors(sites: pd.DataFrame, colormap: cm.LinearColormap) -> pd.Series:
    colors = []
    for feasible, rank in zip(sites["feasible"], sites["rank"], strict=True):
        r = _num(rank)
        ok = bool(feasible) if not pd.isna(feasible) else False
        colors.append(colormap(r)[:7] if ok and r is not None else _INFEASIBLE_COLOR)
    return pd.Series(colors, index=sites.index, dtype=object)


@dataclass(frozen=True)
class HeatClasses:
    """Classes of heat density: `breaks` between them (MWh/ha/yr), a colour and a label each.

    A cell of density d is in class ``searchsorted(breaks, d, side="right")``: class 0 is
    below the first break, the last class at or above the last.
    """

    breaks: tuple[float, ...]
    colors: tuple[str, ...]
    labels: tuple[str, ...]

    def classify(self, density: np.ndarray) -> np.ndarray:
        """Class index of each density."""
        return np.searchsorted(np.asarray(self.breaks), density, side="right")


def _heat_classes(density: np.ndarray) -> HeatClasses:
    """Quantile classes of heat density with rounded breaks, each a distinct colour.

    Breaks are the 20/40/60/80/95 % quantiles rounded to two significant digits, so the
    labels are short ("2,000 – 28,000"); classes that rounding merges are merged. Colours
    are ColorBrewer's YlOrRd scheme for that many classes, one colour per class (a ramp
    over the breaks' values would give the skewed low classes one pale yellow).
    """
    d = np.asarray(density, dtype=float)
    d = d[np.isfinite(d)]
    lo, hi = (float(d.min()), float(d.max())) if len(d) else (0.0, 0.0)
    inner = sorted({_round_sig(q) for q in np.quantile(d, _HEAT_QUANTILES)} if len(d) else set())
    inner = [b for b in inner if lo < b <= hi]
    n = len(inner) + 1
    colors = _ylorrd(n)
    if n == 1:
        labels = [f"{_fmt(lo)} – {_fmt(hi)}" if hi > lo else _fmt(hi)]
    else:
        labels = [f"< {_fmt(inner[0])}"]
        labels += [f"{_fmt(a)} – {_fmt(b)}" for a, b in zip(inner[:-1], inner[1:], strict=True)]
        labels.append(f"≥ {_fmt(inner[-1])}")
    return HeatClasses(tuple(inner), tuple(colors), tuple(labels))


def _ylorrd(n: int) -> list[str]:
    """n distinct colours of ColorBrewer YlOrRd (its n-class scheme; 3..9), light to dark."""
    k = min(max(n, 3), 9)
    scheme = getattr(cm.linear, f"YlOrRd_{k:02d}")
    colors = [_hex(c) for c in scheme.colors]
    if n < 3:  # one or two classes: the scheme's light and dark ends
        return [colors[-1]] if n == 1 else [colors[0], colors[-1]]
    # more than 9 classes cannot happen (at most 6 quantile classes)
    return colors[:n]


def _hex(rgba: tuple[float, ...]) -> str:
    r, g, b = (int(round(255 * v)) for v in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _round_sig(x: float, digits: int = 2) -> float:
    """x rounded to `digits` significant digits (0 stays 0)."""
    if not math.isfinite(x) or x == 0:
        return 0.0
    return float(round(x, digits - 1 - int(math.floor(math.log10(abs(x))))))


def _fmt(x: float) -> str:
    """A legend number: thousands separated, two significant digits below 100."""
    if not math.isfinite(x):
        return ""
    if abs(x) >= 100 or x == 0:
        return f"{x:,.0f}"
    decimals = max(0, 1 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{decimals}f}"


def _street_colormap(values: np.ndarray) -> cm.LinearColormap:
    """Colour scale of linear heat density (MWh/m/yr), saturating at the 95th percentile."""
    vmin = float(values.min())
    vmax = float(np.quantile(values, 0.95)) if len(values) > 1 else vmin + 1
    return cm.LinearColormap(_STREET_COLORS, vmin=vmin, vmax=max(vmax, vmin + 1e-9))


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
