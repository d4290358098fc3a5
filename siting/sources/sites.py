"""Candidate data-center sites: read from a file, or generated from the OSM extract."""

from __future__ import annotations

import difflib
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from siting import validate
from siting.config import COOLING_TYPES, Study
from siting.errors import ConfigError, InputDataError
from siting.sources.network import ensure_crs, read_vector
from siting.sources.osm import tag_values

log = logging.getLogger(__name__)

# building=* values that are non-residential and large enough to host a data hall
NON_RESIDENTIAL_BUILDINGS = {
    "industrial",
    "warehouse",
    "commercial",
    "office",
    "retail",
    "supermarket",
    "manufacture",
    "factory",
    "hangar",
    "data_center",
    "data_centre",
    "storage_tank",
    "depot",
}
SITE_COLUMNS = ["site_id", "name", "origin", "it_load_mw", "cooling", "geometry"]
# What a reader needs to find a generated site: a display label, its address, operator and
# land use from OSM, and a link to the OSM feature ("" where OSM says nothing).
SITE_INFO_COLUMNS = ["label", "address", "operator", "landuse", "osm_url"]
# What qualified a generated site and what its IT load comes from: the OSM tag that made it
# a candidate ("landuse=industrial", "building=warehouse", "telecom=data_center"), the land
# it may use (m², its parcel less excluded land) and the capacity rule in words.
SITE_LAND_COLUMNS = ["qualified_by", "site_area_m2", "capacity_basis"]
GENERATED_COLUMNS = [
    *SITE_COLUMNS[:2],
    *SITE_INFO_COLUMNS,
    *SITE_COLUMNS[2:-1],
    *SITE_LAND_COLUMNS,
    SITE_COLUMNS[-1],
]

# A generated site's kind in words, by where it came from (labels such as "Warehouse,
# Tietgens Allé 10" instead of an OSM id).
_BUILDING_WORDS = {
    "industrial": "Industrial building",
    "warehouse": "Warehouse",
    "commercial": "Commercial building",
    "office": "Office building",
    "retail": "Retail building",
    "supermarket": "Supermarket",
    "manufacture": "Factory",
    "factory": "Factory",
    "hangar": "Hangar",
    "data_center": "Data center",
    "data_centre": "Data center",
    "storage_tank": "Storage tank",
    "depot": "Depot",
}
_LANDUSE_WORDS = {"industrial": "Industrial parcel", "commercial": "Commercial parcel"}
# An address point inside a site or this close to its outline is the site's address; one
# within _NEAR_STREET_M names the street the site is near (label only).
_ADDRESS_REACH_M = 25.0
_NEAR_STREET_M = 250.0


def read_sites(path: str | Path, study: Study) -> gpd.GeoDataFrame:
    """Read candidate sites (points or polygons) from a vector file.

    Optional columns: `site_id` (else `site-1`, `site-2`, ... in file order), `name`,
    `it_load_mw` (else the study's `default_it_load_mw`), `cooling` (air_coil, liquid,
    immersion; else the study default). Every value is checked here (see
    :func:`normalise_sites`).
    """
    path = Path(path).expanduser()
    gdf = read_vector(
        path,
        "sites file",
        "Give GeoJSON, GeoPackage, Shapefile or GeoParquet of points or polygons.",
    )
    return normalise_sites(gdf, study, name=str(path))


# field names that look like ours but are not used (warned: a typo would be ignored)
_SITE_LOOKALIKE = ("load", "mw", "kw", "cool", "it_")


