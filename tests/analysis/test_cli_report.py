"""`mosaic-dse pareto` / `report` end to end on hand-made results directories."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from analysis.cli import front_table_text
from search.cli import main
from tests.analysis.factories import record, write_plain, write_store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def small_search(tmp_path):
    """a (0.6, 100), b (0.7, 200), c (0.65, 200): dominated by b; d (0.9, 400) not mappable;
    e infeasible. Chip front: a, b."""
    return write_store(tmp_path / "run", [
        record("a", 0.60, 100), record("b", 0.70, 200), record("c", 0.65, 200),
        record("d", 0.90, 400, mappable=False), record("e", None, 50, status="infeasible")])


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_pareto_json_front_and_hypervolume(capsys, small_search):
    code, out, _ = _run(capsys, "pareto", small_search, "--json")
    assert code == 0
    result = json.loads(out)
    assert set(result) == {"front", "hypervolume", "reference_point", "stored"}
    assert [row["trial_id"] for row in result["front"]] == ["a", "b"]
    first = result["front"][0]
    assert first["val_accuracy"] == 0.6 and first["accuracy"] == pytest.approx(0.59)
    assert first["chip_memory_cells"] == 100 and isinstance(first["chip_memory_cells"], int)
    assert first["hop_profile"] == [0.0, 0.5, 0.0, 0.1]
    # Reference: accuracy 0, 1.1 x 200 (largest considered memory; d is not mappable) = 220.
    # HV = (200 - 100) * 0.6 + (220 - 200) * 0.7 = 60 + 14 = 74
    assert result["reference_point"] == pytest.approx([0.0, 220.0])
    assert result["hypervolume"] == pytest.approx(74.0)


def test_pareto_table_and_objective_memory_cells(capsys, small_search, tmp_path):
    code, out, _ = _run(capsys, "pareto", small_search, "--plot", tmp_path / "front.png")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("Pareto front: 2 of 5 trials (3 considered)")
    assert lines[1].split() == ["trial_id", "method", "val_accuracy", "accuracy",
                                "chip_memory_cells"]  # no parameter varies here
    assert lines[2].split() == ["a", "routing_aware", "0.600", "0.590", "100"]
    assert lines[-2].startswith("hypervolume: 74 (accuracy x cells)")
    assert (tmp_path / "front.png").read_bytes()[:8] == PNG_MAGIC
    # memory_cells: d counts although it does not map on its chip; front a, b, d.
    code, out, _ = _run(capsys, "pareto", small_search, "--json", "--objective-x",
                        "memory_cells")
    assert [row["trial_id"] for row in json.loads(out)["front"]] == ["a", "b", "d"]
    assert front_table_text(small_search).splitlines()[2].split()[0] == "a"


def test_pareto_ref_recomputes_the_hypervolume_and_prints_the_stored_one(capsys, small_search):
    # Front a (0.6, 100), b (0.7, 200). Reference (0.5, 300):
    # HV = (200 - 100) * (0.6 - 0.5) + (300 - 200) * (0.7 - 0.5) = 10 + 20 = 30
    code, out, _ = _run(capsys, "pareto", small_search, "--json", "--ref", "0.5,300")
    result = json.loads(out)
    assert code == 0 and result["hypervolume"] == pytest.approx(30.0)
    assert result["reference_point"] == [0.5, 300.0]
    # What the search stored (and printed): reference (0, 220), HV 74 (see the test above).
    assert result["stored"]["reference_point"] == pytest.approx([0.0, 220.0])
    assert result["stored"]["hypervolume"] == pytest.approx(74.0)
    # A reference that excludes b (memory 150 < 200): HV = (150 - 100) * 0.6 = 30
    _, out, _ = _run(capsys, "pareto", small_search, "--json", "--ref", "0,1.5e2")
    assert json.loads(out)["hypervolume"] == pytest.approx(30.0)
    code, out, _ = _run(capsys, "pareto", small_search, "--ref", "0.5,300")
    lines = out.splitlines()
    assert lines[-2] == ("hypervolume: 30 (accuracy x cells), reference point "
                         "(accuracy 0.5, memory 300 cells)")
    assert lines[-1] == ("stored with the results (mosaic_dse.reference_point): hypervolume 74 "
                         "(val_accuracy x chip_memory_cells), reference point (accuracy 0, "
                         "memory 220 cells)")


@pytest.mark.parametrize("ref, message", [
    ("0.5", "--ref must be two finite numbers ACC,CELLS "
     "(three with a third objective), got '0.5' (e.g. --ref 0.05,2e6)"),
    ("a,3", "--ref must be two finite numbers ACC,CELLS "
     "(three with a third objective), got 'a,3' (e.g. --ref 0.05,2e6)"),
    ("0,nan", "--ref must be two finite numbers ACC,CELLS "
     "(three with a third objective), got '0,nan' (e.g. --ref 0.05,2e6)"),
    ("0,-1", "--ref memory must be > 0 cells, got -1 (e.g. --ref 0,2e6)")])
def test_pareto_bad_ref_exits_2_with_one_line(capsys, small_search, ref, message):
    code, out, err = _run(capsys, "pareto", small_search, "--ref", ref)
    assert code == 2 and out == "" and err == f"mosaic-dse: error: {message}\n"


def test_plain_pyarrow_file_without_val_accuracy(capsys, tmp_path):
    # (0.5, 10), (0.7, 20), (0.6, 30): the last is dominated. Test accuracy is the objective.
    write_plain(tmp_path, {"trial_id": ["x", "y", "z"], "method": ["deepr"] * 3,
                           "accuracy": [0.5, 0.7, 0.6], "chip_memory_cells": [10, 20, 30]})
    code, out, _ = _run(capsys, "pareto", tmp_path, "--json")
    result = json.loads(out)
    assert code == 0 and [r["trial_id"] for r in result["front"]] == ["x", "y"]
    # Reference (0, 33): HV = (20 - 10) * 0.5 + (33 - 20) * 0.7 = 5 + 9.1 = 14.1
    assert result["hypervolume"] == pytest.approx(14.1)


def test_no_feasible_trial_is_an_empty_front_and_exit_0(capsys, tmp_path):
    run = write_store(tmp_path / "run", [record("e", None, 50, status="infeasible"),
                                         record("f", 0.8, 60, mappable=False)])
    code, out, err = _run(capsys, "pareto", run, "--json")
    assert code == 0
    assert json.loads(out) == {"front": [], "hypervolume": 0.0, "reference_point": [0.0, None],
                               "stored": {"hypervolume": 0.0, "reference_point": None,
                                          "objectives": ["val_accuracy", "chip_memory_cells"],
                                              "directions": ["max", "min"]}}
    assert "no feasible trial among 2 trials" in err
    code, out, _ = _run(capsys, "pareto", run)
    assert code == 0 and out.startswith("no feasible trial among 2 trials")


def test_not_a_results_directory_exits_2_with_one_line(capsys, tmp_path):
    code, out, err = _run(capsys, "pareto", tmp_path)
    assert code == 2 and out == ""
    assert err == (f"mosaic-dse: error: not a results directory: {tmp_path} has no "
                   "trials.parquet (pass the <storage>/<name> directory of a search)\n")
    code, _, err = _run(capsys, "report", tmp_path / "missing")
    assert code == 2 and "missing has no trials.parquet" in err


def _study(directory):
    """routing_aware r1-r3, deepr d1-d3 (see tests/analysis/test_compare.py)."""
    rows = [("r1", "routing_aware", 0.70, 100, 1000, True),
            ("r2", "routing_aware", 0.80, 200, 2000, True),
            ("r3", "routing_aware", 0.85, 400, 2000, True),
            ("d1", "deepr", 0.65, 150, 1000, True), ("d2", "deepr", 0.78, 500, 2000, False)]
    records = [record(t, acc, mem, method=m, memory_cells=mem, n_weights=w, mappable=ok,
                      p1=0.3 + 0.1 * i, n_links=w // 10)
               for i, (t, m, acc, mem, w, ok) in enumerate(rows)]
    return write_store(directory, [*records, record("d3", None, 300, status="infeasible",
                                                    method="deepr")])


def test_report_writes_markdown_and_figures(capsys, tmp_path):
    run = _study(tmp_path / "run")
    (run / "pareto.parquet").unlink()  # an interrupted search: trials.parquet only
    code, out, _ = _run(capsys, "report", run, "--out", tmp_path / "report")
    assert code == 0 and out.strip() == str(tmp_path / "report" / "report.md")
    text = (tmp_path / "report" / "report.md").read_text()
    for png in ("front.png", "front_memory_cells.png", "hypervolume.png", "hop_profile.png"):
        assert (tmp_path / "report" / png).read_bytes()[:8] == PNG_MAGIC
        assert f"]({png})" in text
    assert "6 trials: 5 ok, 1 infeasible, 0 error" in text
    assert "| deepr | 2 | 1 | 0 | 3 |" in text
    # iso-accuracy at deepr's best 0.78: deepr 500 cells, routing_aware 200 -> 2.50x
    assert "| 0.780 | deepr | 500 | 200 | 2.50x |" in text
    assert "| 2,000 | 0.780 (test 0.770; 1) | 0.850 (test 0.840; 2) |" in text
    assert "[search]\ntrials = 8" in text  # the resolved config from the file metadata


def test_report_without_feasible_trials_still_writes(capsys, tmp_path):
    run = write_store(tmp_path / "run", [record("e", None, 50, status="infeasible")])
    code, _, _ = _run(capsys, "report", run)
    text = (run / "report.md").read_text()
    assert code == 0 and "No feasible trial: the front is empty." in text
    assert (run / "front.png").exists()


CHECK = """
import importlib, sys
for name in ("analysis", "analysis.schema", "analysis.io", "analysis.pareto",
             "analysis.compare", "analysis.plots", "analysis.report", "analysis.cli",
             "search.store.results"):
    importlib.import_module(name)
print(",".join(sorted(m for m in ("torch", "ray", "optuna", "tonic") if m in sys.modules)))
"""


def test_analysis_and_results_store_import_no_training_stack():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""
