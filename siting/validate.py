"""Check every input value where it enters: plausible ranges, numbers, geometries, YAML size.

One place holds what "plausible" means for the values a user types or a file carries
(IT load, temperatures, capacities, prices): a value past a *hard* limit is an error that
names the field, the value, where it came from and the fix; a value in the *soft* band
(possible but unusual) is a warning, logged once per process. The readers
(:mod:`siting.sources.sites`, :mod:`siting.sources.network`), the YAML loader
(:meth:`siting.config.Study.from_yaml`), the CLI and :func:`siting.pipeline.as_study` call
these helpers, so a bad value never travels into the model to surface as a wrong ranking.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import numbers
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from siting.errors import ConfigError, InputDataError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

log = logging.getLogger("siting.validate")

# --------------------------------------------------------------------------- ranges


@dataclass(frozen=True)
class Range:
    """Plausible values of one field.

    Outside [`hard_min`, `hard_max`] is an error; outside [`soft_min`, `soft_max`] (but
    within the hard limits) a warning. `min_exclusive` makes `hard_min` itself an error.
    """

    unit: str
    hard_min: float
    hard_max: float
    soft_min: float
    soft_max: float
    min_exclusive: bool = False
    why: str = ""  # what the hard limit stands for, said in the error

    def problem(self, value: float) -> tuple[str, str] | None:
        """("error" | "warning", text) for `value`, or None when it is ordinary."""
        u = f" {self.unit}" if self.unit else ""
        if not math.isfinite(value):
            return "error", f"is {value} (not a finite number)"
        low_bad = value <= self.hard_min if self.min_exclusive else value < self.hard_min
        if low_bad or value > self.hard_max:
            low = f"above {self.hard_min:g}" if self.min_exclusive else f"{self.hard_min:g}"
            span = (
                f"above {self.hard_min:g} and at most {self.hard_max:g}{u}"
                if self.min_exclusive
                else f"from {low} to {self.hard_max:g}{u}"
            )
            why = f" ({self.why})" if self.why else ""
            return "error", f"{value:g}{u} is outside the possible range: it must be {span}{why}"
        if value < self.soft_min or value > self.soft_max:
            return (
                "warning",
                f"{value:g}{u} is unusual (typical {self.soft_min:g} to {self.soft_max:g}{u}); "
                "check it",
            )
        return None


IT_LOAD_MW = Range(
    "MW", 0.0, 2_000.0, 0.1, 300.0, min_exclusive=True,
    why="the largest data-center campuses draw about 1,000 MW; is it in kW?",
)  # fmt: skip
SUPPLY_TEMP_C = Range(
    "°C", 5.0, 250.0, 40.0, 130.0, why="district-heating water, or steam up to ~200 °C"
)
RETURN_TEMP_C = Range("°C", 0.0, 200.0, 15.0, 80.0, why="district-heating return water")
CAPACITY_MW = Range(
    "MW", 0.0, 50_000.0, 0.01, 3_000.0, min_exclusive=True,
    why="a network's whole heat load; 0 or less would take no heat at all",
)  # fmt: skip

# Study and Params fields (the other numbers keep the checks in siting.config)
STUDY_RANGES: dict[str, Range] = {"default_it_load_mw": IT_LOAD_MW}
PARAM_RANGES: dict[str, Range] = {
    "supply_temp_c": SUPPLY_TEMP_C,
    "return_temp_c": RETURN_TEMP_C,
    "supply_cold_c": SUPPLY_TEMP_C,
    "supply_warm_c": SUPPLY_TEMP_C,
    "heat_pump_max_supply_c": Range("°C", 20.0, 250.0, 50.0, 130.0),
    "source_in_c": Range("°C", 0.0, 150.0, 15.0, 90.0, why="data-center cooling water"),
    "source_out_c": Range("°C", 0.0, 150.0, 10.0, 80.0, why="data-center cooling water"),
    "outdoor_cold_c": Range("°C", -70.0, 40.0, -40.0, 5.0),
    "outdoor_warm_c": Range("°C", -40.0, 50.0, 0.0, 25.0),
    "heating_base_c": Range("°C", 0.0, 40.0, 10.0, 22.0),
    "electricity_price_eur_per_mwh": Range("EUR/MWh", 0.0, 10_000.0, 0.0, 500.0),
    "heat_price_eur_per_mwh": Range("EUR/MWh", 0.0, 10_000.0, 0.0, 300.0),
    "heat_pump_max_mw": Range("MW", 0.0, 20_000.0, 0.0, 1_000.0),
    "storage_mwh": Range("MWh", 0.0, 1e6, 0.0, 20_000.0),
    "network_annual_demand_mwh": Range("MWh/yr", 0.0, 1e9, 0.0, 2e7),
    "mwh_per_home": Range("MWh/yr", 0.0, 500.0, 3.0, 40.0, min_exclusive=True),
    "pue": Range("", 1.0, 10.0, 1.0, 2.5),
    "discount_rate": Range("", 0.0, 1.0, 0.0, 0.15),
    "max_route_length_m": Range("m", 0.0, 1e6, 100.0, 50_000.0, min_exclusive=True),
    # cost of a metre of trench along a street class relative to the reference street
    "street_class_multiplier": Range("", 0.0, 100.0, 0.2, 20.0, min_exclusive=True),
}

_warned: set[str] = set()


def warn_once(text: str) -> None:
    """Log a warning once per process (a value checked by several callers warns once)."""
    if text not in _warned:
        _warned.add(text)
        log.warning("%s", text)


def brief(value: Any, limit: int = 60) -> str:
    """`repr(value)` cut to `limit` characters (error messages quote values, never floods)."""
    try:
        text = repr(value) if not isinstance(value, list | dict | tuple | set) else None
    except Exception:  # a value whose repr fails is still named by its type
        text = None
    if text is None:
        text = _brief_container(value, limit)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _brief_container(value: Any, limit: int) -> str:
    # never repr a container whole: it may be a shared-reference bomb
    parts, used = [], 0
    items = list(value.items())[:5] if isinstance(value, dict) else list(value)[:5]
    for item in items:
        if isinstance(item, tuple) and isinstance(value, dict):
            s = f"{brief(item[0], 20)}: {brief(item[1], 20)}"
        else:
            s = brief(item, 20)
        parts.append(s)
        used += len(s)
        if used > limit:
            break
    left, right = {"list": "[]", "dict": "{}", "tuple": "()", "set": "{}"}.get(
        type(value).__name__, "[]"
    )
    more = ", ..." if len(value) > len(parts) else ""
    return f"{left}{', '.join(parts)}{more}{right}"


def _is_number(value: Any) -> bool:
    # numpy's bool_ is no numbers.Real; Python's bool is (an int), so only it is excluded
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_study(study: Any, where: str = "study") -> list[str]:
    """Check a Study's values against the plausible ranges; return (and log) the warnings.

    Raises ConfigError for a value past a hard limit or a number that is NaN or infinite.
    `where` prefixes the messages (e.g. the YAML file).
    """
    warnings: list[str] = []
    prefix = "" if where == "study" else f"{where}: "

    def one(name: str, value: Any, rng: Range | None) -> None:
        if not _is_number(value):
            return  # types are checked by siting.config
        value = float(value)
        found = (
            rng.problem(value)
            if rng is not None
            else (None if math.isfinite(value) else ("error", f"is {value}"))
        )
        if found is None:
            return
        kind, text = found
        fix = f"; set {name} in the study config to a plausible value" if kind == "error" else ""
        msg = f"{prefix}{name} {text}{fix}."
        if kind == "error":
            raise ConfigError(msg)
        warnings.append(msg)

    for f in dataclasses.fields(study):
        if f.name != "params":
            one(f.name, getattr(study, f.name), STUDY_RANGES.get(f.name))
    params = study.params
    for f in dataclasses.fields(params):
        value, rng = getattr(params, f.name), PARAM_RANGES.get(f.name)
        if isinstance(value, dict):
            for key, v in value.items():
                one(f"params.{f.name}[{key!r}]", v, rng)
        else:
            one(f"params.{f.name}", value, rng)
    for text in warnings:
        warn_once(text)
    return warnings


def check_raw_config(data: dict[str, Any], where: str) -> None:
    """Checks only the raw YAML/mapping can make (``out_dir: ""`` is "." once a Path)."""
    for key in ("out_dir", "osm_path", "network_path", "sites_path", "weather_path"):
        value = data.get(key)
        if isinstance(value, str) and not value.strip():
            raise ConfigError(
                f"{where}: {key} is empty; give a folder/file name (e.g. out_dir: results) or "
                "leave the key out for the default."
            )


# --------------------------------------------------------------------------- YAML

MAX_YAML_BYTES = 1 << 20  # a study file is a page of settings, not a data set
MAX_YAML_NODES = 100_000  # values after expanding aliases (*name): a billion laughs stops here


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e9` as a number (YAML 1.2; PyYAML's 1.1 needs `1.0e9`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml_value(text: str, where: str) -> Any:
    """One YAML value (a `--set` value: `0.05`, `1e9`, `true`, `[a, b]`, `{liquid: 0.9}`).

    Parsed as a study file's values are (YAML 1.2 numbers included); raises ConfigError
    naming `where` for text that is not YAML or longer than a setting can be.
    """
    if len(text) > 10_000:
        raise ConfigError(f"{where}: the value is {len(text):,} characters; a setting is short.")
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, where)  # aliases: bounded as in a study file
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            f"{where}: {text!r} is not a YAML value ({problem}); quote text holding ':' or "
            "'#', e.g. name='Odense: east'."
        ) from exc
    finally:
        loader.dispose()


def load_yaml_file(path: Path, what: str = "study config") -> Any:
    """Read and parse a YAML file safely: bounded size, bounded alias expansion.

    Raises ConfigError naming the file for an unreadable, oversized, non-UTF-8 or invalid
    file, or one whose aliases expand past `MAX_YAML_NODES` values (or refer to themselves).
    """
    try:
        size = path.stat().st_size
        if size > MAX_YAML_BYTES:
            raise ConfigError(
                f"{what} {path} is {size:,} bytes; a study file holds settings (a few kB), "
                "not data: point to data files with osm_path, network_path, sites_path."
            )
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not a UTF-8 text file ({exc.reason}); give a YAML file."
        ) from exc
    except OSError as exc:
        raise ConfigError(
            f"{what} {path} cannot be read ({exc.strerror or exc}); "
            + fix_for_os_error(exc, reading=True)
        ) from exc
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node, f"{what} {path}")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node, where: str) -> None:
    """Count the values of the document with every alias expanded, without expanding it.

    PyYAML shares an aliased node; a value built from it is small in memory but explodes
    when anything walks it (printing it in an error wrote 4 GB). Sizes are memoised per
    node, so a billion-laughs document is measured in microseconds.
    """
    size: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            total = 1 + sum(size[id(c)] for c in children)
            size[key] = total
            if total > MAX_YAML_NODES:
                raise ConfigError(
                    f"{where}: its aliases (*name) expand to more than {MAX_YAML_NODES:,} "
                    f"values (line {node.start_mark.line + 1}); a study file never needs that "
                    "many: write the values out, or use fewer nested aliases."
                )
            continue
        if key in size:
            continue
        if key in on_path:
            raise ConfigError(
                f"{where}: an alias refers to itself (line {node.start_mark.line + 1}); "
                "remove the recursive alias."
            )
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                raise ConfigError(
                    f"{where}: an alias refers to itself (line {child.start_mark.line + 1}); "
                    "remove the recursive alias."
                )
            if id(child) not in size:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [x for pair in node.value for x in pair]
    return []


# --------------------------------------------------------------------------- files


def fix_for_os_error(exc: OSError, reading: bool | None) -> str:
    """What the user can do about an OSError (permission, full disk, ...), one clause.

    `reading`: True for an input, False for an output, None when unknown.
    """
    import errno

    code = getattr(exc, "errno", None)
    if code in (errno.EACCES, errno.EPERM):
        if reading is None:
            return "check the permissions of that file or folder (ls -l) for your user."
        return (
            "give your user read permission (e.g. chmod a+r FILE) or copy the file somewhere "
            "readable."
            if reading
            else "choose a folder you can write to, or fix its permissions."
        )
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return "free disk space (or raise the quota / file-size limit), or write elsewhere."
    if code == errno.EROFS:
        return "the file system is read-only; choose a folder on a writable disk."
    if code == errno.EISDIR:
        return "give a file, not a folder."
    if code == errno.EIO:
        return "the disk reported an I/O error; check the disk or copy the file elsewhere."
    return "check the path and its permissions."


def check_readable(path: Path, what: str) -> None:
    """Open `path` and read a byte; an OSError becomes an InputDataError naming the fix.

    Folders pass (a Shapefile may be given as its folder); a missing path is the caller's
    error (it names the file its own way).
    """
    if path.is_dir() or not path.exists():
        return
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        raise InputDataError(
            f"{what} {path} cannot be read ({exc.strerror or exc}); "
            + fix_for_os_error(exc, reading=True)
        ) from exc


# --------------------------------------------------------------------------- table values

_DECIMAL = re.compile(r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?$")


def is_missing(v: Any) -> bool:
    """True for an empty cell: None, NA, NaN or blank text (never compares arrays)."""
    import pandas as pd  # here, not at the top: `siting --help` loads this module

    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, numbers.Real) and not isinstance(v, numbers.Integral):  # float, np.float32
        return math.isnan(v)
    return isinstance(v, str) and not v.strip()


def row_label(i: int, ids: list[Any] | None = None, id_name: str = "site") -> str:
    """`row 3` (1-based, file order), with the feature's id when it has one."""
    label = f"row {i + 1}"
    ident = None if ids is None else ids[i]
    if not is_missing(ident):
        label += f" ({id_name} {brief(str(ident), 40)})"
    return label


