"""Network registry, site matching, DH areas, must-run supply and displaced CO2 (issue 11).

Golden numbers come from ../shared/data/PROVENANCE.md (verified there) and MODEL.md §8.4;
the build-script tests read ../shared/data and skip with the reason when it is absent.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from conftest import REPO, shared_file
from shapely.geometry import Point, box

from siting.errors import ConfigError, CRSError, InputDataError
from siting.networks import (
    MustRunProducer,
    NetworkRegistry,
    area_edges,
    dh_areas_from_buildings,
    dh_areas_from_raster,
    displaced_emission_factor_t_per_mwh,
    displaced_emissions,
    load_dk_registry,
    match_network,
    match_sites,
    must_run_profile_mw,
    read_registry,
    scale_to_registry,
)
from siting.networks.areas import dh_areas_from_grid
from siting.networks.supply import SOLAR_MONTHLY_SHARE_DK

TWH = 1e6  # MWh per TWh
DATA = REPO / "siting" / "data" / "networks"


# --------------------------------------------------------------------------- build script


@pytest.fixture(scope="module")
def builder():
    spec = importlib.util.spec_from_file_location(
        "build_dk_registry", REPO / "scripts" / "build_dk_registry.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(builder):
    heat = shared_file("heat", "dk_dh_production_2016_2023.csv").parent
    return builder.build(heat)


def test_build_reproduces_dk_total_2023(built):
    years = built["years"]
    # PROVENANCE: 2023 heat delivered sums to 37.2 TWh for Denmark
    assert years.loc[years["year"] == 2023, "annual_heat_mwh"].sum() / TWH == pytest.approx(
        37.2, abs=0.05
    )


def test_build_reproduces_fjernvarme_fyn(built):
    net = built["networks"].set_index("network_id").loc["dk-79"]
    assert net["name"] == "Fjernvarme Fyn"
    assert net["year"] == 2023
    assert net["annual_heat_mwh"] / TWH == pytest.approx(2.68, abs=0.005)  # PROVENANCE


def test_build_storkobenhavn_and_system(built):
    y = built["years"]
    y = y[(y["year"] == 2023) & y["network_id"].isin(["dk-2", "dk-18"])]
    # PROVENANCE: Storkøbenhavns Fjernvarme (fv_net 2 and 18) 9.59 TWh: the rows so labelled
    labelled = y.loc[y["label"] == "Storkøbenhavns Fjernvarme", "annual_heat_mwh"].sum()
    assert labelled / TWH == pytest.approx(9.59, abs=0.01)
    nets = built["networks"].set_index("network_id")
    assert nets.loc["dk-2", "system_id"] == nets.loc["dk-18", "system_id"] == "dk-2+dk-18"
    # the system is both fv_nets in full, other labels of fv_net 18 included
    assert nets.loc["dk-2", "system_annual_heat_mwh"] == pytest.approx(
        y["annual_heat_mwh"].sum(), rel=1e-6
    )


def test_build_aarhus_206_is_not_joined_to_hammel_204(built):
    nets = built["networks"].set_index("network_id")
    y = built["years"]
    aarhus = y[(y["network_id"] == "dk-206") & (y["year"] == 2023)].set_index("label")
    assert aarhus.loc["Århus Fjernvarme", "annual_heat_mwh"] / TWH == pytest.approx(2.27, abs=0.01)
    assert set(aarhus.index) == {"Århus Fjernvarme", "Hammel Fjernvarme"}
    assert nets.loc["dk-206", "system_id"] == "dk-206"  # a mislabelled row must not merge
    assert nets.loc["dk-204", "system_id"] == "dk-204"


def test_build_tj_to_mwh_from_raw_rows(built):
    raw = pd.read_csv(shared_file("heat", "dk_dh_production_2016_2023.csv"), dtype={"fv_net": str})
    rows = raw[(raw["fv_net"] == "81") & (raw["aar"] == 2023)]
    net = built["networks"].set_index("network_id").loc["dk-81"]
    assert net["annual_heat_mwh"] == pytest.approx(rows["varmelev_TJ"].sum() / 3.6 * 1000, rel=1e-6)
    fuels = built["fuels"]
    coal = fuels[(fuels["network_id"] == "dk-81") & (fuels["fuel"] == "coal")]
    assert coal["fuel_input_mwh"].sum() == pytest.approx(rows["kul_TJ"].sum() / 0.0036, rel=1e-4)


def test_shipped_files_equal_a_fresh_build(built):
    shipped = pd.read_csv(DATA / "dk_networks.csv", dtype={"network_id": str, "fv_net": str})
    fresh = built["networks"]
    assert list(shipped["network_id"]) == list(fresh["network_id"])
    np.testing.assert_allclose(shipped["annual_heat_mwh"], fresh["annual_heat_mwh"], rtol=1e-9)
    np.testing.assert_allclose(
        shipped["must_run_mwh_per_yr"], fresh["must_run_mwh_per_yr"], rtol=1e-9
    )
    served = pd.read_csv(DATA / "dk_network_municipalities.csv", dtype=str)
    pd.testing.assert_frame_equal(served, built["network_municipalities"].astype(str))
    muni = gpd.read_file(DATA / "dk_municipalities.geojson")
    fresh_muni = built["municipalities"]
    assert list(muni["lau_1"]) == list(fresh_muni["lau_1"])
    assert list(muni["name"]) == list(fresh_muni["name"])


def test_build_municipalities_served_from_the_source_lists(built):
    """PROVENANCE: Odense lists 00000009 (Fjernvarme Fyn, fv_net 79), København 26089263 and
    Høje-Taastrup 13057117 (both fv_net 2); Lyngby-Taarbæk lists none."""
    served = built["network_municipalities"]
    munis = built["municipalities"].set_index("name")["lau_1"]

    def networks_of(name):
        return set(served.loc[served["lau_1"] == munis[name], "network_id"])

    assert networks_of("Odense") == {"dk-79"}
    assert networks_of("København") == {"dk-2"}
    assert networks_of("Høje-Taastrup") == {"dk-2"}
    assert networks_of("Lyngby-Taarbæk") == set()
    # each pair is a listed utility of that network, per the raw files
    raw = gpd.read_file(shared_file("heat", "dk_municipalities_dh.geojson"))
    bornholm = raw.loc[raw["name"] == "Bornholm", "forsyids"].iloc[0]
    util = built["utilities"].set_index("utility_id")["network_id"]
    expected = {util[x.strip()] for x in bornholm.split(",") if util.get(x.strip())}
    assert networks_of("Bornholm") == expected and len(expected) >= 2
    assert set(served["network_id"]) <= set(built["networks"]["network_id"])


def test_build_writes_no_utility_file(builder, built, tmp_path):
    (tmp_path / "dk_utilities.csv").write_text("stale")  # an earlier build's file
    paths = builder.write(built, tmp_path)
    assert not (tmp_path / "dk_utilities.csv").exists()
    assert {p.name for p in paths} == {p.name for p in tmp_path.iterdir()}


def test_build_prices_convert_vat_and_currency(built):
    util = built["utilities"]
    priced = util[util["heat_price_dkk_per_mwh_incl_vat"].notna()]
    assert len(priced) > 300
    np.testing.assert_allclose(
        priced["heat_price_eur_per_mwh"],
        priced["heat_price_dkk_per_mwh_incl_vat"] / 1.25 / 7.46,
        atol=0.006,
    )


# --------------------------------------------------------------------------- shipped registry


def test_shipped_registry_loads_without_shared_data():
    reg = load_dk_registry()
    fyn = reg.network("dk-79")
    assert fyn["annual_heat_mwh"] / TWH == pytest.approx(2.68, abs=0.005)
    assert reg.years.loc[reg.years["year"] == 2023, "annual_heat_mwh"].sum() / TWH == (
        pytest.approx(37.2, abs=0.05)
    )
    assert set(reg.heat_by_year("dk-79").index) == set(range(2016, 2024))
    assert reg.fuel_mix("dk-79").loc["coal", "fuel_input_mwh"] > 0
    # must-run is part of delivered heat, never more
    assert (reg.networks["must_run_mwh_per_yr"] <= reg.networks["annual_heat_mwh"] * 1.001).all()
    with pytest.raises(InputDataError, match="not in the registry. Did you mean"):
        reg.network("dk-97")


def test_shipped_municipalities_read_as_geopandas_reads_them():
    """The built-in municipality polygons, parsed without GDAL, are the frame read_file
    gives: columns, dtypes, CRS and every coordinate."""
    from geopandas.testing import assert_geodataframe_equal

    from siting.networks.registry import _read_municipalities

    path = REPO / "siting" / "data" / "networks" / "dk_municipalities.geojson"
    ours, gdal = _read_municipalities(path), gpd.read_file(path)
    assert_geodataframe_equal(ours, gdal, check_less_precise=False)
    assert list(shapely.to_wkb(ours.geometry.values)) == list(shapely.to_wkb(gdal.geometry.values))
    assert ours.crs.to_wkt() == gdal.crs.to_wkt()


def test_shipped_files_are_small():
    sizes = {p.name: p.stat().st_size for p in DATA.iterdir()}
    assert sum(sizes.values()) < 1_000_000, sizes
    assert sizes["dk_municipalities.geojson"] < 500_000


def test_shipped_data_has_no_utility_rows_or_coordinates():
    """The utilities file has no licence (PROVENANCE): ship per-network facts only."""
    names = {p.name for p in DATA.iterdir()}
    assert names == {
        "README.md",
        "dk_networks.csv",
        "dk_network_years.csv",
        "dk_network_fuels.csv",
        "dk_network_municipalities.csv",
        "dk_municipalities.geojson",
    }
    for csv in sorted(DATA.glob("*.csv")):
        cols = set(pd.read_csv(csv, nrows=0).columns)
        assert not cols & {"lon", "lat", "x", "y", "address", "utility_id", "forsyid"}, csv
    doc = json.loads((DATA / "dk_municipalities.geojson").read_text(encoding="utf-8"))
    assert {tuple(sorted(f["properties"])) for f in doc["features"]} == {("lau_1", "name")}
    assert {f["geometry"]["type"] for f in doc["features"]} <= {"Polygon", "MultiPolygon"}
    reg = load_dk_registry()
    assert reg.points is None and reg.areas is None
    # the long table refers only to shipped networks and municipalities
    assert set(reg.served["network_id"]) <= set(reg.networks.index)
    assert set(reg.served["lau_1"]) <= set(reg.municipalities["lau_1"])


def test_shipped_municipalities_form_a_coverage():
    muni = gpd.read_file(DATA / "dk_municipalities.geojson").to_crs("EPSG:25832")
    assert len(muni) == 99 and muni.is_valid.all()
    # coverage simplification keeps shared borders: the parts overlap by less than a hectare
    total = muni.area.sum()
    union = muni.union_all().area
    assert (total - union) < 1e4
    assert union / 1e6 == pytest.approx(43_000, rel=0.03)  # Denmark's land area, ~43,000 km²


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("lon", "lat", "network", "municipality"),
    [
        (10.413, 55.382, "dk-79", "Odense"),  # Odense SE extract
        (10.330, 55.400, "dk-79", "Odense"),  # Tietgenbyen, the Meta site
        (12.270, 55.650, "dk-2", "Høje-Taastrup"),  # Microsoft site
        (10.207, 56.142, "dk-206", "Århus"),  # Aarhus centre extract (source spells Århus)
    ],
)
def test_match_known_sites(lon, lat, network, municipality):
    m = match_network(Point(lon, lat), "EPSG:4326")
    assert m is not None
    assert m.network_id == network
    assert m.municipality == municipality and f"municipality {municipality}" in m.how_matched
    assert m.year == 2023
    assert m.annual_heat_mwh > 0
    assert m.distance_m == 0.0 and m.utility is None  # inside; no utility points shipped
    assert "Energiproducenttællingen" in m.source


def test_match_odense_facts():
    m = match_network(Point(10.33, 55.40), "EPSG:4326")
    assert m.name == "Fjernvarme Fyn"
    assert m.annual_heat_mwh / TWH == pytest.approx(2.68, abs=0.005)  # PROVENANCE
    assert "Fjernvarme Fyn" in m.how_matched and m.alternatives == ()
    assert 0 < m.must_run_mwh_per_yr < m.annual_heat_mwh
    assert 30 < m.heat_price_eur_per_mwh < 150
    assert set(m.heat_by_year_mwh) == set(range(2016, 2024))


def test_match_hoje_taastrup_is_fv_net_2_of_greater_copenhagen():
    """Høje-Taastrup lists only Høje Taastrup Fjernvarme, fv_net 2 (PROVENANCE): the network
    is dk-2, the system it belongs to Greater Copenhagen (fv_net 2 + 18)."""
    m = match_network(Point(12.27, 55.65), "EPSG:4326")
    assert m.network_id == "dk-2" and m.system_id == "dk-2+dk-18"
    assert m.system_annual_heat_mwh > m.annual_heat_mwh
    assert m.alternatives == ()


def test_match_several_networks_takes_the_largest_and_lists_the_others():
    reg = load_dk_registry()
    lau = reg.municipalities.set_index("name").loc["Bornholm", "lau_1"]
    served = reg.served.loc[reg.served["lau_1"] == lau, "network_id"]
    heat = reg.networks.loc[list(served), "annual_heat_mwh"].sort_values(ascending=False)
    assert len(heat) >= 2
    m = match_network(Point(14.70, 55.10), "EPSG:4326")  # Rønne, Bornholm
    assert m.municipality == "Bornholm"
    assert m.network_id == heat.index[0]
    assert [a[0] for a in m.alternatives] == list(heat.index[1:])
    assert [a[2] for a in m.alternatives] == list(heat.iloc[1:])
    for nid in heat.index[1:]:
        assert nid in m.how_matched
    assert "largest by heat delivered" in m.how_matched


def test_match_site_off_the_coast_takes_the_nearest_municipality():
    site = Point(12.70, 55.70)  # Øresund, east of Copenhagen
    muni = load_dk_registry().municipalities.to_crs("EPSG:25832")
    d = muni.distance(gpd.GeoSeries([site], crs="EPSG:4326").to_crs("EPSG:25832").iloc[0])
    assert 0 < d.min() < 10_000
    m = match_network(site, "EPSG:4326")
    assert m.municipality == muni.loc[d.idxmin(), "name"]
    assert m.distance_m == pytest.approx(d.min(), rel=0.01)  # UTM 33 vs 32: close, not equal
    assert "outside every municipality polygon" in m.how_matched
    assert match_network(site, "EPSG:4326", max_distance_m=d.min() / 2) is None


def test_match_lyngby_goes_to_greater_copenhagen_and_says_why():
    m = match_network(Point(12.503, 55.770), "EPSG:4326")  # Kgs. Lyngby station
    assert m is not None
    assert m.system_id == "dk-2+dk-18"
    assert m.network_id in {"dk-2", "dk-18"}
    assert m.municipality == "Lyngby-Taarbæk"
    assert "Lyngby-Taarbæk" in m.how_matched and "lists no utility" in m.how_matched
    assert "surrounding system dk-2+dk-18" in m.how_matched
    assert m.system_annual_heat_mwh / TWH == pytest.approx(10.2, abs=0.05)


def test_match_accepts_polygons_and_metric_crs():
    site = gpd.GeoSeries([Point(10.33, 55.40)], crs="EPSG:4326").to_crs("EPSG:25832").iloc[0]
    m = match_network(site.buffer(150), "EPSG:25832")
    assert m.network_id == "dk-79"


def test_match_outside_denmark_is_none():
    assert match_network(Point(13.40, 52.52), "EPSG:4326") is None  # Berlin
    assert match_network(Point(15.19, 55.32), "EPSG:4326") is None  # Christiansø, no DH


def test_match_sites_table():
    sites = gpd.GeoDataFrame(
        {"site_id": ["odense", "berlin"]},
        geometry=[Point(10.33, 55.40), Point(13.40, 52.52)],
        crs="EPSG:4326",
    )
    table = match_sites(sites)
    assert list(table.index) == list(sites.index)
    assert table.loc[0, "network_id"] == "dk-79"
    assert table.loc[0, "network_municipality"] == "Odense"
    assert 0.05 < table.loc[0, "network_ef_displaced_t_per_mwh"] < 0.25
    assert pd.isna(table.loc[1, "network_id"]) and "no registry network" in str(
        table.loc[1, "network_how_matched"]
    )


def test_utm_zone_formula_is_what_geopandas_finds():
    """The zone from its formula equals geopandas' database search, zone borders included
    (the western zone), and outside the UTM latitudes the search's error stays."""
    from siting.networks.match import _utm

    rng = np.random.default_rng(7)
    points = list(zip(rng.uniform(-180, 180, 150), rng.uniform(-80, 84, 150), strict=True))
    points += [(6.0, 50.0), (0.0, 10.0), (12.0, 0.0), (9.0, -0.0), (-180.0, 10.0), (180.0, 5.0)]
    for lon, lat in points:
        want = gpd.GeoSeries([Point(lon, lat)], crs="EPSG:4326").estimate_utm_crs()
        assert _utm(lon, lat) == want, (lon, lat)
    with pytest.raises(RuntimeError):
        _utm(9.0, 85.0)


