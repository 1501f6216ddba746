"""How one server setting is declared: its meaning, unit and bounds, beside its default.

A :class:`ServerSettings` field is declared with :func:`setting`, which stores a
:class:`Setting` in the dataclass field's metadata. Everything else is derived
from that one declaration: construction-time validation, the ``rrp serve`` flag
(``--`` + the field name with ``-`` for ``_``), its help text and its bad-value
sentence, and the settings table on the documentation site. Adding a setting is
adding one field; nothing else repeats its name, default or bounds.
"""

from __future__ import annotations

import enum
import math
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any


class Unit(enum.Enum):
    """What a setting's number counts; it names the flag's metavar and the unit in sentences."""

    #: A duration in seconds (a float).
    SECONDS = "seconds"
    #: A size in bytes.
    BYTES = "bytes"
    #: A number of things (connections, requests, entries...).
    COUNT = "count"
    #: A rate in events per second.
    PER_SECOND = "per second"
    #: A share between 0 and 1.
    SHARE = "share"
    #: An opaque number (a seed).
    NUMBER = "number"

    @property
    def metavar(self) -> str:
        """The placeholder ``rrp serve --help`` shows for a value in this unit."""
        return {Unit.SECONDS: "S", Unit.BYTES: "BYTES", Unit.PER_SECOND: "R", Unit.SHARE: "P"}.get(self, "N")

    def quantity(self, value: object) -> str:
        """``value`` with its unit, as it reads in a sentence: ``10 s``, ``1048576 bytes``, ``64``."""
        text = f"{value:g}" if isinstance(value, float) else str(value)
        suffix = {Unit.SECONDS: " s", Unit.BYTES: " bytes", Unit.PER_SECOND: "/s"}.get(self, "")
        return text + suffix


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    """One setting's declaration, stored in its dataclass field's metadata under :data:`METADATA_KEY`."""

    #: What the setting does, one or two sentences, citing the requirements it serves.
    help: str
    #: What the number counts (nothing, for a switch).
    unit: Unit = Unit.COUNT
    #: Smallest allowed value (inclusive unless :attr:`above` is set), or ``None`` for no lower bound.
    low: float | None = None
    #: ``True`` when the value must be strictly greater than :attr:`low` (a duration that cannot be 0).
    above: bool = False
    #: Largest allowed value (inclusive), or ``None`` for no upper bound.
    high: float | None = None
    #: The requirement ID that imposes the bounds, when they come from the spec rather than from sense.
    bound_by: str | None = None
    #: What the value 0 means when it is special (``"off"``), for the help text.
    zero_means: str | None = None

    def bounds(self) -> str:
        """The allowed values as a phrase: ``between 0 and 65507 bytes``, ``above 0 s and at most 10 s``."""
        unit = self.unit.quantity
        if self.low is not None and self.high is not None and not self.above:
            text = f"between {Unit.COUNT.quantity(self.low)} and {unit(self.high)}"
        elif self.low is not None and self.high is not None:
            text = f"above {unit(self.low)} and at most {unit(self.high)}"
        elif self.low is not None:
            text = f"above {unit(self.low)}" if self.above else f"at least {unit(self.low)}"
        elif self.high is not None:
            text = f"at most {unit(self.high)}"
        else:
            return "any whole number" if self.unit is Unit.NUMBER else "any number"
        return f"{text} ({self.bound_by})" if self.bound_by else text

    def problem(self, value: object, *, kind: type, optional: bool) -> str | None:
        """Why ``value`` is not allowed, as the end of a sentence (``must be at least 1, not 0``); ``None`` if it is."""
        if value is None and optional:
            return None
        if kind is bool:
            return None if isinstance(value, bool) else f"must be true or false, not {value!r}"
        integer = kind is int
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "must be a whole number" if integer else "must be a number"
        if integer and not isinstance(value, int):
            return f"must be a whole number, not {value:g}"
        if isinstance(value, float) and not math.isfinite(value):
            return f"must be a finite number, not {value!r}"
        too_low = self.low is not None and (value <= self.low if self.above else value < self.low)
        too_high = self.high is not None and value > self.high
        if too_low or too_high:
            return f"must be {self.bounds()}, not {value:g}"
        return None


#: The key under which :func:`setting` stores a field's :class:`Setting`.
METADATA_KEY = "rrp.setting"


def setting(default: Any, **declaration: Any) -> Any:
    """A dataclass field with ``default`` and its :class:`Setting` (keyword arguments as for :class:`Setting`)."""
    return field(default=default, metadata={METADATA_KEY: Setting(**declaration)})


@dataclass(frozen=True, slots=True)
class DeclaredSetting:
    """A setting as its class declares it: name, Python type, default and :class:`Setting`."""

    #: The field name, which is also the keyword argument.
    name: str
    #: ``int``, ``float`` or ``bool``.
    kind: type
    #: Whether ``None`` is allowed as well (``int | None``).
    optional: bool
    #: The default value.
    default: Any
    #: Meaning, unit and bounds.
    setting: Setting

    @property
    def flag(self) -> str:
        """The command-line flag: ``--`` and the name with dashes."""
        return "--" + self.name.replace("_", "-")

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not allowed for this setting, or ``None``."""
        return self.setting.problem(value, kind=self.kind, optional=self.optional)

    def is_wrong_type(self, value: object) -> bool:
        """Whether ``value`` is not even of this setting's type (a ``TypeError`` rather than a ``ValueError``)."""
        if value is None:
            return not self.optional
        if self.kind is bool:
            return not isinstance(value, bool)
        if isinstance(value, bool):
            return True
        return not isinstance(value, int) if self.kind is int else not isinstance(value, int | float)


_KINDS: dict[str, tuple[type, bool]] = {
    "bool": (bool, False),
    "int": (int, False),
    "float": (float, False),
    "int | None": (int, True),
    "float | None": (float, True),
}


def declared_settings(cls: type) -> tuple[DeclaredSetting, ...]:
    """Every field of the dataclass ``cls``, in order; ``TypeError`` if one lacks a :func:`setting` declaration."""
    declared = []
    for item in fields(cls):
        declared.append(_declared(cls, item))
    return tuple(declared)


def _declared(cls: type, item: Field[Any]) -> DeclaredSetting:
    declaration = item.metadata.get(METADATA_KEY)
    if not isinstance(declaration, Setting):
        raise TypeError(f"{cls.__name__}.{item.name} is not declared with setting(...)")
    if item.default is MISSING:
        raise TypeError(f"{cls.__name__}.{item.name} has no default")
    type_name = item.type if isinstance(item.type, str) else getattr(item.type, "__name__", str(item.type))
    if type_name not in _KINDS:
        raise TypeError(f"{cls.__name__}.{item.name} has type {type_name}; settings are bool, int or float (or | None)")
    kind, optional = _KINDS[type_name]
    return DeclaredSetting(item.name, kind, optional, item.default, declaration)


def validate(instance: object, declared: tuple[DeclaredSetting, ...]) -> None:
    """``ValueError`` (or ``TypeError`` for a wrong type) naming the first setting of ``instance`` out of bounds."""
    for entry in declared:
        value = getattr(instance, entry.name)
        problem = entry.problem(value)
        if problem is not None:
            raise (TypeError if entry.is_wrong_type(value) else ValueError)(f"{entry.name} {problem}")