def parse_numbers(
    column: pd.Series, field: str, where: str, labels: list[str], unit: str, fix: str
) -> np.ndarray:
    """A column of a user's table as floats, NaN where empty; anything else is an error.

    A value is a number when it is a real number or text holding only a decimal number
    ("20", "2.5e1"). Text with units or words ("20 MW", "nan"), booleans, lists and objects
    are errors that quote the rows, the field and the values.
    """
    import numpy as np  # here, not at the top: `siting --help` loads this module

    values = np.full(len(column), np.nan)
    bad: list[str] = []
    for i, v in enumerate(column.tolist()):
        if is_missing(v):
            continue
        if isinstance(v, str):
            s = v.strip()
            if _DECIMAL.match(s):
                values[i] = float(s)
                continue
        elif _is_number(v):
            values[i] = float(v)
            continue
        bad.append(f"{labels[i]} has {brief(v, 40)}")
    if bad:
        raise InputDataError(
            f"{where}: {field} must be a plain number in {unit}, but "
            + "; ".join(bad[:3])
            + (f" (and {len(bad) - 3} more rows)" if len(bad) > 3 else "")
            + f". {fix}"
        )
    return values


def check_range(
    values: np.ndarray,
    field: str,
    where: str,
    labels: list[str],
    rng: Range,
    fix: str,
    error: type[Exception] = InputDataError,
) -> None:
    """Raise `error` for values past `rng`'s hard limits (rows, field and values quoted);
    warn once for values in its soft band. NaN (empty) values are skipped.
    """
    errors, warns = [], []
    for i, value in enumerate(values):
        if math.isnan(value):
            continue  # empty: the caller's default
        found = rng.problem(float(value))
        if found is not None:
            (errors if found[0] == "error" else warns).append(f"{labels[i]}: {field} {found[1]}")
    if errors:
        more = f" (and {len(errors) - 3} more rows)" if len(errors) > 3 else ""
        raise error(f"{where}: {'; '.join(errors[:3])}{more}. {fix}")
    if warns:
        more = f" (and {len(warns) - 3} more rows)" if len(warns) > 3 else ""
        warn_once(f"{where}: {'; '.join(warns[:3])}{more}.")


