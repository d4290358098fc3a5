"""Parameter metadata: each `Params`/`Study` field is documented once, where it is declared.

`param()` declares a dataclass field together with its description, unit, valid and typical
range and source tag. Everything else reads that back: the class docstrings
(``help(siting.Params)``), field validation (:func:`check_fields`), the CLI's help texts,
the report's assumptions table and ``siting schema`` (:func:`study_schema`, a JSON Schema
of the study YAML for editors).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import inspect
import math
import numbers
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from siting.errors import ConfigError

if TYPE_CHECKING:
    pass

META_KEY = "siting"  # our entry in dataclasses.Field.metadata (other libraries may add theirs)
NO_UNIT = "-"  # text, flags and choices have no unit
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
# hard limits, as in JSON Schema: exclusiveMinimum, minimum, exclusiveMaximum, maximum
_BOUND_KEYWORDS = {
    "gt": "exclusiveMinimum",
    "ge": "minimum",
    "lt": "exclusiveMaximum",
    "le": "maximum",
}


@dataclass(frozen=True)
class ParamInfo:
    """What is known about one configuration field.

    Attributes
    ----------
    name, type : the field's name and annotation (as text, e.g. ``"dict[str, float]"``).
    default : its default value (property: a fresh copy for mappings).
    description : what it is, in plain words.
    unit : unit of the value (of each value, for a mapping); ``"-"`` for text and flags.
    source : where the default comes from: ``"[V S26]"`` read in a cited source, ``"[D]"``
        derived, ``"[M]"`` engineering default, ``"docs/model.md §4"``, or ``"setting"`` (a
        screening choice of the user, not a fact about the world).
    typical : (low, high) plausible range, docs/model.md's where it gives one. Values outside it
        are allowed; the sensitivity sweep uses the same ends.
    bounds : hard limits, a subset of ``gt``, ``ge``, ``lt``, ``le``; a number outside them
        (or not finite) is a ConfigError. For a mapping they apply to every value.
    choices : allowed values of a text field.
    keys : allowed keys of a mapping field.
    """

    name: str
    type: str
    default_factory: Callable[[], Any] = dataclasses.field(repr=False)
    description: str
    unit: str
    source: str
    typical: tuple[float, float] | None = None
    bounds: dict[str, float] = dataclasses.field(default_factory=dict)
    choices: tuple[str, ...] | None = None
    keys: tuple[str, ...] | None = None

    @property
    def default(self) -> Any:
        """The field's default value (built on each call, so it is safe to change)."""
        return self.default_factory()

    @property
    def default_text(self) -> str:
        """The default as shown in docs and messages (``Params()`` for a nested dataclass)."""
        if isinstance(self.default_factory, type):
            return f"{self.default_factory.__name__}()"
        return _show(self.default)

    @property
    def label(self) -> str:
        """Description with the unit, e.g. ``"Electricity price ... (EUR/MWh)"``."""
        return self.description if self.unit == NO_UNIT else f"{self.description} ({self.unit})"

    @property
    def rule(self) -> str:
        """The hard limits in words: ``"a positive number"``, ``"in (0, 1]"``, ``">= 1"``."""
        b = self.bounds
        low = ("(", b["gt"]) if "gt" in b else ("[", b["ge"]) if "ge" in b else None
        high = (b["lt"], ")") if "lt" in b else (b["le"], "]") if "le" in b else None
        if low and high:
            return f"in {low[0]}{low[1]:g}, {high[0]:g}{high[1]}"
        if b == {"gt": 0}:
            return "a positive number"
        if low:
            return f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
        if high:
            return f"{'<' if high[1] == ')' else '<='} {high[0]:g}"
        return "a number"

    def within(self, value: float) -> bool:
        """True if `value` is finite and meets the hard limits (NaN never does)."""
        b = self.bounds
        return (
            math.isfinite(value)
            and ("gt" not in b or value > b["gt"])
            and ("ge" not in b or value >= b["ge"])
            and ("lt" not in b or value < b["lt"])
            and ("le" not in b or value <= b["le"])
        )