def normalise_sites(gdf: gpd.GeoDataFrame, study: Study, name: str = "sites") -> gpd.GeoDataFrame:
    """Validate a sites table and fill defaults (ids, IT load, cooling).

    A row without geometry, a degenerate geometry (zero-area polygon, non-finite
    coordinates), an IT load that is not a plain number ("20 MW"), not positive or past
    the plausible maximum, or an unknown cooling type is an error naming the row.
    """
    gdf = gdf.reset_index(drop=True)
    # upper-case field names (ArcGIS, some .dbf writers) are the same fields
    lower = {str(c).lower(): c for c in gdf.columns if c != gdf.geometry.name}
    gdf = gdf.rename(
        columns={
            lower[k]: k
            for k in ("site_id", "name", "it_load_mw", "cooling")
            if k not in gdf.columns and k in lower
        }
    )
    ids_given = "site_id" in gdf.columns
    raw_ids = [None if validate.is_missing(v) else v for v in gdf["site_id"]] if ids_given else None
    labels = [validate.row_label(i, raw_ids) for i in range(len(gdf))]
    if len(gdf) == 0:
        raise InputDataError(f"{name} has no site geometries; give points or polygons.")
    missing = (gdf.geometry.isna() | gdf.geometry.is_empty).to_numpy()
    if missing.all():
        raise InputDataError(f"{name} has no site geometries; give points or polygons.")
    if missing.any():
        rows = [labels[i] for i in np.flatnonzero(missing)]
        raise InputDataError(
            f"{name}: {_some(rows)} {'has' if len(rows) == 1 else 'have'} no geometry; give "
            "each site a point or polygon, or remove the row."
        )
    gdf = ensure_crs(gdf, name)
    ok = gdf.geom_type.isin(["Point", "Polygon", "MultiPolygon", "MultiPoint"]).to_numpy()
    if not ok.all():
        i = int(np.argmin(ok))
        raise InputDataError(
            f"{name}: sites must be points or polygons; {labels[i]} is a {gdf.geom_type[i]}."
        )
    problems = validate.geometry_problems(gdf.geometry.values, lines=False)
    if problems:
        shown = [f"{labels[i]} {text}" for i, text in problems]
        more = f" (and {len(shown) - 3} more)" if len(shown) > 3 else ""
        raise InputDataError(
            f"{name}: {'; '.join(shown[:3])}{more}; fix these geometries (QGIS: Vector > "
            "Geometry Tools > Fix Geometries) or give the sites as points."
        )
    out = gpd.GeoDataFrame(geometry=gdf.geometry.values, crs=gdf.crs)
    if ids_given:
        ids = pd.Series([f"site-{i + 1}" if v is None else str(v) for i, v in enumerate(raw_ids)])
        dup = ids[ids.duplicated()]
        if len(dup):
            raise InputDataError(f"{name}: site_id {dup.iloc[0]!r} appears more than once.")
        out["site_id"] = ids.values
    else:
        out["site_id"] = [f"site-{i + 1}" for i in range(len(gdf))]
    out["name"] = gdf["name"].fillna("").astype(str).values if "name" in gdf else ""
    out["origin"] = "file"
    fix = (
        "Give each site's nameplate IT load in MW as a plain number (e.g. 20), or leave it "
        "empty to use default_it_load_mw."
    )
    if "it_load_mw" in gdf.columns:
        given = validate.parse_numbers(gdf["it_load_mw"], "it_load_mw", name, labels, "MW", fix)
        load = np.where(np.isnan(given), study.default_it_load_mw, given)
    else:
        given = np.full(len(gdf), np.nan)
        load = np.full(len(gdf), float(study.default_it_load_mw))
    bad = ~np.isfinite(load) | (load <= 0)
    if bad.any():
        n_bad = int(bad.sum())
        listed = ", ".join(
            f"{sid!r} ({value:g} MW)"
            for sid, value in zip(out["site_id"][bad], load[bad], strict=True)
        )
        raise ConfigError(
            f"{name}: it_load_mw must be a positive number of MW, but site{'s' * (n_bad > 1)} "
            f"{listed} {'have' if n_bad > 1 else 'has'} zero, negative or infinite load; "
            "give each site's nameplate IT load in MW (leave it empty to use "
            "default_it_load_mw)."
        )
    validate.check_range(given, "it_load_mw", name, labels, validate.IT_LOAD_MW, fix)
    out["it_load_mw"] = load.astype(float)
    cooling = (
        gdf["cooling"]
        .map(lambda v: None if validate.is_missing(v) else v if isinstance(v, str) else str(v))
        .fillna(study.default_cooling)
        .astype(str)
        .str.strip()
        .str.lower()
        if "cooling" in gdf.columns
        else pd.Series(study.default_cooling, index=gdf.index)
    )
    cooling = cooling.where(cooling != "", study.default_cooling)
    unknown = ~cooling.isin(COOLING_TYPES)
    if unknown.any():
        i = int(np.argmax(unknown.values))
        close = difflib.get_close_matches(cooling.iloc[i], COOLING_TYPES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{name}: site {out['site_id'].iloc[i]!r} has unknown cooling "
            f"{validate.brief(cooling.iloc[i], 40)}{hint}; use one of "
            f"{', '.join(COOLING_TYPES)} or leave it empty for default_cooling."
        )
    out["cooling"] = cooling.values
    known = {"site_id", "name", "it_load_mw", "cooling", gdf.geometry.name}
    lookalike = [
        str(c)
        for c in gdf.columns
        if c not in known and any(w in str(c).lower() for w in _SITE_LOOKALIKE)
    ]
    if lookalike:
        validate.warn_once(
            f"{name}: field{'s' * (len(lookalike) > 1)} "
            f"{', '.join(repr(c) for c in lookalike)} not used; a site's IT load is read from "
            "`it_load_mw` (MW) and its cooling from `cooling` (any case)."
        )
    return out[SITE_COLUMNS]


