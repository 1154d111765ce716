"""What a setting may hold, declared once and read by everything that checks it.

Each constraint answers `allows(value)`, says in words what it allows
(`str(c)`, used in error messages) and can produce a value it refuses
(`invalid()`, so that every rule gets a test without writing one by hand):

    Interval(Real, 0, 1, closed="left")   a real number in [0, 1)
    Interval(Integral, 1, None)           an integer >= 1
    Options("sgd", "adam")                one of the names
"""

from __future__ import annotations

import dataclasses
import math
from numbers import Integral, Real


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)


class Interval:
    """A number of `kind` (Integral or Real) between low and high (None: unbounded).
    closed: "both", "left", "right" or "neither" says which ends are allowed."""

    def __init__(self, kind, low, high, closed="both"):
        self.kind, self.low, self.high, self.closed = kind, low, high, closed

    def allows(self, v) -> bool:
        if not (_is_int(v) if self.kind is Integral else _is_real(v)):
            return False
        low_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        high_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return low_ok and high_ok

    def __str__(self) -> str:
        bounds = []
        if self.low is not None:
            bounds.append(f"{'>=' if self.closed in ('both', 'left') else '>'} {self.low}")
        if self.high is not None:
            bounds.append(f"{'<=' if self.closed in ('both', 'right') else '<'} {self.high}")
        noun = "an integer" if self.kind is Integral else "a finite number"
        return " ".join([noun, " and ".join(bounds)]).strip()

    def invalid(self):
        if self.low is not None:
            return self.low if self.closed in ("right", "neither") else self.low - 1
        return self.high if self.closed in ("left", "neither") else self.high + 1


class Options:
    """One of a set of names: Options("float32", "float64"), or Options(REGISTRY)
    for the keys of a registry dict as they are when checked (a new entry is
    allowed at once)."""

    def __init__(self, *choices):
        self.source = choices[0] if len(choices) == 1 and isinstance(choices[0], dict) else choices

    @property
    def choices(self) -> tuple:
        return tuple(self.source)

    def allows(self, v) -> bool:
        return isinstance(v, str) and v in self.choices

    def __str__(self) -> str:
        return "one of " + ", ".join(map(str, self.choices))

    def invalid(self):
        return "no_such_" + str(self.choices[0])


class Boolean:
    def allows(self, v) -> bool:
        return isinstance(v, bool)

    def __str__(self) -> str:
        return "true or false"

    def invalid(self):
        return "maybe"


class Optional:
    """The wrapped constraint, or None (null in YAML)."""

    def __init__(self, constraint):
        self.constraint = constraint

    def allows(self, v) -> bool:
        return v is None or self.constraint.allows(v)

    def __str__(self) -> str:
        return f"{self.constraint}, or null"

    def invalid(self):
        return self.constraint.invalid()


class ListOf:
    """A non-empty list whose items all meet `item`; with scalar_ok, a lone item too."""

    def __init__(self, item, scalar_ok=False, example=""):
        self.item, self.scalar_ok, self.example = item, scalar_ok, example

    def allows(self, v) -> bool:
        if self.scalar_ok and not isinstance(v, (list, tuple)):
            v = [v]
        return isinstance(v, (list, tuple)) and len(v) > 0 and all(self.item.allows(i) for i in v)

    def __str__(self) -> str:
        if self.scalar_ok:
            return f"{self.item}, or a non-empty list of them{self.example}"
        return f"a non-empty list of {self.item}{self.example}"

    def invalid(self):
        return []


class Text:
    """A non-empty string, described by what it is (a path, a URL prefix)."""

    def __init__(self, what):
        self.what = what

    def allows(self, v) -> bool:
        return isinstance(v, str) and len(v) > 0

    def __str__(self) -> str:
        return self.what

    def invalid(self):
        return ""


class CountOrFraction:
    """An int count >= 1 or a float fraction in (0, 1), as scikit-learn's train_test_split takes."""

    def allows(self, v) -> bool:
        return (_is_int(v) and v >= 1) or (isinstance(v, float) and _is_real(v) and 0 < v < 1)

    def __str__(self) -> str:
        return "an integer count >= 1 or a fraction in (0, 1)"

    def invalid(self):
        return 1.5


def constrained(default, allowed):
    """A dataclass field with what it allows beside it: `dropout: float = constrained(0.0,
    Interval(Real, 0, 1, closed="left"))`. The config rules read it (field_constraints)."""
    return dataclasses.field(default=default, metadata={"allowed": allowed})


def field_constraints(cls) -> dict:
    """{field name: its constraint} for the fields of dataclass `cls` declared with `constrained`."""
    return {f.name: f.metadata["allowed"] for f in dataclasses.fields(cls) if "allowed" in f.metadata}
