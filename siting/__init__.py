"""siting: where should a data center's waste heat go into a district-heating network?

Quick start::

    import siting
    results = siting.run(siting.demo_study())
    results.sites.head()      # the ranking
    results.map()             # folium map, inline in Jupyter
    results.to_files("out")   # ranking.csv, results.gpkg, map.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from siting.config import Params, Study
from siting.errors import SitingError

if TYPE_CHECKING:
    from siting.sensitivity import sensitivity
    from siting.study import Results, demo_study, run

__version__ = "0.1.0"
__all__ = [
    "Params",
    "Results",
    "SitingError",
    "Study",
    "demo_study",
    "run",
    "sensitivity",
    "__version__",
]


def __getattr__(name: str) -> Any:
    """`run`, `Results`, `demo_study` and `sensitivity` load the study (and the geo stack) on
    first use, so `import siting.cli` and `siting --help` start without them."""
    if name in ("run", "Results", "demo_study"):
        from siting import study

        return getattr(study, name)
    if name == "sensitivity":
        from siting.sensitivity import sensitivity

        return sensitivity
    raise AttributeError(f"module 'siting' has no attribute {name!r}")