def test_match_sites_equals_matching_each_site_alone():
    """match_sites shares registry lookups between sites (the same municipality, network);
    every row is still what match_network gives the site alone."""
    points = [Point(12.50, 55.77), Point(12.51, 55.78), Point(12.45, 55.73), Point(10.33, 55.40)]
    sites = gpd.GeoDataFrame({"site_id": list("abcd")}, geometry=points, crs="EPSG:4326")
    sites = sites.to_crs(25832)
    table = match_sites(sites)
    for i, geom in enumerate(sites.geometry):
        alone = match_network(geom, sites.crs)
        row = table.iloc[i]
        assert row["network_id"] == alone.network_id
        assert row["network_how_matched"] == alone.how_matched
        assert row["network_alternatives"] == alone.as_row()["network_alternatives"]
        assert row["network_ef_displaced_t_per_mwh"] == alone.ef_displaced_t_per_mwh
    assert table["network_municipality"].iloc[0] == "Lyngby-Taarbæk"


def _municipal_registry() -> NetworkRegistry:
    """Three 10 km squares in a row (EPSG:25832): A served by a big and a small network, B by a
    mid network, C by none."""
    x0, y0 = 500_000, 6_200_000
    squares = [box(x0 + i * 10_000, y0, x0 + (i + 1) * 10_000, y0 + 10_000) for i in range(3)]
    munis = gpd.GeoDataFrame(
        {"lau_1": ["A", "B", "C"], "name": ["Aby", "Bby", "Cby"]}, geometry=squares, crs=25832
    ).to_crs("EPSG:4326")
    nets = pd.DataFrame(
        {
            "network_id": ["big", "small", "mid"],
            "name": ["Big", "Small", "Mid"],
            "annual_heat_mwh": [900.0, 100.0, 500.0],
            "year": [2023, 2023, 2023],
        }
    )
    served = pd.DataFrame({"network_id": ["small", "big", "mid"], "lau_1": ["A", "A", "B"]})
    return NetworkRegistry(networks=nets, municipalities=munis, served=served, source="test")


