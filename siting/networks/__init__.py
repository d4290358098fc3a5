"""Known district-heating networks: registry, site matching, DH areas, must-run supply, CO2.

Submodules, each one job: :mod:`~siting.networks.registry` (the table of networks and its
readers), :mod:`~siting.networks.match` (site -> network), :mod:`~siting.networks.areas`
(DH areas from heat density, Hotmaps method), :mod:`~siting.networks.supply` (hourly
must-run supply, pure numpy) and :mod:`~siting.networks.emissions` (CO2 of displaced heat,
pure). Names are imported lazily so the pure modules never pull in the geo stack.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "NetworkRegistry": "registry",
    "load_dk_registry": "registry",
    "read_registry": "registry",
    "registry_from_frame": "registry",
    "NetworkMatch": "match",
    "match_network": "match",
    "match_sites": "match",
    "dh_areas_from_buildings": "areas",
    "dh_areas_from_raster": "areas",
    "area_edges": "areas",
    "scale_to_registry": "areas",
    "MustRunProducer": "supply",
    "must_run_profile_mw": "supply",
    "displaced_emission_factor_t_per_mwh": "emissions",
    "displaced_emissions": "emissions",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"siting.networks.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'siting.networks' has no attribute {name!r}")
