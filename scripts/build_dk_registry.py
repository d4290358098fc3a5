"""Build the built-in Danish network registry (siting/data/networks/) from ../shared/data/heat.

Run from the repo root (needs ../shared/data, see its PROVENANCE.md)::

    python scripts/build_dk_registry.py                      # writes siting/data/networks/
    python scripts/build_dk_registry.py --heat DIR --out DIR

Rules (also in siting/data/networks/README.md):

* A network is an ``fv_net`` of the DEA plant statistics (aggregated by id, never by name);
  rows with ``fv_net`` 0 ("no common network") are one network per utility ``forsyid``.
  ``network_id`` is ``dk-<fv_net>`` or ``dk-0-<forsyid>``.
* Energy: TJ / 3.6 = GWh. Per network, the latest year with delivered heat is the ``year``;
  every year's delivered heat is kept in ``dk_network_years.csv`` per network and row label.
* Fuel split: each plant's delivered heat is attributed to its fuels by their share of its fuel
  input; a CHP plant's fuel for heat is its fuel x heat / (heat + power) (energy method).
  Must-run = heat from ``affald`` (waste) + ``braendselsfrit`` (fuel-free surplus heat); solar
  (``solenergi``) separately.
* Systems: networks whose main row label (the ``fv_net_navn`` with most of their heat in their
  latest year) is the same are one interconnected system: 2 + 18 = Storkøbenhavn.
* Utilities belong to their ``fv_net``; a utility with ``fv_net`` 0 or empty belongs to the
  network of its ``forsyid`` in the production rows, if any. The utilities file has no licence
  (PROVENANCE: reference data only), so no utility row is shipped: it only feeds per-network
  facts (supply area, price) and the network -> municipality table.
* Supply area: the sum of the network's utilities' ``total_area_km2``.
* Prices: Forsyningstilsynet January 2024, joined on the utility's P-number (``CVRP`` =
  ``PNummer``); DKK/MWh incl. 25 % VAT -> EUR excl. VAT at 7.46 DKK/EUR; a network's price is
  the (unweighted) median of its priced utilities.
* Municipalities served: a network serves each municipality (``lau_1``) whose ``forsyids``
  list one of its utilities (``dk_network_municipalities.csv``).
* Municipalities: dissolved per ``lau_1``, coverage-simplified at 100 m in EPSG:25832 (shared
  borders stay shared), coordinates rounded to 4 decimals (~10 m, inside the simplification);
  only ``lau_1`` and ``name`` are kept.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.geometry

REPO = Path(__file__).resolve().parents[1]
DEFAULT_HEAT = REPO.parent / "shared" / "data" / "heat"
DEFAULT_OUT = REPO / "siting" / "data" / "networks"

MWH_PER_TJ = 1000.0 / 3.6
DKK_PER_EUR = 7.46  # fixed conversion rate used for the regulator's prices (stated in README)
VAT = 0.25  # Danish VAT included in the regulator's prices
SIMPLIFY_M = 100.0
METRIC_CRS = "EPSG:25832"
# DEA fuel column -> registry fuel key (siting.networks.emissions.FUELS)
FUEL_COLUMNS = {
    "kul_TJ": "coal",
    "fuelolie_TJ": "fuel_oil",
    "spildolie_TJ": "waste_oil",
    "gasolie_TJ": "gas_oil",
    "raffinaderigas_TJ": "refinery_gas",
    "lpg_TJ": "lpg",
    "naturgas_TJ": "natural_gas",
    "affald_TJ": "waste",
    "biogas_TJ": "biogas",
    "halm_TJ": "straw",
    "skovflis_TJ": "wood_chips",
    "trae- og biomasseaffald_TJ": "wood_waste",
    "traepiller_TJ": "wood_pellets",
    "bio-olie_TJ": "bio_oil",
    "braendselsfrit_TJ": "fuel_free",
    "solenergi_TJ": "solar",
    "vandkraft_TJ": "hydro",
    "elektricitet_TJ": "electricity",
    "omgivelsesvarme_TJ": "ambient_heat",
}
MUST_RUN = ("waste", "fuel_free")
SOURCE = "Danish Energy Agency, Energiproducenttællingen"
PRICE_SOURCE = "Forsyningstilsynet Prisstatistik Jan 2024"


def read_production(heat_dir: Path) -> pd.DataFrame:
    """The plant-year rows with ``network_id``, MWh columns and the fuel split per row."""
    d = pd.read_csv(
        heat_dir / "dk_dh_production_2016_2023.csv", dtype={"forsyid": str, "fv_net": str}
    )
    missing = [c for c in ["fv_net", "forsyid", "aar", "varmelev_TJ", *FUEL_COLUMNS] if c not in d]
    if missing:
        raise SystemExit(f"production file lacks columns {missing}")
    d["fv_net"] = d["fv_net"].fillna("0").str.strip()
    d["forsyid"] = d["forsyid"].fillna("00000000").str.strip()
    d["network_id"] = np.where(d["fv_net"] == "0", "dk-0-" + d["forsyid"], "dk-" + d["fv_net"])
    d["year"] = d["aar"].astype(int)
    d["heat_mwh"] = d["varmelev_TJ"].fillna(0.0) * MWH_PER_TJ
    d["heat_produced_mwh"] = d["varmeprod_TJ"].fillna(0.0) * MWH_PER_TJ
    d["power_mwh"] = d["elprod_TJ"].fillna(0.0) * MWH_PER_TJ
    fuels = d[list(FUEL_COLUMNS)].fillna(0.0).to_numpy() * MWH_PER_TJ
    total = fuels.sum(axis=1)
    out_total = d["heat_produced_mwh"] + d["power_mwh"]
    # energy method: the heat's share of the plant's useful output takes that share of its fuel
    heat_share = np.where(out_total > 0, d["heat_produced_mwh"] / out_total.where(out_total > 0), 1)
    for j, key in enumerate(FUEL_COLUMNS.values()):
        d[f"fuel_{key}_mwh"] = fuels[:, j]
        d[f"fuelheat_{key}_mwh"] = fuels[:, j] * heat_share
        d[f"heat_{key}_mwh"] = np.where(
            total > 0, d["heat_mwh"] * fuels[:, j] / np.where(total > 0, total, 1.0), 0.0
        )
    d["heat_unattributed_mwh"] = np.where(total > 0, 0.0, d["heat_mwh"])
    return d


def network_years(d: pd.DataFrame) -> pd.DataFrame:
    """Delivered heat per network, year and row label (``fv_net_navn``)."""
    y = (
        d.groupby(["network_id", "year", "fv_net_navn"], as_index=False)["heat_mwh"]
        .sum()
        .rename(columns={"fv_net_navn": "label", "heat_mwh": "annual_heat_mwh"})
    )
    y = y[y["annual_heat_mwh"] > 0].copy()
    y["annual_heat_mwh"] = y["annual_heat_mwh"].round(1)
    return y.sort_values(["network_id", "year", "label"]).reset_index(drop=True)


def latest_rows(d: pd.DataFrame) -> pd.DataFrame:
    """Each network's rows of its latest year with delivered heat."""
    heat_by_year = d.groupby(["network_id", "year"])["heat_mwh"].sum()
    latest = heat_by_year[heat_by_year > 0].reset_index().groupby("network_id")["year"].max()
    keep = d["year"].to_numpy() == d["network_id"].map(latest).to_numpy()
    return d[keep].copy()


