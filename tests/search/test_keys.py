"""One definition per config key: the schema, the model's checks and `keys` read the field."""

from __future__ import annotations

import dataclasses
import math

import pytest

from hardware.errors import ConfigError
from hardware.keys import Bound, check_fields, key_meta
from model.config import DataConfig, TrainConfig
from search.cli import main
from search.config.schema import SCHEMA


def _outside(allowed):
    """A value the bound refuses (None when every value of the type is allowed)."""
    if isinstance(allowed, Bound):
        if allowed.low > -math.inf:
            return allowed.low - 1 if not allowed.open_low else allowed.low
        return allowed.high + 1
    if isinstance(allowed, tuple):
        return "no-such-choice"
    return None


CODE_BUILT = [("training", TrainConfig()), ("data", DataConfig())]


@pytest.mark.parametrize(("section", "config"), CODE_BUILT)
def test_the_model_refuses_exactly_what_the_schema_refuses(section, config):
    # Each key's bound is stated once (its field); a config built in code and a config file hit
    # the same rule, so the layers cannot disagree (epochs, val_fraction and duration did).
    checked = 0
    names = {f.name for f in dataclasses.fields(config)}  # prune_min_fraction becomes prune_min
    for name, rule in SCHEMA[section].items():
        bad = _outside(rule.allowed)
        if bad is None or name not in names:
            continue
        with pytest.raises(ConfigError) as from_schema:
            rule.check(float(bad) if rule.type is float else bad)
        with pytest.raises(ConfigError, match=rf"^{name} must be ") as from_model:
            check_fields(dataclasses.replace(config, **{name: bad}), section)
        assert str(from_schema.value).split(", got")[0] in str(from_model.value)
        check_fields(dataclasses.replace(config, **{name: rule.default}), section)  # default ok
        checked += 1
    assert checked >= 10


def test_every_key_has_help_and_every_field_is_a_key_or_says_why():
    for section, rules in SCHEMA.items():
        assert all(rule.help for rule in rules.values()), section
    not_keys = {f.name for cls in (TrainConfig, DataConfig) for f in dataclasses.fields(cls)
                if key_meta(f) is None}
    assert not_keys == {"hop_profile", "progress"}  # set by p1, p3, ... / a CLI flag


def test_keys_lists_every_key_with_its_help(capsys):
    assert main(["keys", "training"]) == 0
    out = capsys.readouterr().out
    for name, rule in SCHEMA["training"].items():
        assert f"  {name}: " in out and rule.help in out
    assert main(["keys"]) == 0
    assert "[data]" in capsys.readouterr().out
