"""Non-dominated sorting and exact hypervolume, on 2 or 3 objectives of any direction.

The 2-D core works on (accuracy, memory): maximise accuracy, minimise memory (NaN in either:
not considered); point p dominates q iff acc_p >= acc_q and mem_p <= mem_q with one strict.
The general functions (`*_of`, `nondominated`) work on values: float (n, k), column j in
objective j's units, a row with a NaN not considered. Two objectives use the exact O(n log n)
2-D core; three use moocore (exact non-dominated filter and hypervolume). Exact duplicates
do not dominate each other (both stay on the front).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analysis.objectives import Objectives

Point = tuple[float, ...]


# ---- two objectives: (accuracy, memory), maximise the first, minimise the second ---------

def _valid(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """bool (n,): both objectives finite."""
    return np.isfinite(accuracy) & np.isfinite(memory)


def nondominated_mask(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """bool (n,): on the first front. O(n log n): sort by (memory asc, accuracy desc).

    A point is on the front iff its accuracy is the best of its memory value and strictly
    above every accuracy at strictly smaller memory.
    """
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    mask = np.zeros(accuracy.shape, dtype=bool)
    idx = np.flatnonzero(_valid(accuracy, memory))
    if idx.size == 0:
        return mask
    order = idx[np.lexsort((-accuracy[idx], memory[idx]))]
    acc, mem = accuracy[order], memory[order]
    _, starts, group = np.unique(mem, return_index=True, return_inverse=True)
    best_in_group = acc[starts][group]
    prefix_max = np.maximum.accumulate(acc)
    before = np.concatenate(([-np.inf], prefix_max[starts[1:] - 1]))[group]
    mask[order] = (acc == best_in_group) & (acc > before)
    return mask


def nondominated_mask_reference(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """O(n^2) reference of `nondominated_mask` (pairwise dominance), for tests."""
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    valid = _valid(accuracy, memory)
    mask = np.zeros(accuracy.shape, dtype=bool)
    for i in np.flatnonzero(valid):
        mask[i] = not any(
            accuracy[j] >= accuracy[i] and memory[j] <= memory[i]
            and (accuracy[j] > accuracy[i] or memory[j] < memory[i])
            for j in np.flatnonzero(valid))
    return mask


def front_ranks(accuracy: np.ndarray, memory: np.ndarray) -> np.ndarray:
    """int64 (n,): 0 = first front, 1 = front once it is removed, ...; -1 = not considered."""
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    ranks = np.full(accuracy.shape, -1, dtype=np.int64)
    remaining = _valid(accuracy, memory)
    rank = 0
    while remaining.any():
        front = nondominated_mask(np.where(remaining, accuracy, np.nan), memory)
        ranks[front] = rank
        remaining &= ~front
        rank += 1
    return ranks


def default_reference(memory: np.ndarray) -> tuple[float, float] | None:
    """(accuracy 0, 1.1 x largest considered memory); None when no memory is finite."""
    memory = np.asarray(memory, dtype=float)
    finite = memory[np.isfinite(memory)]
    return (0.0, 1.1 * float(finite.max())) if finite.size else None


def hypervolume(accuracy: np.ndarray, memory: np.ndarray,
                reference: tuple[float, float]) -> float:
    """Exact 2-D hypervolume (accuracy x cells) dominated by the points, bounded by `reference`.

    reference = (acc_ref, mem_ref); only points with acc > acc_ref and mem < mem_ref count.
    With the front sorted by memory m_1 < ... < m_k (accuracy rising a_1 < ... < a_k):
    HV = sum_i (m_{i+1} - m_i) * (a_i - acc_ref), m_{k+1} = mem_ref.
    """
    acc_ref, mem_ref = reference
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    inside = _valid(accuracy, memory) & (accuracy > acc_ref) & (memory < mem_ref)
    front = nondominated_mask(np.where(inside, accuracy, np.nan), memory)
    order = np.argsort(memory[front], kind="stable")
    acc, mem = accuracy[front][order], memory[front][order]
    widths = np.diff(np.append(mem, mem_ref))
    return float(np.sum(widths * (acc - acc_ref)))


def hypervolume_curve(accuracy: np.ndarray, memory: np.ndarray,
                      reference: tuple[float, float]) -> np.ndarray:
    """float64 (n,): entry k = hypervolume of trials 0..k (trial order), one fixed reference."""
    accuracy = np.asarray(accuracy, dtype=float)
    memory = np.asarray(memory, dtype=float)
    return np.array([hypervolume(accuracy[:k + 1], memory[:k + 1], reference)
                     for k in range(accuracy.size)])



# ---- 2 or 3 objectives of any direction ---------------------------------------------------



def minimised(values: np.ndarray, objectives: Objectives) -> np.ndarray:
    """float (n, k): `values` with max objectives negated, so smaller is better everywhere."""
    values = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    return np.column_stack([o.minimised(values[:, j]) for j, o in enumerate(objectives)])


def valid_rows(values: np.ndarray) -> np.ndarray:
    """bool (n,): every objective finite."""
    return np.isfinite(np.asarray(values, dtype=float)).all(axis=1)


def nondominated(values: np.ndarray, objectives: Objectives) -> np.ndarray:
    """bool (n,): on the first front of the considered (finite) rows."""
    f = minimised(values, objectives)
    mask = np.zeros(len(f), dtype=bool)
    valid = valid_rows(f)
    if not valid.any():
        return mask
    if f.shape[1] == 2:
        return nondominated_mask(np.where(valid, -f[:, 0], np.nan), f[:, 1])
    import moocore

    mask[valid] = moocore.is_nondominated(f[valid], keep_weakly=True)
    return mask


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """Minimised point `a` dominates `b`: no worse anywhere, better somewhere."""
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(
        x < y for x, y in zip(a, b, strict=True))


def default_reference_of(values: np.ndarray, objectives: Objectives) -> Point | None:
    """Per objective: a max objective's reference is 0 (accuracies; 1.1 x the lowest value if
    any is negative), a min objective's 1.1 x its largest considered value (largest + 1 when
    that is <= 0). None when no row is considered."""
    values = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    rows = values[valid_rows(values)]
    if not len(rows):
        return None
    out = []
    for j, o in enumerate(objectives):
        if o.maximise:
            out.append(min(0.0, 1.1 * float(rows[:, j].min())))
        else:
            high = float(rows[:, j].max())
            out.append(1.1 * high if high > 0 else high + 1.0)
    return tuple(out)


def hypervolume_of(values: np.ndarray, objectives: Objectives,
                   reference: Sequence[float]) -> float:
    """Exact hypervolume dominated by the considered rows and bounded by `reference` (in the
    objectives' units); only rows strictly better than the reference in every objective
    count."""
    f = minimised(values, objectives)
    ref = minimised(np.asarray(reference, dtype=float)[None, :], objectives)[0]
    inside = valid_rows(f) & (f < ref).all(axis=1)
    if not inside.any():
        return 0.0
    f = f[inside]
    if f.shape[1] == 2:
        return hypervolume(-f[:, 0], f[:, 1], (-ref[0], ref[1]))
    import moocore

    return float(moocore.hypervolume(f, ref=ref))


def hypervolume_curve_of(values: np.ndarray, objectives: Objectives,
                         reference: Sequence[float]) -> np.ndarray:
    """float64 (n,): entry i = hypervolume of rows 0..i (trial order), one fixed reference."""
    values = np.asarray(values, dtype=float).reshape(-1, len(objectives))
    return np.array([hypervolume_of(values[:i + 1], objectives, reference)
                     for i in range(len(values))])


def front_order(values: np.ndarray, objectives: Objectives) -> np.ndarray:
    """int (n,): row order of a front table: by the min objectives first (memory for the
    default objectives), then the max ones, each from best to worst; stable."""
    f = minimised(values, objectives)
    keys = [j for j, o in enumerate(objectives) if not o.maximise]
    keys += [j for j, o in enumerate(objectives) if o.maximise]
    return np.lexsort(tuple(f[:, j] for j in reversed(keys)))
