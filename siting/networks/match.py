"""Which known district-heating network a site would feed: site -> area/municipality -> network.

Rules, in order (the first that gives a network wins; ``how_matched`` says which, in words):

1. **Supply area** (user registries with polygons): the supply-area polygon holding the site
   (the smallest when several do), else the nearest within ``max_distance_m``.
2. **Municipality** (the built-in Danish registry): the municipality polygon holding the site,
   else the nearest one within ``max_distance_m``; of the networks serving it, the one with
   the largest annual heat delivered (the others are listed as alternatives). A municipality
   that lists no utility (Lyngby-Taarbæk, Gladsaxe, ... in the Danish data) takes the
   surrounding system: the one most neighbouring municipalities (borders within 500 m, and
   within ``max_distance_m`` of the site) are served by, ties to the larger system; then
   that system's largest network among the neighbours' networks.
3. **Nearest point** (user registries with points): the nearest network point whose supply
   area, taken as a disc of ``supply_area_km2`` around the point, is within
   ``max_distance_m``.

The built-in registry ships no utility addresses (their source has no licence), so a Danish
match is only as fine as the municipality: a municipality served by several networks gets
its largest, whatever part of the municipality the site is in.

Distances are taken in the UTM zone of the site.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from siting.errors import CRSError, InputDataError
from siting.networks.emissions import DisplacedEmission, displaced_emissions
from siting.networks.registry import NetworkRegistry, load_dk_registry

__all__ = [
    "MAX_DISTANCE_M",
    "NEIGHBOUR_GAP_M",
    "NetworkMatch",
    "match_network",
    "match_sites",
]

MAX_DISTANCE_M = 10_000.0  # a point/area farther than this is not "the site's network" [M]
NEIGHBOUR_GAP_M = 500.0  # municipalities this close count as neighbours (simplified borders)


@dataclass(frozen=True, eq=False)
class NetworkMatch:
    """The network a site matched, with the registry's facts about it.

    Energies are MWh/yr of the registry ``year``; ``fuel_mix`` is indexed by fuel with
    ``fuel_input_mwh, fuel_for_heat_mwh, heat_mwh``; the system fields describe the
    interconnected system the network belongs to (the network itself when alone).
    ``heat_price_eur_per_mwh`` is the network's (built-in data: median of its utilities'
    variable consumer prices, excl. VAT).

    ``distance_m`` is the distance from the site to what it matched: the municipality polygon
    (0 inside; > 0 for a site off the coast), the supply area or the network point.
    ``municipality`` is the matched municipality's name (None for area and point matches).
    ``utility`` and ``utility_heat_price_eur_per_mwh`` are the network point used and its own
    price, for user registries with points only: the built-in registry has no utility points
    (None and NaN). ``alternatives`` are the other candidate networks as
    ``(network_id, name, annual_heat_mwh)``, largest first (municipality matches).
    """

    network_id: str
    name: str
    annual_heat_mwh: float
    year: int | None
    fuel_mix: pd.DataFrame
    must_run_mwh_per_yr: float
    solar_mwh_per_yr: float
    heat_price_eur_per_mwh: float
    supply_temp_c: float
    return_temp_c: float
    system_id: str
    system_annual_heat_mwh: float
    how_matched: str
    source: str
    utility: str | None = None
    distance_m: float = 0.0
    municipality: str | None = None
    utility_heat_price_eur_per_mwh: float = math.nan
    ef_override_t_per_mwh: float = math.nan
    heat_by_year_mwh: dict[int, float] = field(default_factory=dict)
    alternatives: tuple[tuple[str, str, float], ...] = ()

    def displaced(self, **kwargs: Any) -> DisplacedEmission:
        """CO2 of the heat the site displaces; keyword arguments go to
        :func:`siting.networks.emissions.displaced_emissions`. A registry factor given by the
        user wins."""
        if math.isfinite(self.ef_override_t_per_mwh):
            return DisplacedEmission(
                t_per_mwh=self.ef_override_t_per_mwh,
                displaced_heat_mwh=math.nan,
                emissions_t=math.nan,
                fallback_used=False,
                method="ef_displaced_t_per_mwh given in the registry",
            )
        return displaced_emissions(self.fuel_mix, **kwargs)

    @property
    def ef_displaced_t_per_mwh(self) -> float:
        """t CO2 per MWh displaced, with the default factors (docs/model.md §8.4)."""
        return self.displaced().t_per_mwh

    def as_row(self) -> dict[str, Any]:
        """Flat dict for a table row (no fuel mix, the displaced factor included)."""
        d = self.displaced()
        return {
            "network_id": self.network_id,
            "network_name": self.name,
            "network_annual_heat_mwh": self.annual_heat_mwh,
            "network_year": self.year,
            "network_must_run_mwh_per_yr": self.must_run_mwh_per_yr,
            "network_solar_mwh_per_yr": self.solar_mwh_per_yr,
            "network_heat_price_eur_per_mwh": self.heat_price_eur_per_mwh,
            "utility_heat_price_eur_per_mwh": self.utility_heat_price_eur_per_mwh,
            "network_supply_temp_c": self.supply_temp_c,
            "network_return_temp_c": self.return_temp_c,
            "network_system_id": self.system_id,
            "network_system_annual_heat_mwh": self.system_annual_heat_mwh,
            "network_ef_displaced_t_per_mwh": d.t_per_mwh,
            "network_ef_method": d.method,
            "network_utility": self.utility,
            "network_municipality": self.municipality,
            "network_alternatives": "; ".join(a[0] for a in self.alternatives),
            "network_distance_m": self.distance_m,
            "network_how_matched": self.how_matched,
            "network_source": self.source,
        }


def match_network(
    geometry: shapely.Geometry,
    crs: str | pyproj.CRS,
    registry: NetworkRegistry | None = None,
    *,
    max_distance_m: float = MAX_DISTANCE_M,
) -> NetworkMatch | None:
    """The registry network a site (point or polygon) would feed; None when none is in reach.

    Parameters
    ----------
    geometry
        The site, a shapely point or polygon in ``crs``.
    crs
        CRS of ``geometry`` (any; e.g. ``"EPSG:4326"`` for lon/lat).
    registry
        Default: the built-in Danish registry (:func:`load_dk_registry`).
    max_distance_m
        Farthest supply area, network point or municipality (for a site outside every
        municipality polygon) accepted.

    Returns
    -------
    NetworkMatch or None
    """
    registry = load_dk_registry() if registry is None else registry
    if not isinstance(geometry, shapely.Geometry) or geometry.is_empty:
        raise InputDataError("match_network needs a non-empty shapely point or polygon.")
    site, metric = _site_metric(geometry, crs)
    return _match(site, metric, registry, max_distance_m)


def match_sites(
    sites: gpd.GeoDataFrame,
    registry: NetworkRegistry | None = None,
    *,
    max_distance_m: float = MAX_DISTANCE_M,
) -> pd.DataFrame:
    """:func:`match_network` for every site: one row per site (same index), columns of
    :meth:`NetworkMatch.as_row` (NaN and ``network_how_matched`` = why, when unmatched)."""
    if sites.crs is None:
        raise CRSError("sites have no CRS; set it (sites.set_crs(...)) before matching networks.")
    registry = load_dk_registry() if registry is None else registry
    lonlat = sites.geometry.to_crs("EPSG:4326")
    centre = shapely.union_all(shapely.centroid(lonlat.values)).centroid
    metric = _utm(centre.x, centre.y)
    projected = sites.geometry.to_crs(metric)
    rows = []
    memo: dict = {}  # what several sites ask of the registry (same municipality, network)
    for geom in projected.values:
        m = (
            None
            if geom is None or geom.is_empty
            else _match(geom, metric, registry, max_distance_m, memo)
        )
        rows.append(
            m.as_row()
            if m is not None
            else {"network_how_matched": f"no registry network within {max_distance_m:.0f} m"}
        )
    return pd.DataFrame(rows, index=sites.index)


# --------------------------------------------------------------------------- rules


def _match(
    site: shapely.Geometry,
    metric: pyproj.CRS,
    registry: NetworkRegistry,
    max_distance_m: float,
    memo: dict | None = None,
) -> NetworkMatch | None:
    """The first rule's match; `memo` keeps registry lookups for the next site (one
    registry and one metric CRS per memo)."""
    memo = {} if memo is None else memo
    layers = registry.metric_layers(metric)
    point = site.representative_point()
    if layers["areas"] is not None:
        m = _by_area(site, point, layers["areas"], registry, max_distance_m, memo)
        if m is not None:
            return m
    if layers["municipalities"] is not None and registry.served is not None:
        m = _by_municipality(site, point, layers["municipalities"], registry, max_distance_m, memo)
        if m is not None:
            return m
    if layers["points"] is not None:
        return _by_point(site, layers["points"], registry, max_distance_m, memo)
    return None


def _memo(memo: dict, key: tuple, compute: Callable[[], Any]) -> Any:
    """`compute()`, once per `key` in `memo`."""
    if key not in memo:
        memo[key] = compute()
    return memo[key]


def _by_area(
    site: shapely.Geometry,
    point: shapely.Point,
    areas: gpd.GeoDataFrame,
    registry: NetworkRegistry,
    max_distance_m: float,
    memo: dict,
) -> NetworkMatch | None:
    areas = areas[areas["network_id"].isin(registry.networks.index)]
    if len(areas) == 0:
        return None
    inside = areas[areas.contains(point)]
    if len(inside):
        order = inside.area.sort_values().index
        best = inside.loc[order[0]]
        others = [n for n in inside.loc[order[1:], "name"]]
        also = f" (also inside: {', '.join(others)})" if others else ""
        how = f"site lies in the supply area of {best['name']}{also}"
        return _result(registry, best["network_id"], how, memo)
    dist = areas.distance(site)
    j = dist.idxmin()
    if dist[j] > max_distance_m:
        return None
    best = areas.loc[j]
    how = f"nearest supply area: {best['name']}, {dist[j]:.0f} m from the site"
    return _result(registry, best["network_id"], how, memo, distance_m=float(dist[j]))


def _by_municipality(
    site: shapely.Geometry,
    point: shapely.Point,
    munis: gpd.GeoDataFrame,
    registry: NetworkRegistry,
    max_distance_m: float,
    memo: dict,
) -> NetworkMatch | None:
    def ranked_in(laus: list[str]) -> list[tuple[str, str, float, Any, str]]:
        key = ("ranked", frozenset(laus))
        return _memo(memo, key, lambda: _ranked(registry, _served_by(registry, laus)))

    holding = munis[munis.contains(point)]
    where, distance_m = "lies in", 0.0
    if len(holding) == 0:
        dist = munis.distance(site)
        if dist.min() > max_distance_m:
            return None
        holding = munis.loc[[dist.idxmin()]]
        distance_m = float(dist.min())
        where = f"lies {distance_m:.0f} m outside every municipality polygon; nearest"
    muni = holding.iloc[0]
    ranked = ranked_in([muni["lau_1"]])
    if ranked:
        best, others = ranked[0], ranked[1:]
        if others:
            how = (
                f"site {where} municipality {muni['name']}, served by {len(ranked)} networks; "
                f"the largest by heat delivered: {_describe(best)}; alternatives: "
                f"{', '.join(_describe(o, best[3]) for o in others)}"
            )
        else:
            how = f"site {where} municipality {muni['name']}, served by {_describe(best)}"
        return _result(
            registry,
            best[0],
            how,
            memo,
            distance_m=distance_m,
            municipality=muni["name"],
            alternatives=others,
        )
    # No utility listed: the surrounding system, i.e. the one serving most neighbouring
    # municipalities (ties: the larger system); a neighbour beyond reach of the site is no
    # evidence for it.
    near = _memo(
        memo,
        ("neighbours", muni.name),
        lambda: munis[
            (munis.distance(muni.geometry) <= NEIGHBOUR_GAP_M) & (munis.index != muni.name)
        ],
    )
    near = near[near.distance(site) <= max_distance_m]
    votes: dict[str, int] = {}
    for lau in near["lau_1"]:
        for sid in sorted({r[4] for r in ranked_in([lau])}):
            votes[sid] = votes.get(sid, 0) + 1
    if not votes:
        return None
    sys_heat = _memo(
        memo,
        ("system_heat",),
        lambda: registry.networks.groupby("system_id")["annual_heat_mwh"].sum(),
    )
    # ties broken by heat, then id: the same answer in every process (no set order)
    system = max(sorted(votes), key=lambda sid: (votes[sid], sys_heat.get(sid, 0.0)))
    around = ranked_in(list(near["lau_1"]))
    best = next(r for r in around if r[4] == system)
    others = [r for r in around if r[0] != best[0]]
    tally = ", ".join(
        f"{sid} {n}" for sid, n in sorted(votes.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    shown = ", ".join(_describe(o, best[3]) for o in others[:5])
    more = f" and {len(others) - 5} more" if len(others) > 5 else ""
    how = (
        f"site {where} municipality {muni['name']}, which lists no utility; surrounding "
        f"system {system} (serves most neighbouring municipalities: {tally}; neighbours "
        f"{', '.join(sorted(near['name']))}); its largest network there: {_describe(best)}"
        + (f"; other networks of the neighbours: {shown}{more}" if others else "")
    )
    return _result(
        registry,
        best[0],
        how,
        memo,
        distance_m=distance_m,
        municipality=muni["name"],
        alternatives=others,
    )


def _served_by(registry: NetworkRegistry, lau_1: list[str]) -> set[str]:
    served = registry.served
    if served is None:
        return set()
    ids = served.loc[served["lau_1"].isin(lau_1), "network_id"]
    return set(ids) & set(registry.networks.index)


def _ranked(
    registry: NetworkRegistry, network_ids: set[str]
) -> list[tuple[str, str, float, Any, str]]:
    """``(network_id, name, annual_heat_mwh, year, system_id)``, largest heat first (ties by
    id, so the order never depends on set order)."""
    nets = registry.networks.loc[sorted(network_ids)]
    rows = [
        (str(i), str(r["name"]), float(r["annual_heat_mwh"]), r["year"], str(r["system_id"]))
        for i, r in nets.iterrows()
    ]
    return sorted(rows, key=lambda r: (-r[2], r[0]))


def _describe(row: tuple[str, str, float, Any, str], year: Any = None) -> str:
    """``name (id, GWh in year)``; the year only when it differs from ``year``."""
    nid, name, heat, y, _ = row
    when = "" if pd.isna(y) or (year is not None and y == year) else f" in {int(y)}"
    return f"{name} ({nid}, {heat / 1000:,.0f} GWh{when})"


def _by_point(
    site: shapely.Geometry,
    points: gpd.GeoDataFrame,
    registry: NetworkRegistry,
    max_distance_m: float,
    memo: dict,
) -> NetworkMatch | None:
    usable = points[points["network_id"].isin(registry.networks.index)]
    if len(usable) == 0:
        return None
    dist = usable.distance(site).to_numpy()
    i = int(np.argmin(dist))
    row = usable.iloc[i]
    if _beyond_reach(row, float(dist[i]), max_distance_m):
        return None
    radius = _equivalent_radius_m(row.get("supply_area_km2", np.nan))
    inside = (
        f"; within its supply area's equivalent radius {radius:.0f} m"
        if dist[i] <= radius
        else (f"; beyond its supply area's equivalent radius {radius:.0f} m" if radius > 0 else "")
    )
    how = f"nearest network point: {row['name']} at {dist[i]:.0f} m{inside}"
    return _result(registry, row["network_id"], how, memo, utility=row, distance_m=float(dist[i]))


def _result(
    registry: NetworkRegistry,
    network_id: str,
    how: str,
    memo: dict,
    *,
    utility: pd.Series | None = None,
    distance_m: float = 0.0,
    municipality: str | None = None,
    alternatives: list[tuple[str, str, float, Any, str]] | None = None,
) -> NetworkMatch:
    net, fuel_mix, heat_by_year = _memo(
        memo,
        ("network", network_id),
        lambda: (
            registry.network(network_id),
            registry.fuel_mix(network_id),
            {int(k): float(v) for k, v in registry.heat_by_year(network_id).items()},
        ),
    )
    utility_price = math.nan if utility is None else _f(utility.get("heat_price_eur_per_mwh"))
    year = net["year"]
    return NetworkMatch(
        network_id=str(network_id),
        name=str(net["name"]),
        annual_heat_mwh=float(net["annual_heat_mwh"]),
        year=None if pd.isna(year) else int(year),
        fuel_mix=fuel_mix.copy(deep=False),  # each match its own frame
        must_run_mwh_per_yr=_f(net["must_run_mwh_per_yr"], 0.0),
        solar_mwh_per_yr=_f(net["solar_mwh_per_yr"], 0.0),
        heat_price_eur_per_mwh=_f(net["heat_price_eur_per_mwh"]),
        utility_heat_price_eur_per_mwh=utility_price,
        supply_temp_c=_f(net["supply_temp_c"]),
        return_temp_c=_f(net["return_temp_c"]),
        system_id=str(net["system_id"]),
        system_annual_heat_mwh=_f(net["system_annual_heat_mwh"], float(net["annual_heat_mwh"])),
        how_matched=f"{how} -> network {network_id}",
        source=str(net["source"]) if pd.notna(net["source"]) else registry.source,
        utility=None if utility is None else str(utility["name"]),
        distance_m=float(distance_m),
        municipality=municipality,
        ef_override_t_per_mwh=_f(net["ef_displaced_t_per_mwh"]),
        heat_by_year_mwh=dict(heat_by_year),
        alternatives=tuple((a[0], a[1], a[2]) for a in alternatives or ()),
    )


# --------------------------------------------------------------------------- helpers


def _site_metric(geometry: shapely.Geometry, crs: str | pyproj.CRS) -> tuple[Any, pyproj.CRS]:
    try:
        src = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"site crs {crs!r} is not a CRS pyproj knows ({exc}).") from exc
    lonlat = gpd.GeoSeries([geometry], crs=src).to_crs("EPSG:4326").iloc[0]
    c = lonlat.centroid
    if not (math.isfinite(c.x) and -180 <= c.x <= 180 and -90 <= c.y <= 90):
        raise CRSError(
            f"the site does not land on Earth from crs {src.to_string()} (got {c.x}, {c.y}); "
            "check that the geometry's coordinates are in that CRS."
        )
    metric = _utm(c.x, c.y)
    return gpd.GeoSeries([geometry], crs=src).to_crs(metric).iloc[0], metric


def _utm(lon: float, lat: float) -> pyproj.CRS:
    """The WGS 84 UTM zone of a lon/lat point: the CRS geopandas' `estimate_utm_crs` finds
    by searching PROJ's database (~0.1 s), from the zone's formula (a point on a zone
    border takes the western zone, as the search does)."""
    if not (-180.0 <= lon <= 180.0 and -80.0 <= lat <= 84.0):  # no zone (or NaN): its error
        return gpd.GeoSeries([shapely.Point(lon, lat)], crs="EPSG:4326").estimate_utm_crs()
    zone = min(max(math.ceil((lon + 180.0) / 6.0), 1), 60)
    return pyproj.CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def _beyond_reach(row: pd.Series, distance_m: float, max_distance_m: float) -> bool:
    """Farther than ``max_distance_m`` from the point's supply area, taken as a disc of its
    area around the point (a utility's point may be its address, not the area's centre)."""
    return distance_m - _equivalent_radius_m(row.get("supply_area_km2")) > max_distance_m


def _equivalent_radius_m(area_km2: Any) -> float:
    a = float(area_km2) if area_km2 is not None and pd.notna(area_km2) else 0.0
    return math.sqrt(a * 1e6 / math.pi) if a > 0 else 0.0


def _f(value: Any, default: float = math.nan) -> float:
    return float(value) if value is not None and pd.notna(value) else default
