"""Chip spec validation and grid geometry (DESIGN.md 3.1-3.2)."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.errors import MosaicDSEError, SpecError
from hardware.geometry import NT, R0, R1, cell_counts, cell_types, hop_distance_matrix
from hardware.spec import MosaicSpec


@pytest.mark.parametrize(("rows", "cols", "expected"), [
    (5, 5, (25, 36, 60)), (1, 1, (1, 4, 4)), (2, 4, (8, 15, 22)), (3, 1, (3, 8, 10)),
])
def test_cell_counts_match_formula_and_grid(rows, cols, expected):
    types = cell_types(rows, cols)
    counted = tuple(int((types == kind).sum()) for kind in (NT, R0, R1))
    assert cell_counts(rows, cols) == expected
    assert counted == expected


def test_hop_distance_examples_on_3x4_grid():
    hops = hop_distance_matrix(3, 4)
    # tile k sits at (k // 4, k % 4)
    assert hops[0, 0] == 0
    assert hops[0, 1] == 1 and hops[0, 4] == 1  # orthogonal neighbours
    assert hops[0, 5] == 3  # diagonal, D = 2: 2D - 1
    assert hops[0, 2] == 5 and hops[0, 8] == 5  # same row / column, D = 2: 2D + 1
    assert hops[0, 3] == 7  # same row, D = 3
    assert hops[0, 11] == 9  # D = 5, no shared line: 2D - 1
    assert (hops == hops.T).all()


def test_spec_normalises_capacities_to_eight_tuples():
    spec = MosaicSpec(2, 3, 4, cap_nt=8, cap_r0=(1, 2, 1, 2, 3, 4, 3, 4), cap_r1=5)
    assert spec.cap_nt == (8,) * 8
    assert spec.cap_r0 == (1, 2, 1, 2, 3, 4, 3, 4)
    assert (spec.n_tiles, spec.n_neurons) == (6, 24)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"rows": 0}, "rows must be a positive integer, got 0"),
    ({"cols": -2}, "cols must be a positive integer, got -2"),
    ({"neurons_per_tile": 2.5}, "neurons_per_tile must be a positive integer"),
    ({"cap_r0": -1}, "cap_r0[in_N] must be an integer >= 0, got -1"),
    ({"cap_r1": (1, 2, 3)}, "cap_r1 must be an int or 8 ints"),
    ({"cap_nt": (1, 2, 3, 2, 0, 0, 0, 0)}, "cap_nt must be 180°-symmetric: in_N=1 != in_S=3"),
    ({"hop_energy_pj": -1.0}, "hop_energy_pj must be a number >= 0"),
])
def test_spec_rejects_bad_values_with_named_field(kwargs, message):
    args = {"rows": 2, "cols": 2, "neurons_per_tile": 4} | kwargs
    with pytest.raises(SpecError) as info:
        MosaicSpec(**args)
    assert message in str(info.value)
    assert isinstance(info.value, MosaicDSEError) and isinstance(info.value, ValueError)


def test_spec_is_frozen():
    spec = MosaicSpec(1, 1, 1)
    with pytest.raises(AttributeError):
        spec.rows = 3  # type: ignore[misc]


def test_hop_distances_take_only_zero_one_and_odd_values():
    hops = hop_distance_matrix(6, 7)
    values = np.unique(hops)
    assert values[0] == 0 and values[1] == 1
    assert (values[2:] % 2 == 1).all()


def test_the_capacity_table_names_every_capacity_field_of_the_spec():
    from dataclasses import fields

    from hardware.geometry import CELL_CODES
    from hardware.spec import CAPACITIES, MosaicSpec

    assert [k.key for k in CAPACITIES] == [f.name for f in fields(MosaicSpec)
                                          if f.name.startswith("cap_")]
    assert all(k.cells in CELL_CODES for k in CAPACITIES)
