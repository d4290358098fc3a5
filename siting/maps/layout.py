"""The map on any screen: the style sheet (with phone media queries), the measure tool, and
the scripts that collapse the layer list on a phone, keep popups clear of the title box, and
move apart site markers that would overlap.

A phone is a screen at most 600 px wide: there the layer list starts collapsed (a button;
a tap on the map closes it again), the title box's details and the legend start closed,
the zoom buttons give way to pinch-zoom, and popups are at most the screen's width.
"""

from __future__ import annotations

import branca.element
import folium
import jinja2
from folium.elements import JSCSSMixin
from folium.template import Template
from folium.utilities import remove_empty

PHONE_MAX_WIDTH_PX = 600
# Markers closer than this (their 26 px width plus a little) are moved apart.
SPREAD_DISTANCE_PX = 28

CSS = """
.siting-title{background:#fff;color:#222;padding:6px 10px;border:1px solid #888;
  border-radius:4px;font:12px/1.4 sans-serif;max-width:360px;box-shadow:0 1px 4px rgba(0,0,0,.3)}
.siting-title-name{font-size:15px;font-weight:bold}
.siting-basis{color:#1f4e79;font-weight:bold}
.siting-offline-note{color:#8a4b00}
.siting-attribution{color:#555}
.siting-title summary,.siting-legend summary{cursor:pointer;color:#1f4e79;font-weight:bold}
.siting-legend{background:#fff;color:#222;padding:5px 8px;border-radius:4px;
  font:12px/1.35 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:270px;
  max-height:calc(100vh - 200px);overflow:auto}
.siting-legend-section{margin-top:5px}
.siting-legend-section[hidden]{display:none}
.siting-legend-title{font-weight:bold}
.siting-legend-row{display:flex;align-items:center;gap:6px;white-space:nowrap}
.siting-legend-row span:last-child{font-variant-numeric:tabular-nums}
.siting-swatch{display:inline-block;width:14px;height:12px;box-sizing:border-box;flex:none}
.siting-line{display:inline-block;width:30px;flex:none}
.siting-ramp{height:10px;border:1px solid #999;margin-top:2px}
.siting-ramp-labels{display:flex;justify-content:space-between;gap:8px;
  font-variant-numeric:tabular-nums}
.siting-legend-note{color:#555;font-size:11px;white-space:normal}
.siting-popup{font-size:12px;line-height:1.45}
.siting-popup table{border-collapse:collapse}
.siting-popup td{padding:0 6px 0 0;vertical-align:top}
.siting-popup td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.leaflet-popup-content{max-width:calc(100vw - 80px);max-height:calc(100vh - 230px);
  overflow:auto;overflow-wrap:anywhere}
.siting-monthly svg{max-width:100%}
@media (max-width:600px){
  .siting-title{max-width:calc(100vw - 84px);font-size:11px;padding:4px 7px}
  .siting-title-name{font-size:13px}
  .leaflet-control-zoom{display:none}
  .siting-legend{font-size:10.5px;max-width:calc(100vw - 150px);max-height:40vh;padding:3px 6px}
  .siting-legend-classes{display:grid;grid-template-columns:auto auto;column-gap:8px}
  .siting-legend-note{display:none}
  .leaflet-control-layers-expanded{font-size:12px;max-width:calc(100vw - 24px)}
  .leaflet-popup-content{margin:10px 24px 10px 12px;max-height:calc(100vh - 250px)}
  /* metric scale only, and the attribution wraps beside it instead of running over it */
  .leaflet-control-scale-line:not(:first-child){display:none}
  .leaflet-control-attribution{max-width:calc(100vw - 120px);white-space:normal;
    font-size:10px;line-height:1.3}
}
"""


def add_style(m: folium.Map) -> None:
    """Put the map's style sheet (controls, legend, popups, phone layout) in the page head."""
    m.get_root().header.add_child(
        folium.Element(f"<style>{CSS}</style>"), name="siting_layout_style"
    )
    # A phone renders the page at its own width, not as a zoomed-out desktop page.
    m.get_root().header.add_child(
        folium.Element('<meta name="viewport" content="width=device-width, initial-scale=1.0">'),
        name="siting_viewport",
    )


