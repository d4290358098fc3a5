"""The network registry: known district-heating networks, their yearly facts and where they are.

A :class:`NetworkRegistry` holds one row per network (``networks``), its fuel mix (``fuels``)
and heat by year (``years``), and where the networks are: supply-area polygons (``areas``),
network points (``points``), or municipality polygons (``municipalities``) with the table of
which networks serve which municipality (``served``); layers in EPSG:4326.
:func:`load_dk_registry` loads the built-in Danish registry (siting/data/networks, built by
scripts/build_dk_registry.py; municipalities only, no utility addresses);
:func:`read_registry` reads a user's table (CSV with lon/lat, GeoJSON, GeoPackage).
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.geometry

from siting.errors import CRSError, InputDataError
from siting.networks.emissions import FUELS, MUST_RUN_FUELS
from siting.sources.network import ensure_crs

__all__ = [
    "NETWORK_COLUMNS",
    "NetworkRegistry",
    "load_dk_registry",
    "read_registry",
]

# Columns of `NetworkRegistry.networks` (user files need only annual_heat_mwh and a location).
NETWORK_COLUMNS: dict[str, str] = {
    "network_id": "unique id (text)",
    "name": "network name",
    "annual_heat_mwh": "heat delivered to the network in `year`, MWh",
    "year": "year of the figures",
    "must_run_mwh_per_yr": "waste incineration + fuel-free surplus heat, MWh/yr",
    "solar_mwh_per_yr": "solar heat, MWh/yr",
    "supply_temp_c": "supply temperature, °C (NaN: unknown)",
    "return_temp_c": "return temperature, °C (NaN: unknown)",
    "heat_price_eur_per_mwh": "variable consumer heat price, EUR/MWh excl. VAT",
    "supply_area_km2": "supply area, km²",
    "system_id": "interconnected system the network belongs to (default: itself)",
    "system_annual_heat_mwh": "heat delivered by the whole system, MWh",
    "ef_displaced_t_per_mwh": "user's CO2 factor of displaced heat (overrides the fuel mix)",
    "source": "where the figures come from",
}
FUEL_MIX_COLUMNS = ("fuel_input_mwh", "fuel_for_heat_mwh", "heat_mwh")
_NUMERIC = (
    "annual_heat_mwh",
    "year",
    "must_run_mwh_per_yr",
    "solar_mwh_per_yr",
    "supply_temp_c",
    "return_temp_c",
    "heat_price_eur_per_mwh",
    "supply_area_km2",
    "system_annual_heat_mwh",
    "ef_displaced_t_per_mwh",
)
_NON_NEGATIVE = (
    "annual_heat_mwh",
    "must_run_mwh_per_yr",
    "solar_mwh_per_yr",
    "heat_price_eur_per_mwh",
    "supply_area_km2",
    "ef_displaced_t_per_mwh",
)
_LON = ("lon", "lng", "long", "longitude", "x_lon")
_LAT = ("lat", "latitude", "y_lat")
_FUEL_COL = re.compile(r"^(fuel|heat)_(.+)_mwh$")
_DATA = "siting"
DK_ATTRIBUTION = (
    "Danish Energy Agency, Energiproducenttællingen 2016-2023; Forsyningstilsynet "
    "Prisstatistik January 2024; municipal boundaries: Danish authorities (open data)"
)


@dataclass
class NetworkRegistry:
    """Known networks: facts per network and where they are (layers in EPSG:4326).

    Attributes
    ----------
    networks
        One row per ``network_id`` with the :data:`NETWORK_COLUMNS` (NaN where unknown).
    fuels
        Long table ``network_id, fuel, fuel_input_mwh, fuel_for_heat_mwh, heat_mwh`` for the
        networks' ``year`` (fuel keys: :data:`siting.networks.emissions.FUELS`); may be empty.
    years
        Long table ``network_id, year, label, annual_heat_mwh``: delivered heat per year
        (several labels per year where the source splits a network); may be empty.
    areas, points, municipalities
        Location layers, any of them None. ``areas``: supply-area polygons with
        ``network_id``, ``name``. ``points``: utilities or plants with ``utility_id``,
        ``name``, ``network_id``, ``supply_area_km2``, ``heat_price_eur_per_mwh``.
        ``municipalities``: polygons with ``lau_1`` (municipality code; Danish LAU-1 in the
        built-in data) and ``name``.
    served
        Long table ``network_id, lau_1``: the municipalities each network serves (used with
        ``municipalities``); None when the registry has none.
    source
        Where the registry comes from (file path or the built-in data's attribution).
    """

    networks: pd.DataFrame
    fuels: pd.DataFrame = field(default_factory=lambda: _empty_fuels())
    years: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {"network_id": [], "year": [], "label": [], "annual_heat_mwh": []}
        )
    )
    areas: gpd.GeoDataFrame | None = None
    points: gpd.GeoDataFrame | None = None
    municipalities: gpd.GeoDataFrame | None = None
    source: str = ""
    served: pd.DataFrame | None = None
    _metric_cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_municipality = self.municipalities is not None and self.served is not None
        if self.areas is None and self.points is None and not by_municipality:
            raise InputDataError(
                f"registry {self.source or ''} has no location (no supply-area polygons, no "
                "points, no municipalities served); give each network a point (lon/lat) or a "
                "supply-area polygon."
            )
        nets = self.networks.copy()
        nets["network_id"] = nets["network_id"].astype(str)
        if nets["network_id"].duplicated().any():
            dup = nets.loc[nets["network_id"].duplicated(), "network_id"].iloc[0]
            raise InputDataError(f"registry {self.source}: network_id {dup!r} appears twice.")
        for col in NETWORK_COLUMNS:
            if col not in nets.columns:
                nets[col] = np.nan
        nets["system_id"] = nets["system_id"].where(nets["system_id"].notna(), nets["network_id"])
        nets = nets.set_index("network_id", drop=False)
        nets.index.name = None
        self.networks = nets

    def network(self, network_id: str) -> pd.Series:
        """The row of one network; an error naming close ids when it is unknown."""
        if network_id not in self.networks.index:
            close = difflib.get_close_matches(str(network_id), self.networks.index.astype(str))
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise InputDataError(f"network {network_id!r} is not in the registry.{hint}")
        return self.networks.loc[network_id]

    def fuel_mix(self, network_id: str) -> pd.DataFrame:
        """Fuel mix of one network: index fuel, columns ``fuel_input_mwh, fuel_for_heat_mwh,
        heat_mwh`` (empty when the registry has none)."""
        f = self.fuels[self.fuels["network_id"] == network_id]
        return f.set_index("fuel")[list(FUEL_MIX_COLUMNS)].astype(float)

    def heat_by_year(self, network_id: str) -> pd.Series:
        """Delivered heat per year (MWh), summed over the source's labels."""
        y = self.years[self.years["network_id"] == network_id]
        return y.groupby("year")["annual_heat_mwh"].sum()

    def metric_layers(self, crs: pyproj.CRS) -> dict[str, gpd.GeoDataFrame | None]:
        """The location layers projected to ``crs`` (cached per CRS)."""
        key = crs.to_wkt()
        if key not in self._metric_cache:
            self._metric_cache[key] = {
                name: None if layer is None else layer.to_crs(crs)
                for name, layer in (
                    ("areas", self.areas),
                    ("points", self.points),
                    ("municipalities", self.municipalities),
                )
            }
        return self._metric_cache[key]


# --------------------------------------------------------------------------- built-in Denmark


def load_dk_registry() -> NetworkRegistry:
    """The built-in Danish registry (331 networks, 2016-2023; see siting/data/networks/README.md).

    Networks are the Danish Energy Agency's ``fv_net`` ids (``dk-<fv_net>``; ``dk-0-<utility>``
    for utilities outside a common network). Location: the municipalities each network serves
    (``municipalities`` and ``served``); no points or supply areas (utility addresses are not
    shipped). Cached: treat the returned tables as read-only.
    """
    return _load_dk()


@functools.lru_cache(maxsize=1)
def _load_dk() -> NetworkRegistry:
    folder = resources.files(_DATA).joinpath("data", "networks")
    with resources.as_file(folder) as path:
        nets = pd.read_csv(path / "dk_networks.csv", dtype={"network_id": str, "fv_net": str})
        fuels = pd.read_csv(path / "dk_network_fuels.csv", dtype={"network_id": str})
        years = pd.read_csv(path / "dk_network_years.csv", dtype={"network_id": str})
        served = pd.read_csv(path / "dk_network_municipalities.csv", dtype=str)
        muni = _read_municipalities(path / "dk_municipalities.geojson")
    return NetworkRegistry(
        networks=nets,
        fuels=fuels,
        years=years,
        municipalities=muni,
        served=served,
        source=DK_ATTRIBUTION,
    )


def _read_municipalities(path: Path) -> gpd.GeoDataFrame:
    """The shipped municipality polygons (GeoJSON, WGS84; text properties `lau_1`, `name`),
    parsed here: the frame `geopandas.read_file` gives, without loading GDAL's vector
    stack for 99 polygons (~40 ms of a study's start)."""
    text = path.read_text(encoding="utf-8")
    features = json.loads(text)["features"]
    columns = list(features[0]["properties"]) if features else ["lau_1", "name"]
    data = {c: pd.array([f["properties"].get(c) for f in features], dtype="str") for c in columns}
    # GEOS reads the collection's geometries in order, in C (shapely.geometry.shape per
    # feature built them in Python: ~20 ms)
    geometry = shapely.get_parts(shapely.from_geojson(text)) if features else []
    return gpd.GeoDataFrame(data, geometry=geometry, crs="EPSG:4326")


# --------------------------------------------------------------------------- user files


def read_registry(path: str | Path, *, layer: str | None = None) -> NetworkRegistry:
    """Read a user's network registry: CSV with lon/lat columns, GeoJSON or GeoPackage.

    One row per network location: a point (a utility or plant; optional ``supply_area_km2``)
    or a supply-area polygon. Several rows may share a ``network_id`` (several points or
    polygons of one network); their facts must then agree.

    Columns: ``annual_heat_mwh`` (required, heat delivered, >= 0), optional ``network_id``
    (default ``net-<row>``), ``name`` and any of :data:`NETWORK_COLUMNS`. Fuel mix, optional,
    as ``fuel_<fuel>_mwh`` (fuel input) and ``heat_<fuel>_mwh`` (heat delivered from it) for
    fuel keys in :data:`siting.networks.emissions.FUELS`; with fuel inputs only, each fuel's
    heat is taken in proportion to its input. ``must_run_mwh_per_yr`` defaults to the heat
    from waste and fuel-free surplus heat when given, else 0.

    Parameters
    ----------
    path
        ``.csv`` (WGS84 lon/lat in columns ``lon``/``lat`` or ``longitude``/``latitude``),
        or any vector file GDAL reads (GeoJSON, GeoPackage, ...) with a CRS.
    layer
        Layer of a multi-layer file (GeoPackage).

    Returns
    -------
    NetworkRegistry
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise InputDataError(f"network registry {path} does not exist; check the path.")
    if path.suffix.lower() in (".csv", ".txt"):
        gdf = _read_csv_points(path)
    else:
        try:
            gdf = gpd.read_file(path, layer=layer)
        except Exception as exc:  # pyogrio's DataSourceError and friends
            raise InputDataError(
                f"network registry {path} could not be read ({exc}); give a CSV with lon/lat "
                "columns, GeoJSON or GeoPackage."
            ) from exc
        gdf = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty]
        if len(gdf) == 0:
            raise InputDataError(f"network registry {path} has no geometries.")
        gdf = ensure_crs(gdf, f"network registry {path}")
        try:
            gdf = gdf.to_crs("EPSG:4326")
        except Exception as exc:
            raise CRSError(
                f"network registry {path}: cannot reproject from {gdf.crs} to WGS84 ({exc})."
            ) from exc
    return registry_from_frame(gdf, source=str(path))


def registry_from_frame(gdf: gpd.GeoDataFrame, source: str = "registry") -> NetworkRegistry:
    """Build a registry from a GeoDataFrame in the :func:`read_registry` format."""
    gdf = gdf.reset_index(drop=True).copy()
    cols = {c.lower().strip(): c for c in gdf.columns if c != gdf.geometry.name}
    gdf = gdf.rename(columns={v: k for k, v in cols.items()})
    if "annual_heat_mwh" not in gdf.columns:
        close = difflib.get_close_matches("annual_heat_mwh", list(cols), n=1, cutoff=0.5)
        hint = f" (found {close[0]!r}: rename it)" if close else ""
        raise InputDataError(
            f"{source} has no column annual_heat_mwh{hint}; each network needs the heat it "
            f"delivers in a year, MWh. Columns found: {sorted(cols)}."
        )
    if "network_id" not in gdf.columns:
        gdf["network_id"] = [f"net-{i + 1}" for i in range(len(gdf))]
    gdf["network_id"] = gdf["network_id"].astype(str).str.strip()
    if "name" not in gdf.columns:
        gdf["name"] = gdf["network_id"]
    gdf["name"] = gdf["name"].fillna(gdf["network_id"]).astype(str)

    for col in _NUMERIC:
        if col in gdf.columns:
            values = pd.to_numeric(gdf[col], errors="coerce")
            bad = values.isna() & gdf[col].notna() & (gdf[col].astype(str).str.strip() != "")
            if bad.any():
                raise InputDataError(
                    f"{source}: column {col} has non-numbers in rows "
                    f"{_rows(bad)} (e.g. {gdf.loc[bad, col].iloc[0]!r})."
                )
            gdf[col] = values
    heat = gdf["annual_heat_mwh"]
    if heat.isna().any():
        raise InputDataError(
            f"{source}: annual_heat_mwh is empty in rows {_rows(heat.isna())}; give each "
            "network's delivered heat in MWh/yr."
        )
    for col in _NON_NEGATIVE:
        if col in gdf.columns and (gdf[col] < 0).any():
            raise InputDataError(
                f"{source}: {col} is negative in rows {_rows(gdf[col] < 0)} (network "
                f"{gdf.loc[gdf[col] < 0, 'network_id'].iloc[0]}); it must be >= 0."
            )

    fuel_cols = _fuel_columns(gdf.columns, source)
    kinds = gdf.geom_type
    is_point = kinds.isin(["Point", "MultiPoint"])
    is_area = kinds.isin(["Polygon", "MultiPolygon"])
    if not (is_point | is_area).all():
        raise InputDataError(
            f"{source}: geometry must be points or supply-area polygons; rows "
            f"{_rows(~(is_point | is_area))} are {sorted(set(kinds[~(is_point | is_area)]))}."
        )

    facts = [c for c in [*NETWORK_COLUMNS, *fuel_cols] if c in gdf.columns]
    first = gdf.drop_duplicates("network_id")[facts]
    for col in facts:
        n_values = gdf.groupby("network_id")[col].nunique(dropna=False)
        if (n_values > 1).any():
            nid = n_values[n_values > 1].index[0]
            raise InputDataError(
                f"{source}: rows of network {nid!r} disagree on {col}; rows sharing a "
                "network_id must carry the same facts."
            )
    fuels = _fuels_long(first, fuel_cols)
    nets = _complete_networks(first.drop(columns=fuel_cols), fuels, source)
    points = areas = None
    if is_point.any():
        p = gdf[is_point]
        points = gpd.GeoDataFrame(
            {
                "utility_id": p["network_id"].to_numpy(),
                "name": p["name"].to_numpy(),
                "network_id": p["network_id"].to_numpy(),
                "supply_area_km2": _col(p, "supply_area_km2"),
                "heat_price_eur_per_mwh": _col(p, "heat_price_eur_per_mwh"),
            },
            geometry=p.geometry.values,
            crs=gdf.crs,
        )
    if is_area.any():
        a = gdf[is_area]
        areas = gpd.GeoDataFrame(
            {"network_id": a["network_id"].to_numpy(), "name": a["name"].to_numpy()},
            geometry=a.geometry.values,
            crs=gdf.crs,
        )
    years = nets.loc[nets["year"].notna(), ["network_id", "year", "name", "annual_heat_mwh"]]
    years = years.rename(columns={"name": "label"}).reset_index(drop=True)
    return NetworkRegistry(
        networks=nets, fuels=fuels, years=years, areas=areas, points=points, source=source
    )


def _read_csv_points(path: Path) -> gpd.GeoDataFrame:
    try:
        df = pd.read_csv(path, sep=None, engine="python", encoding="utf-8-sig")
    except Exception as exc:
        raise InputDataError(f"network registry {path} is not a readable CSV ({exc}).") from exc
    lower = {c.lower().strip(): c for c in df.columns}
    lon = next((lower[c] for c in _LON if c in lower), None)
    lat = next((lower[c] for c in _LAT if c in lower), None)
    if lon is None or lat is None:
        raise InputDataError(
            f"network registry {path} needs columns lon and lat (WGS84 degrees) to place each "
            f"network; found {list(df.columns)}. For other CRSs save it as GeoPackage/GeoJSON."
        )
    x = pd.to_numeric(df[lon], errors="coerce")
    y = pd.to_numeric(df[lat], errors="coerce")
    bad = x.isna() | y.isna()
    if bad.any():
        raise InputDataError(f"network registry {path}: lon/lat missing in rows {_rows(bad)}.")
    if not (x.between(-180, 180).all() and y.between(-90, 90).all()):
        raise CRSError(
            f"network registry {path}: {lon}/{lat} hold values outside longitude/latitude "
            f"(x {x.min():.0f}..{x.max():.0f}, y {y.min():.0f}..{y.max():.0f}); a CSV registry "
            "must be in WGS84 degrees. Convert the coordinates or save a GeoPackage with its CRS."
        )
    return gpd.GeoDataFrame(
        df.drop(columns=[lon, lat]), geometry=gpd.points_from_xy(x, y), crs="EPSG:4326"
    )


def _fuel_columns(columns: pd.Index, source: str) -> list[str]:
    out = []
    for c in columns:
        m = _FUEL_COL.match(str(c))
        if not m or c in NETWORK_COLUMNS:  # e.g. heat_price_eur_per_mwh is not a fuel
            continue
        if m.group(2) not in FUELS:
            close = difflib.get_close_matches(m.group(2), FUELS, n=1)
            hint = f" (did you mean {m.group(1)}_{close[0]}_mwh?)" if close else ""
            raise InputDataError(
                f"{source}: column {c} names an unknown fuel {m.group(2)!r}{hint}; fuels: "
                f"{', '.join(FUELS)}."
            )
        out.append(c)
    return out


def _fuels_long(first: pd.DataFrame, fuel_cols: list[str]) -> pd.DataFrame:
    """Long fuel table from wide fuel_<f>_mwh / heat_<f>_mwh columns."""
    if not fuel_cols:
        return _empty_fuels()
    rows = []
    fuel_in = {c[5:-4]: c for c in fuel_cols if c.startswith("fuel_")}
    heat_of = {c[5:-4]: c for c in fuel_cols if c.startswith("heat_")}
    for _, r in first.iterrows():
        inputs = {f: float(np.nan_to_num(r[c])) for f, c in fuel_in.items()}
        total_in = sum(inputs.values())
        for f in sorted(set(fuel_in) | set(heat_of)):
            fin = inputs.get(f, 0.0)
            if f in heat_of:
                h = float(np.nan_to_num(r[heat_of[f]]))
            else:  # fuel inputs only: the same conversion efficiency for every fuel
                h = float(r["annual_heat_mwh"]) * fin / total_in if total_in > 0 else 0.0
            if fin < 0 or h < 0:
                raise InputDataError(f"network {r['network_id']}: fuel {f} has a negative value.")
            if fin > 0 or h > 0:
                rows.append((r["network_id"], f, fin, fin, h))
    return pd.DataFrame(rows, columns=["network_id", "fuel", *FUEL_MIX_COLUMNS])


def _complete_networks(first: pd.DataFrame, fuels: pd.DataFrame, source: str) -> pd.DataFrame:
    nets = first.reset_index(drop=True).copy()
    for col in NETWORK_COLUMNS:
        if col not in nets.columns:
            nets[col] = np.nan
    if nets["must_run_mwh_per_yr"].isna().any():
        mr = fuels[fuels["fuel"].isin(MUST_RUN_FUELS)].groupby("network_id")["heat_mwh"].sum()
        derived = nets["network_id"].map(mr).fillna(0.0)
        nets["must_run_mwh_per_yr"] = nets["must_run_mwh_per_yr"].fillna(derived)
    if nets["solar_mwh_per_yr"].isna().any():
        sol = fuels[fuels["fuel"] == "solar"].groupby("network_id")["heat_mwh"].sum()
        nets["solar_mwh_per_yr"] = nets["solar_mwh_per_yr"].fillna(
            nets["network_id"].map(sol).fillna(0.0)
        )
    nets["system_id"] = nets["system_id"].where(nets["system_id"].notna(), nets["network_id"])
    nets["system_id"] = nets["system_id"].astype(str)
    sys_heat = nets.groupby("system_id")["annual_heat_mwh"].transform("sum")
    nets["system_annual_heat_mwh"] = nets["system_annual_heat_mwh"].fillna(sys_heat)
    nets["source"] = nets["source"].where(nets["source"].notna(), source).astype(str)
    too_much = nets["must_run_mwh_per_yr"] > nets["annual_heat_mwh"] * 1.001
    if too_much.any():
        raise InputDataError(
            f"{source}: network {nets.loc[too_much, 'network_id'].iloc[0]} has more must-run "
            "heat than annual_heat_mwh; must_run_mwh_per_yr is part of the delivered heat."
        )
    return nets


def _col(df: pd.DataFrame, col: str) -> np.ndarray:
    return df[col].to_numpy(dtype=float) if col in df.columns else np.full(len(df), np.nan)


def _rows(mask: pd.Series) -> str:
    idx = list(np.flatnonzero(np.asarray(mask)) + 1)
    more = f" and {len(idx) - 5} more" if len(idx) > 5 else ""
    return ", ".join(map(str, idx[:5])) + more


def _empty_fuels() -> pd.DataFrame:
    return pd.DataFrame(
        {"network_id": pd.Series(dtype=str), "fuel": pd.Series(dtype=str)}
        | {c: pd.Series(dtype=float) for c in FUEL_MIX_COLUMNS}
    )