def network_fuels(latest: pd.DataFrame) -> pd.DataFrame:
    """Long table per network and fuel of the latest year: fuel input, fuel for heat, heat."""
    rows = []
    for key in FUEL_COLUMNS.values():
        g = latest.groupby("network_id").agg(
            year=("year", "first"),
            fuel_input_mwh=(f"fuel_{key}_mwh", "sum"),
            fuel_for_heat_mwh=(f"fuelheat_{key}_mwh", "sum"),
            heat_mwh=(f"heat_{key}_mwh", "sum"),
        )
        g["fuel"] = key
        rows.append(g.reset_index())
    f = pd.concat(rows, ignore_index=True)
    f = f[(f["fuel_input_mwh"] > 0) | (f["heat_mwh"] > 0)]
    for c in ("fuel_input_mwh", "fuel_for_heat_mwh", "heat_mwh"):
        f[c] = f[c].round(1)
    return f[["network_id", "year", "fuel", "fuel_input_mwh", "fuel_for_heat_mwh", "heat_mwh"]]


def systems(latest: pd.DataFrame) -> dict[str, str]:
    """network_id -> system_id: networks whose main row label is the same are one system.

    The main label of a network is the ``fv_net_navn`` carrying most of its delivered heat in
    its latest year. Only the main label counts: the source's labels are sometimes wrong on
    single rows (2023 rows of fv_net 206, Aarhus, carry "Hammel Fjernvarme", whose own network
    is fv_net 204), and joining on any shared label would merge unrelated networks.
    """
    named = latest[(latest["fv_net"] != "0") & (latest["heat_mwh"] > 0)]
    by_label = named.groupby(["network_id", "fv_net_navn"])["heat_mwh"].sum().reset_index()
    main = by_label.sort_values("heat_mwh").groupby("network_id").tail(1)
    out = {nid: nid for nid in latest["network_id"].unique()}
    for _, ids in main.groupby("fv_net_navn")["network_id"]:
        members = sorted(set(ids), key=_id_order)
        if len(members) > 1:
            out.update({m: "+".join(members) for m in members})
    return out


