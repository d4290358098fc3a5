"""Names for display: a study's name, taken from its input file when it was left unnamed."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

# Study.name's default (siting.config): a study nobody named.
_UNNAMED = "study"


def display_name(study: object) -> str:
    """The study's name, or for an unnamed study ("study") its OSM file's stem in words.

    ``copenhagen_north_lyngby_2022.osm.pbf`` gives "Copenhagen north lyngby 2022"; a study
    without a file (or a named one) keeps its name.
    """
    name = str(getattr(study, "name", "") or "").strip()
    osm = getattr(study, "osm_path", None)
    if name and name != _UNNAMED or not osm:
        return name or _UNNAMED
    stem = Path(str(osm)).name.split(".")[0]
    words = " ".join(stem.replace("_", " ").replace("-", " ").split())
    return words[:1].upper() + words[1:] if words else _UNNAMED


def site_label(row: Any) -> str:
    """A site's display name: its `label`, else its `name`, else its `site_id`."""
    for key in ("label", "name", "site_id"):
        text = plain_text(row.get(key))
        if text:
            return text
    return ""


def plain_text(value: object) -> str:
    """`value` as stripped text; '' for a missing one (None, NaN, pandas' NA or NaT)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing values, untouched
        return ""
    return str(value).strip()
