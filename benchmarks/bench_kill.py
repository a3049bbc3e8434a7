"""An instant search SIGKILLed at random moments and resumed: every trained row exactly once.

The real driver (`search.driver.runner.run_search`: Tune, the constrained Optuna searcher with its
journal, the proxy gate, the results store) on the tiny config, with the training replaced by
an instant trainable that reports the product's final result. The driver runs in its own
process group; at `--kills` random moments the whole group (driver, Ray, workers) is
SIGKILLed and the search resumed; the last segment runs to the end. Then trials.parquet must
hold exactly `--trials` trained rows, no trial id twice, and the Optuna study one finished
trial per row.
Run: python benchmarks/bench_kill.py [--trials 2000] [--kills 5] [--seed 0]
(about 5-8 min on 2 shared cores for 2,000 trials).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def sets(storage: Path, data_root: Path, trials: int) -> list[str]:
    """Overrides: a tiny search of `trials` instant trials, every chip roomy enough."""
    return [f"data.root={str(data_root)!r}", f"search.storage={str(storage)!r}",
            "search.name='killed'", f"search.trials={trials}", "search.max_concurrent=2",
            "hardware.cap_r0=32", "hardware.cap_r1={low=64, high=96, step=8}"]


def instant_trainable(config: dict[str, Any], data: Any = None, context: Any = None) -> None:
    """The product's final report of a trial, at once (accuracy from the link budget)."""
    from ray import tune

    from hardware.memory import chip_memory_cells
    from search.config.files import build_trial
    from search.driver.trial import TrialRecord

    spec, _ = build_trial(context.config, dict(config))
    accuracy = min(1.0, 0.5 * float(config.get("p1", 0.5)) + float(config.get("p3", 0.0)))
    memory = int(chip_memory_cells(spec))
    record = TrialRecord(status="ok", method=str(config["method"]), chip_memory_cells=memory,
                         proxy_memory_cells=memory, params=dict(config), accuracy=accuracy,
                         val_accuracy=accuracy, memory_cells=memory, mappable=True,
                         violations=0, train_seconds=0.0)
    tune.report({"val_accuracy": accuracy, "chip_memory_cells": float(memory),
                 "constraint": record.constraint, "status": record.status,
                 "record": json.dumps(record.to_row())})


def child(storage: Path, data_root: Path, trials: int) -> None:
    """One driver segment: start or resume the search, with the instant trainable."""
    import search.driver.runner
    from search.config.files import load_config

    search.driver.runner.trainable = instant_trainable
    cfg = load_config("tiny", sets(storage, data_root, trials))
    resume = (storage / "killed" / "config.toml").exists()
    outcome = search.driver.runner.run_search(cfg, resume=resume, verbose=False)
    print(f"finished {outcome.finished}", flush=True)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def segment(storage: Path, data_root: Path, trials: int, kill_after: float | None) -> bool:
    """Run one driver; SIGKILL its process group after `kill_after` s. True if it finished."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(storage), str(data_root),
                             str(trials)], env=_env(), cwd=ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=kill_after)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return False
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"driver exited {proc.returncode}: {err[-3000:]}")
    return True


def check(directory: Path, trials: int) -> dict[str, int]:
    """Counts of the finished search; AssertionError when a row is missing or duplicated."""
    import optuna

    from analysis.io import read_table
    from search.driver.searcher import STUDY_NAME, open_storage

    rows = read_table(directory / "trials.parquet").to_pylist()
    ids = [r["trial_id"] for r in rows]
    trained = [r for r in rows if r["status"] != "infeasible"]
    assert len(set(ids)) == len(ids), "a trial id appears twice"
    assert len(trained) == trials, f"{len(trained)} trained rows, expected {trials}"
    assert all(r["status"] == "ok" for r in trained), {r["status"] for r in trained}
    study = optuna.load_study(study_name=STUDY_NAME, storage=open_storage(directory))
    finished = [t for t in study.get_trials(deepcopy=False) if t.state.is_finished()]
    tagged = [t.user_attrs.get("ray_trial_id") for t in finished
              if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(tagged) == len(set(tagged)) == len(rows), "rows and study disagree"
    assert set(tagged) == set(ids), "a row without its Optuna trial or the reverse"
    return {"rows": len(rows), "trained": len(trained), "optuna_trials": len(study.trials)}


def run(trials: int, kills: int, seed: int, work: Path, window: tuple[float, float]) -> dict:
    """Start, kill `kills` times at random delays in `window` (s), finish; check the rows."""
    rng = random.Random(seed)
    storage, data_root = work / "storage", work / "data"
    delays = [round(rng.uniform(*window), 1) for _ in range(kills)]
    start = time.perf_counter()
    killed = 0
    for delay in delays:
        if segment(storage, data_root, trials, delay):
            break  # finished before its kill: nothing left to interrupt
        killed += 1
        print(f"  SIGKILL after {delay} s", file=sys.stderr, flush=True)
    segment(storage, data_root, trials, None)
    counts = check(storage / "killed", trials)
    return {**counts, "kills": killed, "delays": delays[:killed],
            "seconds": round(time.perf_counter() - start, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), int(args.child[2]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.trials, args.kills, args.seed, Path(tmp), (15.0, 60.0))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
