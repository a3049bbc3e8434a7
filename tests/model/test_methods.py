"""The method registry: one record per method, strategies checked, profiles for the proxy."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.errors import ConfigError
from hardware.profile import link_budget, n_tiles_at_distance
from model import methods
from model.config import METHODS
from tests.conftest import make_spec


def test_every_method_has_a_record_and_the_config_lists_them():
    assert METHODS == methods.METHOD_NAMES == ("routing_aware", "deepr", "chip_aware", "mosaic")
    for name in METHODS:
        assert methods.get_method(name).name == name


def test_unknown_method_is_a_config_error_listing_the_methods():
    with pytest.raises(ConfigError, match=r"method must be one of routing_aware, deepr, "
                                          r"chip_aware, mosaic, got 'magic' "
                                          r"\(set \[training\]\.method\)"):
        methods.get_method("magic")


def test_a_record_with_an_unknown_strategy_fails_when_defined():
    with pytest.raises(ValueError, match="regrowth must be one of"):
        methods.Method("x", "", initial_links="profile", pruning="deepr", regrowth="magic",
                       penalty="none", proxy="target")


def test_expected_profile_per_method():
    target = (0, 0.8, 0, 0.2)
    assert methods.expected_profile("routing_aware", 3, 3, 8, target) == (0.0, 0.8, 0.0, 0.2)
    assert methods.expected_profile("mosaic", 3, 3, 8, target) is None  # trains, router judges
    spread = methods.expected_profile("deepr", 3, 3, 8, target)
    reachable = [d for d in range(len(spread)) if n_tiles_at_distance(3, 3)[:, d].sum() > 0]
    assert len({spread[d] for d in reachable if d > 0}) == 1  # one p for every distance
    budget = link_budget(3, 3, 8, target).sum()
    assert abs(link_budget(3, 3, 8, spread).sum() - budget) <= 9  # rounding, per tile
    assert spread[7] > 0  # long links expected, unlike the routing-aware target


def test_strategy_tables_cover_every_strategy():
    # model.deepr and model.train refuse to import when a strategy lacks its code.
    from model import deepr, train

    for name in METHODS:
        record = methods.get_method(name)
        rules = deepr.make_rules(name, 2, 2, 2, 2, (0.0, 0.5), make_spec(2, 2, 2))
        assert deepr.initial_links(rules, np.random.default_rng(0)).shape == (8, 4)
        assert record.penalty in train._PENALTY
