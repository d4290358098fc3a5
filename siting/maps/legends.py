"""The boxes that explain the map: colour-scale legends, the route pipe-size legend and the
title box."""

from __future__ import annotations

import html
import importlib.resources
from collections.abc import Sequence

import branca.colormap as cm
import branca.element
import folium
import jinja2
import numpy as np

from siting.maps.colours import _dn_color, _pipe_weight_px
from siting.maps.offline import OFFLINE_NOTE

OSM_ATTRIBUTION = "© OpenStreetMap contributors"
DN_LEGEND_TITLE = "Route pipe size (line width and colour)"
# Legend width in pixels (branca draws 450): narrow, so the study area gets the room.
_LEGEND_WIDTH_PX = 360


def _legend_template() -> jinja2.Template | None:
    """branca's colour-scale template, drawing into this legend's own box.

    branca 0.8 appends every legend's SVG to ``d3.select(".legend.leaflet-control")``, the
    *first* legend on the page, so a second colormap is drawn into the first box and its own
    box stays empty. Select the control's container instead. None if branca changed the line.
    """
    source = (importlib.resources.files("branca") / "templates" / "color_scale.js").read_text(
        encoding="utf-8"
    )
    edits = {
        'd3.select(".legend.leaflet-control")': (
            "d3.select({{this.get_name()}}.legend.getContainer())"
        ),
        # Bottom-right: the top corners hold the title box and the layer control.
        "L.control({position: 'topright'})": "L.control({position: 'bottomright'})",
        # Class legends label their breaks with text (see _class_legend).
        ".tickValues({{ this.tick_labels }});": (
            ".tickValues({{ this.tick_labels }})"
            "{% if this.tick_text is defined %}"
            ".tickFormat(function (d) { return {{ this.tick_text|tojson }}[d]; })"
            "{% endif %};"
        ),
    }
    if not all(wrong in source for wrong in edits):
        return None
    for wrong, right in edits.items():
        source = source.replace(wrong, right)
    return jinja2.Template(source)


_LEGEND_TEMPLATE = _legend_template()


def _add_legend(m: folium.Map, colormap: cm.ColorMap) -> None:
    colormap.width = _LEGEND_WIDTH_PX
    if _LEGEND_TEMPLATE is not None:
        colormap._template = _LEGEND_TEMPLATE
    colormap.add_to(m)


def _class_legend(colormap: cm.StepColormap, breaks: Sequence[float]) -> cm.ColorMap:
    """A legend with equal-width classes labelled by their breaks.

    Quantile breaks of skewed data (heat density: 6, 28, 41, 99, 582, 13,510) crowd into the
    left end of a linear axis, so their labels overlap and the top class fills the legend.
    Needs the siting legend template (tick_text); without it, the colormap itself.
    """
    if _LEGEND_TEMPLATE is None:
        return colormap
    n = len(breaks) - 1
    colors = [colormap.rgba_floats_tuple((breaks[i] + breaks[i + 1]) / 2) for i in range(n)]
    legend = cm.StepColormap(colors, index=list(range(n + 1)), vmin=0, vmax=n)
    legend.caption = colormap.caption
    legend.tick_labels = list(range(n + 1))
    legend.tick_text = [f"{b:,.0f}" for b in breaks]
    return legend


class _HtmlLegend(branca.element.MacroElement):
    """A small Leaflet control holding fixed HTML (the DN legend)."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
            div.setAttribute('style', {{ this.style|tojson }});
            div.innerHTML = {{ this.html|tojson }};
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self, html_text: str, css_class: str, style: str = "", position: str = "bottomright"
    ) -> None:
        super().__init__()
        self.style = style
        self._name = "HtmlLegend"
        self.html = html_text
        self.css_class = css_class
        self.position = position


def _dn_legend_html(dns: Sequence[float]) -> str:
    rows = []
    for dn in dns:
        weight = float(_pipe_weight_px(np.array([dn]))[0])
        rows.append(
            '<div class="siting-dn-row" style="display:flex;align-items:center;gap:6px">'
            f'<span style="display:inline-block;width:34px;height:{weight:g}px;'
            f'background:{_dn_color(dn)}"></span><span>DN{int(dn)}</span></div>'
        )
    return f'<div style="font-weight:bold;margin-bottom:3px">{DN_LEGEND_TITLE}</div>' + "".join(
        rows
    )


def _title_box(
    title: str, n_sites: int, n_feasible: int, top_n: int, offline: bool, n_away: int = 0
) -> str:
    note = f'<div class="siting-offline-note" style="color:#8a4b00">{OFFLINE_NOTE}</div>'
    away = (
        f"<div>{n_away} site{'s' if n_away != 1 else ''} far outside the study area "
        f"{'are' if n_away != 1 else 'is'} off this view (zoom out).</div>"
    )
    return (
        '<div class="siting-title" style="position:fixed;top:10px;left:55px;z-index:9999;'
        "background:white;padding:6px 10px;border:1px solid #888;border-radius:4px;"
        'font:12px sans-serif;max-width:360px;box-shadow:0 1px 4px rgba(0,0,0,.3)">'
        f'<div style="font-size:15px;font-weight:bold">{html.escape(title)}</div>'
        f"<div>{n_sites} candidate sites, {n_feasible} feasible. Marker colour = rank "
        f"(green best, red worst; grey = not feasible). Routes drawn for the top {top_n}.</div>"
        + (away if n_away else "")
        + (note if offline else "")
        + f'<div style="color:#555">Map data {OSM_ATTRIBUTION}</div>'
        "</div>"
    )
