"""The boxes that explain the map: one legend box with a section per layer (rank, routes'
pipe sizes, network, heat-density classes, streets worth a pipe) and the title box.

Both are plain HTML Leaflet controls (no d3/branca legend scripts, nothing loaded for
them); :mod:`siting.maps.layout` makes them compact on a phone. Every section lists the
colours it uses in ``data-colors`` so a test can check that no two layers share one.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import branca.element
import jinja2
import numpy as np

from siting.maps.colours import (
    _GRID_COLOR,
    _INFEASIBLE_COLOR,
    _NETWORK_COLOR,
    _RANK_COLORS,
    _STREET_COLORS,
    GRID_CAPTION,
    HEAT_CAPTION,
    NETWORK_CAPTION,
    RANK_CAPTION,
    STREET_CAPTION,
    HeatClasses,
    _dn_color,
    _fmt,
    _pipe_weight_px,
)
from siting.maps.offline import OFFLINE_NOTE

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
DN_LEGEND_TITLE = "Route pipe size (line width and colour)"
SPREAD_NOTE = "Markers that would overlap are moved apart; a thin line leads to the site."
_HEAT_OPACITY = 0.6


def _section(layer: str, title: str, body: str, colors: Sequence[str], shown: bool = True) -> str:
    """One legend section; hidden while its layer is switched off (see layout.py)."""
    return (
        f'<div class="siting-legend-section" data-layer="{html.escape(layer)}" '
        f'data-colors="{" ".join(colors)}"{"" if shown else " hidden"}>'
        f'<div class="siting-legend-title">{html.escape(title)}</div>{body}</div>'
    )


def _ramp(colors: Sequence[str], labels: Sequence[str]) -> str:
    """A colour ramp with its labels spread under it (at most three: they never collide)."""
    spans = "".join(f"<span>{html.escape(t)}</span>" for t in labels)
    return (
        f'<div class="siting-ramp" style="background:linear-gradient(to right,'
        f'{",".join(colors)})"></div><div class="siting-ramp-labels">{spans}</div>'
    )


def _row(swatch: str, text: str) -> str:
    return f'<div class="siting-legend-row">{swatch}<span>{html.escape(text)}</span></div>'


def _rank_legend(layer: str, max_rank: int, any_infeasible: bool, spread: bool = True) -> str:
    """Integer ranks on the green-red ramp of the markers, grey for not feasible."""
    max_rank = max(int(max_rank), 1)
    colors = list(_RANK_COLORS)
    if max_rank == 1:
        body = _row(_chip(_RANK_COLORS[0], round_=True), "1 (the only feasible site)")
    else:  # integer ticks: first, middle, last
        ticks = sorted({1, (1 + max_rank) // 2, max_rank})
        body = _ramp(_RANK_COLORS, [str(t) for t in ticks])
    if any_infeasible:
        body += _row(_chip(_INFEASIBLE_COLOR, round_=True, dashed=True), "not feasible")
        colors.append(_INFEASIBLE_COLOR)
    if spread:
        body += f'<div class="siting-legend-note">{html.escape(SPREAD_NOTE)}</div>'
    return _section(layer, RANK_CAPTION, body, colors)


def _chip(color: str, round_: bool = False, dashed: bool = False) -> str:
    border = "1.5px dashed #555" if dashed else "1.5px solid #222"
    radius = "50%" if round_ else "2px"
    return (
        f'<span class="siting-swatch" style="background:{color};border:{border};'
        f'border-radius:{radius}"></span>'
    )


def _line(color: str, weight_px: float, dash: bool = False) -> str:
    style = f"border-top:{weight_px:g}px {'dashed' if dash else 'solid'} {color}"
    return f'<span class="siting-line" style="{style}"></span>'


def _heat_legend(layer: str, classes: HeatClasses) -> str:
    """One row per heat-density class, lowest first, each with its own colour."""
    rows = "".join(
        _row(
            f'<span class="siting-swatch" style="background:{c};opacity:{_HEAT_OPACITY}"></span>',
            label,
        )
        for c, label in zip(classes.colors, classes.labels, strict=True)
    )
    return _section(
        layer, HEAT_CAPTION, f'<div class="siting-legend-classes">{rows}</div>', classes.colors
    )


def _dn_legend(layer: str, dns: Sequence[float]) -> str:
    """Route colour and width by pipe size, the sizes drawn only."""
    rows, colors = [], []
    for dn in dns:
        weight = float(_pipe_weight_px(np.array([dn]))[0])
        colors.append(_dn_color(dn))
        rows.append(
            f'<div class="siting-legend-row siting-dn-row">{_line(colors[-1], weight)}'
            f"<span>DN{int(dn)}</span></div>"
        )
    return _section(layer, DN_LEGEND_TITLE, "".join(rows), colors)


def _network_legend(layer: str, pipes: bool, plants: bool) -> str:
    body = _row(_line(_NETWORK_COLOR, 3), "existing heat pipe") if pipes else ""
    if plants:
        body += _row(_chip(_NETWORK_COLOR), "heat plant")
    return _section(layer, NETWORK_CAPTION, body, [_NETWORK_COLOR])


def _street_legend(layer: str, vmin: float, vmax: float, shown: bool) -> str:
    labels = [_fmt(vmin), f"≥ {_fmt(vmax)}"] if vmax > vmin else [_fmt(vmin)]
    return _section(layer, STREET_CAPTION, _ramp(_STREET_COLORS, labels), _STREET_COLORS, shown)


class _Legend(branca.element.MacroElement):
    """The legend box (bottom right): a section per layer drawn, collapsible on a phone."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: 'bottomright'});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create('div', 'siting-legend leaflet-control');
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, sections: Sequence[str]) -> None:
        super().__init__()
        self._name = "SitingLegend"
        self.html = (
            '<details class="siting-legend-box" open><summary>Legend</summary>'
            f'<div class="siting-legend-body">{"".join(sections)}</div></details>'
        )


