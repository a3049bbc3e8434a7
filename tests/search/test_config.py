"""Config loading, validation messages, overrides, defaults, trial building and fingerprints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hardware.errors import ConfigError, MosaicDSEError, SpecError
from hardware.spec import MosaicSpec
from model.config import TrainConfig
from search.config.files import (
    SHIPPED_CONFIGS,
    SearchConfig,
    build_trial,
    config_differences,
    config_fingerprint,
    load_config,
    parse_config,
    resolve_defaults,
)

# A small valid config (2x2 tiles x 8 neurons); cases below change one entry (None: delete it).
BASE = {
    "data": {"n_inputs": "16", "time_bins": "30"},
    "search": {"trials": "4"},
    "hardware": {"rows": "2", "cols": "2", "neurons_per_tile": "8", "cap_r0": "4"},
    "training": {"p1": "0.8", "prune_min": "4", "lr": "{ low = 1e-3, high = 1e-2, log = true }"},
}


def config_text(section: str | None = None, key: str | None = None,
                value: str | None = None) -> str:
    """BASE as TOML text with [section].key set to the TOML text `value` (None: removed)."""
    doc = {s: dict(body) for s, body in BASE.items()}
    if section is not None:
        doc.setdefault(section, {})[key] = value
    return "\n".join(f"[{s}]\n" + "".join(f"{k} = {v}\n" for k, v in body.items() if v is not None)
                     for s, body in doc.items())


ERRORS = [
    ("hardware", "rows", '"five"', "[hardware].rows: must be an integer, got 'five'"),
    ("hardware", "rows", "2.5", "[hardware].rows: must be an integer, got 2.5"),
    ("hardware", "rows", "true", "[hardware].rows: must be an integer, got True"),
    ("hardware", "rows", "0", "[hardware].rows: must be >= 1, got 0"),
    ("hardware", "rows", None, "[hardware].rows: is required (add rows = ... to [hardware])"),
    ("hardware", "colls", "3", "[hardware].colls: unknown key, did you mean cols?"),
    ("hardwre", "rows", "3", "[hardwre]: unknown section, did you mean [hardware]?"),
    ("hardware", "cap_r0", "{ low = 32, high = 4 }",
     "[hardware].cap_r0: low must be <= high, got low=32 high=4"),
    ("hardware", "cap_r0", "{ low = 0.5, high = 8 }", "low must be an integer, got 0.5"),
    ("hardware", "cap_r0", "{ low = 0, high = 8, step = 0 }", "step must be > 0, got step=0"),
    ("hardware", "cap_r0", "{ low = 0, high = 8, step = 2.5 }", "step must be an integer"),
    ("hardware", "cap_r0", "{ low = 0, high = 10, step = 4 }",
     "high - low must be a multiple of step, got low=0 high=10 step=4"),
    ("hardware", "cap_r0", "{ low = 0, high = 8, step = 4, default = 5 }",
     "default must lie in [low, high] on the step-4 grid, got default=5"),
    ("hardware", "cap_r0", "{ low = 0, hgh = 8 }",
     "unknown field 'hgh' in a range, did you mean high?"),
    ("hardware", "cap_r0", "{ low = 0 }", "a range needs low and high"),
    ("hardware", "cap_r0", "{ choices = [[4, 4, 4, 4, 4, 4, 4, 4]] }",
     "choice must be an integer (8-port lists only as a fixed value)"),
    ("hardware", "cap_r0", "[4, 4]", "must be an integer >= 0 or a list of 8 of them"),
    ("hardware", "cap_r0", "-1", "[hardware].cap_r0: must be >= 0, got -1"),
    ("hardware", "neurons_per_tile", "4",
     "[hardware].neurons_per_tile: rows*cols*neurons_per_tile must be >= 20 (one readout "
     "neuron per class), got 2*2*4 = 16"),
    ("training", "lr", "{ low = 1e-3, high = 1e-2, log = true, step = 1e-3 }",
     "log and step cannot be combined"),
    ("training", "lr", '{ low = 1e-3, high = 1e-2, log = "yes" }', "log must be true or false"),
    ("training", "lr", "inf", "[training].lr: must be a finite number, got inf"),
    ("training", "lr", "0.0", "[training].lr: must be > 0, got 0.0"),
    ("training", "p3", "{ low = 0.0, high = 0.3, log = true }",
     "[training].p3: a log range needs low > 0, got low=0.0"),
    ("training", "p1", "1.5", "[training].p1: must be in [0, 1], got 1.5"),
    ("training", "p3", "{ low = 0.0, high = 1.2 }", "[training].p3: high must be in [0, 1]"),
    ("training", "p3", "{ choices = [0.1, -0.1] }", "choice must be in [0, 1], got -0.1"),
    ("training", "p2", "0.1", "[training].p2: hop distances of routed links are 1, 3, 5"),
    ("training", "p7", "0.1", "[training].p7: is never used: the longest route on the "
     "largest grid (2x2) has 3 hops"),
    ("training", "method", "{ choices = [] }", "choices must be a non-empty list, got []"),
    ("training", "method", '"deepR"', "[training].method: must be one of routing_aware, "
     "deepr, chip_aware, mosaic (did you mean deepr?), got 'deepR'"),
    ("training", "method", '{ choices = ["deepr", "dpr"] }', "choice must be one of"),
    ("training", "method", '{ choices = ["deepr"], default = "routing_aware" }',
     "default must be one of the choices"),
    ("training", "method", "{ low = 1, high = 2 }",
     "[training].method: takes a string: search it with { choices = [...] }"),
    ("training", "prune_min", "9", "[training].prune_min: must be <= neurons_per_tile"),
    ("training", "prune_min_fraction", "0.5", "[training].prune_min_fraction: and prune_min "
     "both set the pruning threshold (keep one: prune_min_fraction scales with "
     "neurons_per_tile, prune_min is a count of weights)"),
    ("training", "device", '"gpu"', "must be auto, cpu, mps or cuda[:i], got 'gpu'"),
    ("training", "device", '{ choices = ["cpu"] }', "must be a fixed value, not a range"),
    ("training", "threads", "0", '[training].threads: must be "auto" or an integer >= 1, got '
     "'0'"),
    ("training", "threads", '"many"', '[training].threads: must be "auto" or an integer >= 1, '
     "got 'many'"),
    ("training", "rec_fan_in", "-1.0", "[training].rec_fan_in: must be >= 0, got -1.0"),
    ("training", "threads", "{ choices = [1, 2] }", "must be a fixed value, not a range"),
    ("search", "sampler", '"cmaes"', "[search].sampler: must be one of tpe, nsga2, random"),
    ("search", "gpus_per_trial", "-1", "[search].gpus_per_trial: must be >= 0, got -1.0"),
    ("search", "name", '"a/b"', "[search].name: must be a plain directory name"),
    ("search", "trials", "{ low = 1, high = 3 }", "[search].trials: must be a fixed value"),
    ("search", "checkpoint_every", "0", "[search].checkpoint_every: must be a number of epochs "
     '>= 1 (2) or seconds > 0 ("300s"), got \'0\''),
    ("search", "checkpoint_every", '"0s"', "checkpoint_every: must be a number of epochs"),
    ("search", "checkpoint_every", '"2m"', "checkpoint_every: must be a number of epochs"),
    ("search", "checkpoint_every", "1.5", "checkpoint_every: must be a number of epochs"),
    ("data", "dataset", '"mnist"', "[data].dataset: must be one of synthetic, shd"),
    ("data", "n_inputs", "0", "[data].n_inputs: must be in [1, 700], got 0"),
    ("data", "n_inputs", "40", "[data].n_inputs: 40 inputs need ceil(40/8) = 5 input tiles but "
     "the smallest grid has 4 tiles"),
    ("data", "val_fraction", "1.0", "[data].val_fraction: must be in [0, 1), got 1.0"),
    ("data", "val_fraction", "-0.1", "[data].val_fraction: must be in [0, 1), got -0.1"),
    ("data", "time_bins", "{ low = 10, high = 20 }", "[data].time_bins: must be a fixed value"),
]


@pytest.mark.parametrize(("section", "key", "value", "expected"), ERRORS)
def test_config_error_names_key_rule_value_and_fix(section, key, value, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(config_text(section, key, value), source="my.toml")
    message = str(info.value)
    assert expected in message
    assert message.endswith("(fix it in my.toml)") and "\n" not in message


def test_base_config_is_valid():
    cfg = parse_config(config_text())
    assert (cfg.param("rows").value, cfg.data.n_inputs, cfg.search.trials) == (2, 16, 4)


def test_config_error_is_project_error_and_value_error():
    assert issubclass(ConfigError, MosaicDSEError) and issubclass(ConfigError, ValueError)


def test_key_outside_any_section():
    with pytest.raises(ConfigError, match=r"rows = 5 is outside any section"):
        parse_config("rows = 5\n" + config_text())


def test_malformed_toml_names_file_and_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[data]\ntime_bins = 30\nn_inputs = = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: invalid TOML: .*line 3"):
        load_config(path)


def test_missing_file_names_path(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nope\.toml \(give a TOML"):
        load_config(tmp_path / "nope.toml")


def test_asymmetric_ports_raise_spec_error_at_load():
    with pytest.raises(SpecError, match="cap_r0 must be 180°-symmetric"):
        parse_config(config_text("hardware", "cap_r0", "[1, 2, 3, 4, 1, 1, 1, 1]"))


@pytest.mark.parametrize("name", SHIPPED_CONFIGS)
def test_shipped_config_loads_resolves_and_builds(name):
    cfg = load_config(name)
    spec, train = build_trial(cfg, resolve_defaults(cfg))
    assert isinstance(spec, MosaicSpec) and isinstance(train, TrainConfig)
    assert spec.rows == cfg.param("rows").resolved
    assert train.method == "routing_aware" and train.hop_profile[1] == cfg.param("p1").resolved
    assert all(p.default is not None for p in cfg.searched)  # every range states its default
    assert parse_config(cfg.to_toml()) == cfg


def test_threads_is_auto_or_an_integer_and_reaches_the_training():
    cfg = parse_config(config_text())
    assert build_trial(cfg, resolve_defaults(cfg))[1].threads == "auto"
    for override, expected in (("training.threads=2", "2"), ("training.threads=auto", "auto")):
        cfg = parse_config(config_text(), overrides=[override])
        assert build_trial(cfg, resolve_defaults(cfg))[1].threads == expected
        assert parse_config(cfg.to_toml()) == cfg


def test_shipped_study_is_the_hop_profile_grid():
    cfg = load_config("study")
    assert cfg.param("p1").choices == (0.5, 0.7, 1.0)
    assert cfg.param("p3").choices == (0.0, 0.1, 0.2, 0.3)
    assert cfg.param("method").choices == ("routing_aware", "deepr", "mosaic")
    assert (cfg.data.dataset, cfg.search.sampler) == ("auto", "random")
    # the original's conventions (issue 8): binary stride-6 copies, per-bin decay 0.978, ...
    assert (cfg.data.binary, cfg.data.channel_reduction, cfg.data.stride) == (True, "stride", 6)
    assert cfg.data.augment and cfg.data.n_inputs == 128
    bin_width = cfg.data.duration / cfg.data.time_bins
    assert math.exp(-bin_width / cfg.param("tau").value) == pytest.approx(0.978, abs=5e-4)
    fixed = {name: cfg.param(name).value for name in
             ("reset", "rate_reg_form", "lr_schedule", "alpha", "prune_min_fraction", "w_thr")}
    assert fixed == {"reset": "original", "rate_reg_form": "population",
                     "lr_schedule": "polynomial", "alpha": 2.0, "prune_min_fraction": 0.625,
                     "w_thr": 0.1}
    assert build_trial(cfg, resolve_defaults(cfg))[1].prune_min == 20  # 20 of K = 32
    # the authors' alpha and threshold kept, the recurrent input scaled to fan-in 32 (issue 14)
    assert cfg.param("rec_fan_in").value == 32.0 and cfg.param("threshold").value == 1.0


def test_to_toml_round_trips_through_a_file(tmp_path):
    cfg = load_config("default", ["training.epochs=3", "hardware.cap_nt=[8,8,8,8,4,4,4,4]"])
    path = tmp_path / "config.toml"
    path.write_text(cfg.to_toml())
    again = load_config(path)
    assert again == cfg and again.param("cap_nt").value == (8, 8, 8, 8, 4, 4, 4, 4)
    assert again.to_dict() == cfg.to_dict()


def test_resolve_defaults_uses_default_else_low_else_first_choice():
    text = config_text("training", "method", '{ choices = ["deepr", "routing_aware"] }')
    cfg = parse_config(text, overrides=["training.p1={low=0.3, high=1.0}",
                                        "training.p3={low=0.0, high=0.3, default=0.2}",
                                        "training.epochs=3"])
    resolved = resolve_defaults(cfg)
    assert (resolved["method"], resolved["p1"], resolved["p3"]) == ("deepr", 0.3, 0.2)
    assert resolved["epochs"] == 3 and resolved["lr"] == 1e-3
    assert resolved["alpha"] == TrainConfig().alpha  # keys not given: dataclass defaults


def test_overrides_parse_toml_values_and_fall_back_to_strings():
    cfg = parse_config(config_text(), overrides=[
        "training.method=deepr", "training.epochs=3", "hardware.cap_r0={low=4,high=8}",
        "search.gpus_per_trial=0.5", "search.name=2024", "data.root=/tmp/my data",
        "training.lr.default=0.005"])
    assert cfg.param("method").value == "deepr"
    assert cfg.param("epochs").value == 3
    cap = cfg.param("cap_r0")
    assert (cap.kind, cap.low, cap.high, cap.is_int) == ("range", 4, 8, True)
    assert cfg.search.gpus_per_trial == 0.5 and cfg.search.name == "2024"
    assert cfg.data.root == "/tmp/my data"
    assert cfg.param("lr").default == 0.005 and cfg.param("lr").log


def test_override_can_add_a_hop_distance_and_a_section():
    text = config_text().replace("[search]\ntrials = 4\n", "")
    cfg = parse_config(text, overrides=["training.p3=0.2", "search.trials=9"])
    assert build_trial(cfg, resolve_defaults(cfg))[1].hop_profile == (0.0, 0.8, 0.0, 0.2)
    assert cfg.search.trials == 9


@pytest.mark.parametrize("item", ["training.epochs", "epochs=3", "training.epochs=",
                                  "a.b.c.d=1", "training.ep-ochs=3", "=3"])
def test_bad_override_syntax(item):
    with pytest.raises(ConfigError, match=r"expected section\.key=value"):
        parse_config(config_text(), overrides=[item])


def test_override_field_of_fixed_value():
    with pytest.raises(ConfigError, match=r"\[training\]\.prune_min is a fixed value, not a "
                                          r"range or choices table"):
        parse_config(config_text(), overrides=["training.prune_min.low=1"])


def test_override_errors_name_the_override():
    with pytest.raises(ConfigError) as info:
        parse_config(config_text(), source="my.toml", overrides=["hardware.rows=five"])
    assert str(info.value) == ("[hardware].rows: must be an integer, got 'five' "
                               "(fix --set hardware.rows=five)")
    with pytest.raises(ConfigError, match=r"did you mean \[training\]\? \(fix --set trainig"):
        parse_config(config_text(), overrides=["trainig.epochs=3"])


def test_build_trial_takes_sampled_values_and_plain_numbers():
    cfg = load_config("tiny")
    params = resolve_defaults(cfg) | {"cap_r0": np.int64(8), "p3": np.float64(0.25),
                                      "method": "deepr", "lr": 0.002}
    spec, train = build_trial(cfg, params)
    assert spec.cap_r0 == (8,) * 8 and type(train.hop_profile[3]) is float
    assert train.hop_profile == (0.0, 0.8, 0.0, 0.25)
    assert (train.method, train.lr) == ("deepr", 0.002)
    assert (train.epochs, train.prune_min) == (cfg.param("epochs").value, 5)  # 0.625 of K = 8


def test_build_trial_fills_fixed_values_and_requires_searched_ones():
    cfg = load_config("tiny")
    searched = {p.name: p.resolved for p in cfg.searched}
    assert build_trial(cfg, searched) == build_trial(cfg, resolve_defaults(cfg))
    with pytest.raises(ConfigError, match="trial parameters lack p1"):
        build_trial(cfg, {k: v for k, v in searched.items() if k != "p1"})


def test_prune_min_fraction_scales_with_each_trials_neurons_per_tile():
    # BASE without prune_min on 3x2 tiles: the default fraction 20/32 of each trial's K,
    # rounded half up: K = 4 -> 2.5 -> 3, K = 8 -> 5, K = 12 -> 7.5 -> 8.
    text = config_text("training", "prune_min", None)
    cfg = parse_config(text, overrides=["hardware.rows=3",
                                        "hardware.neurons_per_tile={choices=[4, 8, 12]}"])
    assert cfg.param("prune_min_fraction").value == 0.625
    with pytest.raises(KeyError):
        cfg.param("prune_min")  # the unused threshold key is no parameter (nor a column)
    counts = [build_trial(cfg, resolve_defaults(cfg) | {"neurons_per_tile": k})[1].prune_min
              for k in (4, 8, 12)]
    assert counts == [3, 5, 8]
    assert "prune_min_fraction = 0.625" in cfg.to_toml() and "prune_min =" not in cfg.to_toml()
    # the absolute count cannot serve K = 2 and 8 at once, and the message says what to use
    with pytest.raises(ConfigError, match=r"prune_min=4 with neurons_per_tile=2 \(lower "
                                          r"prune_min, or set prune_min_fraction instead"):
        parse_config(config_text(), overrides=["hardware.rows=3", "hardware.cols=4",
                                               "hardware.neurons_per_tile={choices=[2, 8]}"])


def test_a_set_prune_key_replaces_the_other_and_a_fraction_is_in_0_1():
    cfg = parse_config(config_text(), overrides=["training.prune_min_fraction=0.5"])
    assert cfg.param("prune_min_fraction").value == 0.5
    assert build_trial(cfg, resolve_defaults(cfg))[1].prune_min == 4  # 0.5 of K = 8
    cfg = load_config("default", ["training.prune_min=3"])
    assert build_trial(cfg, resolve_defaults(cfg))[1].prune_min == 3
    with pytest.raises(ConfigError, match=r"\[training\]\.prune_min_fraction: must be in "
                                          r"\[0, 1\], got 1\.5"):
        parse_config(config_text("training", "prune_min", None),
                     overrides=["training.prune_min_fraction=1.5"])


def test_the_default_config_searches_neurons_per_tile():
    # issue 17: this override was refused ("prune_min must be <= neurons_per_tile")
    cfg = load_config("default", ["hardware.neurons_per_tile={choices=[8, 16, 32]}"])
    assert cfg.param("neurons_per_tile").choices == (8, 16, 32)
    for k, count in ((8, 5), (16, 10), (32, 20)):
        spec, train = build_trial(cfg, resolve_defaults(cfg) | {"neurons_per_tile": k})
        assert (spec.neurons_per_tile, train.prune_min) == (k, count)


def test_build_trial_cuts_hop_profile_at_the_trial_grid():
    # 3x3 tiles reach hop distance 7 (diagonal corners: D = 4, 2D-1); 2x2 tiles only 3.
    cfg = parse_config(config_text(), overrides=[
        "hardware.rows={choices=[2, 3]}", "hardware.cols={choices=[2, 3]}", "training.p5=0.1"])
    small = resolve_defaults(cfg)
    big = small | {"rows": 3, "cols": 3}
    assert build_trial(cfg, small)[1].hop_profile == (0.0, 0.8, 0.0, 0.0)
    assert build_trial(cfg, big)[1].hop_profile == (0.0, 0.8, 0.0, 0.0, 0.0, 0.1)


def test_build_trial_lets_spec_errors_through():
    cfg = load_config("tiny")
    with pytest.raises(SpecError, match="cap_r1"):
        build_trial(cfg, resolve_defaults(cfg) | {"cap_r1": (1, 2, 3, 4, 1, 1, 1, 1)})


def test_fingerprint_ignores_budget_resources_and_place_only():
    base = load_config("default")
    same = load_config("default", ["search.trials=50", "search.max_concurrent=4",
                                   "search.cpus_per_trial=2", "search.gpus_per_trial=0.5",
                                   "search.name=other", "search.storage=/tmp/x",
                                   "data.cache_dir=/tmp/cache"])
    changed = load_config("default", ["training.epochs=7", "search.sampler=random"])
    assert config_fingerprint(same) == config_fingerprint(base)
    assert config_fingerprint(changed) != config_fingerprint(base)
    assert config_differences(base, same) == ()
    assert config_differences(base, changed) == ('[search].sampler: "tpe" -> "random"',
                                                 "[training].epochs: 6 -> 7")


def test_search_config_is_frozen_and_to_dict_has_every_section():
    cfg = load_config("tiny")
    assert isinstance(cfg, SearchConfig)
    with pytest.raises(AttributeError):
        cfg.data = None  # type: ignore[misc]
    doc = cfg.to_dict()
    assert list(doc) == ["data", "search", "hardware", "training"]
    assert doc["hardware"]["cap_r0"] == {"low": 0, "high": 8, "step": 4, "default": 4}
    assert doc["search"]["storage"] == "~/mosaic-dse-results"


def test_search_settings_carry_the_proxy_rule():
    cfg = parse_config(config_text(), overrides=["search.proxy_threshold=0.75"])
    assert (cfg.search.proxy_seeds, cfg.search.proxy_threshold) == (3, 0.75)
    with pytest.raises(ConfigError, match=r"\[search\]\.proxy_threshold: must be in \[0, 1\]"):
        parse_config(config_text(), overrides=["search.proxy_threshold=2"])


def test_checkpoint_every_takes_epochs_or_seconds_and_may_change_on_resume():
    from search.store.tune_checkpoints import Cadence

    assert parse_config(config_text()).search.checkpoint_every == "300s"
    for value, text, cadence in (("3", "3", Cadence(3)), ('"3"', "3", Cadence(3)),
                                 ('"0.5s"', "0.5s", Cadence(0, 0.5)),
                                 ('"120s"', "120s", Cadence(0, 120.0))):
        cfg = parse_config(config_text(), overrides=[f"search.checkpoint_every={value}"])
        assert cfg.search.checkpoint_every == text
        assert Cadence.parse(cfg.search.checkpoint_every) == cadence
        assert parse_config(cfg.to_toml()) == cfg
        assert config_fingerprint(cfg) == config_fingerprint(parse_config(config_text()))


def test_objectives_key_parses_validates_and_is_not_resumable():
    three = '["max val_accuracy","min chip_memory_cells","min energy_pj_per_sample"]'
    cfg = load_config("tiny", [f"search.objectives={three}"])
    assert [o.name for o in cfg.search.objective_list][2] == "energy_pj_per_sample"
    assert parse_config(cfg.to_toml()) == cfg  # round-trips through config.toml
    assert config_fingerprint(cfg) != config_fingerprint(load_config("tiny"))
    with pytest.raises(ConfigError, match=r"^\[search\].objectives: objective 'min foo': 'foo' "
                                          r"is not a numeric result column"):
        load_config("tiny", ['search.objectives=["max val_accuracy","min foo"]'])
    with pytest.raises(ConfigError, match=r"^\[search\].early_stop: .* lack min "
                                          r"chip_memory_cells"):
        load_config("tiny", ['search.objectives=["max val_accuracy","min memory_cells"]',
                             "search.early_stop=true"])
