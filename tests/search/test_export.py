"""A search saves each trained trial's network; `mosaic-dse export` writes it as .npz or NIR,
from a results directory or a storage URI, and says in one line why it cannot."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from hardware.routing import check_mapping
from search.artefacts.network_file import Neuron, load_network
from search.cli import main
from search.config.files import load_config
from search.driver.runner import run_search
from tests.search.conftest import tiny_sets

pytestmark = pytest.mark.usefixtures("ray_session")
# capacities every sampled network fits, so both trials train; one epoch each
ROOMY = ("training.epochs=1", "hardware.cap_nt=32", "hardware.cap_r0=32", "hardware.cap_r1=32")


@pytest.fixture(scope="module")
def searched(data_root, tmp_path_factory):
    """A finished tiny search of 2 trained trials: (results directory, rows by trial id)."""
    storage = tmp_path_factory.mktemp("export")
    outcome = run_search(load_config("tiny", tiny_sets(data_root, storage, "s", 2, *ROOMY)),
                         verbose=False)
    rows = {r["trial_id"]: r for r in pq.read_table(outcome.directory / "trials.parquet")
            .to_pylist()}
    assert [r["status"] for r in rows.values()] == ["ok", "ok"], rows
    return outcome.directory, rows


def _export(capsys, *argv: str) -> tuple[int, str]:
    code = main(["export", *map(str, argv)])
    return code, capsys.readouterr().err


def test_each_trained_trial_saves_its_network_under_its_id(searched):
    directory, rows = searched
    assert sorted(p.name for p in (directory / "networks").iterdir()) == sorted(
        f"{tid}.npz" for tid in rows)
    for tid, row in rows.items():
        net = load_network(directory / "networks" / f"{tid}.npz")
        assert check_mapping(net.spec, net.links).n_links == row["n_links"]
        assert (net.spec.cap_r1[0], net.spec.rows) == (32, 3)
        assert f'method = "{row["method"]}"' in net.config and f"p1 = {row['p1']!r}" in net.config
        # tiny: 20 classes, 1.4 s in 50 bins, tau 45 ms, the default threshold and reset
        assert net.neuron == Neuron(20, 1.4 / 50, 0.045, 1.0, "detached")


def test_export_writes_the_trials_network_as_npz_and_nir(searched, tmp_path, capsys, data_root):
    from model.data import load_dataset
    from model.evaluation import evaluate_split
    from search.artefacts.nir_file import read_nir, tiled_lif

    pytest.importorskip("nir")
    directory, rows = searched
    tid, row = next(iter(rows.items()))
    code, err = _export(capsys, directory, tid, tmp_path / "net.npz")
    assert code == 0 and f"trial {tid}" in err and f"{row['n_links']} links" in err
    saved, exported = load_network(directory / "networks" / f"{tid}.npz"), load_network(
        tmp_path / "net.npz")
    assert check_mapping(exported.spec, exported.links).n_links == row["n_links"]
    assert np.array_equal(exported.w_rec, saved.w_rec) and exported.spec == saved.spec
    assert _export(capsys, directory, tid, tmp_path / "net.nir")[0] == 0
    nir_net = read_nir(tmp_path / "net.nir")
    assert np.array_equal(nir_net.w_rec, saved.w_rec) and np.array_equal(nir_net.w_in, saved.w_in)
    # the exported graph, simulated by the project's network, scores the row's test accuracy
    data = load_dataset(load_config("tiny", tiny_sets(data_root, tmp_path, "s", 2)).data)
    ours = evaluate_split(tiled_lif(nir_net), data.test_x, data.test_y, data.n_classes,
                          torch.device("cpu"))
    assert ours.accuracy == pytest.approx(row["accuracy"], abs=1e-12)


def _copy(directory, tmp_path):
    """A copy of the results directory that a test may damage."""
    return shutil.copytree(directory, tmp_path / "copy", ignore=shutil.ignore_patterns("ray"))


def _log_row(directory, row: dict) -> None:
    """Append a row to the row log (rows a running search has not yet put in trials.parquet)."""
    with open(directory / "trials-pending.jsonl", "a") as f:
        f.write(json.dumps(row) + "\n")


def test_export_errors_are_one_line(searched, tmp_path, capsys):
    directory, rows = searched
    first, second = rows
    out = tmp_path / "net.npz"
    code, err = _export(capsys, directory, "nope", out)
    assert code == 2 and err.count("\n") == 1 and "no trial 'nope'" in err
    assert f"trained trials: {first}, {second}" in err or f"{second}, {first}" in err
    copy = _copy(directory, tmp_path)
    _log_row(copy, {"trial_id": "inf_1", "status": "infeasible", "error": "proxy: 0% map"})
    code, err = _export(capsys, copy, "inf_1", out)
    assert code == 2 and "trial inf_1 has no trained network (status infeasible: proxy: 0% map)" \
        in err and first in err
    _log_row(copy, {**rows[second], "n_links": rows[second]["n_links"] + 1, "finished_at": None})
    code, err = _export(capsys, copy, second, out)
    assert code == 2 and "but its row says" in err and "not this trial's" in err
    (copy / "networks" / f"{first}.npz").unlink()
    code, err = _export(capsys, copy, first, out)
    assert code == 2 and f"trial {first} trained but" in err and "holds no network" in err
    shutil.rmtree(copy / "networks")  # a search of an older version
    code, err = _export(capsys, copy, first, out)
    assert code == 2 and "has no networks/ directory" in err and "save_networks = false" in err
    code, err = _export(capsys, tmp_path, first, out)
    assert code == 2 and "is not a mosaic-dse search" in err
    code, err = _export(capsys, directory, first, tmp_path / "net.txt")
    assert code == 2 and "OUT must name a .npz or .nir file" in err
    assert not out.exists()


def test_save_networks_false_saves_none(data_root, tmp_path):
    from search.driver.runner import networks_of

    sets = tiny_sets(data_root, tmp_path, "s", 1)
    assert networks_of(load_config("tiny", sets), tmp_path / "s", None) == f"{tmp_path}/s/networks"
    off = load_config("tiny", [*sets, "search.save_networks=false"])
    assert networks_of(off, tmp_path / "s", None) is None


def test_networks_live_on_the_storage_uri_and_export_from_it(data_root, tmp_path, capsys):
    bucket = tmp_path / "bucket"
    cfg = load_config("tiny", tiny_sets(data_root, f"file://{bucket}", "r", 1, *ROOMY))
    outcome = run_search(cfg, verbose=False)
    rows = [r for r in pq.read_table(bucket / "r" / "trials.parquet").to_pylist()
            if r["status"] == "ok"]
    tid = rows[0]["trial_id"]
    assert [p.name for p in (bucket / "r" / "networks").iterdir()] == [f"{tid}.npz"]
    assert not (outcome.directory / "networks").exists()  # the driver's mirror: not downloaded
    code, err = _export(capsys, f"file://{bucket}/r", tid, tmp_path / "net.npz")
    assert code == 0, err
    assert check_mapping(*(lambda n: (n.spec, n.links))(load_network(tmp_path / "net.npz"))
                         ).n_links == rows[0]["n_links"]


def test_a_network_that_cannot_be_saved_is_logged_and_the_trial_stands(tmp_path, monkeypatch,
                                                                       caplog):
    from types import SimpleNamespace

    from ray import tune

    from search.config.files import build_trial, resolve_defaults
    from search.driver.trial import TrialSettings
    from search.driver.worker import TrialContext, save_trial_network

    cfg = load_config("tiny")
    params = resolve_defaults(cfg)
    spec, train_cfg = build_trial(cfg, params)
    n, tiles = 72, 9
    result = SimpleNamespace(links=np.zeros((n, tiles), bool), w_in=np.zeros((32, n)),
                             w_rec=np.zeros((n, n)), hop_profile=(0.0, 0.8))
    data = SimpleNamespace(n_classes=20, time_bins=50)
    monkeypatch.setattr(tune, "get_context", lambda: SimpleNamespace(get_trial_id=lambda: "t_1"))
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    context = TrialContext(cfg, TrialSettings(), networks=str(blocked / "networks"))
    save_trial_network(context, spec, train_cfg, data, params, result)  # does not raise
    assert "trial t_1: its network was not saved to" in caplog.text
    context = TrialContext(cfg, TrialSettings(), networks=str(tmp_path / "networks"))
    save_trial_network(context, spec, train_cfg, data, params, result)
    assert load_network(tmp_path / "networks" / "t_1.npz").links.shape == (n, tiles)


def test_the_search_says_where_its_networks_are(searched, capsys):
    from search.commands.search_cmd import print_outcome
    from search.driver.runner import SearchOutcome

    directory, _ = searched
    assert print_outcome(SearchOutcome(directory, 2, 2, 2)) == 0
    assert f"trained networks: {directory}/networks/ (as NIR: mosaic-dse export {directory} " \
        "TRIAL_ID net.nir)" in capsys.readouterr().out
