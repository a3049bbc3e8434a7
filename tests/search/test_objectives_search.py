"""A search on three objectives: the front, its hypervolume, the files and resume follow them."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from analysis.front import hypervolume_of, nondominated
from analysis.objectives import OBJECTIVES_KEY, parse_objectives
from analysis.pareto import table_values
from analysis.schema import REFERENCE_KEY
from search.cli import main

THREE = '["max val_accuracy","min chip_memory_cells","min energy_pj_per_sample"]'


@pytest.fixture(scope="module")
def three_objective_search(ray_session, data_root, tmp_path_factory):
    """The README's command: tiny config, 3 trials of 1 epoch, energy as a third objective."""
    storage = tmp_path_factory.mktemp("objectives")
    sets = [f"search.objectives={THREE}", "search.trials=3", "training.epochs=1",
            f"search.storage={str(storage)!r}", f"data.root={str(data_root)!r}",
            "search.name='three'"]
    args = ["search", "--config", "tiny", *(a for s in sets for a in ("--set", s))]
    assert main(args) == 0
    return storage / "three", sets


def test_the_front_and_hypervolume_are_on_three_objectives(three_objective_search):
    directory, _ = three_objective_search
    table = pq.read_table(directory / "trials.parquet")
    metadata = table.schema.metadata
    objectives = parse_objectives(json.loads(metadata[OBJECTIVES_KEY.encode()]))
    assert [str(o) for o in objectives] == json.loads(THREE)
    stored = json.loads(metadata[REFERENCE_KEY.encode()])
    assert stored["objectives"] == [o.name for o in objectives]
    values = table_values(table, objectives)
    assert np.isfinite(values).all(axis=1).any(), "no trained, mappable trial to judge"
    assert len(stored["reference_point"]) == 3
    assert stored["hypervolume"] > 0
    assert stored["hypervolume"] == pytest.approx(
        hypervolume_of(values, objectives, stored["reference_point"]))
    np.testing.assert_array_equal(table.column("on_front").to_numpy(),
                                  nondominated(values, objectives))
    front = pq.read_table(directory / "pareto.parquet")
    assert front.num_rows == int(nondominated(values, objectives).sum())


def test_pareto_and_report_follow_the_stored_objectives(three_objective_search, capsys):
    directory, _ = three_objective_search
    capsys.readouterr()
    assert main(["pareto", str(directory), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["reference_point"]) == 3 and out["hypervolume"] > 0
    assert out["hypervolume"] == pytest.approx(out["stored"]["hypervolume"])
    assert main(["pareto", str(directory)]) == 0
    text = capsys.readouterr().out
    assert "max val_accuracy, min chip_memory_cells, min energy_pj_per_sample" in text
    assert "(accuracy x cells x pJ)" in text
    assert main(["report", str(directory)]) == 0
    report = (directory / "report.md").read_text()
    assert "minimise `energy_pj_per_sample`" in report and (directory / "front.png").stat().st_size


def test_resume_refuses_other_objectives_with_one_line(three_objective_search, capsys):
    directory, sets = three_objective_search
    capsys.readouterr()
    changed = [s for s in sets if not s.startswith("search.objectives")]
    args = ["search", "--config", "tiny", "--resume", *(a for s in changed for a in ("--set", s))]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "[search].objectives" in err
