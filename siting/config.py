"""Study configuration: one validated object, every default from MODEL.md.

A study is a :class:`Study` (where the inputs are, what to write) holding a flat
:class:`Params` (the model's numbers). Both load from YAML or Python; an unknown
key is an error that names the closest valid key, so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from siting import validate
from siting.errors import ConfigError

COOLING_TYPES = ("air_coil", "liquid", "immersion")
# OSM highway=* values (wiki "Key:highway"), for checking street_class_multiplier keys
OSM_HIGHWAY_VALUES = frozenset(
    "motorway trunk primary secondary tertiary unclassified residential motorway_link "
    "trunk_link primary_link secondary_link tertiary_link living_street service pedestrian "
    "track bus_guideway escape raceway road busway footway bridleway steps corridor path "
    "cycleway via_ferrata sidewalk crossing proposed construction platform elevator "
    "escalator unpaved".split()
)


@dataclass(frozen=True)
class Params:
    """Model parameters (MODEL.md). Every field can be overridden in the study config.

    Tags in comments: [V] read in a cited source, [D] derived, [M] engineering default.
    """

    # --- heat source (MODEL.md §1)
    capture_fraction: dict[str, float] = field(
        default_factory=lambda: {"air_coil": 0.95, "liquid": 0.80, "immersion": 0.95}
    )  # [M]
    source_in_c: dict[str, float] = field(
        default_factory=lambda: {"air_coil": 27.0, "liquid": 50.0, "immersion": 50.0}
    )  # [V S2,S3] air coil; [M] liquid
    source_out_c: dict[str, float] = field(
        default_factory=lambda: {"air_coil": 17.0, "liquid": 40.0, "immersion": 40.0}
    )
    utilisation_it: float = 0.8  # share of nameplate IT load drawn on average [M]
    pue: float = 1.2  # [M]
    # --- heat pump (MODEL.md §2)
    eta_lorenz: float = 0.50  # [D from V S26]
    cop_model: str = "lorenz"  # or "jesper" (conservative regression, S25)
    # --- network temperatures and annual use (MODEL.md §3)
    supply_temp_c: float = 75.0  # [V S3,S24]
    return_temp_c: float = 40.0
    annual_utilisation: float = 0.75  # u: share of available heat the network takes [V S13]
    # --- transmission pipe (MODEL.md §4)
    pipe_delta_t_k: float = 35.0  # supply - return across the transmission pipe
    street_class_multiplier: dict[str, float] = field(default_factory=dict)  # {} = MODEL defaults
    excluded_highways: tuple[str, ...] = (
        "footway",
        "steps",
        "path",
        "pedestrian",
        "cycleway",
        "bridleway",
        "corridor",
        "elevator",
        "escalator",
        "proposed",
        "construction",
        "platform",
        "raceway",
        "bus_guideway",
    )
    # extra EUR per motorway/trunk/rail crossing (MODEL.md §4: a user setting; 0 = off). The
    # route search carries it as metres of the reference trench (routing.CROSSING_REFERENCE_*)
    crossing_cost_eur: float = 0.0
    # hottest supply a site's heat pump can deliver: hotter network pipes are not tapped [M]
    heat_pump_max_supply_c: float = 90.0
    max_snap_distance_m: float = 500.0  # a site farther from any street is flagged
    max_route_length_m: float = 20_000.0  # longer transmission routes are not screened
    pipe_life_yr: float = 40.0  # [M]
    pipe_om_fraction: float = 0.01  # of pipe CAPEX per year [M]
    pipe_vom_eur_per_mwh_km: float = 0.1  # [V S27]
    # --- new local network (DESIGN.md mode 2)
    linear_heat_density_min_mwh_per_m: float = 1.5  # [M] viable above ~1.5-1.8 MWh/m/yr
    local_search_radius_m: float = 3_000.0  # route length searched around a site
    # --- heat pump economics (MODEL.md §5)
    heat_pump_life_yr: float = 25.0  # [V S26]
    heat_pump_fom_eur_per_mw_yr: float = 2_000.0  # [V S26]
    heat_pump_vom_eur_per_mwh: float = 2.0  # [V S26]
    heat_pump_capex_factor: float = 1.0  # scales the MODEL.md heat-pump CAPEX curve
    pipe_cost_factor: float = 1.0  # scales the trench cost table (e.g. local prices)
    discount_rate: float = 0.04  # [V S38] social 3.5 %, utility 5 %
    electricity_price_eur_per_mwh: float = 80.0  # [M] 40-150
    heat_price_eur_per_mwh: float = 70.0  # reference heat replaced [V S43]
    analysis_years: float = 25.0
    ef_displaced_t_per_mwh: float = 0.204 / 0.95  # gas boiler [V S33]
    ef_electricity_t_per_mwh: float = 0.135  # BR18 2025 [V S31]
    # --- buildings and homes (MODEL.md §6)
    mwh_per_home: float = 14.0  # Danish standard house 2025 [V S30]; 18.1 pre-2025 claims
    net_to_gross: float = 0.8
    dwelling_area_house_m2: float = 125.0  # [V S30]
    dwelling_area_flat_m2: float = 80.0  # [V S30]
    min_heated_footprint_m2: float = 30.0  # smaller sheds/garages carry no heat demand
    floor_height_m: float = 3.0
    full_load_hours_h: float = 2_000.0  # building peak = annual demand / this [M]
    house_footprint_max_m2: float = 300.0  # untyped building=yes below this is a house [M]
    # calibration: kWh/m²/yr by building class (house, apartments, office, ...) or by
    # construction period ("<=1930", "1931-1960", ..., ">=2007"); {} = MODEL.md §6 values
    specific_demand_by_class_kwh_per_m2: dict[str, float] = field(default_factory=dict)
    specific_demand_by_period_kwh_per_m2: dict[str, float] = field(default_factory=dict)
    # --- hourly model (MODEL.md §3): a year of weather decides how much heat the network takes
    recovery_model: str = "hourly"  # or "annual": E = Q_delivered * 8760 * annual_utilisation
    network_annual_demand_mwh: float = 0.0  # existing network's demand; 0 = estimate (below)
    network_service_distance_m: float = 100.0  # buildings this near a pipe count as its load
    share_max: float = 1.0  # largest share of the network's hourly load one site may cover
    dhw_share: float = 0.2  # domestic hot water share of annual demand, flat over the year [M]
    heating_base_c: float = 17.0  # heating degree-hour base
    supply_curve: bool = True  # supply follows outdoor temperature; False = supply_temp_c
    supply_cold_c: float = 80.0  # supply at outdoor_cold_c [MODEL.md §3 example]
    outdoor_cold_c: float = -12.0
    supply_warm_c: float = 70.0  # supply at outdoor_warm_c and above
    outdoor_warm_c: float = 15.0
    storage_mwh: float = 0.0  # daily-cycle tank per site (0 = none)
    heat_pump_max_mw: float = 0.0  # heat-pump output cap per site; 0 = sized to its peak

    def __post_init__(self) -> None:
        _check_types(self, "params")
        _check_params(self)

    def replace(self, **changes: Any) -> Params:
        """Return a copy with `changes` applied (validated, unknown keys rejected)."""
        _reject_unknown(changes, _field_names(Params), "params")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Params:
        """Build from a plain mapping (e.g. the `params:` block of a YAML study)."""
        data = _as_mapping(data, "params")
        _reject_unknown(data, _field_names(cls), "params")
        if isinstance(data.get("excluded_highways"), list | tuple):
            data["excluded_highways"] = tuple(data["excluded_highways"])
        for key in ("capture_fraction", "source_in_c", "source_out_c"):
            if key in data:  # a partial mapping overrides only the cooling types it names
                given = _as_mapping(data[key], f"params.{key}")
                _reject_unknown(given, list(COOLING_TYPES), f"params.{key} cooling type")
                merged = dict(getattr(cls(), key))
                merged.update(given)
                data[key] = merged
        if data.get("street_class_multiplier"):
            given = _as_mapping(data["street_class_multiplier"], "params.street_class_multiplier")
            _reject_unknown(
                {str(k).lower(): v for k, v in given.items()},
                sorted(OSM_HIGHWAY_VALUES),
                "params.street_class_multiplier highway class",
            )
        return cls(**data)


@dataclass(frozen=True)
class Study:
    """Where a study's inputs are and how to run it.

    Paths may be None: without `osm_path` the demo extract is used only by
    `siting demo`; without `network_path` heat pipes found in the OSM extract are
    used, and without any network the study runs in new-local-network mode.
    """

    name: str = "study"
    osm_path: Path | None = None
    network_path: Path | None = None
    sites_path: Path | None = None
    out_dir: Path = Path("siting-out")
    default_it_load_mw: float = 5.0
    default_cooling: str = "air_coil"
    ranking: str = "lcoh"  # "lcoh" or "score"
    score_weights: dict[str, float] = field(
        default_factory=lambda: {"lcoh": 0.5, "homes_served": 0.3, "route_length": 0.2}
    )
    use_osm_network: bool = True  # use man_made=pipeline heat pipes found in the extract
    max_generated_sites: int = 200
    min_site_building_m2: float = 2_000.0  # generated sites: large non-residential buildings
    min_site_parcel_m2: float = 5_000.0  # generated sites: industrial/commercial parcels
    crs: str | None = None  # projected metric CRS; None = local UTM of the area
    weather_path: Path | None = None  # EPW, CSV or Daisy .dwf; None = typical Danish year
    weather_year: int | None = None  # which year of a multi-year file (default: last complete)
    top_n_routes: int = 50  # routes drawn on the map
    max_route_geometries: int = 2_000  # route lines built (cheapest first); all get costs
    use_cache: bool = True  # street graph cached on disk ($SITING_CACHE_DIR, ~/.cache/siting)
    params: Params = field(default_factory=Params)

    def __post_init__(self) -> None:
        _check_types(self, "study")
        for key in ("osm_path", "network_path", "sites_path", "weather_path"):
            value = getattr(self, key)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, key, Path(value))
        if not isinstance(self.out_dir, Path):
            object.__setattr__(self, "out_dir", Path(self.out_dir))
        if isinstance(self.params, dict):
            object.__setattr__(self, "params", Params.from_dict(self.params))
        if not (math.isfinite(self.default_it_load_mw) and self.default_it_load_mw > 0):
            raise ConfigError(
                f"default_it_load_mw must be a positive number of MW, got "
                f"{self.default_it_load_mw!r}; set it to the IT load of a typical candidate "
                "(e.g. 5)."
            )
        if self.default_cooling not in COOLING_TYPES:
            raise ConfigError(
                f"default_cooling {self.default_cooling!r} is not known; use one of "
                f"{', '.join(COOLING_TYPES)}."
            )
        if self.ranking not in ("lcoh", "score"):
            raise ConfigError(f"ranking must be 'lcoh' or 'score', got {self.ranking!r}.")
        unknown = set(self.score_weights) - {"lcoh", "homes_served", "route_length", "co2"}
        if unknown:
            raise ConfigError(
                f"score_weights has unknown criteria {sorted(unknown)}; use lcoh, homes_served, "
                "route_length, co2."
            )
        if self.crs is not None:
            import pyproj

            try:
                pyproj.CRS.from_user_input(self.crs)
            except pyproj.exceptions.CRSError as exc:
                raise ConfigError(
                    f"crs {self.crs!r} is not a CRS pyproj knows; give the EPSG code of a "
                    "projected metric CRS (e.g. EPSG:25832) or leave crs empty for local UTM."
                ) from exc

    def replace(self, **changes: Any) -> Study:
        """Return a copy with `changes` applied (validated, unknown keys rejected)."""
        _reject_unknown(changes, _field_names(Study), "study")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any], base_dir: Path | None = None) -> Study:
        """Build from a mapping; relative paths are resolved against `base_dir`."""
        data = _as_mapping(data, "study")
        _reject_unknown(data, _field_names(cls), "study")
        params = Params.from_dict(data.pop("params", None))
        for key in ("osm_path", "network_path", "sites_path", "weather_path", "out_dir"):
            if data.get(key) is not None:
                if not isinstance(data[key], str | Path):
                    raise ConfigError(
                        f"{key} must be a file path, got {data[key]!r}; write it as a plain "
                        "string (relative paths are relative to the study file)."
                    )
                path = Path(str(data[key])).expanduser()
                if base_dir is not None and not path.is_absolute():
                    path = base_dir / path
                data[key] = path
        return cls(params=params, **data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> Study:
        """Load a study from a YAML file (paths inside are relative to the file)."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"study config {path} does not exist; check the path.")
        try:
            # bounded: size, and alias expansion (a "billion laughs" file is refused)
            data = validate.load_yaml_file(path) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"study config {path} is not valid YAML: {_yaml_problem(exc)}"
            ) from exc
        if not isinstance(data, dict):
            raise ConfigError(
                f"study config {path} must be a mapping of keys (name:, osm_path:, params: ...), "
                f"got a {type(data).__name__}; write one `key: value` per line."
            )
        validate.check_raw_config(data, f"study config {path}")
        try:
            study = cls.from_dict(data, base_dir=path.parent)
        except ConfigError as exc:
            raise ConfigError(f"study config {path}: {exc}") from exc
        validate.check_study(study, where=f"study config {path}")  # plausible ranges
        return study


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """One line: what the YAML parser found wrong and where (line/column are 1-based)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    context = getattr(exc, "context", None)
    context = f" ({context})" if context else ""
    return (
        f"{problem}{context}{where}; fix the syntax there (indent with spaces, quote values "
        "holding ':' or '#')."
    )


def _as_mapping(data: Any, where: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{where} must be a mapping of `key: value` settings, got {type(data).__name__} "
            f"{data!r}."
        )
    return dict(data)


def _is_number(value: Any) -> bool:
    # numbers.Real takes numpy scalars too; bool is an int but never a setting's number
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _check_types(obj: Any, where: str) -> None:
    """Reject values of the wrong type (a str where a number goes, ...) with the key named."""
    prefix = "" if where == "study" else f"{where}."
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        kind = str(f.type)
        problem = None
        if kind in ("float", "int"):
            if not _is_number(value):
                problem = "a number"
            elif kind == "int" and float(value) != int(value):
                problem = "a whole number"
        elif kind == "bool":
            if not isinstance(value, bool):
                problem = "true or false"
        elif kind == "str":
            if not isinstance(value, str):
                problem = "a text value"
        elif kind == "str | None":
            if value is not None and not isinstance(value, str):
                problem = "a text value (or empty)"
        elif kind.startswith("dict[str, float]"):
            if not isinstance(value, dict) or not all(_is_number(v) for v in value.values()):
                problem = "a mapping of names to numbers"
        elif kind.startswith("tuple[str"):
            if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
                problem = "a list of text values"
        if problem:
            raise ConfigError(f"{prefix}{f.name} must be {problem}, got {validate.brief(value)}.")


def _field_names(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


def _reject_unknown(data: dict[str, Any], valid: list[str], where: str) -> None:
    for key in data:
        if key not in valid:
            close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.5)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            what = where if where.endswith(("type", "class")) else f"{where} setting"
            raise ConfigError(f"unknown {what} {key!r}.{hint} Valid: {', '.join(valid)}.")


def _check_params(p: Params) -> None:
    def positive(name: str) -> None:
        value = getattr(p, name)
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
            raise ConfigError(f"params.{name} must be a positive number, got {value!r}.")

    def fraction(name: str, low: float = 0.0) -> None:
        value = getattr(p, name)
        if not (isinstance(value, int | float) and low < value <= 1.0):
            raise ConfigError(f"params.{name} must be in ({low}, 1], got {value!r}.")

    for name in (
        "pue",
        "mwh_per_home",
        "dwelling_area_house_m2",
        "dwelling_area_flat_m2",
        "floor_height_m",
        "pipe_delta_t_k",
        "max_snap_distance_m",
        "max_route_length_m",
        "local_search_radius_m",
        "heat_pump_max_supply_c",
        "pipe_life_yr",
        "heat_pump_life_yr",
        "analysis_years",
        "heat_pump_capex_factor",
        "pipe_cost_factor",
        "full_load_hours_h",
        "house_footprint_max_m2",
    ):
        positive(name)
    for name in ("specific_demand_by_class_kwh_per_m2", "specific_demand_by_period_kwh_per_m2"):
        bad = {k: v for k, v in getattr(p, name).items() if not v >= 0}
        if bad:
            raise ConfigError(f"params.{name} must map names to kWh/m²/yr >= 0, got {bad}.")
    for name in ("utilisation_it", "eta_lorenz", "annual_utilisation", "net_to_gross"):
        fraction(name)
    if p.pue < 1.0:
        raise ConfigError(f"params.pue must be >= 1 (total / IT energy), got {p.pue}.")
    if p.supply_temp_c <= p.return_temp_c:
        raise ConfigError(
            f"params.supply_temp_c ({p.supply_temp_c} °C) must be above return_temp_c "
            f"({p.return_temp_c} °C)."
        )
    if p.recovery_model not in ("hourly", "annual"):
        raise ConfigError(
            f"params.recovery_model must be 'hourly' or 'annual', got {p.recovery_model!r}."
        )
    fraction("share_max")
    if not 0.0 <= p.dhw_share < 1.0:
        raise ConfigError(f"params.dhw_share must be in [0, 1), got {p.dhw_share}.")
    for name in ("network_annual_demand_mwh", "storage_mwh", "heat_pump_max_mw"):
        if getattr(p, name) < 0:
            raise ConfigError(
                f"params.{name} must not be negative (0 = default), got {getattr(p, name)}."
            )
    if p.outdoor_cold_c >= p.outdoor_warm_c:
        raise ConfigError(
            f"params.outdoor_cold_c ({p.outdoor_cold_c}) must be below outdoor_warm_c "
            f"({p.outdoor_warm_c}) for the supply-temperature curve."
        )
    if p.supply_curve and min(p.supply_cold_c, p.supply_warm_c) <= p.return_temp_c:
        raise ConfigError(
            "the supply-temperature curve (supply_cold_c, supply_warm_c) must stay above "
            f"return_temp_c ({p.return_temp_c} °C); raise the curve or set supply_curve: false."
        )
    if p.cop_model not in ("lorenz", "jesper"):
        raise ConfigError(f"params.cop_model must be 'lorenz' or 'jesper', got {p.cop_model!r}.")
    if not 0.0 <= p.discount_rate < 1.0:
        raise ConfigError(f"params.discount_rate must be in [0, 1), got {p.discount_rate}.")
    for key in ("capture_fraction", "source_in_c", "source_out_c"):
        missing = set(COOLING_TYPES) - set(getattr(p, key))
        if missing:
            raise ConfigError(f"params.{key} lacks cooling types {sorted(missing)}.")
    for cooling in COOLING_TYPES:
        if p.source_in_c[cooling] <= p.source_out_c[cooling]:
            raise ConfigError(
                f"params.source_in_c[{cooling!r}] must be above source_out_c (water is cooled)."
            )
        if not 0.0 < p.capture_fraction[cooling] <= 1.0:
            raise ConfigError(f"params.capture_fraction[{cooling!r}] must be in (0, 1].")
    for name in ("electricity_price_eur_per_mwh", "heat_price_eur_per_mwh", "crossing_cost_eur"):
        if getattr(p, name) < 0:
            raise ConfigError(f"params.{name} must not be negative, got {getattr(p, name)}.")
