"""`mosaic-dse map`: JSON report, table, plot, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hardware.memory import chip_memory_cells, memory_of_usage
from hardware.routing import port_usage
from search.cli import main
from tests.conftest import make_spec, random_links

CHIP = ["--rows", "2", "--cols", "3", "--neurons-per-tile", "4", "--cap-nt", "16",
        "--cap-r0", "8", "--cap-r1", "8"]


def test_map_json_from_links_file_matches_library(tmp_path, capsys):
    links = random_links(np.random.default_rng(3), 2, 3, 4, 0.4)
    np.save(tmp_path / "links.npy", links)
    assert main(["map", "--links", str(tmp_path / "links.npy"), *CHIP, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    spec = make_spec(2, 3, 4, cap_nt=16, cap_r0=8, cap_r1=8)
    memory = memory_of_usage(port_usage(links, 2, 3, 4), spec)
    assert report["memory_cells"] == memory.memory_cells
    assert report["chip_memory_cells"] == chip_memory_cells(spec)
    assert report["r1"] == list(memory.r1) and len(report["nt"]) == 8
    assert report["n_links"] == int(links.sum())
    assert isinstance(report["mappable"], bool) and isinstance(report["violations"], int)
    assert report["route_seconds"] > 0 and report["synapse_cells"] == 6 * 16


def test_map_npz_profile_table_and_plot(tmp_path, capsys):
    links = random_links(np.random.default_rng(4), 2, 3, 4, 0.2)
    np.savez(tmp_path / "net.npz", links=links)
    assert main(["map", "--links", str(tmp_path / "net.npz"), *CHIP,
                 "--plot", str(tmp_path / "heat.png")]) == 0
    out = capsys.readouterr().out
    assert "memory_cells" in out and "mappable" in out
    assert (tmp_path / "heat.png").stat().st_size > 1000
    assert main(["map", "--profile", "0,0.5,0,0.25", "--seed", "2", *CHIP, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["hop_profile"][1] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(("setup", "extra", "message"), [
    ("missing", [], "links file not found"),
    ("shape", [], "links must have shape (N, T) = (24, 6)"),
    ("dtype", [], "links must be a boolean array, got dtype float64"),
    ("npz", [], "has no array 'links'"),
    (None, ["--profile", "0,2"], "p1 must be in [0, 1], got 2.0"),
    (None, ["--profile", "0,a"], "--profile must be comma-separated numbers"),
])
def test_map_bad_input_exits_2_with_one_line(tmp_path, capsys, setup, extra, message):
    path = tmp_path / "links.npy"
    if setup == "shape":
        np.save(path, np.zeros((5, 6), dtype=bool))
    elif setup == "dtype":
        np.save(path, np.zeros((24, 6)))
    elif setup == "npz":
        path = tmp_path / "links.npz"
        np.savez(path, other=np.zeros(3))
    source = extra or ["--links", str(path)]
    assert main(["map", *source, *CHIP]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(("override", "message"), [
    (["--cap-r1", "1,2,3,4,1,2,3,4"], "cap_r1 must be 180°-symmetric"),
    (["--rows", "0"], "rows must be a positive integer, got 0"),
])
def test_map_bad_chip_exits_2(capsys, override, message):
    args = CHIP.copy()
    i = args.index(override[0])
    args[i + 1] = override[1]
    assert main(["map", "--profile", "0,0.5", *args]) == 2
    assert message in capsys.readouterr().err


def test_map_usage_error_exits_2():
    with pytest.raises(SystemExit) as info:
        main(["map", "--rows", "2"])
    assert info.value.code == 2