def _some(rows: list[str]) -> str:
    return ", ".join(rows[:3]) + (f" (and {len(rows) - 3} more)" if len(rows) > 3 else "")


def generate_sites(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame,
    data_centers: gpd.GeoDataFrame,
    study: Study,
    addresses: gpd.GeoDataFrame | None = None,
    exclusions: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame:
    """Propose candidate sites from OSM (all layers in one projected metric CRS).

    In priority order: existing data centers, industrial/commercial land-use parcels of
    at least `min_site_parcel_m2`, and non-residential buildings of at least
    `min_site_building_m2`. Candidates on land the study excludes (`exclusions`, e.g.
    :func:`exclusion_zones`: residential land use, water, protected areas, nature reserves,
    the user's own layer) are dropped (:func:`candidate_table`). Candidates closer than
    100 m to one already kept are dropped (de-duplication). Ids come from OSM ids, so they
    are stable across runs; at most `max_generated_sites` are kept, largest first.

    Each site carries `SITE_INFO_COLUMNS`: its OSM name, address (its own ``addr:*`` tags,
    else the nearest of `addresses` (OSM address points) within 25 m), operator, land use
    and OSM link, and a display `label` (the name, else e.g. "Industrial parcel, Tietgens
    Allé 10"); and `SITE_LAND_COLUMNS`: the tag that qualified it, its usable land and how
    its IT load follows from that land (:func:`finalize_candidates`). The notes of what was
    excluded are in ``sites.attrs["notes"]``.
    """
    crs = buildings.crs if len(buildings) else landuse.crs
    cand = candidate_table(buildings, landuse, data_centers, study, exclusions)
    if cand is None:
        return gpd.GeoDataFrame(columns=GENERATED_COLUMNS, geometry="geometry", crs=crs)
    sites = finalize_candidates(cand, study, addresses)
    log.info("generated %d candidate sites from OSM", len(sites))
    return sites


def exclusion_zones(
    osm_exclusions: gpd.GeoDataFrame | None, study: Study, crs: object
) -> gpd.GeoDataFrame:
    """The land generated sites may not take, in `crs`: the extract's zones of the kinds
    `study.site_exclusions` names, plus every polygon of `study.exclusion_path` (kind "user").

    Columns `exclusion` (kind) and geometry (polygons only).
    """
    parts = []
    if osm_exclusions is not None and len(osm_exclusions) and study.site_exclusions:
        zones = osm_exclusions.to_crs(crs)
        zones = zones[zones["exclusion"].isin(study.site_exclusions)]
        parts.append(
            gpd.GeoDataFrame(
                {"exclusion": zones["exclusion"].to_numpy()},
                geometry=zones.geometry.to_numpy(),
                crs=crs,
            )
        )
    if study.exclusion_path is not None:
        user = _read_user_zones(study.exclusion_path)
        parts.append(
            gpd.GeoDataFrame(
                {"exclusion": np.full(len(user), "user", dtype=object)},
                geometry=user.to_crs(crs).geometry.to_numpy(),
                crs=crs,
            )
        )
    parts = [z for z in parts if len(z)]
    if not parts:
        return gpd.GeoDataFrame({"exclusion": []}, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    zones = gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), geometry="geometry", crs=crs)
    zones = zones[zones.geom_type.isin(["Polygon", "MultiPolygon"])]
    return zones.reset_index(drop=True)


