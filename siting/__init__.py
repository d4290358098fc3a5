"""siting: where should a data center's waste heat go into a district-heating network?

Quick start::

    import siting
    results = siting.run(siting.demo_study())
    results.sites.head()      # the ranking
    results.map()             # folium map, inline in Jupyter
    results.to_files("out")   # ranking.csv, results.gpkg, map.html
    siting.portfolio(results, 3).to_frame()  # three sites chosen together on one network

Your own layers and scenarios::

    results = siting.run(study, buildings=my_buildings, streets=my_streets_or_graph)
    table = siting.compare({"base": study, "5 %": study.with_params(discount_rate=0.05)})
    siting.compare_plot(table)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # type checkers and IDEs see the exports; at run time they load on first use
    from siting.comparison import compare, compare_plot
    from siting.config import Params, Study
    from siting.errors import ArgumentError, SitingError
    from siting.portfolios import portfolio
    from siting.study import Results, demo_study, run
    from siting.sweep import sensitivity

__version__ = "0.1.0"
__all__ = [
    "ArgumentError",
    "Params",
    "Results",
    "SitingError",
    "Study",
    "compare",
    "compare_plot",
    "demo_study",
    "portfolio",
    "run",
    "sensitivity",
    "__version__",
]

# export -> the module defining it. Imported on first access (PEP 562), so `import siting`
# and `siting --help` do not load pandas and the geo stack. No export shares its name with
# a submodule: importing siting.x sets the package attribute x to the module, which would
# replace a function of that name.
_EXPORTS = {
    "ArgumentError": "siting.errors",
    "Params": "siting.config",
    "Results": "siting.study",
    "SitingError": "siting.errors",
    "Study": "siting.config",
    "compare": "siting.comparison",
    "compare_plot": "siting.comparison",
    "demo_study": "siting.study",
    "portfolio": "siting.portfolios",
    "run": "siting.study",
    "sensitivity": "siting.sweep",
}


def __getattr__(name: str) -> Any:
    """Load an export on first access and keep it (the next access is a plain lookup)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'siting' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