def test_municipality_rules_on_a_synthetic_registry():
    reg = _municipal_registry()
    a = match_network(Point(505_000, 6_205_000), "EPSG:25832", reg)
    assert a.network_id == "big" and a.alternatives == (("small", "Small", 100.0),)
    assert "Small (small, 0 GWh" in a.how_matched  # 100 MWh shown as GWh
    # C lists none: its only neighbour within reach is B (A does not touch C) -> mid
    c = match_network(Point(525_000, 6_205_000), "EPSG:25832", reg)
    assert c.network_id == "mid" and "lists no utility" in c.how_matched
    assert c.municipality == "Cby"
    # 3 km south of A: nearest municipality A, 3 km away
    off = match_network(Point(505_000, 6_197_000), "EPSG:25832", reg)
    assert off.network_id == "big" and off.municipality == "Aby"
    assert off.distance_m == pytest.approx(3_000, abs=2)
    assert match_network(Point(505_000, 6_197_000), "EPSG:25832", reg, max_distance_m=2_000) is None
    # 3 km east of C: C lists none and its neighbour B is 13 km from the site: no match
    assert match_network(Point(533_000, 6_205_000), "EPSG:25832", reg) is None
    # neighbours farther than max_distance_m from the site do not vote
    far_east = Point(529_900, 6_205_000)  # 9.9 km from B
    assert match_network(far_east, "EPSG:25832", reg, max_distance_m=9_000) is None


