"""QGIS styles and descriptions for the layers of a results GeoPackage.

QGIS keeps a GeoPackage's styles in a `layer_styles` table (one row per layer and style,
`useAsDefault` = applied on loading) and shows `gpkg_contents.description` as the layer's
abstract. :func:`style_geopackage` writes both with sqlite3 after the layers are written:
each known layer gets a rule-based style (QML for QGIS, the same rules as SLD 1.1 for other
clients) whose symbol follows the layer's geometry type (a site is a point or a parcel).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

__all__ = ["LAYER_DESCRIPTIONS", "STYLE_NAME", "style_geopackage"]

STYLE_NAME = "siting"
QGIS_VERSION = "3.28.0-Firenze"  # the QML dialect written (read by QGIS 3.x)

LAYER_DESCRIPTIONS = {
    "sites": "Candidate data-center sites, one row per site, ranked by the levelized cost of "
    "the delivered heat (lcoh_eur_per_mwh, EUR/MWh; rank 1 = best, empty = not feasible, "
    "see reason). Columns as in ranking.csv; docs/model.md explains each figure.",
    "routes": "Pipe route of each reachable site along the streets (length_m, street_length_m "
    "in metres; capex_eur), to the existing network or through a new local network.",
    "buildings": "Buildings with floor area (m2), dwellings and annual heat demand "
    "(heat_demand_mwh_per_yr, MWh/yr; peak_heat_mw, MW). osm_type/osm_id link to "
    "openstreetmap.org; demand_source says whether the heat demand was given or estimated; "
    "source gives the rule behind each estimate (docs/model.md section 6).",
    "street_heat_density": "Street segments with the heat demand of the buildings along them "
    "(MWh/yr) and the linear heat density (linear_heat_density_mwh_per_m, MWh/m/yr); viable = "
    "dense enough to be worth a district-heating pipe.",
    "dh_areas": "Areas where district heating is located from the 100 m heat-density grid "
    "(heat_demand_mwh_per_yr, MWh/yr; mean_density_mwh_per_ha, MWh/ha/yr).",
    "network": "The district-heating network the sites connect to (OSM heat pipes, plants or the "
    "network file given), with supply/return temperatures (degC) where known.",
    "grid_connections": "Grid connection of the top sites: the cable from each site to the "
    "nearest substation of the voltage its grid demand needs (grid_distance_m, voltage in kV, "
    "grid_capex_eur).",
    "substations": "Power substations and plants from OSM (power=substation|plant) with their "
    "voltage in kV, as the grid stage reads them.",
}


@dataclass(frozen=True)
class Rule:
    """One class of a rule-based style: features matching all `conditions` get `color`."""

    label: str
    conditions: tuple[tuple[str, str, float], ...] | None  # all must hold; None: the rest
    color: str  # "#rrggbb"
    size_mm: float = 1.0  # marker diameter / line width (fills: outline width 0.26)
    opacity: float = 1.0


_TOP = 5  # the best sites and their routes stand out
STYLES: dict[str, tuple[Rule, ...]] = {
    "sites": (
        Rule(f"best {_TOP} feasible sites", (("feasible", "=", 1), ("rank", "<=", _TOP)),
             "#d7191c", 5.0),
        Rule("other feasible sites", (("feasible", "=", 1), ("rank", ">", _TOP)), "#fdae61", 3.5),
        Rule("not feasible", (("feasible", "=", 0),), "#9e9e9e", 2.4, 0.8),
    ),
    "routes": (
        Rule(f"routes of the best {_TOP} sites", (("rank", "<=", _TOP),), "#2c7bb6", 1.2),
        Rule("other routes", None, "#abd9e9", 0.6),
    ),
    "buildings": (
        Rule("no heat demand", (("heat_demand_mwh_per_yr", "<=", 0),), "#e0e0e0", 1.0, 0.6),
        Rule("up to 50 MWh/yr", (("heat_demand_mwh_per_yr", ">", 0),
             ("heat_demand_mwh_per_yr", "<=", 50)), "#ffffb2"),
        Rule("50-200 MWh/yr", (("heat_demand_mwh_per_yr", ">", 50),
             ("heat_demand_mwh_per_yr", "<=", 200)), "#fecc5c"),
        Rule("200-1,000 MWh/yr", (("heat_demand_mwh_per_yr", ">", 200),
             ("heat_demand_mwh_per_yr", "<=", 1000)), "#fd8d3c"),
        Rule("over 1,000 MWh/yr", (("heat_demand_mwh_per_yr", ">", 1000),), "#e31a1c"),
    ),
    "street_heat_density": (
        Rule("streets worth a pipe (viable)", (("viable", "=", 1),), "#b2182b", 1.0),
        Rule("other streets with demand", (("viable", "=", 0),), "#bdbdbd", 0.3),
    ),
    "dh_areas": (Rule("district-heating areas", (), "#fb9a99", 1.0, 0.45),),
    "network": (Rule("district-heating network", (), "#7b3294", 1.5),),
    "grid_connections": (Rule("grid connection", (), "#636363", 0.8),),
    "substations": (Rule("substation", (), "#252525", 2.5),),
}  # fmt: skip

# sqlite column types as OGR creates them, so OGR and QGIS read the table as QGIS writes it
_CREATE = """CREATE TABLE IF NOT EXISTS layer_styles (
  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
  f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256),
  f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT,
  useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30),
  update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))"""
_OPS_QGIS = {"=": "=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_OPS_OGC = {
    "=": "PropertyIsEqualTo",
    "<": "PropertyIsLessThan",
    "<=": "PropertyIsLessThanOrEqualTo",
    ">": "PropertyIsGreaterThan",
    ">=": "PropertyIsGreaterThanOrEqualTo",
}


def style_geopackage(path: str | Path) -> list[str]:
    """Write descriptions and default QGIS styles for the known layers of GeoPackage `path`.

    Returns the layers styled. Layers siting does not know are left as they are; a second
    call replaces the rows it wrote before.
    """
    con = sqlite3.connect(str(path))
    try:
        geoms = dict(
            con.execute("SELECT table_name, geometry_type_name FROM gpkg_geometry_columns")
        )
        columns = {
            t: c
            for t, c in con.execute("SELECT table_name, column_name FROM gpkg_geometry_columns")
        }
        for layer, text in LAYER_DESCRIPTIONS.items():
            con.execute(
                "UPDATE gpkg_contents SET description = ? WHERE table_name = ?", (text, layer)
            )
        con.execute(_CREATE)
        con.execute(
            "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier, description)"
            " VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles')"
        )
        styled = []
        for layer, rules in STYLES.items():
            if layer not in geoms:
                continue
            kind = _symbol_kind(geoms[layer])
            con.execute(
                "DELETE FROM layer_styles WHERE f_table_name = ? AND styleName = ?",
                (layer, STYLE_NAME),
            )
            con.execute(
                "INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, "
                "f_geometry_column, styleName, styleQML, styleSLD, useAsDefault, description, "
                "owner, ui) VALUES ('', '', ?, ?, ?, ?, ?, 1, ?, '', NULL)",
                (
                    layer,
                    columns[layer],
                    STYLE_NAME,
                    qml(rules, kind),
                    sld(layer, rules, kind),
                    f"siting default style of {layer}",
                ),
            )
            styled.append(layer)
        con.commit()
    finally:
        con.close()
    return styled


def _symbol_kind(geometry_type: str) -> str:
    """QGIS symbol type of a GeoPackage geometry type name: marker, line or fill."""
    g = geometry_type.upper()
    if "POINT" in g:
        return "marker"
    if "POLYGON" in g or "SURFACE" in g:
        return "fill"
    return "line" if "LINE" in g or "CURVE" in g else "fill"


def _rgba(color: str, opacity: float) -> str:
    r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"{r},{g},{b},{round(255 * opacity)}"


def _qgis_filter(rule: Rule) -> str:
    if rule.conditions is None:
        return "ELSE"
    return " AND ".join(f'"{f}" {_OPS_QGIS[op]} {v:g}' for f, op, v in rule.conditions)


def _options(values: dict[str, str]) -> str:
    items = "".join(
        f'<Option name="{k}" type="QString" value={quoteattr(v)}/>' for k, v in values.items()
    )
    return f'<Option type="Map">{items}</Option>'


def _qml_symbol(index: int, rule: Rule, kind: str) -> str:
    dark = "35,35,35,255"
    if kind == "marker":
        cls, props = (
            "SimpleMarker",
            {
                "name": "circle",
                "color": _rgba(rule.color, rule.opacity),
                "outline_color": dark,
                "outline_width": "0.2",
                "outline_width_unit": "MM",
                "size": f"{rule.size_mm:g}",
                "size_unit": "MM",
            },
        )
    elif kind == "line":
        cls, props = (
            "SimpleLine",
            {
                "line_color": _rgba(rule.color, rule.opacity),
                "line_width": f"{rule.size_mm:g}",
                "line_width_unit": "MM",
                "line_style": "solid",
                "capstyle": "round",
                "joinstyle": "round",
            },
        )
    else:
        cls, props = (
            "SimpleFill",
            {
                "color": _rgba(rule.color, rule.opacity),
                "style": "solid",
                "outline_color": _rgba(rule.color, 1.0) if rule.opacity < 1 else dark,
                "outline_style": "solid",
                "outline_width": "0.26",
                "outline_width_unit": "MM",
            },
        )
    return (
        f'<symbol type="{kind}" name="{index}" alpha="1" clip_to_extent="1" force_rhr="0">'
        f'<layer class="{cls}" enabled="1" pass="0" locked="0">{_options(props)}</layer>'
        "</symbol>"
    )


def qml(rules: tuple[Rule, ...], kind: str) -> str:
    """A QGIS style document (QML) with a rule-based renderer of `rules`."""
    rule_xml = "".join(
        f'<rule key="{{siting-{i}}}" symbol="{i}" label={quoteattr(r.label)}'
        + (f" filter={quoteattr(_qgis_filter(r))}" if r.conditions != () else "")
        + "/>"
        for i, r in enumerate(rules)
    )
    symbols = "".join(_qml_symbol(i, r, kind) for i, r in enumerate(rules))
    geometry_type = {"marker": 0, "line": 1, "fill": 2}[kind]
    return (
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n"
        f'<qgis version="{QGIS_VERSION}" styleCategories="Symbology">'
        '<renderer-v2 type="RuleRenderer" symbollevels="0" enableorderby="0" forceraster="0">'
        f'<rules key="{{siting-root}}">{rule_xml}</rules><symbols>{symbols}</symbols>'
        "</renderer-v2>"
        f"<layerGeometryType>{geometry_type}</layerGeometryType></qgis>\n"
    )


def _ogc_filter(rule: Rule) -> str:
    if rule.conditions is None:
        return "<se:ElseFilter/>"
    parts = [
        f"<ogc:{_OPS_OGC[op]}><ogc:PropertyName>{escape(f)}</ogc:PropertyName>"
        f"<ogc:Literal>{v:g}</ogc:Literal></ogc:{_OPS_OGC[op]}>"
        for f, op, v in rule.conditions
    ]
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else f"<ogc:And>{''.join(parts)}</ogc:And>"
    return f"<ogc:Filter>{body}</ogc:Filter>"


def _sld_symbolizer(rule: Rule, kind: str) -> str:
    px = rule.size_mm * 96 / 25.4  # SLD sizes are pixels (0.28 mm); QGIS converts back
    fill = (
        f'<se:Fill><se:SvgParameter name="fill">{rule.color}</se:SvgParameter>'
        f'<se:SvgParameter name="fill-opacity">{rule.opacity:g}</se:SvgParameter></se:Fill>'
    )
    if kind == "marker":
        return (
            "<se:PointSymbolizer><se:Graphic><se:Mark><se:WellKnownName>circle"
            f"</se:WellKnownName>{fill}<se:Stroke>"
            '<se:SvgParameter name="stroke">#232323</se:SvgParameter></se:Stroke></se:Mark>'
            f"<se:Size>{px:.1f}</se:Size></se:Graphic></se:PointSymbolizer>"
        )
    stroke = (
        f'<se:Stroke><se:SvgParameter name="stroke">{rule.color}</se:SvgParameter>'
        f'<se:SvgParameter name="stroke-width">{px if kind == "line" else 1:.1f}'
        "</se:SvgParameter></se:Stroke>"
    )
    if kind == "line":
        return f"<se:LineSymbolizer>{stroke}</se:LineSymbolizer>"
    return f"<se:PolygonSymbolizer>{fill}{stroke}</se:PolygonSymbolizer>"


def sld(layer: str, rules: tuple[Rule, ...], kind: str) -> str:
    """The same rules as an OGC SLD 1.1 document (for clients other than QGIS)."""
    body = "".join(
        f"<se:Rule><se:Name>{escape(r.label)}</se:Name>{_ogc_filter(r)}"
        f"{_sld_symbolizer(r, kind)}</se:Rule>"
        for r in rules
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<StyledLayerDescriptor version="1.1.0" xmlns="http://www.opengis.net/sld" '
        'xmlns:se="http://www.opengis.net/se" xmlns:ogc="http://www.opengis.net/ogc" '
        'xmlns:xlink="http://www.w3.org/1999/xlink" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
        'xsi:schemaLocation="http://www.opengis.net/sld '
        'http://schemas.opengis.net/sld/1.1.0/StyledLayerDescriptor.xsd">'
        f"<NamedLayer><se:Name>{escape(layer)}</se:Name><UserStyle>"
        f"<se:Name>{STYLE_NAME}</se:Name><se:FeatureTypeStyle>{body}</se:FeatureTypeStyle>"
        "</UserStyle></NamedLayer></StyledLayerDescriptor>\n"
    )
