"""siting: where should a data center's waste heat go into a district-heating network?

Quick start::

    import siting
    results = siting.run(siting.demo_study())
    results.sites.head()      # the ranking
    results.map()             # folium map, inline in Jupyter
    results.to_files("out")   # ranking.csv, results.gpkg, map.html
"""

from siting.config import Params, Study
from siting.errors import SitingError
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
