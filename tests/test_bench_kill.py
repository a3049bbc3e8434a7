"""benchmarks/bench_kill.py: an instant search SIGKILLed at random moments and resumed keeps
every trained row exactly once (a small variant of the 2,000-trial benchmark)."""

from __future__ import annotations

import pytest

from tests.conftest import loaded_benchmark


@pytest.mark.slow
def test_an_instant_search_killed_twice_and_resumed_trains_every_trial_once(tmp_path):
    with loaded_benchmark("bench_kill") as bench:
        # an uninterrupted 150-trial search lasts ~17 s on 2 quiet cores (start-up ~5 s)
        result = bench.run(trials=150, kills=2, seed=1, work=tmp_path, window=(7.0, 13.0))
    assert result["trained"] == 150 and result["rows"] >= 150
    assert result["kills"] >= 1  # at least one kill landed before the search finished
