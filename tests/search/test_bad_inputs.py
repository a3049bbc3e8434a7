"""Bad inputs end in one line and exit 2 before any work: crafted numpy files, `~user` paths
naming no user, data too large for memory, output paths that are directories."""

from __future__ import annotations

import numpy as np
import pytest

from hardware.errors import ConfigError
from search.cli import main
from search.config.files import load_config

NOBODY = "~nosuchuser-mosaic-dse"  # a user no machine has
CHIP = ["--rows", "3", "--cols", "3", "--neurons-per-tile", "8", "--cap-nt", "8", "--cap-r0", "8",
        "--cap-r1", "8"]


def _network(**changes) -> dict:  # noqa: ANN003
    """The arrays of a valid 3x3x8 network file, with `changes`."""
    n = 72
    arrays = {"w_in": np.zeros((32, n), np.float32), "w_rec": np.zeros((n, n), np.float32),
              "links": np.zeros((n, 9), bool), "hop_profile": np.zeros(3),
              "chip": np.array([3, 3, 8]), "cap_nt": np.full(8, 8), "cap_r0": np.full(8, 8),
              "cap_r1": np.full(8, 8), "hop_energy_pj": np.array(1.0), "config": np.array("x")}
    return arrays | changes


def _one_error_line(capsys) -> str:  # noqa: ANN001
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "allow_pickle" not in err
    return err


def test_a_valid_crafted_network_file_maps(tmp_path, capsys):
    np.savez(tmp_path / "net.npz", **_network())
    assert main(["map", "--network", str(tmp_path / "net.npz"), "--json"]) == 0


@pytest.mark.parametrize(("changes", "why"), [
    ({"w_in": np.array([object()], dtype=object)},
     "w_in holds Python objects (dtype object), which mosaic-dse never unpickles"),
    ({"chip": np.array(["3", "3", "8"])},
     "is not a network file: chip must hold integers with shape (3,), got dtype <U1 shape (3,)"),
    ({"chip": np.array([3, 3])}, "chip must hold integers with shape (3,), got dtype int64 "
                                 "shape (2,)"),
    ({"cap_r0": np.full(3, 8)}, "cap_r0 must hold integers with shape (8,)"),
    ({"hop_energy_pj": np.array([1.0, 2.0])}, "hop_energy_pj must hold a real number with "
                                              "shape ()"),
    ({"links": np.zeros((5, 9), bool)}, "links must have shape (72, 9) on its 3x3x8 chip, got "
                                        "(5, 9)"),
    ({"w_rec": np.zeros((72, 71), np.float32)}, "w_rec must have shape (72, 72)"),
    ({"links": np.zeros((72, 9), np.float64)}, "links must hold booleans with 2 dimensions"),
    ({"config": np.array(3)}, "config must hold text with shape ()")])
def test_crafted_network_files_are_one_line_in_our_words(tmp_path, capsys, changes, why):
    path = tmp_path / "net.npz"
    np.savez(path, **_network(**changes))
    assert main(["map", "--network", str(path)]) == 2
    err = _one_error_line(capsys)
    assert err.startswith(f"mosaic-dse: error: {path}" if "never" not in why
                          else f"mosaic-dse: error: cannot read network file {path}: ")
    assert why in err and err.endswith("(save one with train --save-network)\n")


@pytest.mark.parametrize(("name", "write", "why"), [
    ("obj.npz", lambda p: np.savez(p, links=np.array([None], dtype=object)),
     "links holds Python objects (dtype object), which mosaic-dse never unpickles"),
    ("obj.npy", lambda p: np.save(p, np.array([None], dtype=object)),
     "the array holds Python objects (dtype object), which mosaic-dse never unpickles"),
    ("text.npz", lambda p: p.write_text("hello"), "it is neither a .npy nor a .npz file")])
def test_crafted_links_and_network_files_never_ask_for_pickle(tmp_path, capsys, name, write,
                                                              why):
    path = tmp_path / name
    write(path)
    assert main(["map", "--links", str(path), *CHIP]) == 2
    assert _one_error_line(capsys) == (f"mosaic-dse: error: cannot read links file {path}: "
                                       f"{why} (save it with numpy.save)\n")
    assert main(["map", "--network", str(path)]) == 2
    assert why.split(" (")[0] in _one_error_line(capsys)


@pytest.mark.parametrize(("argv", "flag"), [
    (["search", "--config", f"{NOBODY}/c.toml", "--dry-run"], "--config"),
    (["search", "--config", "tiny", "--storage", f"{NOBODY}/r", "--dry-run"], "--storage"),
    (["resume", f"{NOBODY}/r"], "directory"),
    (["pareto", f"{NOBODY}/r"], "directory"),
    (["report", f"{NOBODY}/r"], "directory"),
    (["train", "--config", "tiny", "--save-network", f"{NOBODY}/n.npz"], "--save-network"),
    (["train", "--config", "tiny", "--save-links", f"{NOBODY}/l.npy"], "--save-links"),
    (["make-synthetic-shd", f"{NOBODY}/d"], "directory")])
def test_home_paths_of_no_user_are_one_line(capsys, argv, flag):
    path = argv[argv.index(flag) + 1] if flag.startswith("--") else argv[1]
    assert main(argv) == 2
    assert _one_error_line(capsys) == (
        f"mosaic-dse: error: {flag}: cannot expand '{path}': there is no user "
        f"'{NOBODY[1:]}' on this machine (write the full path)\n")


@pytest.mark.parametrize("key", ["data.root", "data.cache_dir", "search.storage"])
def test_config_paths_of_no_user_are_refused(key):
    section, name = key.split(".")
    with pytest.raises(ConfigError, match=rf"^\[{section}\].{name}: cannot expand "
                                          rf"'{NOBODY}/x': there is no user"):
        load_config("tiny", [f"{key}='{NOBODY}/x'"])


def test_data_too_large_for_memory_is_refused_naming_the_limit():
    with pytest.raises(ConfigError, match=r"^\[data\]: the binned data would take 59.6 GiB in "
                                          r"memory \(1 copies x 1000 samples x 2000000 bins x "
                                          r"32 inputs, one byte each\), more than the limit of "
                                          r"16 GiB"):
        load_config("tiny", ["data.time_bins=2000000"])
    with pytest.raises(ConfigError, match="more than the limit of 16 GiB"):
        load_config("tiny", ["data.synthetic_train=200000000"])
    assert load_config("study").data.time_bins == 100  # the study's own sizes fit


@pytest.mark.parametrize(("flag", "name", "example"), [("--save-network", "d.npz", "net.npz"),
                                                       ("--save-links", "d.npy", "links.npy")])
def test_an_output_path_that_is_a_directory_is_refused_before_training(tmp_path, capsys, flag,
                                                                      name, example):
    (tmp_path / name).mkdir()
    assert main(["train", "--config", "tiny", flag, str(tmp_path / name)]) == 2
    assert _one_error_line(capsys) == (
        f"mosaic-dse: error: {flag} {tmp_path / name} is a directory (name a file in it, e.g. "
        f"{tmp_path / name / example})\n")  # and "resolved:" was never printed: nothing trained
