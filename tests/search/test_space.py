"""The Optuna define-by-run space: picklable, in range, on the step grid, fixed values unchanged."""

from __future__ import annotations

import math
import pickle

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search.config.files import SHIPPED_CONFIGS, describe_space, load_config
from search.config.space import OptunaSpace, Param, grid_size, parse_param

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(space: OptunaSpace, n: int, seed: int = 0) -> list[dict]:
    """n parameter dicts drawn by a seeded RandomSampler through the ask interface."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    return [space(study.ask()) for _ in range(n)]


def on_grid(value: float, low: float, step: float) -> bool:
    n = (value - low) / step
    return math.isclose(n, round(n), abs_tol=1e-9)


def assert_in_domain(param: Param, value) -> None:
    if param.kind == "fixed":
        assert value == param.value
    elif param.kind == "choices":
        assert value in param.choices
    else:
        assert param.low <= value <= param.high
        assert isinstance(value, int) == param.is_int
        if param.step is not None:
            assert on_grid(value, param.low, param.step)


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_space_pickles_and_samples_within_domains(name):
    cfg = load_config(name)
    space = pickle.loads(pickle.dumps(OptunaSpace.from_config(cfg)))
    assert space == OptunaSpace(cfg.params)
    draws = sample(space, 150)
    for values in draws:
        assert list(values) == [p.name for p in cfg.params]
        for p in cfg.params:
            assert_in_domain(p, values[p.name])
    for p in cfg.searched:  # every searched parameter actually varies
        assert len({d[p.name] for d in draws}) > 1


def test_int_step_range_covers_its_grid():
    space = OptunaSpace(load_config("default").params)
    seen = {d["cap_r0"] for d in sample(space, 200)}
    assert seen == {0, 4, 8, 12, 16}


def test_log_range_is_sampled_log_uniformly():
    # lr in [3e-3, 2e-2] log: half the draws lie below the geometric mid sqrt(6e-5) ~ 7.75e-3
    # (a linear range would put only (7.75e-3 - 3e-3) / 17e-3 = 28% there).
    draws = [d["lr"] for d in sample(OptunaSpace(load_config("default").params), 600, seed=1)]
    below = sum(v < math.sqrt(6e-5) for v in draws) / len(draws)
    assert 0.42 < below < 0.58


def test_same_seed_same_draws():
    space = OptunaSpace(load_config("tiny").params)
    assert sample(space, 20, seed=3) == sample(space, 20, seed=3)
    assert sample(space, 20, seed=3) != sample(space, 20, seed=4)


def _check_int(value, what=""):
    assert isinstance(value, int)
    return value


def _check_float(value, what=""):
    return float(value)


@settings(max_examples=40, deadline=None)
@given(low=st.integers(-50, 50), n_steps=st.integers(0, 20), step=st.integers(1, 7),
       seed=st.integers(0, 2**16))
def test_any_int_range_samples_on_its_grid(low, n_steps, step, seed):
    table = {"low": low, "high": low + n_steps * step, "step": step}
    param = parse_param("x", "hardware", table, _check_int, integer=True)
    for values in sample(OptunaSpace((param,)), 10, seed):
        assert_in_domain(param, values["x"])


@settings(max_examples=40, deadline=None)
@given(low=st.floats(1e-4, 10.0), span=st.floats(0.0, 100.0), log=st.booleans(),
       seed=st.integers(0, 2**16))
def test_any_float_range_samples_inside(low, span, log, seed):
    param = parse_param("x", "training", {"low": low, "high": low + span, "log": log},
                        _check_float, integer=False)
    for values in sample(OptunaSpace((param,)), 10, seed):
        assert_in_domain(param, values["x"])


@settings(max_examples=30, deadline=None)
@given(low=st.floats(0.0, 1.0), n_steps=st.integers(0, 10), step=st.sampled_from([0.05, 0.1, 0.25]),
       seed=st.integers(0, 2**16))
def test_any_float_step_range_samples_on_its_grid(low, n_steps, step, seed):
    low = round(low, 2)
    high = round(low + n_steps * step, 10)  # as a TOML file would state it
    param = parse_param("x", "training", {"low": low, "high": high, "step": step},
                        _check_float, integer=False)
    for values in sample(OptunaSpace((param,)), 10, seed):
        assert_in_domain(param, values["x"])


def test_describe_space_lists_every_parameter_and_the_grid():
    cfg = load_config("study")
    text = describe_space(cfg)
    for p in cfg.params:
        assert f"\n{p.name} " in text
    assert "p3                  training  choices  0 | 0.1 | 0.2 | 0.3" in text
    n_fixed = len(cfg.params) - 6
    assert text.splitlines()[-1] == (
        f"6 searched and {n_fixed} fixed parameters, a discrete grid of 972 points; "
        "200 trials, sampler random (seed 0), 8 concurrent")
    # method x p1 x p3 x seed x cap_r0 x cap_r1
    assert grid_size(cfg.params) == 3 * 3 * 4 * 3 * 3 * 3


def test_describe_space_shows_ranges():
    text = describe_space(load_config("default"))
    assert "[0, 16] step 4" in text and "[0.003, 0.02] log" in text
    assert "a continuous space" in text
    assert grid_size(load_config("default").params) is None


def test_space_drives_ray_optuna_search():
    search = pytest.importorskip("ray.tune.search.optuna")
    cfg = load_config("tiny")
    searcher = search.OptunaSearch(
        space=OptunaSpace.from_config(cfg), metric=["val_accuracy", "chip_memory_cells"],
        mode=["max", "min"], sampler=optuna.samplers.RandomSampler(seed=0))
    searcher = pickle.loads(pickle.dumps(searcher))  # Tune checkpoints the searcher like this
    config = searcher.suggest("trial_1")
    assert set(config) == {p.name for p in cfg.params}
    for p in cfg.params:
        assert_in_domain(p, config[p.name])