def _read_user_zones(path: Path) -> gpd.GeoDataFrame:
    """The user's exclusion polygons (e.g. flood zones), any vector format GeoPandas reads."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InputDataError(f"exclusion layer {path} does not exist; check exclusion_path.")
    try:
        gdf = gpd.read_parquet(path) if path.suffix.lower() == ".parquet" else gpd.read_file(path)
    except Exception as exc:
        raise InputDataError(
            f"exclusion layer {path} could not be read as vector data ({exc}); give polygons "
            "as GeoJSON, GeoPackage, Shapefile or GeoParquet."
        ) from exc
    gdf = ensure_crs(gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty], str(path))
    polygons = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(gdf) and not len(polygons):
        raise InputDataError(
            f"exclusion layer {path} holds no polygons ({', '.join(sorted(set(gdf.geom_type)))}"
            "); give the areas sites may not take as polygons."
        )
    return polygons


def candidate_table(
    buildings: gpd.GeoDataFrame,
    landuse: gpd.GeoDataFrame,
    data_centers: gpd.GeoDataFrame,
    study: Study,
    exclusions: gpd.GeoDataFrame | None = None,
) -> gpd.GeoDataFrame | None:
    """Every OSM feature that qualifies as a candidate, with `priority` and `area_m2`.

    Each row also carries what qualified it (`qualified_by`), its land (`site_area_m2`: a
    parcel's own area, a building's or data center's industrial/commercial parcel if it
    lies in one, else its footprint; less the `exclusions` it overlaps), `land_key` (the
    same for candidates on one parcel) and `excluded_by`:
    the kind of exclusion zone its representative point lies in, or that covers more than
    half its land ("" where none). Not yet sorted, de-duplicated or stripped of excluded
    rows (see :func:`finalize_candidates`), so tables of several tiles can be joined first
    and finalised once. None when nothing qualifies.
    """
    crs = buildings.crs if len(buildings) else landuse.crs
    frames = []
    if len(data_centers):
        frames.append(_candidates(data_centers, "osm data center", 0, landuse))
    if len(landuse):
        parcels = landuse[landuse.area >= study.min_site_parcel_m2]
        frames.append(_candidates(parcels, "osm land use", 1, landuse))
    if len(buildings):
        kind = tag_values(buildings, "building").fillna("").astype(str).str.lower()
        large = buildings[
            kind.isin(NON_RESIDENTIAL_BUILDINGS) & (buildings.area >= study.min_site_building_m2)
        ]
        frames.append(_candidates(large, "osm building", 2, landuse))
    frames = [f for f in frames if len(f)]
    if not frames:
        return None
    cand = gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), geometry="geometry", crs=crs)
    land, cand["land_key"] = _site_land(cand, landuse)
    cand["site_area_m2"], cand["excluded_by"] = _usable_land(cand, land, exclusions)
    return cand


def finalize_candidates(
    cand: gpd.GeoDataFrame, study: Study, addresses: gpd.GeoDataFrame | None = None
) -> gpd.GeoDataFrame:
    """Drop excluded land, sort, de-duplicate, cap at `max_generated_sites`, size.

    De-duplication keeps one candidate per parcel (a data center before the parcel itself
    before a building on it) and drops candidates within 100 m of one already kept.

    A site's IT load is its usable land (`site_area_m2`) times `site_it_density_mw_per_ha`,
    at most `max_site_it_load_mw` (`capacity_basis` says which); with a density of 0 every
    site gets `default_it_load_mw`. Sites without an address of their own take the nearest
    OSM address point of `addresses` within 25 m; then each gets its display `label`. What
    was excluded is said in ``attrs["notes"]``.
    """
    notes = []
    if "excluded_by" in cand:
        excluded = cand["excluded_by"].fillna("").astype(str)
        if (excluded != "").any():
            counts = excluded[excluded != ""].value_counts().sort_index()
            notes.append(
                f"{int(counts.sum())} OSM candidate site(s) left out on excluded land ("
                + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items())
                + "; site_exclusions, exclusion_path)"
            )
        cand = cand[(excluded == "").to_numpy()]
    # stable order: priority, then larger first, then id (no ties left to chance)
    cand = cand.sort_values(["priority", "area_m2", "site_id"], ascending=[True, False, True])
    cand = cand.drop_duplicates("site_id")
    if "land_key" in cand:  # one site per parcel: the data center, else the parcel itself
        # the name of the first named feature on the land names an unnamed parcel
        named = cand["name"].fillna("").astype(str).str.strip()
        first_name = named.where(named != "").groupby(cand["land_key"]).first()
        cand = cand.drop_duplicates("land_key")
        cand["holds"] = cand["land_key"].map(first_name).fillna("").to_numpy()
    cand = cand.reset_index(drop=True)
    points = cand.geometry.representative_point()
    keep = _dedupe(np.column_stack([points.x, points.y]), min_distance_m=100.0)
    cand = cand[keep].head(study.max_generated_sites).reset_index(drop=True)
    cand["origin"] = cand["origin"].astype(str)
    cand["cooling"] = study.default_cooling
    for col in ("kind", *SITE_INFO_COLUMNS, "qualified_by"):  # tables from before these
        if col not in cand:
            cand[col] = ""
    if "site_area_m2" not in cand:
        cand["site_area_m2"] = cand["area_m2"] if "area_m2" in cand else np.nan
    cand["it_load_mw"], cand["capacity_basis"] = site_capacity_mw(
        cand["site_area_m2"].to_numpy(dtype=float), study
    )
    cand = _with_address_points(cand, addresses)
    cand["label"] = _labels(cand)
    out = cand[GENERATED_COLUMNS]
    out.attrs["notes"] = notes
    return out


def site_capacity_mw(site_area_m2: np.ndarray, study: Study) -> tuple[np.ndarray, np.ndarray]:
    """IT load (MW) of generated sites from their usable land, and the rule in words.

    `site_area_m2` x `site_it_density_mw_per_ha`, capped at `max_site_it_load_mw`; a
    density of 0 (or land unknown) gives `default_it_load_mw`.
    """
    area_ha = np.asarray(site_area_m2, dtype=float) / 10_000.0
    density = float(study.site_it_density_mw_per_ha)
    cap = float(study.max_site_it_load_mw)
    flat = np.full(len(area_ha), float(study.default_it_load_mw))
    if density <= 0:
        return flat, np.full(len(area_ha), "default_it_load_mw (no density)", dtype=object)
    known = np.isfinite(area_ha) & (area_ha > 0)
    raw = np.where(known, area_ha * density, flat)
    mw = np.minimum(raw, cap)
    basis = np.where(
        ~known,
        "default_it_load_mw (land unknown)",
        np.where(
            raw > cap,
            np.char.mod("%.1f ha x ", area_ha) + f"{density:g} MW/ha, capped at {cap:g} MW",
            np.char.mod("%.1f ha x ", area_ha) + f"{density:g} MW/ha",
        ),
    ).astype(object)
    return mw, basis


def _site_land(cand: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each candidate's land and a key shared by candidates on the same land.

    A parcel is its own land; a building's or data center's land is the industrial/
    commercial parcel its representative point lies in (the lowest index, for stable
    results), else its own footprint.
    """
    land = cand.geometry.to_numpy().copy()
    key = ("own:" + cand["site_id"].astype(str)).to_numpy(dtype=object)
    parcel = (cand["origin"] == "osm land use").to_numpy()
    key[parcel] = "parcel:" + cand["site_id"].astype(str).to_numpy()[parcel]
    idx = np.flatnonzero(~parcel)
    if len(landuse) == 0 or len(idx) == 0:
        return land, key
    points = shapely.point_on_surface(cand.geometry.to_numpy()[idx])
    inside, hit = landuse.sindex.query(points, predicate="within")
    if len(inside):
        first = pd.Series(hit, index=inside).groupby(level=0).min()
        rows = idx[first.index.to_numpy()]
        land[rows] = landuse.geometry.to_numpy()[first.to_numpy()]
        ids = _osm_ids(landuse.iloc[first.to_numpy()])
        key[rows] = "parcel:" + ids
    return land, key


