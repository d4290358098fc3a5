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
