"""Limits on a number a run records: what a constrained search must meet and what
`compare --where` keeps.

    'hydra.sweeper.constraints={parameters: "<=50000", wall_time_s: "<=60"}'
    python -m experiments.compare runs/multirun/... --where 'parameters<=50000'

A limit is a name, `<=` or `>=`, and a bound. A value breaks it by how far it lies past the
bound (`excess`, > 0), which is what a search tells Optuna as the trial's constraint value
(Optuna's convention: feasible when every constraint value is <= 0), and what the readers
show beside an infeasible trial.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

OPERATORS = ("<=", ">=")
_LIMIT = re.compile(r"^\s*(?P<name>[A-Za-z_][\w.]*)?\s*(?P<op><=|>=|<|>|==|=)?\s*(?P<bound>.*?)\s*$")


@dataclass(frozen=True)
class Limit:
    """name <= bound, or name >= bound."""

    name: str
    operator: str  # one of OPERATORS
    bound: float

    def excess(self, value: float) -> float:
        """How far `value` lies past the bound: > 0 breaks the limit, <= 0 meets it."""
        return value - self.bound if self.operator == "<=" else self.bound - value

    def allows(self, value) -> bool:
        """Whether `value` meets the limit (a missing or non-finite value does not)."""
        try:
            value = float(value)
        except (TypeError, ValueError):
            return False
        return math.isfinite(value) and self.excess(value) <= 0

    def broken_by(self, value: float) -> str:
        """'parameters 101,770 > 50,000 (by 51,770)': a value that breaks the limit, in words."""
        past = ">" if self.operator == "<=" else "<"
        return f"{self.name} {number(value)} {past} {number(self.bound)} (by {number(abs(self.excess(value)))})"

    def __str__(self) -> str:
        return f"{self.name}{self.operator}{self.bound:g}"


def number(value: float) -> str:
    """A count as 50,000, any other number to 4 significant digits."""
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:.4g}"


def parsed(text: str, name: str | None = None) -> Limit:
    """A limit from 'parameters<=50000', or, given its `name`, from '<=50000' alone.
    ValueError saying what is wrong and what is allowed."""
    match = _LIMIT.match(str(text))
    given, operator, bound = match["name"], match["op"], match["bound"]
    example = f"{name or 'parameters'}<=50000" if name is None else "<=50000"
    if name is not None and given:
        raise ValueError(f"{text!r}: give the bound alone, e.g. {example}")
    name = name or given
    if not name:
        raise ValueError(f"{text!r} names no number: write NAME<=BOUND or NAME>=BOUND, e.g. {example}")
    if operator not in OPERATORS:
        said = f"{operator!r} is" if operator else "no comparison is"
        raise ValueError(f"{text!r}: {said} not a limit; write <= or >= and a bound, e.g. {example}")
    try:
        value = float(bound)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(f"{text!r}: the bound {bound!r} is not a finite number, e.g. {example}")
    return Limit(name, operator, value)