# --------------------------------------------------------------------------- user registries


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registry.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_read_registry_csv_and_match(tmp_path):
    path = _csv(
        tmp_path,
        "network_id,name,lon,lat,annual_heat_mwh,supply_area_km2,fuel_natural_gas_mwh,"
        "fuel_waste_mwh\n"
        "a,Town A,10.0,56.0,100000,20,60000,60000\n"
        "b,Town B,10.5,56.0,50000,5,,\n",
    )
    reg = read_registry(path)
    assert list(reg.networks.index) == ["a", "b"]
    mix = reg.fuel_mix("a")
    # fuel inputs only: heat split in proportion to input (50/50 here)
    assert mix.loc["natural_gas", "heat_mwh"] == pytest.approx(50_000)
    assert reg.network("a")["must_run_mwh_per_yr"] == pytest.approx(50_000)  # the waste part
    m = match_network(Point(10.01, 56.0), "EPSG:4326", reg)
    assert m.network_id == "a" and "nearest network point" in m.how_matched
    # gas only is displaced: 60,000 MWh x 56.1 t/TJ x 0.0036 / 50,000 MWh
    assert m.ef_displaced_t_per_mwh == pytest.approx(60_000 * 56.1 * 0.0036 / 50_000)
    assert match_network(Point(12.0, 56.0), "EPSG:4326", reg) is None  # >100 km away


