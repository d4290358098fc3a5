"""Tool vs published figures for the model-level cases of MODEL.md s8.3.

Not a test (``tests/test_published_cases.py`` holds the tolerances). Run with
``python benchmarks/published_cases.py``; prints one line per figure with the ratio tool /
published, then one JSON line. Inputs the publications do not give are the same stated
assumptions as in the test; the Espoo lines also show how much each assumption moves the result.
The Odense case needs the network registry and is added with it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from siting.hourly import (
    hourly_recovery,
    network_demand_profile,
    supply_temperature_curve,
    unit_count,
)
from siting.recovery import heat_pump_operation, lorenz_cop
from siting.sources.weather import read_weather, typical_danish_year

SHARED = Path(
    os.environ.get("SITING_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)
HELSINKI_EPW = SHARED / "weather" / "FIN_Helsinki.029740_IWEC.epw"


def espoo(
    weather,
    *,
    return_c: float = 45.0,
    must_run_share: float = 1.0 / 3.0,
    availability: float = 0.95,
    third_of: str = "waste heat",
):
    """Espoo: 100 MW data center whose heat is a third of the network's annual demand."""
    outdoor = weather.to_numpy(dtype=float)
    q_src_mw = 100.0 * 0.8 * 0.95
    op = heat_pump_operation(27.0, 17.0, return_c, 85.0, source_heat_mw=q_src_mw)
    # "data-center heat": the waste heat (test's reading) or the heat the heat pumps could deliver
    heat_mw = q_src_mw if third_of == "waste heat" else op.delivered_heat_mw
    annual = 3.0 * heat_mw * outdoor.size
    demand = network_demand_profile(outdoor, annual)
    summer = weather.index.month.isin([6, 7, 8])
    r = hourly_recovery(
        100.0,
        outdoor,
        demand,
        capture_fraction=0.95,
        utilisation_it=0.8,
        source_in_c=27.0,
        source_out_c=17.0,
        return_c=return_c,
        supply_c=85.0,
        cop_model="practical",
        availability=availability,
        units=unit_count(op.delivered_heat_mw),
        must_run_mw=must_run_share * demand[summer].mean(),
    )
    return r.reused_heat_mwh_per_yr / r.recovered_heat_mwh_per_yr, r.cop_effective


def koege(heat_pump_max_mw):
    outdoor = typical_danish_year().to_numpy()
    return hourly_recovery(
        21.0,
        outdoor,
        network_demand_profile(outdoor, 9.59e6),
        capture_fraction=1.0,
        utilisation_it=1.0,
        source_in_c=27.0,
        source_out_c=17.0,
        return_c=40.0,
        supply_c=supply_temperature_curve(outdoor),
        cop_model="practical",
        availability=0.95,
        heat_pump_max_mw=heat_pump_max_mw,
    )


def odense(pbf: Path):
    """Meta's Odense data center through siting.run, defaults only: 100,000 MWh/yr recovered
    at a site in the SE Odense extract; the registry finds Fjernvarme Fyn (MODEL.md §8.3)."""
    import geopandas as gpd

    import siting
    from siting.sources.osm import read_osm

    p = siting.Params()
    it_mw = 100_000 / (8760 * p.utilisation_it * p.capture_fraction["air_coil"])
    centre = read_osm(pbf).buildings.to_crs(25832).union_all().centroid
    sites = gpd.GeoDataFrame(
        {"site_id": ["meta"], "it_load_mw": [it_mw], "cooling": ["air_coil"]},
        geometry=[centre],
        crs=25832,
    )
    return siting.run(siting.Study(osm_path=pbf), sites=sites).sites.iloc[0]


def main() -> None:
    rows: list[tuple[str, float, float, str]] = []  # (figure, tool, published, tolerance)
    rows.append(("DEA COP 25->15/35->70", heat_pump_operation(25, 15, 35, 70).cop, 5.0, "+-5 %"))
    rows.append(
        ("Kajaani COP 30->20/50->85", heat_pump_operation(30, 20, 50, 85).cop, 4.35, "+-10 %")
    )
    liquid = heat_pump_operation(50, 40, 40, 75)
    rows.append(
        ("liquid 50->40/40->75 heat-pump COP (mid of 4-7)", liquid.cop_heat_pump, 5.5, "4-7")
    )
    rows.append(("  (same, with the 20 % preheat: system COP)", liquid.cop, 5.5, "info"))
    rows.append(("  (same, textbook Lorenz eta 0.5)", lorenz_cop(50, 40, 40, 75), 5.5, "info"))
    if HELSINKI_EPW.exists():
        weather = read_weather(HELSINKI_EPW)
        used, cop = espoo(weather)
        rows.append(("Espoo share of DC heat used", used, 0.75, "0.70-0.85"))
        rows.append(("Espoo system COP", cop, 3.8, "+-15 %"))
        for label, kw in (
            ("no must-run", dict(must_run_share=0.0)),
            ("availability 1", dict(availability=1.0)),
            ("third = deliverable heat", dict(third_of="deliverable heat")),
            ("return 40 degC", dict(return_c=40.0)),
        ):
            u, c = espoo(weather, **kw)
            rows.append((f"  Espoo used, {label}", u, 0.75, "info"))
            if label.startswith("return"):
                rows.append((f"  Espoo COP, {label}", c, 3.8, "info"))
    else:
        print(f"Espoo skipped: {HELSINKI_EPW} is absent (set SITING_SHARED_DATA)")
    odense_pbf = HELSINKI_EPW.parents[1] / "osm" / "odense_se_2025.osm.pbf"
    if odense_pbf.exists():
        site = odense(odense_pbf)
        homes = site["delivered_heat_mwh_per_yr"] / 18.1
        rows.append(("Odense (public API) homes at 18.1 MWh", homes, 6900.0, "+-15 %"))
        rows.append(("Odense heat pump size [MW]", site["heat_pump_mw"], 25.0, "+-30 %"))
        rows.append(("Odense capex [MEUR]", site["capex_eur"] / 1e6, 18.1, "+-25 %"))
        rows.append(("  Odense utilisation (>= 0.9)", site["utilisation"], 0.9, ">="))
    else:
        print(f"Odense skipped: {odense_pbf} is absent (set SITING_SHARED_DATA)")
    capped, full = koege(21.0), koege(None)
    rows.append(
        ("Koege delivered, 21 MW heat pump [MWh]", capped.delivered_heat_mwh_per_yr, 184e3, "<=")
    )
    rows.append(
        ("Koege DC heat used, 21 MW waste heat [MWh]", full.reused_heat_mwh_per_yr, 184e3, "<=")
    )
    rows.append(
        (
            "  (same: delivered incl. electricity) [MWh]",
            full.delivered_heat_mwh_per_yr,
            184e3,
            "info",
        )
    )

    print(f"{'case':48s} {'tool':>12s} {'published':>12s} {'ratio':>7s}  tolerance")
    for name, tool, pub, tol in rows:
        print(f"{name:48s} {tool:12,.3f} {pub:12,.3f} {tool / pub:7.3f}  {tol}")
    print(
        json.dumps(
            {
                "benchmark": "published_cases",
                **{name.strip(): round(float(tool), 4) for name, tool, _, _ in rows},
            }
        )
    )


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
