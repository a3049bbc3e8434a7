"""Search efficiency: hypervolume per trained trial of the samplers tpe, nsga2, random and grid.

One small problem for all: the shipped `tiny` config (3x3 tiles x 8 neurons, synthetic data) at
a few epochs, methods routing_aware, chip_aware and deepr. Each sampler runs the same budget of
trained trials for several seeds, in-process with Optuna's ask/tell and the product's trial
function (`search.driver.trial.evaluate`, no Ray, one trial at a time). As in the product's driver
(`ConstrainedOptunaSearch.suggest`), every suggestion first passes
`search.driver.gate.ProxyGate.check`:
one the proxy rejects is told to Optuna as infeasible (constraint and objectives) and does not
count toward the budget. tpe, nsga2 and random are `search.driver.searcher.make_sampler` (the
product's
samplers and their defaults); grid is `optuna.samplers.GridSampler` over 3 values per range.
The hypervolume of the front (max val_accuracy, min chip_memory_cells) is
`analysis.pareto.hypervolume_curve` with one reference point for every run.
The training seed is fixed, so a configuration trains to the same result whichever sampler
proposes it: trained results are cached by configuration within one run.
The default run (12 trials x 5 seeds x 4 samplers, 3 epochs) takes about 8-9 min on 2 shared
cores; --quick (2 trials, 1 seed, 1 epoch) about 20 s.
Run: python benchmarks/bench_search.py [--trials 12] [--seeds 5] [--epochs 3] [--quick]

--scale N: the sampler's own cost and hypervolume at N trials, with TPE on its default window
of recent trials (`search.driver.searcher.TPE_WINDOW`, or --window) beside plain TPE and random. The
training is replaced by a surrogate (accuracy rises with the link budget, falls away from a good
learning rate; memory is the sampled chip's exact memory), so only the sampler is measured.
--scale 1500 --window 300 --seeds 2 takes about 3 min on 2 shared cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import torch

from analysis.pareto import default_reference, hypervolume_curve
from hardware.memory import chip_memory_cells
from model.data import load_dataset
from search.config.files import SearchConfig, build_trial, load_config
from search.config.space import OptunaSpace, Param
from search.driver.gate import ProxyGate
from search.driver.searcher import TPE_WINDOW, make_sampler
from search.driver.trial import TrialRecord, TrialSettings, evaluate

SAMPLERS = ("tpe", "nsga2", "random", "grid")
METHODS = ("routing_aware", "chip_aware", "deepr")
GRID_VALUES = 3  # values per range in the grid sampler's discretised space


@dataclass
class TrainedCache:
    """Trained records by configuration (sorted parameter items); hits and misses counted."""

    records: dict[tuple, TrialRecord] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def get(self, params: dict[str, Any]) -> TrialRecord | None:
        record = self.records.get(tuple(sorted(params.items())))
        self.hits += record is not None
        return record

    def put(self, params: dict[str, Any], record: TrialRecord) -> None:
        self.misses += 1
        self.records[tuple(sorted(params.items()))] = record


@dataclass(frozen=True)
class SearchRun:
    """One sampler and seed: trained records in order, suggestions asked, seconds.

    wall: this run's wall time (cache hits cost nothing); trial_seconds: training time of all
    its trained trials, cached ones at the time they took when first trained.
    """

    sampler: str
    seed: int
    records: tuple[TrialRecord, ...]
    suggestions: int
    wall: float
    trial_seconds: float
    stopped: bool


def bench_config(epochs: int, data_root: str | None) -> SearchConfig:
    """The tiny config with `epochs` and the three methods; `data_root` for the dataset."""
    overrides = [f"training.epochs={epochs}",
                 "training.method={choices=[" + ",".join(f'"{m}"' for m in METHODS) + "]}"]
    if data_root is not None:
        overrides.append(f"data.root={data_root!r}")
    return load_config("tiny", overrides)


def grid_values(param: Param, n: int = GRID_VALUES) -> list[Any]:
    """n values spanning a range (geometric when log, on the step grid when stepped), or the
    choices."""
    if param.kind == "choices":
        return list(param.choices)
    if param.log:
        return [float(v) for v in np.geomspace(param.low, param.high, n)]
    if param.step is not None or param.is_int:
        step = param.step or 1
        points = round((param.high - param.low) / step)
        steps = sorted({round(i * points / (n - 1)) for i in range(n)})
        values = [param.low + s * step for s in steps]
        return [int(v) for v in values] if param.is_int else [float(v) for v in values]
    return [float(v) for v in np.linspace(param.low, param.high, n)]


def make_bench_sampler(name: str, seed: int, cfg: SearchConfig) -> optuna.samplers.BaseSampler:
    """The product's sampler `name`, or "grid": a seeded GridSampler over `grid_values`."""
    if name == "grid":
        space = {p.name: grid_values(p) for p in cfg.searched}
        return optuna.samplers.GridSampler(space, seed=seed)
    return make_sampler(name, seed)