def _id_order(nid: str) -> tuple[int, str]:
    m = re.fullmatch(r"dk-(\d+)", nid)
    return (int(m.group(1)), "") if m else (10**9, nid)


def utilities(heat_dir: Path, d: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    """Utilities with their network, supply area and price (build input only, never written:
    the source file has no licence; its coordinates are company addresses)."""
    u = gpd.read_file(heat_dir / "dk_district_heating_utilities.geojson")
    u["fv_net"] = u["fv_net"].fillna("").astype(str).str.strip()
    # production rows of the latest year per forsyid say which network it feeds when the
    # utilities file has no fv_net (0 or empty)
    last = d.sort_values("year").groupby("forsyid").tail(1).set_index("forsyid")["network_id"]
    by_net = np.where(u["fv_net"].isin(["", "0"]), None, "dk-" + u["fv_net"])
    by_forsyid = u["forsyid"].map(last)
    network = pd.Series(by_net, index=u.index).fillna(by_forsyid)
    rule = np.where(
        pd.Series(by_net, index=u.index).notna(),
        "fv_net",
        np.where(by_forsyid.notna(), "forsyid in production", "none"),
    )
    network = network.where(network.isin(known))
    rule = np.where(network.isna(), "no production statistics", rule)

    prices = pd.read_csv(
        heat_dir / "dk_dh_prices_jan_2024.csv", sep=";", dtype={"PNummer": str, "Postnr.": str}
    )
    prices = prices.drop_duplicates("PNummer").set_index("PNummer")["MWhPrisInklMoms"]
    dkk = pd.to_numeric(u["CVRP"].map(prices), errors="coerce")
    return pd.DataFrame(
        {
            "utility_id": u["forsyid"].astype(str).str.strip(),
            "name": u["name"].astype(str).str.strip(),
            "network_id": network.fillna(""),
            "network_rule": rule,
            "fv_net": u["fv_net"],
            "supply_area_km2": u["total_area_km2"].astype(float),
            "heat_price_dkk_per_mwh_incl_vat": dkk,
            "heat_price_eur_per_mwh": (dkk / (1.0 + VAT) / DKK_PER_EUR).round(2),
        }
    )


def networks(
    latest: pd.DataFrame, fuels: pd.DataFrame, system_of: dict[str, str], util: pd.DataFrame
) -> pd.DataFrame:
    """One row per network: the facts of its latest year."""
    g = latest.groupby("network_id")
    net = g.agg(
        fv_net=("fv_net", "first"),
        year=("year", "first"),
        annual_heat_mwh=("heat_mwh", "sum"),
        heat_produced_mwh=("heat_produced_mwh", "sum"),
        power_produced_mwh=("power_mwh", "sum"),
        n_plants=("vaerk_navn", "size"),
    )
    labels = (
        latest[latest["heat_mwh"] > 0]
        .groupby(["network_id", "fv_net_navn"])["heat_mwh"]
        .sum()
        .reset_index()
        .sort_values(["network_id", "heat_mwh"], ascending=[True, False])
    )
    # name: the label with most heat; every label with its GWh where there are several
    net["name"] = labels.groupby("network_id")["fv_net_navn"].first()
    dup = net["name"].duplicated(keep=False) & net["name"].notna()
    net.loc[dup, "name"] = net.loc[dup, "name"] + " (fv_net " + net.loc[dup, "fv_net"] + ")"
    several = labels.groupby("network_id").filter(lambda g: len(g) > 1)
    net["labels"] = several.groupby("network_id").apply(
        lambda g: "; ".join(
            f"{n}: {h / 1000:.0f} GWh" for n, h in zip(g["fv_net_navn"], g["heat_mwh"], strict=True)
        ),
        include_groups=False,
    )
    net["labels"] = net["labels"].fillna("")
    heat = fuels.pivot_table(index="network_id", columns="fuel", values="heat_mwh", aggfunc="sum")
    heat = heat.reindex(net.index).fillna(0.0)
    net["must_run_mwh_per_yr"] = sum(heat.get(f, 0.0) for f in MUST_RUN)
    net["solar_mwh_per_yr"] = heat.get("solar", 0.0)
    net["supply_temp_c"] = np.nan  # not in the statistics
    net["return_temp_c"] = np.nan
    priced = util[util["heat_price_eur_per_mwh"].notna() & (util["network_id"] != "")]
    pg = priced.groupby("network_id")["heat_price_eur_per_mwh"]
    net["heat_price_eur_per_mwh"] = pg.median().reindex(net.index).round(2)
    net["n_priced_utilities"] = pg.size().reindex(net.index).fillna(0).astype(int)
    net["supply_area_km2"] = (
        util[util["network_id"] != ""]
        .drop_duplicates("utility_id")
        .groupby("network_id")["supply_area_km2"]
        .sum()
        .reindex(net.index)
    )
    net["system_id"] = [system_of[i] for i in net.index]
    sys_heat = net.groupby("system_id")["annual_heat_mwh"].transform("sum")
    net["system_annual_heat_mwh"] = sys_heat
    net["source"] = [
        f"{SOURCE} {y} (fv_net {f}); price {PRICE_SOURCE}" if n else f"{SOURCE} {y} (fv_net {f})"
        for y, f, n in zip(net["year"], net["fv_net"], net["n_priced_utilities"], strict=True)
    ]
    for c in (
        "annual_heat_mwh",
        "heat_produced_mwh",
        "power_produced_mwh",
        "must_run_mwh_per_yr",
        "solar_mwh_per_yr",
        "system_annual_heat_mwh",
    ):
        net[c] = net[c].round(1)
    net = net[net["annual_heat_mwh"] > 0].reset_index()
    net = net.sort_values("network_id", key=lambda s: s.map(_id_order)).reset_index(drop=True)
    cols = [
        "network_id",
        "name",
        "fv_net",
        "year",
        "annual_heat_mwh",
        "heat_produced_mwh",
        "power_produced_mwh",
        "must_run_mwh_per_yr",
        "solar_mwh_per_yr",
        "supply_temp_c",
        "return_temp_c",
        "heat_price_eur_per_mwh",
        "n_priced_utilities",
        "supply_area_km2",
        "n_plants",
        "labels",
        "system_id",
        "system_annual_heat_mwh",
        "source",
    ]
    return net[cols]


def read_municipalities(heat_dir: Path) -> gpd.GeoDataFrame:
    """The source municipality parts with ``utility_ids``: the sorted, stripped ``forsyids``."""
    m = gpd.read_file(heat_dir / "dk_municipalities_dh.geojson")
    m["lau_1"] = m["lau_1"].astype(str).str.strip()
    m["utility_ids"] = (
        m["forsyids"]
        .fillna("")
        .map(lambda s: ",".join(sorted({x.strip() for x in s.split(",") if x.strip()})))
    )
    # every part (island) of a municipality lists the same utilities; check rather than assume
    n_lists = m.groupby("lau_1")["utility_ids"].nunique()
    if (n_lists > 1).any():
        raise SystemExit(
            f"municipality parts disagree on utilities: {list(n_lists[n_lists > 1].index)}"
        )
    return m


def network_municipalities(m: pd.DataFrame, util: pd.DataFrame, known: set[str]) -> pd.DataFrame:
    """Long table ``network_id, lau_1``: the municipalities whose utility list names one of the
    network's utilities (networks without delivered heat left out)."""
    listed = (
        m.drop_duplicates("lau_1")[["lau_1", "utility_ids"]]
        .assign(utility_id=lambda x: x["utility_ids"].str.split(","))
        .explode("utility_id")
    )
    listed = listed[listed["utility_id"].fillna("") != ""]
    pairs = listed.merge(util[["utility_id", "network_id"]], on="utility_id", how="left")
    served = pairs[pairs["network_id"].isin(known)]
    # The matcher says "lists no utility" for a municipality without networks; that must be
    # true, not "lists only utilities without statistics".
    without = set(listed["lau_1"]) - set(served["lau_1"])
    if without:
        raise SystemExit(
            f"municipalities {sorted(without)} list utilities but none with production "
            "statistics; the matcher's wording assumes this does not happen: extend it."
        )
    out = served[["network_id", "lau_1"]].drop_duplicates()
    out = out.sort_values(["network_id", "lau_1"], key=_sort_key).reset_index(drop=True)
    return out


def _sort_key(s: pd.Series) -> pd.Series:
    return s.map(_id_order) if s.name == "network_id" else s


def municipalities(m: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Municipality polygons (``lau_1``, ``name``), simplified for shipping."""
    first = m.groupby("lau_1").agg(name=("name", "first"))
    dissolved = m[["lau_1", "geometry"]].to_crs(METRIC_CRS).dissolve("lau_1")
    geoms = shapely.make_valid(dissolved.geometry.values)
    simple = shapely.coverage_simplify(geoms, SIMPLIFY_M)
    out = gpd.GeoDataFrame(
        first.reindex(dissolved.index).reset_index(),
        geometry=simple,
        crs=METRIC_CRS,
    ).to_crs("EPSG:4326")
    out["geometry"] = shapely.set_precision(out.geometry.values, 1e-4)
    return out


def build(heat_dir: Path = DEFAULT_HEAT) -> dict[str, pd.DataFrame]:
    """All tables of the built-in registry (nothing written)."""
    d = read_production(heat_dir)
    years = network_years(d)
    latest = latest_rows(d)
    fuels = network_fuels(latest)
    known = set(years["network_id"])
    util = utilities(heat_dir, d, known)
    net = networks(latest, fuels, systems(latest), util)
    muni = read_municipalities(heat_dir)
    return {
        "networks": net,
        "years": years,
        "fuels": fuels[fuels["network_id"].isin(set(net["network_id"]))].reset_index(drop=True),
        "network_municipalities": network_municipalities(muni, util, set(net["network_id"])),
        "municipalities": municipalities(muni),
        "utilities": util,  # build input for checks; not written (no licence)
    }


def write(tables: dict[str, pd.DataFrame], out: Path = DEFAULT_OUT) -> list[Path]:
    """Write the tables as the files ``siting.networks.registry`` loads (no utility table)."""
    out.mkdir(parents=True, exist_ok=True)
    # earlier builds shipped utility addresses; never leave that file behind
    (out / "dk_utilities.csv").unlink(missing_ok=True)
    paths = []
    for name, file in (
        ("networks", "dk_networks.csv"),
        ("years", "dk_network_years.csv"),
        ("fuels", "dk_network_fuels.csv"),
        ("network_municipalities", "dk_network_municipalities.csv"),
    ):
        tables[name].to_csv(out / file, index=False, lineterminator="\n")
        paths.append(out / file)
    muni = out / "dk_municipalities.geojson"
    muni.write_text(_compact_geojson(tables["municipalities"]), encoding="utf-8")
    paths.append(muni)
    return paths


def _compact_geojson(gdf: gpd.GeoDataFrame, decimals: int = 4) -> str:
    """GeoJSON without spaces, coordinates rounded (GDAL's writer pads every number)."""

    def rounded(coords: object) -> object:
        if isinstance(coords, (list, tuple)) and coords and isinstance(coords[0], float):
            return [round(c, decimals) for c in coords]
        return [rounded(c) for c in coords]  # type: ignore[union-attr]

    features = []
    for row in gdf.itertuples(index=False):
        geom = shapely.geometry.mapping(row.geometry)
        props = {k: getattr(row, k) for k in gdf.columns if k != "geometry"}
        features.append(
            {
                "type": "Feature",
                "properties": props,
                "geometry": {"type": geom["type"], "coordinates": rounded(geom["coordinates"])},
            }
        )
    doc = {"type": "FeatureCollection", "name": "dk_municipalities", "features": features}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heat", type=Path, default=DEFAULT_HEAT, help="../shared/data/heat")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="siting/data/networks")
    args = ap.parse_args(argv)
    if not (args.heat / "dk_dh_production_2016_2023.csv").exists():
        print(f"{args.heat} lacks the DEA production file; see ../shared/data/PROVENANCE.md")
        return 2
    tables = build(args.heat)
    for p in write(tables, args.out):
        print(
            f"{p.relative_to(args.out.parent) if p.is_relative_to(args.out.parent) else p}: "
            f"{p.stat().st_size / 1024:.0f} KB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