def _osm_ids(gdf: gpd.GeoDataFrame) -> np.ndarray:
    """'osm-way-123' per row (a generated site's id for the feature)."""
    osm_type = gdf["osm_type"].astype(str) if "osm_type" in gdf else "way"
    osm_id = gdf["id"].astype("int64").astype(str) if "id" in gdf else gdf.index.astype(str)
    return ("osm-" + osm_type + "-" + osm_id).to_numpy(dtype=object)


def _usable_land(
    cand: gpd.GeoDataFrame, land: np.ndarray, zones: gpd.GeoDataFrame | None
) -> tuple[np.ndarray, np.ndarray]:
    """Usable m² of each candidate's land (less the zones it overlaps) and the kind of
    zone that excludes it ("" where none): its point lies in the zone, or zones cover
    more than half its land."""
    area = shapely.area(land).astype(float)
    kind = np.full(len(cand), "", dtype=object)
    if zones is None or len(zones) == 0 or len(cand) == 0:
        return area, kind
    zone_geoms = zones.geometry.to_numpy()
    zone_kind = zones["exclusion"].astype(str).to_numpy()
    tree = shapely.STRtree(zone_geoms)
    points = shapely.point_on_surface(cand.geometry.to_numpy())
    hit_site, hit_zone = tree.query(points, predicate="within")
    order = np.lexsort([hit_zone, hit_site])  # per site the lowest zone index: stable
    hit_site, hit_zone = hit_site[order], hit_zone[order]
    first = np.r_[True, hit_site[1:] != hit_site[:-1]] if len(hit_site) else []
    kind[hit_site[first]] = zone_kind[hit_zone[first]]
    pair_site, pair_zone = tree.query(land, predicate="intersects")
    if len(pair_site):
        # overlapping zones are subtracted once: the union of a site's zones, clipped to it
        lost = np.zeros(len(cand))
        for i in np.unique(pair_site):
            mine = pair_zone[pair_site == i]
            covered = shapely.intersection(land[i], shapely.union_all(zone_geoms[mine]))
            lost[i] = shapely.area(covered)
            if kind[i] == "" and lost[i] > 0.5 * area[i]:
                kind[i] = zone_kind[mine.min()]
        area = np.maximum(area - lost, 0.0)
    return area, kind