def test_read_registry_errors(tmp_path):
    with pytest.raises(InputDataError, match="lon and lat"):
        read_registry(_csv(tmp_path, "x,y,annual_heat_mwh\n1,2,3\n"))
    with pytest.raises(InputDataError, match="negative"):
        read_registry(_csv(tmp_path, "lon,lat,annual_heat_mwh\n10,56,-5\n"))
    with pytest.raises(CRSError, match="WGS84"):
        read_registry(_csv(tmp_path, "lon,lat,annual_heat_mwh\n588000,6140000,5\n"))
    with pytest.raises(InputDataError, match="annual_heat_mwh"):
        read_registry(_csv(tmp_path, "lon,lat,annual_heat\n10,56,5\n"))
    with pytest.raises(InputDataError, match="unknown fuel 'peat'"):
        read_registry(_csv(tmp_path, "lon,lat,annual_heat_mwh,fuel_peat_mwh\n10,56,5,1\n"))
    with pytest.raises(InputDataError, match="does not exist"):
        read_registry(tmp_path / "missing.gpkg")


def test_read_registry_geojson_without_crs_in_metres_is_an_error(tmp_path):
    path = tmp_path / "reg.geojson"
    doc = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"annual_heat_mwh": 1000},
                "geometry": {"type": "Point", "coordinates": [588000, 6140000]},
            }
        ],
    }
    path.write_text(json.dumps(doc))
    with pytest.raises(CRSError, match="not degrees|not longitude"):
        read_registry(path)


def test_read_registry_gpkg_supply_areas(tmp_path):
    area = box(588_000, 6_140_000, 592_000, 6_144_000)
    gdf = gpd.GeoDataFrame(
        {"network_id": ["n1"], "annual_heat_mwh": [80_000.0], "supply_temp_c": [80.0]},
        geometry=[area],
        crs="EPSG:25832",
    )
    path = tmp_path / "areas.gpkg"
    gdf.to_file(path, layer="nets")
    reg = read_registry(path, layer="nets")
    inside = match_network(Point(590_000, 6_142_000), "EPSG:25832", reg)
    assert inside.network_id == "n1" and "supply area" in inside.how_matched
    assert inside.supply_temp_c == 80.0
    near = match_network(Point(593_000, 6_142_000), "EPSG:25832", reg)
    assert near.distance_m == pytest.approx(1_000, abs=5)
    # no fuel mix: the gas-boiler default (MODEL.md §5)
    assert near.ef_displaced_t_per_mwh == pytest.approx(0.204 / 0.95)


# --------------------------------------------------------------------------- CO2


def test_displaced_gas_only():
    ef = displaced_emission_factor_t_per_mwh({"natural_gas": (100.0, 90.0)})
    assert ef == pytest.approx(100 * 56.1 * 0.0036 / 90)