def param(
    default: Any = dataclasses.MISSING,
    unit: str = "",
    desc: str = "",
    source: str = "",
    *,
    factory: Callable[[], Any] | None = None,
    typical: tuple[float, float] | None = None,
    choices: Iterable[str] | None = None,
    keys: Iterable[str] | None = None,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> Any:
    """A dataclass field carrying its documentation (see :class:`ParamInfo`).

    A mutable default (dict, list) becomes a ``default_factory`` returning a copy; `factory`
    gives one directly (e.g. ``factory=Params``).
    """
    if not (unit and desc and source):
        raise TypeError("param() needs a unit ('-' for none), a description and a source tag")
    meta = {
        "unit": unit,
        "description": desc,
        "source": source,
        "typical": tuple(typical) if typical is not None else None,
        "bounds": {
            k: v for k, v in (("gt", gt), ("ge", ge), ("lt", lt), ("le", le)) if v is not None
        },
        "choices": tuple(choices) if choices is not None else None,
        "keys": tuple(keys) if keys is not None else None,
    }
    if isinstance(default, dict | list | set):
        factory, default = (lambda value=default: copy.deepcopy(value)), dataclasses.MISSING
    if factory is not None:
        return dataclasses.field(default_factory=factory, metadata={META_KEY: meta})
    return dataclasses.field(default=default, metadata={META_KEY: meta})


def describe(cls: type) -> dict[str, ParamInfo]:
    """Every field of the dataclass `cls` (``Params`` or ``Study``) by name, in order.

    Raises
    ------
    TypeError
        If a field was declared without :func:`param`.
    """
    return dict(_describe(cls))


@functools.cache
def _describe(cls: type) -> dict[str, ParamInfo]:
    # cached: check_fields runs on every Params()/Study() construction
    out = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata.get(META_KEY)
        if meta is None:
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with param()")
        if f.default is not dataclasses.MISSING:
            factory = functools.partial(_identity, f.default)  # immutable: no copy needed
        else:
            factory = f.default_factory
        out[f.name] = ParamInfo(name=f.name, type=str(f.type), default_factory=factory, **meta)
    return out


def _identity(value: Any) -> Any:
    return value


# --------------------------------------------------------------------------- validation


def is_number(value: Any) -> bool:
    """A real number (numpy scalars too); bool is an int but never a setting's number."""
    # numpy's bool_ is no numbers.Real; Python's bool is (an int), so only it is excluded
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_fields(obj: Any, where: str) -> None:
    """Check each field of `obj` alone: its type, then its hard limits and choices.

    `where` is ``"study"`` or ``"params"`` (the prefix of the key in messages). Checks that
    relate two fields (supply above return, ...) stay with the class.
    """
    prefix = "" if where == "study" else f"{where}."
    infos = _describe(type(obj))
    for name, info in infos.items():
        value = getattr(obj, name)
        _check_type(prefix + name, info.type, value)
        if info.choices is not None and isinstance(value, str) and value not in info.choices:
            raise ConfigError(
                f"{prefix}{name} {value!r} is not known; use one of {', '.join(info.choices)}."
            )
        if not info.bounds:
            continue
        values = value.items() if isinstance(value, dict) else [(None, value)]
        for key, v in values:
            if v is not None and is_number(v) and not info.within(float(v)):
                at = f"[{key!r}]" if key is not None else ""
                raise ConfigError(_out_of_range(f"{prefix}{name}{at}", info, v))


def _out_of_range(key: str, info: ParamInfo, value: Any) -> str:
    unit = "" if info.unit == NO_UNIT else f" ({info.unit})"
    rule = info.rule if math.isfinite(value) else f"a finite number, {info.rule}"
    typical = f", plausible {_typical_range(info)} ({info.source})" if info.typical else ""
    return (
        f"{key} must be {rule}{unit}, got {value!r}. {info.description}: default "
        f"{info.default_text}{typical}."
    )


def _check_type(key: str, kind: str, value: Any) -> None:
    """Reject values of the wrong type (a str where a number goes, ...) with the key named."""
    problem = None
    if kind in ("float", "int"):
        if not is_number(value):
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
        if not isinstance(value, dict) or not all(is_number(v) for v in value.values()):
            problem = "a mapping of names to numbers"
    elif kind.startswith("tuple[str"):
        if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
            problem = "a list of text values"
    if problem:
        raise ConfigError(f"{key} must be {problem}, got {value!r}.")


# --------------------------------------------------------------------------- docstrings


def document(cls: type) -> type:
    """Class decorator: append a numpydoc ``Parameters`` section built from the metadata.

    Apply above ``@dataclass`` so the fields exist; ``help(cls)`` then lists each field
    with its type, default, unit, valid range, typical range and source.
    """
    head = inspect.cleandoc(cls.__doc__ or cls.__name__)
    lines = [head, "", "Parameters", "----------"]
    for info in describe(cls).values():
        lines.append(f"{info.name} : {info.type}, default {info.default_text}")
        text = f"{info.description}. Unit: {'none' if info.unit == NO_UNIT else info.unit}."
        valid = _valid_text(info)
        if valid:
            text += f" Valid: {valid}."
        if info.typical:
            text += f" Typical: {_typical_range(info)}."
        text += f" Source: {info.source}."
        lines += textwrap.wrap(text, 92, initial_indent="    ", subsequent_indent="    ")
    cls.__doc__ = "\n".join(lines) + "\n"
    return cls


def _valid_text(info: ParamInfo) -> str:
    if info.choices:
        shown = [repr(c) for c in info.choices]
        return " or ".join(shown) if len(shown) == 2 else "one of " + ", ".join(shown)
    if info.bounds:
        return info.rule
    if info.keys and len(info.keys) <= 8:
        return "keys " + ", ".join(info.keys)
    return ""


def _typical_range(info: ParamInfo) -> str:
    low, high = info.typical
    return f"{low:.3g}–{high:.3g}"


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(map(str, value)) + ")"
    return repr(value) if isinstance(value, str | dict) else str(value)


# --------------------------------------------------------------------------- JSON Schema
