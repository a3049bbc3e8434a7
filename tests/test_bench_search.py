"""benchmarks/bench_search.py: grid values, hypervolume per checkpoint, and a 2-trial search."""

from __future__ import annotations

from pathlib import Path

import pytest

from search.driver.trial import TrialRecord
from tests.conftest import loaded_benchmark


@pytest.fixture(scope="module")
def bench():
    with loaded_benchmark("bench_search") as module:
        yield module


def test_grid_values_span_each_range(bench) -> None:
    cfg = bench.bench_config(1, None)
    grid = {p.name: bench.grid_values(p) for p in cfg.searched}
    assert grid["cap_r0"] == [0, 4, 8]  # step 4 over [0, 8]: 2 steps, every one a value
    assert grid["cap_r1"] == [8, 12, 16]
    assert grid["method"] == ["routing_aware", "chip_aware", "deepr"]
    assert grid["p1"] == pytest.approx([0.5, 0.75, 1.0])
    assert grid["lr"] == pytest.approx([1e-3, 10 ** -2.5, 1e-2])  # geometric midpoint


def _ok(accuracy: float, memory: int) -> TrialRecord:
    return TrialRecord(status="ok", method="chip_aware", chip_memory_cells=memory,
                       proxy_memory_cells=None, val_accuracy=accuracy, mappable=True)


def test_hypervolume_per_checkpoint_by_hand(bench) -> None:
    # reference (0, 100): after 1 trial (0.5, 60): 0.5 * 40 = 20 -> 0.2 of the 1 x 100 box;
    # after 2, (0.8, 80) adds 0.3 * 20 = 6 -> 0.26; the unmappable third adds nothing.
    bad = TrialRecord(status="ok", method="deepr", chip_memory_cells=10, proxy_memory_cells=1,
                      val_accuracy=0.9, mappable=False)
    run = bench.SearchRun("random", 0, (_ok(0.5, 60), _ok(0.8, 80), bad), 3, 0.0, 0.0, False)
    assert bench.hypervolumes(run, (0.0, 100.0), [1, 2, 3, 4]) == pytest.approx(
        [0.2, 0.26, 0.26, 0.26])


def test_search_counts_trained_trials_and_caches(bench, tmp_path: Path) -> None:
    cfg = bench.load_config("tiny", ["training.epochs=1", f"data.root={str(tmp_path)!r}",
                                     "data.synthetic_train=60", "data.synthetic_test=20",
                                     "data.time_bins=10",
                                     "hardware.cap_r0=0", "training.p3=0.3",
                                     'training.method={choices=["routing_aware","chip_aware"]}'])
    data = bench.load_dataset(cfg.data)
    cache = bench.TrainedCache()
    first = bench.run_search(cfg, "random", 0, 2, data, cache)
    # cap_r0 = 0 with p3 = 0.3: the proxy rejects every routing_aware suggestion
    assert [r.method for r in first.records] == ["chip_aware", "chip_aware"]
    assert first.suggestions > 2 and (cache.misses, cache.hits) == (2, 0)
    again = bench.run_search(cfg, "random", 0, 2, data, cache)
    assert again.records == first.records and (cache.misses, cache.hits) == (2, 2)


def test_scale_run_measures_the_windowed_sampler_on_surrogates(bench) -> None:
    from search.driver.searcher import make_sampler

    cfg = bench.bench_config(1, None)
    seconds, accuracy, memory = bench.scale_run(cfg, make_sampler("tpe", 0, 5), 14)
    assert seconds.shape == accuracy.shape == memory.shape == (14,)
    assert (seconds > 0).all() and ((accuracy >= 0) & (accuracy <= 1)).all()
    assert (memory > 0).all()
