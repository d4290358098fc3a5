"""Map elements whose rendered script goes into the page as it is, not through Jinja again.

branca's ``MacroElement.render`` wraps each script it renders in ``Element(text)``, which
compiles the text as a Jinja template and then renders it unchanged. For a layer carrying
its GeoJSON that is a megabyte of data lexed and compiled for nothing (~80 ms per MB, most
of a map's rendering time). :class:`_Verbatim` renders the same macros and places their
text as is; a text holding Jinja syntax or carriage returns (which Jinja would act on)
still goes through ``Element``, so the page is the same character for character.
"""

from __future__ import annotations

import re

import branca.element
import folium

_JINJA = re.compile(r"\{[{%#]|\r")


class _Text(branca.element.Element):
    """Text rendered as is, as Jinja renders a template without syntax (its one trailing
    newline dropped)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text[:-1] if text.endswith("\n") else text

    def render(self, **kwargs) -> str:
        return self._text


class _Verbatim(branca.element.MacroElement):
    """``MacroElement.render`` with the rendered header, html and script placed as is.

    Mix it in after a folium class (``class X(folium.GeoJson, _Verbatim)``): Python puts it
    just before MacroElement in the order of bases, so the folium class's own render runs
    first, then this one instead of MacroElement's.
    """

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        if not isinstance(figure, branca.element.Figure):
            raise TypeError("a map element renders only inside a Figure (add it to a map)")
        macros = self._template.module.__dict__
        for part in ("header", "html", "script"):
            macro = macros.get(part)
            if macro is None:
                continue
            text = macro(self, kwargs)
            element = branca.element.Element(text) if _JINJA.search(text) else _Text(text)
            getattr(figure, part).add_child(element, name=self.get_name())
        for child in self._children.values():
            child.render(**kwargs)


class _GeoJson(folium.GeoJson, _Verbatim):
    """folium.GeoJson whose script (with its data) is placed in the page as is."""
