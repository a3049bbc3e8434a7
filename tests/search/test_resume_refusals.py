"""A resume refuses what it cannot honour, and says how far a search got in plain words."""

from __future__ import annotations

from search.commands.search_cmd import finished_line, print_outcome
from search.runner import SearchOutcome
from tests.analysis.factories import record, write_store


def test_a_resume_asking_for_fewer_trials_than_finished_says_so(tmp_path, capsys):
    directory = write_store(tmp_path / "run", [record(f"t{i}") for i in range(4)])
    assert print_outcome(SearchOutcome(directory, finished=4, requested=2, ran=0)) == 0
    err = capsys.readouterr().err
    assert "4/2" not in err
    assert err.splitlines()[0] == ("4 trials finished, more than the 2 requested (0 this run; "
                                   "resume with a larger --trials to run more)")


def test_the_finished_line_counts_requested_trials():
    assert finished_line(2, 2, 2) == "2/2 trials finished (2 this run)"
    assert finished_line(1, 3, 0) == "1/3 trials finished (0 this run)"
    assert finished_line(3, 2, 1).startswith("3 trials finished, more than the 2 requested")
