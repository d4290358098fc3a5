"""OSM tag keys the building model reads, named once for the model and the reader that
keeps only the tags a study uses (`siting.sources.ingest`)."""

# Keys whose value can pick the class of a building=yes, in this order (siting.demand).
HINT_KEYS = (
    "amenity",
    "shop",
    "office",
    "tourism",
    "healthcare",
    "leisure",
    "power",
    "man_made",
    "landuse",
)
# Keys that may carry a building's construction year, in this order (siting.demand).
YEAR_KEYS = ("start_date", "building:year", "construction_date")