_CANDIDATE_COLUMNS = [*GENERATED_COLUMNS, "kind", "near_street", "priority", "area_m2"]
# the OSM tag that qualifies a feature of each origin
_QUALIFYING_KEY = {"osm land use": "landuse", "osm building": "building"}


def _candidates(
    gdf: gpd.GeoDataFrame, origin: str, priority: int, landuse: gpd.GeoDataFrame
) -> gpd.GeoDataFrame:
    if len(gdf) == 0:
        return gpd.GeoDataFrame(columns=_CANDIDATE_COLUMNS, geometry="geometry")
    osm_type = (
        gdf["osm_type"].astype(str) if "osm_type" in gdf else pd.Series("way", index=gdf.index)
    )
    osm_id = gdf["id"].astype("int64").astype(str) if "id" in gdf else gdf.index.astype(str)

    def text(key: str) -> pd.Series:
        return tag_values(gdf, key).fillna("").astype(str).str.strip()

    own_landuse = text("landuse")
    if origin == "osm land use":
        kind = own_landuse.map(_LANDUSE_WORDS).fillna("Land-use parcel")
    elif origin == "osm data center":
        kind = pd.Series("Data center", index=gdf.index)
    else:
        kind = text("building").str.lower().map(_BUILDING_WORDS).fillna("Building")
    if origin == "osm data center":  # read_osm keeps telecom=* and building=data_center
        telecom = text("telecom")
        qualified = ("telecom=" + telecom).where(telecom != "", "building=" + text("building"))
    else:
        key = _QUALIFYING_KEY[origin]
        qualified = key + "=" + text(key)
    return gpd.GeoDataFrame(
        {
            "site_id": ("osm-" + osm_type + "-" + osm_id).values,
            "name": text("name").values,
            "label": "",
            "address": _address_text(
                text("addr:street"),
                text("addr:housenumber"),
                text("addr:postcode"),
                text("addr:city"),
            ).values,
            "operator": text("operator").values,
            "landuse": own_landuse.where(own_landuse != "", _parcel_landuse(gdf, landuse)).values,
            "osm_url": ("https://www.openstreetmap.org/" + osm_type + "/" + osm_id).values,
            "origin": origin,
            "qualified_by": qualified.values,
            "kind": kind.values,
            "near_street": "",
            "priority": priority,
            "area_m2": gdf.area.values,
        },
        geometry=gdf.geometry.values,
        crs=gdf.crs,
    )


def _address_text(
    street: pd.Series, number: pd.Series, postcode: pd.Series, city: pd.Series
) -> pd.Series:
    """'Tietgens Allé 10, 5220 Odense SØ' from the addr:* parts ('' without a street)."""
    place = (postcode + " " + city).str.strip()
    line = (street + " " + number).str.strip()
    full = line.where(place == "", line + ", " + place)
    return full.where(street != "", "")