def test_displaced_skips_must_run_and_counts_electricity():
    mix = {
        "waste": {"fuel_mwh": 500.0, "heat_mwh": 400.0},
        "fuel_free": (0.0, 100.0),
        "solar": (0.0, 50.0),
        "electricity": (10.0, 10.0),
        "ambient_heat": (30.0, 30.0),
        "wood_chips": (60.0, 60.0),
    }
    res = displaced_emissions(mix)
    # heat pump heat 40 MWh at 10 MWh el x 0.135, plus biomass 60 MWh at 0
    assert res.t_per_mwh == pytest.approx(10 * 0.135 / 100)
    assert res.displaced_heat_mwh == pytest.approx(100)
    assert displaced_emissions(mix, ef_electricity_t_per_mwh=0.047).t_per_mwh == pytest.approx(
        10 * 0.047 / 100
    )


def test_displaced_fallback_when_only_must_run():
    res = displaced_emissions({"waste": (100.0, 80.0)})
    assert res.fallback_used and res.t_per_mwh == pytest.approx(0.204 / 0.95)
    with pytest.raises(InputDataError, match="unknown fuel"):
        displaced_emissions({"peat": (1.0, 1.0)})
    with pytest.raises(ConfigError):
        displaced_emissions({"coal": (1.0, 1.0)}, waste_fossil_share=1.5)


def test_fjernvarme_fyn_factor_by_hand():
    """Fyn 2023 from the raw plant rows with MODEL.md §8.4 factors, computed here, not by the
    registry: fuel for heat = fuel x heat/(heat+power) per plant; heat by fuel share."""
    raw = pd.read_csv(
        shared_file("heat", "dk_dh_production_2016_2023.csv"), dtype={"fv_net": str}
    ).fillna(0.0)
    rows = raw[(raw["fv_net"] == "79") & (raw["aar"] == 2023)]
    fossil = {"kul_TJ": 94.6, "naturgas_TJ": 56.1, "fuelolie_TJ": 77.4, "gasolie_TJ": 74.1,
              "lpg_TJ": 63.1}  # fmt: skip
    biomass = ["biogas_TJ", "halm_TJ", "skovflis_TJ", "trae- og biomasseaffald_TJ",
               "traepiller_TJ"]  # fmt: skip
    all_fuels = [*fossil, *biomass, "affald_TJ", "braendselsfrit_TJ", "elektricitet_TJ",
                 "spildolie_TJ", "raffinaderigas_TJ", "bio-olie_TJ", "solenergi_TJ",
                 "vandkraft_TJ", "omgivelsesvarme_TJ"]  # fmt: skip
    co2_t, heat_tj = 0.0, 0.0
    for _, r in rows.iterrows():
        total = sum(r[c] for c in all_fuels)
        if total <= 0:
            continue
        alpha = r["varmeprod_TJ"] / (r["varmeprod_TJ"] + r["elprod_TJ"])
        displaced = [*fossil, *biomass, "elektricitet_TJ"]
        heat_tj += r["varmelev_TJ"] * sum(r[c] for c in displaced) / total
        co2_t += alpha * sum(r[c] * f for c, f in fossil.items())
        co2_t += alpha * r["elektricitet_TJ"] / 0.0036 * 0.135
    by_hand = co2_t / (heat_tj / 0.0036)
    m = match_network(Point(10.33, 55.40), "EPSG:4326")
    assert m.ef_displaced_t_per_mwh == pytest.approx(by_hand, rel=0.01)
    # coal is about a third of the displaced heat, the rest mostly biomass: between an
    # all-biomass network (0) and a gas boiler (0.215)
    assert 0.08 < by_hand < 0.2


# --------------------------------------------------------------------------- must-run


def test_must_run_flat_and_capped():
    demand = np.full(8760, 10.0)
    flat = must_run_profile_mw(8760.0, demand)
    assert np.allclose(flat, 1.0)
    demand = np.where(np.arange(8760) % 2 == 0, 5.0, 20.0)
    capped = must_run_profile_mw(87_600.0, demand)  # 10 MW flat
    assert np.allclose(capped, np.minimum(10.0, demand))
    assert (capped <= demand).all()


def test_must_run_solar_follows_months():
    demand = np.full(8760, 1000.0)
    solar = must_run_profile_mw(0.0, demand, solar_mwh_per_yr=1000.0)
    assert solar.sum() == pytest.approx(1000.0, rel=1e-3)
    june, december = solar[24 * 160], solar[24 * 350]
    assert june / december == pytest.approx(
        (SOLAR_MONTHLY_SHARE_DK[5] / 30) / (SOLAR_MONTHLY_SHARE_DK[11] / 31), rel=1e-9
    )
    leap = must_run_profile_mw(8784.0, np.full(8784, 5.0), solar_mwh_per_yr=100.0)
    assert leap.sum() == pytest.approx(8784.0 + 100.0, rel=1e-3)