class _TitleBox(branca.element.MacroElement):
    """The title box: first control of the top-left corner, above the zoom buttons, so
    Leaflet stacks it with the controls instead of drawing it over them."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: 'topleft'});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create('div', 'siting-title leaflet-control');
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            L.DomEvent.disableScrollPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        (function (div) { div.parentNode.insertBefore(div, div.parentNode.firstChild); })(
            {{ this.get_name() }}.getContainer());
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str) -> None:
        super().__init__()
        self._name = "SitingTitle"
        self.html = html_text


def _title_box(
    title: str,
    n_sites: int,
    n_feasible: int,
    top_n: int,
    offline: bool,
    n_away: int = 0,
    basis: str = "",
) -> str:
    """The title box's HTML: title, counts, the ranking basis, then details (collapsible)."""
    away = (
        f"<div>{n_away} site{'s' if n_away != 1 else ''} far outside the study area "
        f"{'are' if n_away != 1 else 'is'} off this view (zoom out).</div>"
    )
    note = f'<div class="siting-offline-note">{OFFLINE_NOTE}</div>'
    short_basis = (
        '<div class="siting-basis">Same IT load and cooling everywhere: the ranking is by '
        "connection cost.</div>"
        if basis
        else ""
    )
    return (
        f'<div class="siting-title-name">{html.escape(title)}</div>'
        f"<div>{n_sites} candidate sites, {n_feasible} feasible.</div>"
        + short_basis
        + '<details class="siting-about" open><summary>About this map</summary>'
        + "<div>Marker colour and number = rank (green best, red worst; grey = not "
        f"feasible). Routes drawn for the top {top_n}. Click a marker for the site.</div>"
        + (f"<div>{html.escape(basis)}</div>" if basis else "")
        + (away if n_away else "")
        + (note if offline else "")
        + f'<div class="siting-attribution">Map data {OSM_ATTRIBUTION}</div>'
        "</details>"
    )


def _grid_legend(layer: str, lines: bool, substations: bool) -> str:
    """The sites' cables to their substations and the substations (power grid layer)."""
    body = _row(_line(_GRID_COLOR, 2, dash=True), "cable to the substation") if lines else ""
    if substations:
        body += _row(
            '<span class="siting-swatch" style="background:'
            f'{_GRID_COLOR};border:1.5px solid #222;transform:rotate(45deg)"></span>',
            "substation (its highest kV)",
        )
    return _section(layer, GRID_CAPTION, body, [_GRID_COLOR])
