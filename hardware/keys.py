"""Config keys declared once, on the dataclass field they fill: default, allowed values and help.

`key(...)` builds the field; `search.config.schema` reads type, default, bound, help and flags
from it, and the model checks a hand-built config against the same bounds (`check_fields`), so
the layers cannot disagree. Lives in the bottom layer (no numpy) because MosaicSpec, the model's
configs and the search settings all declare keys. Fields not made with `key()` are not config
keys.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable
from dataclasses import Field, dataclass, field, fields
from types import MappingProxyType
from typing import Any

from hardware.errors import ConfigError


@dataclass(frozen=True)
class Bound:
    """An interval of allowed numbers, closed unless `open_low` / `open_high`."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, v: float) -> bool:
        above = v > self.low if self.open_low else v >= self.low
        return above and (v < self.high if self.open_high else v <= self.high)

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {_number(self.low)}"
        left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
        return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"


def _number(v: float) -> str:
    """`v` for messages: integers in full (2**32 - 1 is 4294967295, not 4.29497e+09)."""
    return str(v) if isinstance(v, int) else f"{v:g}"


@dataclass(frozen=True)
class Pattern:
    """Strings matching `regex` in full; `words` describes them in messages. ints: an integer
    is taken as its text (`checkpoint_every = 2` means "2")."""

    regex: str
    words: str
    ints: bool = False

    def __contains__(self, v: str | int) -> bool:
        if self.ints and isinstance(v, int) and not isinstance(v, bool):
            v = str(v)
        return isinstance(v, str) and re.fullmatch(self.regex, v) is not None

    def __str__(self) -> str:
        return self.words


@dataclass(frozen=True)
class Checked:
    """Values a function accepts: `problem(value)` says why one is refused (None: accepted).

    For keys whose rule is not a bound or a list of choices (e.g. [search].objectives)."""

    problem: Callable[[Any], str | None]
    words: str

    def __contains__(self, v: Any) -> bool:
        return self.problem(v) is None

    def __str__(self) -> str:
        return self.words


Allowed = Bound | Pattern | Checked | tuple[str, ...] | None
AT_LEAST_1, NON_NEGATIVE = Bound(1), Bound(0)
SEED_MAX = 2**32 - 1  # Optuna's samplers (numpy's legacy seeding) take seeds in [0, 2**32)
SEED = Bound(0, SEED_MAX)
POSITIVE, PROBABILITY = Bound(0, open_low=True), Bound(0, 1)


@dataclass(frozen=True)
class KeyMeta:
    """What a config key declares beyond its type and default.

    searchable: may be a range or choices ([hardware]/[training] only); resumable: may change
    when a search resumes (budget, resources, locations)."""

    allowed: Allowed
    help: str
    searchable: bool
    resumable: bool


def key(default: Any, allowed: Allowed = None, help: str = "", *, searchable: bool = True,
        resumable: bool = False) -> Any:
    """A dataclass field that is a config key (see KeyMeta)."""
    if not help:
        raise ValueError("every config key needs a help line")
    meta = KeyMeta(allowed, help, searchable, resumable)
    return field(default=default, metadata=MappingProxyType({"key": meta}))


def key_meta(f: Field) -> KeyMeta | None:
    """The KeyMeta of a dataclass field, or None when the field is not a config key."""
    return f.metadata.get("key")


def allowed_text(allowed: Allowed, value: Any) -> str:
    """'>= 1', 'one of a, b (did you mean a?)', ...: what `allowed` admits, for messages."""
    if isinstance(allowed, Checked):
        return f"{allowed} ({allowed.problem(value)})"
    if not isinstance(allowed, tuple):
        return str(allowed)
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"one of {', '.join(allowed)}{hint}"


def admits(allowed: Allowed, value: Any) -> bool:
    """True when `value` is allowed (None admits everything; NaN and inf are never numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return allowed is None or value in allowed


def check_fields(obj: Any, section: str) -> None:
    """ConfigError naming the first key of dataclass `obj` whose value its bound refuses: the
    model's check of a config built in code, with the schema's own bounds."""
    for f in fields(obj):
        meta = key_meta(f)
        value = getattr(obj, f.name)
        if meta is None or isinstance(value, tuple | list):  # 8-port capacities: MosaicSpec's
            continue
        if not admits(meta.allowed, value):
            raise ConfigError(f"{f.name} must be {allowed_text(meta.allowed, value)}, got "
                              f"{value!r} (set [{section}].{f.name})")