def test_must_run_user_producers():
    demand = np.full(8760, 10.0)
    out = must_run_profile_mw(
        0.0,
        demand,
        producers=[
            MustRunProducer("incinerator", mw=3.0),
            MustRunProducer("dairy", mwh_per_yr=8760.0),
        ],
    )
    assert np.allclose(out, 4.0)
    assert np.allclose(must_run_profile_mw(0.0, np.full(8760, 2.0), producers=[
        MustRunProducer("big", mw=3.0)]), 2.0)  # fmt: skip
    with pytest.raises(ConfigError, match="exactly one"):
        MustRunProducer("x", mw=1.0, mwh_per_yr=1.0)
    with pytest.raises(ConfigError):
        must_run_profile_mw(-1.0, demand)
    with pytest.raises(InputDataError):
        must_run_profile_mw(1.0, np.array([1.0, np.nan]))
    with pytest.raises(InputDataError, match="8760"):
        must_run_profile_mw(1.0, np.ones(100))
    # a short series with its months: the same MW as in a full year
    week = must_run_profile_mw(8760.0, np.full(168, 5.0), month=np.zeros(168, dtype=int))
    assert np.allclose(week, 1.0)


# --------------------------------------------------------------------------- DH areas


def _grid(shape=(40, 40)) -> tuple[np.ndarray, Affine]:
    return np.zeros(shape), Affine(100.0, 0.0, 4_300_000.0, 0.0, -100.0, 3_600_000.0)


def test_areas_dense_block_is_one_area_sparse_is_none():
    grid, t = _grid()
    grid[5:15, 5:15] = 400.0  # 100 ha x 400 MWh/ha = 40 GWh
    grid[25:35, 25:35] = 50.0  # sparse: below 333 MWh/ha
    areas = dh_areas_from_grid(grid, t, "EPSG:3035")
    assert len(areas) == 1
    a = areas.iloc[0]
    assert a["cells"] == 100 and a["area_ha"] == pytest.approx(100)
    assert a["heat_demand_mwh_per_yr"] == pytest.approx(40_000)
    assert a.geometry.area == pytest.approx(100 * 100 * 100)
    sparse, _ = _grid()
    sparse[:, :] = 50.0
    assert len(dh_areas_from_grid(sparse, t, "EPSG:3035")) == 0


def test_areas_thresholds_and_gap_closing():
    grid, t = _grid()
    grid[5:15, 5:12] = 400.0  # 28 GWh
    grid[5:15, 13:20] = 400.0  # 28 GWh, one empty column apart
    closed = dh_areas_from_grid(grid, t, "EPSG:3035")
    assert len(closed) == 1  # joined across the gap: 56 GWh
    assert closed.iloc[0]["cells"] == 150  # the gap column's 10 cells belong to the area
    assert closed.iloc[0]["core_heat_demand_mwh_per_yr"] == pytest.approx(56_000)
    assert len(dh_areas_from_grid(grid, t, "EPSG:3035", close_gaps=False)) == 0  # 28 < 30 each
    apart, _ = _grid()
    apart[5:15, 5:15] = 400.0
    apart[5:15, 18:28] = 400.0  # three cells apart: two areas
    assert len(dh_areas_from_grid(apart, t, "EPSG:3035")) == 2
    exact, _ = _grid()
    exact[5:15, 5:15] = 300.0  # 30 GWh, exactly the area threshold, cells above 250
    assert len(dh_areas_from_grid(exact, t, "EPSG:3035", min_cell_mwh_per_ha=250)) == 1
    assert len(dh_areas_from_grid(exact, t, "EPSG:3035", min_cell_mwh_per_ha=300)) == 0
    with pytest.raises(ConfigError):
        dh_areas_from_grid(grid, t, "EPSG:3035", min_area_gwh_per_yr=-1)


def test_areas_from_synthetic_buildings_in_their_crs():
    xs, ys = np.meshgrid(np.arange(20) * 40.0 + 500_000, np.arange(20) * 40.0 + 6_200_000)
    dense = [box(x, y, x + 20, y + 20) for x, y in zip(xs.ravel(), ys.ravel(), strict=True)]
    far = [box(520_000 + i * 300, 6_230_000, 520_020 + i * 300, 6_230_020) for i in range(5)]
    buildings = gpd.GeoDataFrame(
        # 400 MWh each: a cell the grid clips to one building still passes 333 MWh/ha
        {"heat_demand_mwh_per_yr": [400.0] * len(dense) + [20.0] * len(far)},
        geometry=dense + far,
        crs="EPSG:25832",
    )
    areas = dh_areas_from_buildings(buildings)
    assert len(areas) == 1 and areas.crs == buildings.crs
    # 400 buildings x 400 MWh = 160 GWh, all in the area; the far houses in none
    assert areas.iloc[0]["heat_demand_mwh_per_yr"] == pytest.approx(160_000, rel=1e-6)
    assert areas.iloc[0]["n_buildings"] == 400
    assert areas.iloc[0].geometry.contains(shapely.Point(500_400, 6_200_400))


