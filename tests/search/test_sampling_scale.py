"""Sampling that stays cheap: a bounded proxy cache kept out of the searcher's pickled state, and
TPE on a window of recent trials (plain TPE below it)."""

from __future__ import annotations

import math
import pickle

import optuna
import pytest

from hardware.proxy import ProxyCache
from search.config.files import load_config
from search.driver.gate import ProxyGate
from search.driver.searcher import WindowedTPESampler, make_sampler
from search.driver.trial import TrialSettings


def _gate() -> ProxyGate:
    cfg = load_config("tiny", [])
    settings = TrialSettings(cfg.search.proxy_seeds, cfg.search.proxy_threshold)
    return ProxyGate(cfg, settings, directory="", config_text="")


def test_the_proxy_cache_is_an_lru_of_bounded_size():
    cache = ProxyCache(max_entries=2)
    a = cache.usages(2, 2, 4, (0.0, 0.5), 1)
    cache.usages(2, 2, 4, (0.0, 0.6), 1)
    assert cache.usages(2, 2, 4, (0.0, 0.5), 1) is a  # a hit refreshes a
    cache.usages(2, 2, 4, (0.0, 0.7), 1)  # evicts 0.6, the least recently used
    assert len(cache) == 2
    assert cache.usages(2, 2, 4, (0.0, 0.5), 1) is a
    assert cache.usages(2, 2, 4, (0.0, 0.6), 1) is not None and len(cache) == 2


def test_the_gate_is_pickled_without_its_proxy_cache():
    gate = _gate()
    empty = len(pickle.dumps(gate))
    params = {p.name: p.largest for p in gate.config.params} | {"method": "routing_aware"}
    for p1 in (0.3, 0.5, 0.7, 0.9):
        gate.check(params | {"p1": p1})
    assert len(gate.cache) > 0
    assert len(pickle.dumps(gate)) == empty  # Tune checkpoints the searcher with it
    restored = pickle.loads(pickle.dumps(gate))
    assert len(restored.cache) == 0 and restored.config == gate.config


def _suggest(study: optuna.Study, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        trial = study.ask()
        x = [trial.suggest_float(f"x{j}", 0, 1) for j in range(3)]
        cap = trial.suggest_int("cap", 4, 32, step=4)
        trial.set_constraint("violations", 1.0 if x[0] + x[1] < 0.3 else 0.0)
        study.tell(trial, [math.sin(3 * x[2]) * x[1], cap * (1 + x[0])])
        out.append(trial.params)
    return out


def test_windowed_tpe_is_plain_tpe_below_its_window():
    directions = ["maximize", "minimize"]
    windowed = optuna.create_study(directions=directions, sampler=make_sampler("tpe", 3, 40))
    plain = optuna.create_study(directions=directions,
                                sampler=optuna.samplers.TPESampler(seed=3, multivariate=True))
    assert isinstance(windowed.sampler, WindowedTPESampler)
    assert _suggest(windowed, 30) == _suggest(plain, 30)


def test_windowed_tpe_models_only_the_recent_trials(monkeypatch):
    seen = []
    study = optuna.create_study(directions=["maximize", "minimize"],
                                sampler=make_sampler("tpe", 0, 15))
    split = optuna.samplers._tpe.sampler._split_trials

    def spy(study_, trials, n_below):
        seen.append(len(trials))
        return split(study_, trials, n_below)

    monkeypatch.setattr(optuna.samplers._tpe.sampler, "_split_trials", spy)
    _suggest(study, 40)
    assert max(seen) == seen[-1] == 14  # the window of 15 holds the trial being sampled


@pytest.mark.parametrize("name", ["nsga2", "random"])
def test_other_samplers_are_unchanged(name):
    sampler = make_sampler(name, 0)
    assert not isinstance(sampler, WindowedTPESampler)
