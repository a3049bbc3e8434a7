"""Non-dominated sorting and hypervolume: hand-worked cases, brute-force agreement, edges."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.pareto import (
    accuracy_column,
    best_under_budgets,
    default_reference,
    front_ranks,
    hypervolume,
    hypervolume_convergence,
    hypervolume_curve,
    nice_budgets,
    nondominated_mask,
    nondominated_mask_reference,
    pareto_front,
)
from hardware.errors import ResultsError

# Points (accuracy, memory) named A..H, in trial order:
#   A (0.60, 100)  on the front
#   B (0.70, 200)  on the front
#   C (0.65, 200)  dominated by B: same memory, lower accuracy
#   D (0.70, 300)  dominated by B: same accuracy, more memory
#   E (0.90, 400)  on the front
#   F (0.90, 400)  exact duplicate of E: neither dominates, both on the front
#   G (0.50,  50)  dominated by H: same memory, lower accuracy
#   H (0.55,  50)  on the front
ACC = np.array([0.60, 0.70, 0.65, 0.70, 0.90, 0.90, 0.50, 0.55])
MEM = np.array([100, 200, 200, 300, 400, 400, 50, 50], dtype=float)
FRONT = np.array([1, 1, 0, 0, 1, 1, 0, 1], dtype=bool)


def test_hand_worked_front_with_ties_and_duplicates():
    np.testing.assert_array_equal(nondominated_mask(ACC, MEM), FRONT)
    np.testing.assert_array_equal(nondominated_mask_reference(ACC, MEM), FRONT)


def test_front_ranks_peel_fronts():
    # Without the first front, G (0.50, 50), C (0.65, 200) and D (0.70, 300) form a staircase.
    np.testing.assert_array_equal(front_ranks(ACC, MEM), [0, 0, 1, 1, 0, 0, 1, 0])


def test_hand_worked_hypervolume():
    # Reference (0, 1.1 x 400 = 440). Front by memory: H 50, A 100, B 200, E/F 400.
    # HV = (100-50)*0.55 + (200-100)*0.60 + (400-200)*0.70 + (400-400)*0.9 + (440-400)*0.90
    #    = 27.5 + 60 + 140 + 0 + 36 = 263.5
    assert default_reference(MEM) == pytest.approx((0.0, 440.0))
    assert hypervolume(ACC, MEM, (0.0, 440.0)) == pytest.approx(263.5)


def test_hypervolume_ignores_points_not_better_than_reference():
    # Reference (0.6, 440): A (acc 0.6), G, H do not count; C is dominated by B.
    # HV = (400-200)*(0.7-0.6) + (440-400)*(0.9-0.6) = 20 + 12 = 32
    assert hypervolume(ACC, MEM, (0.6, 440.0)) == pytest.approx(32.0)
    assert hypervolume(ACC, MEM, (0.0, 40.0)) == 0.0  # every point uses more memory


def test_hand_worked_convergence_curve():
    # Prefixes with reference (0, 440):
    # {A}: 340*0.6 = 204; +B: 100*0.6 + 240*0.7 = 228; +C, +D: unchanged (dominated);
    # +E: 60 + 200*0.7 + 40*0.9 = 236; +F: duplicate; +G: + 50*0.5 = 261; +H: + 50*0.05 = 263.5
    curve = hypervolume_curve(ACC, MEM, (0.0, 440.0))
    np.testing.assert_allclose(curve, [204, 228, 228, 228, 236, 236, 261, 263.5])


def test_single_trial_and_empty_input():
    assert nondominated_mask(np.array([0.3]), np.array([7.0])).tolist() == [True]
    # One point (0.3, 7) with reference (0, 7.7): HV = 0.7 * 0.3
    assert hypervolume(np.array([0.3]), np.array([7.0]), (0.0, 7.7)) == pytest.approx(0.21)
    assert nondominated_mask(np.array([]), np.array([])).tolist() == []
    assert hypervolume(np.array([]), np.array([]), (0.0, 1.0)) == 0.0
    assert default_reference(np.array([np.nan])) is None


def test_nan_objectives_are_excluded():
    accuracy = np.array([np.nan, 0.5, 0.9])
    memory = np.array([1.0, 2.0, np.nan])
    assert nondominated_mask(accuracy, memory).tolist() == [False, True, False]
    assert front_ranks(accuracy, memory).tolist() == [-1, 0, -1]


objective = st.one_of(st.integers(0, 5).map(lambda v: v / 5), st.just(math.nan))
points = st.lists(st.tuples(objective, st.integers(1, 6).map(float)), max_size=40)


def _arrays(pts: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    return (np.array([p[0] for p in pts], dtype=float),
            np.array([p[1] for p in pts], dtype=float))


@settings(max_examples=300, deadline=None)
@given(points)
def test_fast_front_matches_bruteforce(pts):
    accuracy, memory = _arrays(pts)  # small integer grids: many ties and duplicates
    np.testing.assert_array_equal(nondominated_mask(accuracy, memory),
                                  nondominated_mask_reference(accuracy, memory))


def _grid_hypervolume(accuracy, memory, reference):
    """Reference HV: sum the grid cells (between sorted coordinates) some point covers."""
    acc_ref, mem_ref = reference
    keep = np.isfinite(accuracy) & np.isfinite(memory) & (accuracy > acc_ref) & (memory < mem_ref)
    acc, mem = accuracy[keep], memory[keep]
    xs = np.unique(np.append(mem, mem_ref))
    ys = np.unique(np.append(acc, acc_ref))
    total = 0.0
    for x0, x1 in zip(xs[:-1], xs[1:], strict=True):
        for y0, y1 in zip(ys[:-1], ys[1:], strict=True):
            if np.any((mem <= x0) & (acc >= y1)):
                total += (x1 - x0) * (y1 - y0)
    return total


@settings(max_examples=200, deadline=None)
@given(points)
def test_hypervolume_matches_grid_reference(pts):
    accuracy, memory = _arrays(pts)
    reference = (0.1, 6.5)
    assert hypervolume(accuracy, memory, reference) == pytest.approx(
        _grid_hypervolume(accuracy, memory, reference))


@settings(max_examples=100, deadline=None)
@given(points)
def test_convergence_is_monotone_and_ends_at_total(pts):
    accuracy, memory = _arrays(pts)
    curve = hypervolume_curve(accuracy, memory, (0.0, 7.0))
    assert np.all(np.diff(curve) >= -1e-12)
    if len(pts):
        assert curve[-1] == pytest.approx(hypervolume(accuracy, memory, (0.0, 7.0)))


def _frame(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"trial_id": [f"t{i}" for i in range(n)], "status": ["ok"] * n,
            "mappable": [True] * n, "method": ["routing_aware"] * n}
    return pd.DataFrame(base | columns)


def test_frame_wrapper_considers_only_ok_and_mappable():
    trials = _frame(val_accuracy=ACC, chip_memory_cells=MEM, memory_cells=MEM / 2)
    trials.loc[7, "status"] = "error"  # H leaves: G (0.5, 50) takes its place on the front
    trials.loc[0, "mappable"] = False  # A leaves the chip front
    front = pareto_front(trials)
    assert front.front["trial_id"].tolist() == ["t6", "t1", "t4", "t5"]  # sorted by memory
    assert front.n_considered == 6
    # memory_cells: every ok trial counts (A back, mappable or not); H still an error.
    assert pareto_front(trials, "memory_cells").front["trial_id"].tolist() == \
        ["t6", "t0", "t1", "t4", "t5"]


def test_accuracy_falls_back_to_test_accuracy_without_val_column():
    trials = _frame(accuracy=[0.5, 0.7], chip_memory_cells=[10, 20])
    assert accuracy_column(trials) == "accuracy"
    front = pareto_front(trials)
    assert front.accuracy_column == "accuracy"
    # Reference (0, 22): HV = (20-10)*0.5 + (22-20)*0.7 = 6.4
    assert front.hypervolume == pytest.approx(6.4)


def test_all_null_validation_column_falls_back_only_if_test_accuracy_exists():
    trials = _frame(val_accuracy=[None, None], accuracy=[0.5, 0.7], chip_memory_cells=[10, 20])
    assert accuracy_column(trials) == "accuracy"
    assert accuracy_column(trials.assign(accuracy=[None, None])) == "val_accuracy"


def test_missing_memory_column_is_a_results_error():
    trials = _frame(val_accuracy=[0.5])
    with pytest.raises(ResultsError, match="no 'chip_memory_cells' column"):
        pareto_front(trials)


def test_no_feasible_trial_gives_an_empty_front():
    trials = _frame(val_accuracy=[0.5, 0.6], chip_memory_cells=[10, 20])
    trials["status"] = "infeasible"
    front = pareto_front(trials)
    assert front.front.empty and front.hypervolume == 0.0 and front.reference_point is None
    np.testing.assert_array_equal(hypervolume_convergence(trials), [0.0, 0.0])


def test_convergence_uses_the_final_reference():
    trials = _frame(val_accuracy=ACC, chip_memory_cells=MEM)
    np.testing.assert_allclose(hypervolume_convergence(trials),
                               [204, 228, 228, 228, 236, 236, 261, 263.5])


def test_best_under_budgets_by_hand():
    trials = _frame(val_accuracy=ACC, chip_memory_cells=MEM)
    best = best_under_budgets(trials, [40, 60, 150, 1000])
    # <= 40: nothing; <= 60: H (0.55) beats G (0.50); <= 150: A; <= 1000: E (tie with F: first)
    assert best["trial_id"].tolist() == ["t7", "t0", "t4"]
    assert best["budget"].tolist() == [60.0, 150.0, 1000.0]


def test_nice_budgets_cover_the_range_in_1_2_5_steps():
    assert nice_budgets(np.array([1_094_656, 8_958_976])) == [2e6, 5e6, 1e7]
    assert nice_budgets(np.array([3.0])) == [5.0]