def reference_point(cfg: SearchConfig) -> tuple[float, float]:
    """(accuracy 0, 1.1 x memory of the largest chip of the space): one for every run."""
    largest = {p.name: p.largest for p in cfg.params}
    spec, _ = build_trial(cfg, largest)
    reference = default_reference(np.array([chip_memory_cells(spec)]))
    assert reference is not None
    return reference


def run_search(cfg: SearchConfig, sampler: str, seed: int, trials: int, data: Any,
               cache: TrainedCache) -> SearchRun:
    """Ask/tell until `trials` suggestions have trained (or too many in a row were rejected)."""
    settings = TrialSettings(cfg.search.proxy_seeds, cfg.search.proxy_threshold)
    gate = ProxyGate(cfg, settings, directory="", config_text="")  # check only: no rows written
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=make_bench_sampler(sampler, seed, cfg))
    space = OptunaSpace.from_config(cfg)
    records: list[TrialRecord] = []
    suggestions = in_a_row = 0
    start = time.perf_counter()
    while len(records) < trials and in_a_row < cfg.search.max_consecutive_infeasible:
        trial = study.ask()
        params = space(trial)
        suggestions += 1
        record = gate.check(params)
        if record is not None:  # as ConstrainedOptunaSearch._tell_infeasible
            trial.set_constraint("violations", record.constraint)
            study.tell(trial, list(record.objective_values()))
            in_a_row += 1
            continue
        in_a_row = 0
        record = cache.get(params) or train_once(cfg, params, data, settings, cache)
        records.append(record)
        trial.set_constraint("violations", record.constraint)
        if record.status == "error":
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            study.tell(trial, list(record.objective_values()))
    return SearchRun(sampler, seed, tuple(records), suggestions, time.perf_counter() - start,
                     sum(r.train_seconds or 0.0 for r in records), len(records) < trials)


def train_once(cfg: SearchConfig, params: dict[str, Any], data: Any, settings: TrialSettings,
               cache: TrainedCache) -> TrialRecord:
    """Train one configuration with the product's trial function and cache its record."""
    spec, train_cfg = build_trial(cfg, params)
    record, _ = evaluate(spec, train_cfg, data, cfg.data, dict(params), settings)
    cache.put(params, record)
    return record


def hypervolumes(run: SearchRun, reference: tuple[float, float],
                 checkpoints: list[int]) -> np.ndarray:
    """float (len(checkpoints),): hypervolume after each checkpoint's number of trained trials,
    as a fraction of the reference box (accuracy 1 x reference cells); the last value when a
    run stopped short. Only ok, mappable trials are on a front (as in `analysis.pareto`)."""
    considered = [r.status == "ok" and r.mappable for r in run.records]
    accuracy = np.array([r.val_accuracy if ok else np.nan
                         for r, ok in zip(run.records, considered, strict=True)], dtype=float)
    memory = np.array([r.chip_memory_cells for r in run.records], dtype=float)
    curve = hypervolume_curve(accuracy, memory, reference) / (1.0 - reference[0]) / reference[1]
    if curve.size == 0:
        return np.zeros(len(checkpoints))
    return np.array([curve[min(k, curve.size) - 1] for k in checkpoints])


def print_table(runs: list[SearchRun], reference: tuple[float, float],
                checkpoints: list[int]) -> dict[str, np.ndarray]:
    """One line per sampler: hypervolume mean +- sd over seeds per checkpoint, the final one
    relative to random, yield and times. Returns the hypervolumes (seeds x checkpoints)."""
    names = list(dict.fromkeys(r.sampler for r in runs))
    by_sampler = {s: [r for r in runs if r.sampler == s] for s in names}
    hv = {s: np.array([hypervolumes(r, reference, checkpoints) for r in rs])
          for s, rs in by_sampler.items()}
    header = "".join(f"{f'HV@{k}':>15}" for k in checkpoints)
    print(f"{'sampler':<8}{header}{'vs random (seeds ahead)':>25}{'trained/suggested':>19}"
          f"{'wall s':>9}{'trial s':>9}")
    for s, rs in by_sampler.items():
        cells = "".join(f"{m:>8.4f} +-{sd:.3f}" for m, sd in zip(hv[s].mean(0), _sd(hv[s]),
                                                                  strict=True))
        trained, asked = sum(len(r.records) for r in rs), sum(r.suggestions for r in rs)
        stopped = " (stopped)" if any(r.stopped for r in rs) else ""
        print(f"{s:<8}{cells}{versus_random(hv, s):>25}"
              f"{f'{trained}/{asked} = {trained / asked:.0%}':>19}"
              f"{sum(r.wall for r in rs):>9.1f}{sum(r.trial_seconds for r in rs):>9.1f}{stopped}")
    return hv