# --------------------------------------------------------------------------- geometries


def geometry_problems(geoms: Any, lines: bool) -> list[tuple[int, str]]:
    """(row, problem) of degenerate geometries: non-finite coordinates, zero-length lines,
    zero-area or self-intersecting polygons (row 0-based, in the order given).
    """
    import numpy as np
    import shapely

    arr = np.asarray(geoms)
    out: list[tuple[int, str]] = []
    for i, g in enumerate(arr):
        if g is None or g.is_empty:
            continue
        coords = shapely.get_coordinates(g, include_z=False)
        if not np.isfinite(coords).all():
            out.append((i, "has coordinates that are not finite numbers (NaN or infinity)"))
            continue
        kind = g.geom_type
        if kind in ("LineString", "MultiLineString", "LinearRing"):
            parts = list(g.geoms) if kind == "MultiLineString" else [g]
            if any(p.length <= 0 for p in parts):
                out.append((i, "is a line of zero length (all its points are the same)"))
        elif kind in ("Polygon", "MultiPolygon"):
            if g.area <= 0:
                out.append((i, "is a polygon of zero area"))
            elif not g.is_valid:
                reason = shapely.is_valid_reason(g)
                out.append((i, f"is an invalid polygon ({reason})"))
    return out


__all__ = [
    "CAPACITY_MW",
    "IT_LOAD_MW",
    "PARAM_RANGES",
    "RETURN_TEMP_C",
    "Range",
    "STUDY_RANGES",
    "SUPPLY_TEMP_C",
    "brief",
    "check_raw_config",
    "check_readable",
    "check_study",
    "fix_for_os_error",
    "geometry_problems",
    "is_missing",
    "load_yaml_file",
    "check_range",
    "parse_numbers",
    "row_label",
    "warn_once",
]