def test_area_edges_are_a_tappable_network_layer():
    from siting.routing import network_tap_points

    grid, t = _grid()
    grid[5:15, 5:15] = 400.0
    grid[8:11, 8:11] = 0.0  # a hole
    areas = dh_areas_from_grid(grid, t, "EPSG:3035")
    edges = area_edges(areas)
    assert len(edges) == 2  # outer ring and the hole
    assert (edges["kind"] == "pipe").all() and edges["supply_temp_c"].isna().all()
    assert edges.geometry.length.sum() == pytest.approx(4 * 1000 + 4 * 300)
    xy, owner = network_tap_points(edges)
    assert len(xy) > 100 and set(owner) == {0, 1}
    assert len(area_edges(areas, min_heat_demand_mwh_per_yr=1e9)) == 0
    scaled = scale_to_registry(areas, 400_000.0, network_id="n1", covers_network=True)
    assert scaled["registry_share"].iloc[0] == pytest.approx(
        areas["heat_demand_mwh_per_yr"].iloc[0] / 400_000
    )
    assert scaled["scaled_heat_demand_mwh_per_yr"].sum() == pytest.approx(400_000)


def test_areas_from_hotmaps_vienna_raster():
    path = shared_file("heat", "hotmaps_heat_density_vienna_100m.tif")
    areas = dh_areas_from_raster(path)
    # PROVENANCE: raster sum 17.47 TWh; the dense city is most of it, in few areas
    assert areas.attrs["grid_total_mwh_per_yr"] / TWH == pytest.approx(17.47, abs=0.01)
    assert 1 <= len(areas) <= 20
    assert 0.8 < areas["heat_demand_mwh_per_yr"].sum() / areas.attrs["grid_total_mwh_per_yr"] < 1
    assert (areas["core_heat_demand_mwh_per_yr"] >= 30_000).all()
    assert (areas["mean_density_mwh_per_ha"] > 333).all()


def _estimated(name: str) -> gpd.GeoDataFrame:
    from siting.demand import estimate
    from siting.sources.osm import read_osm

    osm = read_osm(shared_file("osm", name), streets=False)
    return estimate(osm.buildings.to_crs(osm.buildings.estimate_utm_crs()))


def test_areas_on_lyngby_buildings():
    buildings = _estimated("copenhagen_north_lyngby_2022.osm.pbf")
    total = buildings["heat_demand_mwh_per_yr"].sum()
    areas = dh_areas_from_buildings(buildings)
    assert len(areas) >= 1 and areas.crs == buildings.crs
    assert (areas["core_heat_demand_mwh_per_yr"] >= 30_000).all()
    assert areas["heat_demand_mwh_per_yr"].sum() < total
    # the areas are the dense part: above the Hotmaps cell threshold on average
    assert (areas["mean_density_mwh_per_ha"] > 333).all()
    m = match_network(areas.geometry.iloc[0].representative_point(), buildings.crs)
    assert m is not None and m.system_id == "dk-2+dk-18"
    share = scale_to_registry(areas, m.system_annual_heat_mwh)["registry_share"]
    assert (share < 0.05).all()  # an extract is a small part of Greater Copenhagen


def test_areas_from_the_grid_in_memory_equal_the_areas_from_its_geotiff(tmp_path):
    """Without raster_path the grid stays in memory; the areas are those of the GeoTIFF
    heat_density writes and read_heat_density reads back, to the bit."""
    buildings = _estimated("copenhagen_north_lyngby_2022.osm.pbf")
    for kw in ({}, {"min_cell_mwh_per_ha": 150.0, "min_area_gwh_per_yr": 5.0}):
        memory = dh_areas_from_buildings(buildings, **kw)
        on_file = dh_areas_from_buildings(buildings, raster_path=tmp_path / "grid.tif", **kw)
        assert len(memory) >= 1 and on_file.attrs.pop("raster") == str(tmp_path / "grid.tif")
        assert memory.attrs == on_file.attrs
        pd.testing.assert_frame_equal(
            pd.DataFrame(memory.drop(columns="geometry")),
            pd.DataFrame(on_file.drop(columns="geometry")),
        )
        assert list(shapely.to_wkb(memory.geometry.values)) == list(
            shapely.to_wkb(on_file.geometry.values)
        )


def test_areas_on_odense_buildings():
    buildings = _estimated("odense_se_2025.osm.pbf")
    total = buildings["heat_demand_mwh_per_yr"].sum()
    areas = dh_areas_from_buildings(buildings)
    if total < 30_000:  # the whole extract is below the Hotmaps 30 GWh area threshold
        assert len(areas) == 0
    low = dh_areas_from_buildings(buildings, min_cell_mwh_per_ha=150, min_area_gwh_per_yr=10)
    assert len(low) >= 1
    assert 0.5 * total < low["heat_demand_mwh_per_yr"].sum() <= total * (1 + 1e-9)


def test_emission_constants_match_model_md():
    from siting.networks.emissions import IPCC_T_CO2_PER_TJ, WASTE_FOSSIL_SHARE

    assert IPCC_T_CO2_PER_TJ == pytest.approx(
        {
            "natural_gas": 56.1,
            "coal": 94.6,
            "fuel_oil": 77.4,
            "gas_oil": 74.1,
            "waste_oil": 73.3,
            "lpg": 63.1,
            "refinery_gas": 57.6,
            "waste": 91.7,
        }  # fmt: skip
    )
    assert WASTE_FOSSIL_SHARE == 0.4
    assert math.isclose(sum(SOLAR_MONTHLY_SHARE_DK), 1.0, abs_tol=1e-6)
