"""What a trial checkpoint costs the driver: the measurement behind `[search].checkpoint_every`.

An instant function trainable reports `--epochs` times per trial, once with a checkpoint of
`--kb` KB at every report (what the project's `state.npz` is: 105 KB on `tiny`, ~9.5 MB at
5x5x32) and once without, through the same Tuner setup as `search.driver.runner` (num_to_keep=1,
local
storage). Printed per arm: the driver's CPU seconds on its main thread and on all its threads,
per trial; then the difference per checkpoint. Ray's own processes (GCS, raylet, workers) are
not counted: the driver is the part a bigger cluster does not scale.
Run: python benchmarks/bench_checkpoint.py [--trials 40] [--epochs 6] [--kb 105] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def instant_trainable(config: dict) -> None:
    """Report `epochs` times, each with a `kb`-KB state checkpoint when `checkpoint` is set."""
    from ray import tune

    from search.store.tune_checkpoints import staged_checkpoint

    state = {"w": np.zeros(config["kb"] * 256, dtype=np.float32)}
    for epoch in range(1, config["epochs"] + 1):
        if config["checkpoint"]:
            with staged_checkpoint(state) as staged:
                tune.report({"epoch": epoch}, checkpoint=staged)
        else:
            tune.report({"epoch": epoch})


def driver_seconds(root: str, trials: int, epochs: int, kb: int, checkpoint: bool
                   ) -> tuple[float, float]:
    """(main-thread, whole-process) CPU seconds of the driver for one Tuner run."""
    from ray import tune

    tuner = tune.Tuner(
        instant_trainable,
        param_space={"epochs": epochs, "kb": kb, "checkpoint": checkpoint,
                     "i": tune.grid_search(list(range(trials)))},
        tune_config=tune.TuneConfig(max_concurrent_trials=2, reuse_actors=True),
        run_config=tune.RunConfig(name=f"run-{time.monotonic_ns()}", storage_path=root,
                                  verbose=0,
                                  checkpoint_config=tune.CheckpointConfig(num_to_keep=1)))
    main, process = time.thread_time(), time.process_time()
    results = tuner.fit()
    assert results.num_errors == 0
    return time.thread_time() - main, time.process_time() - process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--kb", type=int, default=105)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    arms: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
    with tempfile.TemporaryDirectory() as root:
        driver_seconds(root, 4, 2, args.kb, True)  # warm-up: worker start, imports
        for _ in range(args.repeats):
            for checkpoint in (False, True):
                arms[checkpoint].append(driver_seconds(root, args.trials, args.epochs, args.kb,
                                                       checkpoint))
    ray.shutdown()
    per_trial = {arm: [tuple(v / args.trials for v in run) for run in runs]
                 for arm, runs in arms.items()}
    for arm, runs in per_trial.items():
        main_ms = statistics.median(r[0] for r in runs) * 1e3
        all_ms = statistics.median(r[1] for r in runs) * 1e3
        name = "checkpoint every report" if arm else "no checkpoint"
        print(f"{name:>24}: driver CPU per trial: main thread {main_ms:.1f} ms, all threads "
              f"{all_ms:.1f} ms ({args.epochs} reports)")
    diff = [[(w - wo) / args.epochs * 1e3 for w, wo in zip(a, b, strict=True)]
            for a, b in zip(per_trial[True], per_trial[False], strict=True)]
    main_ms, all_ms = (statistics.median(d[i] for d in diff) for i in (0, 1))
    print(f"per checkpoint ({args.kb} KB): main thread {main_ms:.1f} ms, all threads "
          f"{all_ms:.1f} ms (median of {args.repeats})")

if __name__ == "__main__":
    main()
