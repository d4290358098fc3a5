"""Self-contained (offline) rendering of a map: the figure that inlines every script and
stylesheet, the plain background and the attribution that replace the base-map tiles.

The vendored assets themselves and their verification live in :mod:`siting.assets`.
"""

from __future__ import annotations

import branca.element
import jinja2

from siting.assets import inline_page

OFFLINE_NOTE = (
    "Offline map: no base-map tiles (they need a network); layers drawn on a plain background."
)
# OSM's land colour, so the offline background reads as "map", not as "failed to load".
_OFFLINE_BACKGROUND = "#f2efe9"


class _SelfContainedFigure(branca.element.Figure):
    """A Figure whose rendered page has every script and stylesheet inlined (siting.assets)."""

    def render(self, **kwargs) -> str:
        return inline_page(super().render(**kwargs))


class _Attribution(branca.element.MacroElement):
    """Adds the OSM attribution to the map's attribution control (no tile layer carries it)."""

    _template = jinja2.Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.attributionControl.addAttribution({{ this.text|tojson }});
        {% endmacro %}
        """
    )

    def __init__(self, text: str) -> None:
        super().__init__()
        self._name = "Attribution"
        self.text = text
