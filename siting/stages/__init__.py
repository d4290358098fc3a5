"""The study's stages, in order: each a public function with typed inputs and outputs.

``load_inputs → prepare_area → street_graph → estimate_demand → generate_candidates →
find_networks → size_sources → connect → connect_grid → operate → price → rank``; `publish` is
:meth:`siting.results.Results.to_files`. :func:`siting.study.run` composes them through
:class:`siting.pipeline.Runner`; tiled runs (`siting.tiles`) compose the same stages per
tile, and the sensitivity engine re-runs `price` and `rank` for economics-only inputs.
Each stage can be called alone from a notebook.
"""

from siting.stages.candidates import Candidates, generate_candidates, size_sources
from siting.stages.connect import Connected, connect
from siting.stages.demand import Demand, building_demand, climate_factor, estimate_demand
from siting.stages.grid import GridConnections, connect_grid
from siting.stages.inputs import (
    Graph,
    Inputs,
    Prepared,
    load_inputs,
    prepare_area,
    street_graph,
    weather_of,
)
from siting.stages.networks import (
    VIABLE_NOTE_START,
    Networks,
    dh_area_min_gwh,
    find_networks,
    network_demand_mwh,
    network_demand_notes,
    registry_matched,
    viable_streets_note,
)
from siting.stages.operate import Operated, operate, run_hourly
from siting.stages.price import price, rank, rerank

__all__ = [
    "Candidates",
    "Connected",
    "Demand",
    "Graph",
    "GridConnections",
    "Inputs",
    "Networks",
    "Operated",
    "Prepared",
    "building_demand",
    "climate_factor",
    "connect",
    "connect_grid",
    "dh_area_min_gwh",
    "estimate_demand",
    "find_networks",
    "generate_candidates",
    "load_inputs",
    "network_demand_mwh",
    "network_demand_notes",
    "operate",
    "prepare_area",
    "price",
    "rank",
    "registry_matched",
    "rerank",
    "VIABLE_NOTE_START",
    "viable_streets_note",
    "run_hourly",
    "size_sources",
    "street_graph",
    "weather_of",
]
