"""The search space: one `Param` per [hardware]/[training] key and its Optuna define-by-run form.

A parameter is fixed (`x = 3`), a range (`{ low, high, log?, step?, default? }`) or a choice
(`{ choices = [...], default? }`). `OptunaSpace` is a module-level, picklable callable (Ray Tune
pickles the searcher with its space at every experiment checkpoint, so no lambdas or closures).
Optuna is imported only by the caller that hands a trial in.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from hardware.errors import ConfigError

if TYPE_CHECKING:
    import optuna


class HasParams(Protocol):
    """What the space needs of a config (`search.config.files.SearchConfig`): its parameters."""

    params: tuple[Param, ...]

RANGE_FIELDS = ("low", "high", "log", "step", "default")
CHOICE_FIELDS = ("choices", "default")
Check = Callable[[Any, str], Any]  # (value, what) -> value converted to the key's type


@dataclass(frozen=True)
class Param:
    """One [hardware] or [training] parameter: kind "fixed" (value), "range" or "choices".

    A range is integer when `low` is an int (integer keys), float otherwise; `step` is None when
    unset; `default` is None when unset (then `low` / the first choice is the default).
    """

    name: str
    section: str
    kind: str
    value: Any = None
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    step: int | float | None = None
    choices: tuple[Any, ...] = ()
    default: Any = None

    @property
    def is_int(self) -> bool:
        """True for an integer range."""
        return self.kind == "range" and isinstance(self.low, int)

    @property
    def resolved(self) -> Any:
        """The value `train` uses: the fixed value, else `default`, else `low` / first choice."""
        if self.kind == "fixed":
            return self.value
        if self.default is not None:
            return self.default
        return self.low if self.kind == "range" else self.choices[0]

    @property
    def smallest(self) -> Any:
        """The smallest value this parameter can take."""
        if self.kind == "choices":
            return min(self.choices)
        return self.value if self.kind == "fixed" else self.low

    @property
    def largest(self) -> Any:
        """The largest value this parameter can take."""
        if self.kind == "choices":
            return max(self.choices)
        return self.value if self.kind == "fixed" else self.high

    def to_toml_value(self) -> Any:
        """The TOML value that parses back to this parameter (tuples as lists)."""
        if self.kind == "fixed":
            return list(self.value) if isinstance(self.value, tuple) else self.value
        if self.kind == "choices":
            table: dict[str, Any] = {"choices": list(self.choices)}
        else:
            table = {"low": self.low, "high": self.high}
            table |= {"log": True} if self.log else {}
            table |= {"step": self.step} if self.step is not None else {}
        return table | ({"default": self.default} if self.default is not None else {})


def parse_param(name: str, section: str, table: Mapping[str, Any], check: Check,
                integer: bool) -> Param:
    """A range or choices `table` as a Param; ConfigError (message without the key) if invalid.

    check(value, what) converts one value to the key's type and enforces its bounds.
    integer: whether the key holds integers (an integer range takes an integer step).
    """
    if "choices" in table:
        return _parse_choices(name, section, table, check)
    return _parse_range(name, section, table, check, integer)


def _reject_unknown(table: Mapping[str, Any], allowed: tuple[str, ...], kind: str) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]}?" if close else f"{kind} fields: {', '.join(allowed)}"
            raise ConfigError(f"unknown field {key!r} in a {kind}, {hint}")


def _parse_choices(name: str, section: str, table: Mapping[str, Any], check: Check) -> Param:
    _reject_unknown(table, CHOICE_FIELDS, "choices table")
    raw = table["choices"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"choices must be a non-empty list, got {raw!r}")
    choices = tuple(check(c, "choice") for c in raw)
    default = table.get("default")
    if default is not None:
        default = check(default, "default")
        if default not in choices:
            raise ConfigError(f"default must be one of the choices {list(choices)}, "
                              f"got {default!r}")
    return Param(name, section, "choices", choices=choices, default=default)


def _parse_range(name: str, section: str, table: Mapping[str, Any], check: Check,
                 integer: bool) -> Param:
    _reject_unknown(table, RANGE_FIELDS, "range")
    if "low" not in table or "high" not in table:
        raise ConfigError(f"a range needs low and high (or use choices = [...]), got {dict(table)}")
    low, high = check(table["low"], "low"), check(table["high"], "high")
    if low > high:
        raise ConfigError(f"low must be <= high, got low={low} high={high}")
    log = table.get("log", False)
    if not isinstance(log, bool):
        raise ConfigError(f"log must be true or false, got {log!r}")
    if log and low <= 0:
        raise ConfigError(f"a log range needs low > 0, got low={low}")
    step = _parse_step(table.get("step"), low, high, log, integer)
    default = table.get("default")
    if default is not None:
        default = check(default, "default")
        if not low <= default <= high or (step is not None and not _on_grid(default, low, step)):
            grid = f" on the step-{step} grid" if step is not None else ""
            raise ConfigError(f"default must lie in [low, high]{grid}, got default={default} "
                              f"low={low} high={high}")
    return Param(name, section, "range", low=low, high=high, log=log, step=step, default=default)


def _parse_step(step: Any, low: float, high: float, log: bool, integer: bool) -> Any:
    """The validated step of a range, or None."""
    if step is None:
        return None
    kind_ok = isinstance(step, int) if integer else isinstance(step, int | float)
    if isinstance(step, bool) or not kind_ok:
        raise ConfigError(f"step must be {'an integer' if integer else 'a number'}, got {step!r}")
    if not step > 0:
        raise ConfigError(f"step must be > 0, got step={step}")
    if log:
        raise ConfigError("log and step cannot be combined (Optuna samples log ranges "
                          "without a step; drop one)")
    if not _on_grid(high, low, step):
        raise ConfigError(f"high - low must be a multiple of step, got low={low} high={high} "
                          f"step={step}")
    return step if integer else float(step)


def _on_grid(value: float, low: float, step: float) -> bool:
    """Whether value = low + n * step for an integer n (to float rounding)."""
    n = (value - low) / step
    return math.isclose(n, round(n), rel_tol=1e-9, abs_tol=1e-9)


@dataclass(frozen=True)
class OptunaSpace:
    """Define-by-run space for Ray Tune's OptunaSearch: `space(trial) -> {name: value}`.

    Suggests every range and choice and returns fixed values as constants, so the dict holds
    every parameter, flat and named as in the config. Picklable: a frozen dataclass of Params.
    """

    params: tuple[Param, ...]

    @classmethod
    def from_config(cls, cfg: HasParams) -> OptunaSpace:
        """The space of all [hardware] and [training] parameters of `cfg`."""
        return cls(cfg.params)

    def __call__(self, trial: optuna.Trial) -> dict[str, Any]:
        return {p.name: suggest(trial, p) for p in self.params}


def suggest(trial: optuna.Trial, param: Param) -> Any:
    """One value of `param` from `trial` (the fixed value without asking the trial)."""
    if param.kind == "fixed":
        return param.value
    if param.kind == "choices":
        return trial.suggest_categorical(param.name, list(param.choices))
    if param.is_int:
        return trial.suggest_int(param.name, param.low, param.high, step=param.step or 1,
                                 log=param.log)
    return trial.suggest_float(param.name, param.low, param.high, step=param.step, log=param.log)


def domain_text(param: Param) -> str:
    """Human-readable domain: '= 3', '[4, 32] step 4', '[0.0001, 0.01] log', 'a | b'."""
    if param.kind == "fixed":
        return f"= {value_text(param.value)}"
    if param.kind == "choices":
        return " | ".join(value_text(c) for c in param.choices)
    suffix = " log" if param.log else (f" step {param.step:g}" if param.step is not None else "")
    return f"[{param.low:g}, {param.high:g}]{suffix}"


def value_text(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    return f"{value:g}" if isinstance(value, float) else str(value)


def grid_size(params: tuple[Param, ...]) -> int | None:
    """Number of distinct points when every searched parameter is discrete, else None."""
    size = 1
    for p in params:
        if p.kind == "choices":
            size *= len(p.choices)
        elif p.kind == "range":
            if not (p.is_int or p.step is not None) or p.log:
                return None
            size *= round((p.high - p.low) / (p.step or 1)) + 1
    return size