def versus_random(hv: dict[str, np.ndarray], sampler: str) -> str:
    """Final mean hypervolume over random's, and the seeds on which it is strictly ahead of
    random with the same seed (paired), e.g. '1.15x (2/3 ahead)'."""
    if "random" not in hv or hv["random"][:, -1].mean() <= 0:
        return "-"
    final, base = hv[sampler][:, -1], hv["random"][:, -1]
    return f"{final.mean() / base.mean():.2f}x ({int((final > base).sum())}/{len(final)} ahead)"


def _sd(values: np.ndarray) -> np.ndarray:
    """Sample standard deviation over seeds (axis 0); 0 for one seed."""
    return values.std(0, ddof=1) if len(values) > 1 else np.zeros(values.shape[1])


def conclusion(hv: dict[str, np.ndarray], runs: list[SearchRun], trials: int) -> str:
    """One paragraph from the numbers: the best final and mean-over-checkpoints hypervolume,
    whether its lead exceeds the seeds' spread, and the yields."""
    final = {s: float(v[:, -1].mean()) for s, v in hv.items()}
    area = {s: float(v.mean()) for s, v in hv.items()}
    best, runner_up = sorted(final, key=final.get, reverse=True)[:2]
    spread = max(_sd(hv[best])[-1], _sd(hv[runner_up])[-1])
    clear = final[best] - final[runner_up] > spread
    yields = {s: sum(len(r.records) for r in runs if r.sampler == s)
              / sum(r.suggestions for r in runs if r.sampler == s) for s in hv}
    same = identical_samplers(runs)
    return (f"After {trials} trained trials {best} reaches the highest mean hypervolume "
            f"({final[best]:.4f}; {runner_up} {final[runner_up]:.4f}), a lead "
            f"{'larger' if clear else 'no larger'} than the spread over seeds ({spread:.4f})"
            f"{'' if clear else ', so the two are not told apart at this budget'}. Averaged "
            f"over the checkpoints (hypervolume per trial along the way) the order is "
            f"{' > '.join(sorted(area, key=area.get, reverse=True))}. Yield (trained / "
            f"suggested): " + ", ".join(f"{s} {y:.0%}" for s, y in yields.items()) + "."
            + "".join(f" {' and '.join(g)} trained the same configurations for every seed."
                      for g in same)
            + (" (nsga2's first generation, 50 trials by default, and tpe's 10 startup "
               "suggestions are random sampling with the sampler's seed.)" if same else ""))


def identical_samplers(runs: list[SearchRun]) -> list[list[str]]:
    """Groups (two or more) of samplers whose runs trained the same records for every seed."""
    records: dict[str, list[tuple[TrialRecord, ...]]] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        records.setdefault(run.sampler, []).append(run.records)
    groups: list[list[str]] = []
    for sampler, trained in records.items():
        group = next((g for g in groups if records[g[0]] == trained), None)
        if group is None:
            groups.append([sampler])
        else:
            group.append(sampler)
    return [g for g in groups if len(g) > 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=12, help="trained trials per search")
    parser.add_argument("--seeds", type=int, default=5, help="sampler seeds 0..N-1")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per trial")
    parser.add_argument("--samplers", default=",".join(SAMPLERS), help="comma-separated")
    parser.add_argument("--data-root", default=None,
                        help="dataset root (default: the tiny config's ~/.cache/mosaic-dse)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 2 trials, 1 seed, 1 epoch, temporary data root")
    parser.add_argument("--scale", type=int, default=0,
                        help="sampler cost and hypervolume at this many surrogate trials")
    parser.add_argument("--window", type=int, default=TPE_WINDOW,
                        help="TPE's window of recent trials in --scale runs")
    args = parser.parse_args()
    if args.scale:
        scale_benchmark(args.scale, args.window, args.seeds if args.seeds != 5 else 2)
        return
    if args.quick:
        args.trials, args.seeds, args.epochs = 2, 1, 1
    with tempfile.TemporaryDirectory() as tmp:
        root = tmp if args.quick and args.data_root is None else args.data_root
        run_benchmark(args.trials, args.seeds, args.epochs, args.samplers.split(","), root)