def _parcel_landuse(gdf: gpd.GeoDataFrame, landuse: gpd.GeoDataFrame) -> pd.Series:
    """The `landuse` of the industrial/commercial parcel each feature lies in ('' if none)."""
    out = pd.Series("", index=gdf.index, dtype=object)
    if len(gdf) == 0 or len(landuse) == 0:
        return out
    values = tag_values(landuse, "landuse").fillna("").astype(str).to_numpy()
    points = gdf.geometry.representative_point().to_numpy()
    inside, parcel = landuse.sindex.query(points, predicate="within")
    first = pd.Series(parcel, index=inside).groupby(level=0).min()  # lowest index: stable
    out.iloc[first.index.to_numpy()] = values[first.to_numpy()]
    return out


def _with_address_points(
    cand: gpd.GeoDataFrame, addresses: gpd.GeoDataFrame | None
) -> gpd.GeoDataFrame:
    """Fill `address` (and `near_street`) of sites without one from OSM address points."""
    cand = cand.copy()
    cand["near_street"] = cand["near_street"].fillna("") if "near_street" in cand else ""
    if addresses is None or len(addresses) == 0 or len(cand) == 0:
        return cand
    addresses = addresses.to_crs(cand.crs)

    def text(key: str) -> pd.Series:
        return tag_values(addresses, key).fillna("").astype(str).str.strip()

    street, number = text("addr:street"), text("addr:housenumber")
    full = _address_text(street, number, text("addr:postcode"), text("addr:city")).to_numpy()
    street = street.to_numpy()
    has_street = street != ""
    need = np.flatnonzero(cand["address"].fillna("").astype(str).to_numpy() == "")
    geoms = cand.geometry.to_numpy()
    centres = cand.geometry.representative_point().to_numpy()
    for reach_m, column, values in (
        (_ADDRESS_REACH_M, "address", full),
        (_NEAR_STREET_M, "near_street", street),
    ):
        if len(need) == 0:
            break
        site, point = addresses.sindex.query(geoms[need], predicate="dwithin", distance=reach_m)
        keep = has_street[point]
        site, point = need[site[keep]], point[keep]
        if len(site) == 0:
            continue
        dist = shapely.distance(centres[site], addresses.geometry.to_numpy()[point])
        # the nearest to the site's centre; ties by the address point's order (stable)
        order = np.lexsort([point, dist, site])
        site, point = site[order], point[order]
        first = np.r_[True, site[1:] != site[:-1]]
        cand.iloc[site[first], cand.columns.get_loc(column)] = values[point[first]]
        if column == "address":
            need = np.setdiff1d(need, site[first])
    return cand


def _labels(cand: pd.DataFrame) -> pd.Series:
    """A site's display label: its name, else its kind and the name of a building on it,
    its address, operator, street or size."""
    labels = []
    for row in cand.itertuples(index=False):
        name, kind = str(row.name or "").strip(), str(row.kind or "") or "Site"
        address = str(row.address or "").split(",")[0].strip()
        holds = str(getattr(row, "holds", "") or "").strip()
        if name:
            labels.append(name)
        elif holds:
            labels.append(f"{kind}, {holds}")
        elif address:
            labels.append(f"{kind}, {address}")
        elif row.operator:
            labels.append(f"{kind}, {row.operator}")
        elif row.near_street:
            labels.append(f"{kind} near {row.near_street}")
        else:
            area_m2 = float(row.area_m2) if "area_m2" in cand else float("nan")
            if not np.isfinite(area_m2):
                labels.append(kind)
            elif area_m2 >= 10_000:
                labels.append(f"{kind}, {area_m2 / 10_000:.1f} ha")
            else:
                labels.append(f"{kind}, {area_m2:,.0f} m²")
    return pd.Series(labels, index=cand.index, dtype=object)


def _dedupe(xy: np.ndarray, min_distance_m: float) -> np.ndarray:
    """Greedy keep-first de-duplication: drop points within `min_distance_m` of a kept one."""
    from scipy.spatial import cKDTree

    keep = np.ones(len(xy), dtype=bool)
    if len(xy) < 2:
        return keep
    tree = cKDTree(xy)
    for i, j in sorted(tree.query_pairs(min_distance_m)):  # pairs (i < j): j loses to i
        if keep[i]:
            keep[j] = False
    return keep
