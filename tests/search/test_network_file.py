"""`train --save-network` and `map --network`: the trained network as a numpy-only file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """The tiny config trained in full at p1 = 1, p3 = 0, saved as a network file."""
    path = tmp_path_factory.mktemp("net") / "net.npz"
    code = main(["train", "--config", "tiny", "--set", "training.p1=1.0", "--set",
                 "training.p3=0.0", "--set", "training.device=\"cpu\"", "--quiet", "--json",
                 "--save-network", str(path)])
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


def test_few_weak_links_after_training_at_p1_one(saved):
    # With every regrown link refreshed, fewer than 8% of the active inter-tile links end with
    # fewer than prune_min (5 of 8) strong weights (|w| >= w_thr = 0.1); the bug gave 11-16%.
    with np.load(saved) as data:
        links, w_rec, k = data["links"], data["w_rec"], int(data["chip"][2])
    n = w_rec.shape[0]
    strong = (np.abs(w_rec) >= 0.1).reshape(n, n // k, k).sum(axis=2)
    inter = np.repeat(np.arange(n // k), k)[:, None] != np.arange(n // k)[None, :]
    active = links & inter
    assert active.sum() > 100
    assert (strong[active] < 5).mean() < 0.08


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