def run_benchmark(trials: int, seeds: int, epochs: int, samplers: list[str],
                  data_root: str | None) -> None:
    """Run every sampler for every seed (seed-major, so machine noise hits all alike), print."""
    torch.set_num_threads(1)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    cfg = bench_config(epochs, data_root)
    data = load_dataset(cfg.data)
    reference = reference_point(cfg)
    checkpoints = sorted({max(1, round(trials * i / 4)) for i in range(1, 5)})
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__} "
          f"with {torch.get_num_threads()} thread, optuna {optuna.__version__}")
    print(f"problem: tiny config (3x3 tiles x 8 neurons), {epochs} epochs, methods "
          f"{', '.join(METHODS)}; searched: {', '.join(p.name for p in cfg.searched)}; "
          f"{trials} trained trials x seeds 0..{seeds - 1} per sampler; one trial at a time")
    print(f"hypervolume of (max val_accuracy, min chip_memory_cells) as a fraction of the "
          f"reference box, reference point (accuracy {reference[0]:g}, {reference[1]:g} cells) "
          f"for every run; mean +- sd over seeds")
    cache = TrainedCache()
    runs = []
    for seed in range(seeds):
        for sampler in samplers:
            runs.append(run_search(cfg, sampler, seed, trials, data, cache))
            print(f"  {sampler} seed {seed}: {len(runs[-1].records)}/{runs[-1].suggestions} "
                  f"trained/suggested, {runs[-1].wall:.1f} s", file=sys.stderr)
    hv = print_table(runs, reference, checkpoints)
    print(f"cache: trained results are cached by configuration within this run (training seed "
          f"fixed at {cfg.param('seed').resolved}, so a configuration trains to the same "
          f"result): {cache.misses} trainings, {cache.hits} cache hits; 'wall s' counts only "
          "trainings run here, 'trial s' every trained trial at its training time")
    if len(hv) > 1:
        print("conclusion: " + conclusion(hv, runs, trials))


def surrogate(cfg: SearchConfig, params: dict[str, Any]) -> tuple[float, float]:
    """(val_accuracy, chip_memory_cells) without training: accuracy rises with the link budget
    (p1, p3) and falls away from lr = 3e-3; memory is the sampled chip's exact memory."""
    spec, _ = build_trial(cfg, params)
    budget = float(params.get("p1", 0.5)) + 2.0 * float(params.get("p3", 0.0))
    lr = float(params.get("lr", 3e-3))
    accuracy = (1.0 - np.exp(-2.0 * budget)) * np.exp(-(np.log10(lr / 3e-3)) ** 2)
    return float(accuracy), float(chip_memory_cells(spec))


def scale_run(cfg: SearchConfig, sampler: optuna.samplers.BaseSampler,
              n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(CPU seconds per suggestion, accuracies, memories) of n surrogate trials."""
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)
    space = OptunaSpace.from_config(cfg)
    seconds, accuracy, memory = np.zeros(n), np.zeros(n), np.zeros(n)
    for i in range(n):
        start = time.process_time()
        trial = study.ask()
        params = space(trial)
        seconds[i] = time.process_time() - start
        accuracy[i], memory[i] = surrogate(cfg, params)
        trial.set_constraint("violations", 0.0)
        study.tell(trial, [accuracy[i], memory[i]])
    return seconds, accuracy, memory


def scale_benchmark(n: int, window: int, seeds: int) -> None:
    """Print TPE's CPU per suggestion and hypervolume at n trials, windowed vs plain."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    cfg = bench_config(1, None)
    reference = reference_point(cfg)
    checkpoints = sorted({max(1, round(n * i / 4)) for i in range(1, 5)})
    variants = {f"tpe window {window}": lambda seed: make_sampler("tpe", seed, window),
                "tpe (no window)": lambda seed: make_sampler("tpe", seed, 10**9),
                "random": lambda seed: make_sampler("random", seed)}
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, optuna {optuna.__version__}; "
          f"tiny config's space ({', '.join(p.name for p in cfg.searched)}), surrogate "
          f"objectives, {n} trials x seeds 0..{seeds - 1}; CPU ms per suggestion (mean over "
          "each quarter of the run) and hypervolume as a fraction of the reference box")
    header = "".join(f"{f'ms@{k}':>10}" for k in checkpoints)
    header += "".join(f"{f'HV@{k}':>17}" for k in checkpoints)
    print(f"{'sampler':<20}{header}")
    for name, make in variants.items():
        costs, hvs = [], []
        for seed in range(seeds):
            seconds, accuracy, memory = scale_run(cfg, make(seed), n)
            quarters = np.array_split(seconds, len(checkpoints))
            costs.append([1e3 * q.mean() for q in quarters])
            curve = hypervolume_curve(accuracy, memory, reference) / (1 - reference[0])
            hvs.append([curve[k - 1] / reference[1] for k in checkpoints])
            print(f"  {name} seed {seed}: {seconds.sum():.1f} s of sampling", file=sys.stderr)
        cost, hv = np.array(costs), np.array(hvs)
        print(f"{name:<20}" + "".join(f"{c:>10.1f}" for c in cost.mean(0))
              + "".join(f"{m:>9.4f} +-{sd:.3f}" for m, sd in zip(hv.mean(0), _sd(hv),
                                                                 strict=True)))


if __name__ == "__main__":
    main()
