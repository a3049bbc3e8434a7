"""Early stopping that cannot bias the front: a trial stops at a rung only when it is dominated.

At each rung (epochs 2, 4, 8, ... below the last epoch), a trial is stopped only if a trial on a
chip with no more memory (`chip_memory_cells` at or below its own) already reached a higher
validation accuracy at that same rung. A trial that could still end on the front (no cheaper or
equal chip beats it) always runs on, so the front loses nothing that the rungs can tell.

It compares the objectives a running trial reports after every epoch (MID_RUN_OBJECTIVES:
max val_accuracy, min chip_memory_cells), whatever [search].objectives says: an objective known
only at the end (energy_pj_per_sample, memory_cells, ...) cannot be compared at a rung, so with
such a third objective a trial beaten on that pair may be stopped although its end value would
have put it on the 3-objective front.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ray.tune.schedulers import FIFOScheduler, TrialScheduler

from analysis.objectives import MID_RUN_OBJECTIVES

ACCURACY, MEMORY = (o.name for o in MID_RUN_OBJECTIVES)  # max, min


def rungs_below(epochs: int) -> tuple[int, ...]:
    """The rung epochs 2, 4, 8, ... strictly below `epochs` (none for 2 epochs or fewer)."""
    out, rung = [], 2
    while rung < epochs:
        out.append(rung)
        rung *= 2
    return tuple(out)


def beaten_by(board: Sequence[tuple[float, float, str]], memory: float,
              accuracy: float) -> str | None:
    """The id of a trial on `board` ((chip memory, val accuracy, trial id) at one rung) with
    memory <= `memory` and accuracy > `accuracy`, or None when no such trial exists."""
    for other_memory, other_accuracy, trial_id in board:
        if other_memory <= memory and other_accuracy > accuracy:
            return trial_id
    return None


class DominatedStopper(FIFOScheduler):
    """Tune scheduler: stop a trial at a rung where a no-more-memory trial already beats it.

    Runs in the driver; its boards (what every trial reached at every rung) start empty in each
    search segment, so a resumed search only stops less, never more.
    """

    def __init__(self, rungs: Sequence[int]) -> None:
        super().__init__()
        self.rungs = tuple(rungs)
        self.boards: dict[int, list[tuple[float, float, str]]] = {r: [] for r in self.rungs}

    def on_trial_result(self, tune_controller: Any, trial: Any, result: dict) -> str:
        epoch = result.get("epoch")
        if "record" in result or epoch not in self.boards:
            return TrialScheduler.CONTINUE
        memory = float(result[MEMORY])
        accuracy = float(result[ACCURACY])
        board = self.boards[epoch]
        beaten = beaten_by(board, memory, accuracy)
        board.append((memory, accuracy, trial.trial_id))
        return TrialScheduler.STOP if beaten is not None else TrialScheduler.CONTINUE