class _Responsive(branca.element.MacroElement):
    """Phone or desktop behaviour of the layer list, the details boxes and popup panning."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, layers) {
            var phone = window.matchMedia('(max-width: {{ this.phone_px }}px)');
            var container = map.getContainer();
            function apply() {
                if (phone.matches) { layers.collapse(); } else { layers.expand(); }
                container.querySelectorAll('details.siting-about, details.siting-legend-box')
                    .forEach(function (d) { d.open = !phone.matches; });
            }
            // a collapsed layer list opens with its button and closes with a tap on the map
            map.on('click', function () { if (phone.matches) { layers.collapse(); } });
            if (phone.addEventListener) { phone.addEventListener('change', apply); }
            apply();
            // legend sections follow their layers on and off
            function section(name, shown) {
                container.querySelectorAll('.siting-legend-section').forEach(function (s) {
                    if (s.getAttribute('data-layer') === name) { s.hidden = !shown; }
                });
            }
            map.on('overlayadd', function (e) { section(e.name, true); });
            map.on('overlayremove', function (e) { section(e.name, false); });
            // popups pan clear of the title box and the top controls above them, so their
            // top shows (controls beside the popup do not push it down)
            function topControls(popup) {
                var c = container.getBoundingClientRect(), bottom = 0;
                var p = popup.getBoundingClientRect();
                container.querySelectorAll('.leaflet-top > .leaflet-control')
                    .forEach(function (el) {
                        var r = el.getBoundingClientRect();
                        if (!r.width || !r.height || r.right < p.left || r.left > p.right) {
                            return;
                        }
                        bottom = Math.max(bottom, r.bottom - c.top);
                    });
                return bottom;
            }
            var adjust = L.Popup.prototype._adjustPan;
            L.Popup.prototype._adjustPan = function () {
                var top = this._container ? topControls(this._container) : 0;
                this.options.autoPanPaddingTopLeft = L.point(8, top + 8);
                this.options.autoPanPaddingBottomRight = L.point(8, 8);
                return adjust.apply(this, arguments);
            };
        })({{ this._parent.get_name() }}, {{ this.layers.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, layer_control: folium.LayerControl) -> None:
        super().__init__()
        self._name = "SitingResponsive"
        self.layers = layer_control
        self.phone_px = PHONE_MAX_WIDTH_PX


class _SpreadMarkers(branca.element.MacroElement):
    """Move apart site markers that would overlap at the current zoom.

    Markers start at their sites; every pair closer than `distance_px` is pushed apart
    along the line between them (identical places: in a fixed direction by draw order)
    until none overlaps (at most 100 rounds). A thin line with a dot leads from each moved
    marker to its site. Recomputed at every zoom, so markers return to their places once
    they no longer overlap: deterministic, no plugin needed.
    """

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        (function (map, group, distance) {
            var leaders = L.layerGroup().addTo(map);
            function layout() {
                leaders.clearLayers();
                var ms = group.getLayers().filter(function (l) { return l instanceof L.Marker; });
                ms.forEach(function (m) { if (!m.sitingHome) { m.sitingHome = m.getLatLng(); } });
                if (!map.hasLayer(group)) { return; }
                ms.sort(function (a, b) { return a.options.sitingOrder - b.options.sitingOrder; });
                var home = ms.map(function (m) { return map.latLngToLayerPoint(m.sitingHome); });
                var pos = home.map(function (p) { return p.clone(); });
                for (var round = 0; round < 100; round++) {
                    var moved = false;
                    for (var i = 0; i < pos.length; i++) {
                        for (var j = i + 1; j < pos.length; j++) {
                            var d = pos[j].subtract(pos[i]), dist = d.distanceTo([0, 0]);
                            if (dist >= distance) { continue; }
                            if (dist < 0.01) {  // same place: a fixed direction per marker
                                var a = 2.39996 * j;
                                d = L.point(Math.cos(a), Math.sin(a)); dist = 1;
                            }
                            var push = d.multiplyBy((distance - dist) / 2 / dist + 0.02);
                            pos[i] = pos[i].subtract(push); pos[j] = pos[j].add(push);
                            moved = true;
                        }
                    }
                    if (!moved) { break; }
                }
                ms.forEach(function (m, i) {
                    if (pos[i].distanceTo(home[i]) < 1) { m.setLatLng(m.sitingHome); return; }
                    var at = map.layerPointToLatLng(pos[i]);
                    m.setLatLng(at);
                    L.polyline([m.sitingHome, at], {color: '#444', weight: 1, opacity: 0.9,
                        interactive: false, className: 'siting-leader'}).addTo(leaders);
                    L.circleMarker(m.sitingHome, {radius: 2.5, color: '#222', weight: 1,
                        fillColor: '#fff', fillOpacity: 1, interactive: false,
                        className: 'siting-leader-dot'}).addTo(leaders);
                });
            }
            map.on('zoomend viewreset overlayadd overlayremove', layout);
            map.whenReady(layout);
        })({{ this._parent.get_name() }}, {{ this.group.get_name() }}, {{ this.distance }});
        {% endmacro %}
        """
    )

    def __init__(self, group: folium.FeatureGroup, distance_px: int = SPREAD_DISTANCE_PX) -> None:
        super().__init__()
        self._name = "SitingSpreadMarkers"
        self.group = group
        self.distance = int(distance_px)


class _MeasureControl(JSCSSMixin, branca.element.MacroElement):
    """The distance and area tool (leaflet-measure), as folium.plugins.MeasureControl draws
    it; here so that a map does not import folium.plugins (~60 ms for its forty plugins)."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            var {{ this.get_name() }} = new L.Control.Measure(
                {{ this.options|tojavascript }});
            {{this._parent.get_name()}}.addControl({{this.get_name()}});

            // leaflet-measure with Leaflet >= 1.8 (ljagis/leaflet-measure#171): no autopan
            L.Control.Measure.include({
                _setCaptureMarkerIcon: function () {
                    this._captureMarker.options.autoPanOnFocus = false;
                    this._captureMarker.setIcon(
                        L.divIcon({
                            iconSize: this._map.getSize().multiplyBy(2)
                        })
                    );
                },
            });
        {% endmacro %}
        """
    )
    _CDN = "https://cdn.jsdelivr.net/gh/ljagis/leaflet-measure@2.1.7/dist/leaflet-measure.min"
    default_js = [("leaflet_measure_js", f"{_CDN}.js")]
    default_css = [("leaflet_measure_css", f"{_CDN}.css")]

    def __init__(self, **options: str) -> None:
        super().__init__()
        self._name = "MeasureControl"
        self.options = remove_empty(**options)
