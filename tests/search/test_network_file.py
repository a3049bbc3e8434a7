"""`train --save-network` and `map --network`: the trained network as a numpy-only file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory, data_root):
    """The tiny config trained for one epoch (one rewiring pass) at p1 = 1, p3 = 0, saved as a
    network file. The rewiring itself is tested in tests/model/test_deepr.py."""
    path = tmp_path_factory.mktemp("net") / "net.npz"
    code = main(["train", "--config", "tiny", "--set", "training.p1=1.0", "--set",
                 "training.p3=0.0", "--set", "training.device=\"cpu\"", "--set",
                 "training.epochs=1", "--set", f"data.root={str(data_root)!r}", "--quiet",
                 "--json", "--save-network", str(path)])
    assert code == 0
    return path


def test_network_file_holds_the_trained_network(saved):
    with np.load(saved, allow_pickle=False) as data:  # numpy alone reads it
        links, w_rec, w_in = data["links"], data["w_rec"], data["w_in"]
        rows, cols, k = data["chip"].tolist()
        config = str(data["config"])
        profile = data["hop_profile"]
    n = rows * cols * k
    assert links.shape == (n, rows * cols) and w_rec.shape == (n, n) and w_in.shape[1] == n
    assert "[training]" in config and 'method = "routing_aware"' in config
    blocks = (w_rec != 0).reshape(n, rows * cols, k).any(axis=2)
    inter = np.repeat(np.arange(rows * cols), k)[:, None] != np.arange(rows * cols)[None, :]
    assert not (blocks & inter & ~links).any()  # the effective weights respect the links
    assert profile[1] == pytest.approx(1.0)


def test_network_file_holds_how_its_neurons_are_simulated(saved):
    from search.artefacts.network_file import Neuron, load_network

    # the tiny config: 20 synthetic classes, 1.4 s in 50 bins, tau 45 ms, the default neuron
    assert load_network(saved).neuron == Neuron(20, 1.4 / 50, 0.045, 1.0, "detached")


def test_map_routes_the_saved_network_on_its_chip(saved, capsys):
    assert main(["map", "--network", str(saved), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    with np.load(saved) as data:
        assert report["n_links"] == int(data["links"].sum())
    assert report["mappable"] in (True, False) and report["memory_cells"] > 0
    assert main(["map", "--network", str(saved), "--cap-r1", "0", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mappable"] is False  # a chip flag overrides


def test_save_path_is_checked_before_training(tmp_path, capsys):
    code = main(["train", "--config", "tiny", "--save-network", str(tmp_path / "no" / "x.npz")])
    err = capsys.readouterr().err
    assert code == 2 and "--save-network directory" in err and "does not exist" in err
    assert "resolved:" not in err  # nothing was trained
    assert main(["train", "--config", "tiny", "--save-network", str(tmp_path / "x.txt")]) == 2
    assert "must name a .npz or .nir file" in capsys.readouterr().err


def test_map_errors(tmp_path, capsys):
    assert main(["map", "--network", str(tmp_path / "missing.npz")]) == 2
    assert "network file not found" in capsys.readouterr().err
    np.savez(tmp_path / "other.npz", links=np.zeros((4, 2), bool))
    assert main(["map", "--network", str(tmp_path / "other.npz")]) == 2
    assert "is not a network file: it lacks" in capsys.readouterr().err
    assert main(["map", "--profile", "0,0.5", "--rows", "2"]) == 2
    assert "map needs the chip: give --cols" in capsys.readouterr().err


def test_network_file_keeps_every_spec_field(tmp_path, capsys):
    # bits_per_cell was dropped (saved 4, loaded 1) when the file listed spec keys by hand
    from hardware.spec import MosaicSpec
    from search.artefacts.network_file import load_network, save_network

    spec = MosaicSpec(2, 3, 4, cap_nt=(5, 6, 5, 6, 7, 8, 7, 8), cap_r0=3, cap_r1=9,
                      hop_energy_pj=2.5, bits_per_cell=4)
    n = spec.n_neurons
    links = np.zeros((n, spec.n_tiles), bool)
    save_network(tmp_path / "n.npz", spec, links, np.zeros((2, n)), np.zeros((n, n)),
                 (0.0, 1.0), "[training]")
    assert load_network(tmp_path / "n.npz").spec == spec
    assert main(["map", "--network", str(tmp_path / "n.npz"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["memory_bits"] == 4 * report["memory_cells"]  # the memory model reads it
