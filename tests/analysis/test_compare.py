"""Method comparison on a hand-made study: equal-weight accuracy and iso-accuracy memory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.compare import (
    accuracy_at_equal_weights,
    iso_accuracy_memory,
    memory_to_reach,
    reference_method,
    weight_bins,
)


def _study() -> pd.DataFrame:
    """routing_aware r1-r3 and deepr d1-d3 (d2 does not map on its chip, d3 infeasible)."""
    rows = [  # trial_id, method, status, mappable, val_accuracy, memory_cells, n_weights
        ("r1", "routing_aware", "ok", True, 0.70, 100, 1000),
        ("r2", "routing_aware", "ok", True, 0.80, 200, 2000),
        ("r3", "routing_aware", "ok", True, 0.85, 400, 2000),
        ("d1", "deepr", "ok", True, 0.65, 150, 1000),
        ("d2", "deepr", "ok", False, 0.78, 500, 2000),
        ("d3", "deepr", "infeasible", False, np.nan, np.nan, np.nan),
    ]
    trials = pd.DataFrame(rows, columns=["trial_id", "method", "status", "mappable",
                                         "val_accuracy", "memory_cells", "n_weights"])
    trials["accuracy"] = trials["val_accuracy"] - 0.01
    trials["chip_memory_cells"] = trials["memory_cells"]
    return trials


def test_best_accuracy_at_equal_weights_by_hand():
    # Two distinct weight counts (matched budgets): one bin each.
    # 1000 weights: deepr d1 0.65, routing_aware r1 0.70.
    # 2000 weights: deepr d2 0.78 (counts although unmappable), routing_aware r3 0.85 of 2.
    table = accuracy_at_equal_weights(_study())
    assert table["n_weights_low"].tolist() == [1000, 2000]
    assert table["deepr"].tolist() == pytest.approx([0.65, 0.78])
    assert table["routing_aware"].tolist() == pytest.approx([0.70, 0.85])
    assert table["routing_aware test"].tolist() == pytest.approx([0.69, 0.84])
    assert table["routing_aware trials"].tolist() == [1, 2]


def test_iso_accuracy_memory_by_hand():
    # Bests: routing_aware 0.85, deepr 0.78.
    # Target 0.85: routing_aware needs 400 (r3), deepr never reaches it.
    # Target 0.78: routing_aware needs 200 (r2), deepr 500 (d2): ratio 500 / 200 = 2.5.
    table = iso_accuracy_memory(_study())
    assert table["target"].tolist() == pytest.approx([0.85, 0.78])
    assert table["best of"].tolist() == ["routing_aware", "deepr"]
    assert table["routing_aware"].tolist() == [400, 200]
    assert np.isnan(table["deepr"][0]) and table["deepr"][1] == 500
    assert np.isnan(table["deepr / routing_aware"][0])
    assert table["deepr / routing_aware"][1] == pytest.approx(2.5)


def test_methods_tied_on_their_best_share_one_row():
    # Both bests are 0.80 once d2 reaches it: one target; routing_aware 200, deepr 500.
    trials = _study()
    trials.loc[trials["trial_id"] == "d2", "val_accuracy"] = 0.80
    trials = trials[trials["trial_id"] != "r3"]
    table = iso_accuracy_memory(trials)
    assert table["best of"].tolist() == ["deepr, routing_aware"]
    assert table["deepr / routing_aware"].tolist() == pytest.approx([2.5])


def test_geometric_bins_when_weight_counts_are_many():
    # max_bins=2 over 1..100: edges geomspace(1, 100, 3) = [1, 10, 100]; 10 and 100 -> bin 1.
    index, bounds = weight_bins(np.array([1, 5, 9, 10, 50, 100]), max_bins=2)
    assert index.tolist() == [0, 0, 0, 1, 1, 1]
    np.testing.assert_allclose(bounds, [[1, 10], [10, 100]])


def test_helpers_and_empty_inputs():
    assert memory_to_reach(np.array([0.5, 0.9]), np.array([10.0, 30.0]), 0.6) == 30.0
    assert np.isnan(memory_to_reach(np.array([0.5]), np.array([10.0]), 0.6))
    assert reference_method(["deepr", "mosaic"]) == "deepr"
    assert reference_method(["deepr", "routing_aware"]) == "routing_aware"
    nothing = _study().assign(status="error")
    assert iso_accuracy_memory(nothing).empty
    assert accuracy_at_equal_weights(nothing).empty
