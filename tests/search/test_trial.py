"""search/driver/trial.py: the record of a trained network, energy by hand, proxy gate per
method."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hardware.memory import chip_memory_cells
from model.config import DataConfig, TrainConfig
from model.train import TrainResult
from search.driver.trial import TrialSettings, _trained_record, evaluate, routing_energy_pj
from tests.conftest import make_spec
from tests.model.test_train import DATA_CFG, pattern_dataset


def fake_result(links: np.ndarray, spikes: np.ndarray) -> TrainResult:
    return TrainResult(accuracy=0.5, val_accuracy=0.6, train_accuracy=0.7, loss_curve=(1.0,),
                       links=links, hop_profile=(0.0, 0.5), mean_spike_counts=spikes,
                       n_links=int(links.sum()), n_weights=10, n_input_rows=2,
                       train_seconds=1.0, diverged=False, message="ok", epochs_run=1)


def test_energy_by_hand():
    # 1x3 grid, K = 1, hop_energy 0.5 pJ. Neuron 0 -> tile 1: neighbours, 1 router (1, 2).
    # Neuron 0 -> tile 2: same row, D = 2 -> 2*2+1 = 5 routers: (0,1), (0,2), (0,3), (0,4),
    # (1,4), disjoint from (1, 2): neuron 0's tree has 6 routers. Neuron 2 -> tile 1: 1 router
    # (1, 4). Spikes per sample 3, 7, 2: energy = 0.5 * (3*6 + 7*0 + 2*1) = 10 pJ.
    spec = make_spec(1, 3, 1, hop_energy_pj=0.5)
    links = np.zeros((3, 3), dtype=bool)
    links[0, [1, 2]] = True
    links[2, 1] = True
    spikes = np.array([3.0, 7.0, 2.0])
    assert routing_energy_pj(spec, links, spikes) == pytest.approx(10.0)
    base = {"method": "routing_aware", "params": {"p1": 0.5}, "seed": 3,
            "chip_memory_cells": chip_memory_cells(spec), "proxy_memory_cells": 100}
    record = _trained_record(spec, fake_result(links, spikes), base)
    assert record.status == "ok" and record.mappable and record.violations == 0
    assert record.energy_pj_per_sample == pytest.approx(10.0)
    assert record.n_links == 3 and record.seed == 3
    assert record.proxy_error == pytest.approx((100 - record.memory_cells) / record.memory_cells)
    assert record.to_row()["p1"] == 0.5 and record.constraint == 0.0
    assert record.chip_utilisation == pytest.approx(record.memory_cells
                                                    / base["chip_memory_cells"])


def test_usage_fraction_and_chip_utilisation_by_hand():
    # The network of test_energy_by_hand marks 17 distinct ports once each: neuron 0 -> tile 1
    # 3 (in_W, out_E of R1 (1, 2), in_W of tile (1, 3)); neuron 0 -> tile 2 11 (in_S of (0, 1),
    # 3 eastward steps of 2 marks along row 0, the step south (0, 4) -> (1, 4), the step east
    # into (1, 5)); neuron 2 -> tile 1 3 (in_E, out_W of (1, 4), in_E of (1, 3)). The 3x7 cells
    # have 168 ports of capacity 2: usage_fraction = 17 / (168 * 2).
    spec = make_spec(1, 3, 1, cap_nt=2, cap_r0=2, cap_r1=2)
    links = np.zeros((3, 3), dtype=bool)
    links[0, [1, 2]] = True
    links[2, 1] = True
    base = {"method": "routing_aware", "params": {}, "seed": 0,
            "chip_memory_cells": chip_memory_cells(spec), "proxy_memory_cells": None}
    record = _trained_record(spec, fake_result(links, np.ones(3)), base)
    assert record.usage_fraction == pytest.approx(17 / 336)
    assert record.memory_cells < record.chip_memory_cells
    assert record.chip_utilisation == pytest.approx(record.memory_cells / record.chip_memory_cells)
    assert record.to_row()["usage_fraction"] == record.usage_fraction


def test_proxy_gate_per_method():
    data = pattern_dataset(n_train=32, n_val=8, n_test=8)
    tight = make_spec(2, 2, 4, cap_nt=0, cap_r0=0, cap_r1=0)  # no inter-tile link fits
    cfg = TrainConfig(hop_profile=(0.0, 0.8), epochs=1, batch_size=16, prune_min=2,
                      device="cpu")
    record, links = evaluate(tight, cfg, data, DATA_CFG, {}, TrialSettings())
    assert record.status == "infeasible" and links is None
    assert record.error.startswith("proxy: 0% of sampled networks map")
    assert record.constraint > 0
    # mosaic has no profile before training: it trains and the exact router judges it.
    mosaic = dataclasses.replace(cfg, method="mosaic")
    record, links = evaluate(tight, mosaic, data, DATA_CFG, {}, TrialSettings())
    assert record.status == "ok" and links is not None
    assert record.proxy_memory_cells is None and record.proxy_error is None
    assert record.mappable == (record.violations == 0)


def test_training_errors_become_error_records():
    data = pattern_dataset(n_train=32, n_val=8, n_test=8)
    cfg = TrainConfig(hop_profile=(0.0, 0.8), epochs=1, device="cpu", lr=-1.0)
    record, _ = evaluate(make_spec(2, 2, 4), cfg, data, DataConfig(), {}, TrialSettings())
    assert record.status == "error" and "lr must be > 0" in record.error
    assert np.isnan(record.objective_values()[0])
