"""Objectives: parsing and its one-line errors, the 3-D front and hypervolume, the store."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.front import hypervolume_of, nondominated
from analysis.objectives import (
    DEFAULT_OBJECTIVES,
    OBJECTIVES_KEY,
    Objective,
    parse_objectives,
    read_objectives,
)
from analysis.pareto import pareto_front
from analysis.schema import REFERENCE_KEY
from hardware.errors import ConfigError
from tests.analysis.factories import record, write_store

ENERGY = (*DEFAULT_OBJECTIVES, Objective("energy_pj_per_sample", "min"))


@pytest.mark.parametrize(("texts", "message"), [
    (["max val_accuracy"], "takes 2 or 3 objectives"),
    (["max val_accuracy", "min a", "min b", "min c"], "takes 2 or 3 objectives"),
    (["max val_accuracy", "min foo"], "'foo' is not a numeric result column"),
    (["max val_accuracy", "min method"], "'method' is not a numeric result column"),
    (["up val_accuracy", "min chip_memory_cells"], "must be 'max COLUMN' or 'min COLUMN'"),
    (["max val_accuracy", "max val_accuracy"], "name a column twice")])
def test_bad_objectives_are_one_line_errors(texts, message):
    with pytest.raises(ConfigError, match=message) as error:
        parse_objectives(texts)
    assert "\n" not in str(error.value)


def test_objectives_round_trip_through_file_metadata():
    metadata = {OBJECTIVES_KEY.encode(): json.dumps([str(o) for o in ENERGY]).encode()}
    assert read_objectives(metadata) == ENERGY
    assert read_objectives({}) == DEFAULT_OBJECTIVES  # files from before objectives


def _brute_front(values, objectives):
    f = np.column_stack([o.minimised(values[:, j]) for j, o in enumerate(objectives)])
    return np.array([not any((f[j] <= f[i]).all() and (f[j] < f[i]).any()
                             for j in range(len(f))) for i in range(len(f))])


def _brute_volume(values, objectives, reference):
    """Inclusion-exclusion over the boxes each point dominates (tiny n only)."""
    f = np.column_stack([o.minimised(values[:, j]) for j, o in enumerate(objectives)])
    ref = np.array([o.minimised(np.array([r]))[0] for o, r in zip(objectives, reference,
                                                                  strict=True)])
    f = f[(f < ref).all(axis=1)]
    total = 0.0
    for k in range(1, len(f) + 1):
        for subset in itertools.combinations(range(len(f)), k):
            corner = f[list(subset)].max(axis=0)
            total += (-1) ** (k + 1) * np.prod(ref - corner)
    return total


def test_hand_worked_3d_hypervolume():
    # two points, reference (0, 10, 10): a (0.5, 2, 8) boxes 0.5*8*2 = 8, b (1.0, 6, 4) boxes
    # 1.0*4*6 = 24, their overlap 0.5*4*2 = 4: HV = 28. Both on the front.
    values = np.array([[0.5, 2.0, 8.0], [1.0, 6.0, 4.0]])
    assert nondominated(values, ENERGY).tolist() == [True, True]
    assert hypervolume_of(values, ENERGY, (0.0, 10.0, 10.0)) == pytest.approx(28.0)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 5)),
                min_size=1, max_size=7))
def test_3d_front_and_volume_match_brute_force(points):
    values = np.array(points, dtype=float) * np.array([0.2, 1.0, 1.0])
    np.testing.assert_array_equal(nondominated(values, ENERGY), _brute_front(values, ENERGY))
    reference = (0.0, 6.0, 6.0)
    assert hypervolume_of(values, ENERGY, reference) == pytest.approx(
        _brute_volume(values, ENERGY, reference))


def test_the_store_keeps_the_front_on_the_configured_objectives(tmp_path):
    # b is beaten on (accuracy, memory) by a but uses less energy: on the 3-objective front
    text = ('[search]\nobjectives = ["max val_accuracy", "min chip_memory_cells", '
            '"min energy_pj_per_sample"]\n')
    rows = [record("a", 0.8, 100, energy_pj_per_sample=5.0),
            record("b", 0.7, 200, energy_pj_per_sample=1.0),
            record("c", 0.6, 300, energy_pj_per_sample=2.0)]
    write_store(tmp_path, rows, text)
    table = pq.read_table(tmp_path / "trials.parquet")
    assert table.column("on_front").to_pylist() == [True, True, False]
    assert read_objectives(table.schema.metadata) == ENERGY
    stored = json.loads(table.schema.metadata[REFERENCE_KEY.encode()])
    assert stored["reference_point"] == pytest.approx([0.0, 330.0, 5.5])
    front = pareto_front(table.to_pandas(), objectives=ENERGY)
    assert front.hypervolume == pytest.approx(stored["hypervolume"])
    assert front.front["trial_id"].tolist() == ["a", "b"]  # by chip memory
    assert pq.read_table(tmp_path / "pareto.parquet").column("trial_id").to_pylist() == ["a",
                                                                                        "b"]
