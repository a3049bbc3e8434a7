"""A resume refuses what it cannot honour, and says how far a search got in plain words."""

from __future__ import annotations

import pytest

from search.cli import main
from search.commands.search_cmd import finished_line, print_outcome
from search.driver.runner import SearchOutcome
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


def _started_search(tmp_path, *sets: str):  # noqa: ANN202 - (directory, config)
    """A results directory as a first start leaves it: config.toml and one stored row."""
    from search.config.files import load_config
    from search.store.results import ResultsStore

    cfg = load_config("tiny", [f"search.storage={str(tmp_path)!r}", "search.name='run'",
                               *sets])
    directory = tmp_path / "run"
    directory.mkdir()
    (directory / "config.toml").write_text(cfg.to_toml())
    ResultsStore(directory, cfg.to_toml()).add(record("t0"))
    return directory, cfg


def _no_work(monkeypatch) -> None:  # noqa: ANN001
    """Make any start of real work (data, Ray) fail the test."""
    def started(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("the resume started work")

    monkeypatch.setattr("model.data.load_dataset", started)
    monkeypatch.setattr("search.driver.runner.init_ray", started)


def test_resume_of_an_edited_config_toml_exits_2_naming_the_key(tmp_path, capsys, monkeypatch):
    directory, cfg = _started_search(tmp_path)
    edited = cfg.to_toml().replace("lr = { low = 0.001, high = 0.01,",
                                   "lr = { low = 0.0001, high = 0.01,")
    assert edited != cfg.to_toml()
    (directory / "config.toml").write_text(edited)
    _no_work(monkeypatch)
    assert main(["resume", str(directory), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert err.startswith("mosaic-dse: error: config differs from the one this search started "
                          f"with, stored in the metadata of {directory / 'trials.parquet'} "
                          "([training].lr: ")
    assert "low = 0.001" in err and "low = 0.0001" in err


def test_search_resume_compares_with_the_stored_config_not_config_toml(tmp_path, capsys,
                                                                       monkeypatch):
    directory, cfg = _started_search(tmp_path)
    (directory / "config.toml").write_text(cfg.to_toml().replace("w_thr = 0.1", "w_thr = 0.2"))
    _no_work(monkeypatch)
    args = ["search", "--config", str(directory / "config.toml"), "--resume", "--quiet"]
    assert main(args) == 2
    assert "([training].w_thr: 0.1 -> 0.2)" in capsys.readouterr().err


def test_a_trials_file_without_a_config_is_refused(tmp_path, capsys, monkeypatch):
    from tests.analysis.factories import write_plain

    directory, _ = _started_search(tmp_path)
    write_plain(directory, {"trial_id": ["a"], "status": ["ok"]})
    _no_work(monkeypatch)
    assert main(["resume", str(directory), "--quiet"]) == 2
    assert capsys.readouterr().err == (
        f"mosaic-dse: error: {directory / 'trials.parquet'} has no mosaic-dse config in its "
        "metadata: it was not written by a mosaic-dse search (restore it from a backup, or start "
        "a new --name)\n")


def _study_of(directory, trial_ids) -> None:  # noqa: ANN001
    """The journal the searcher writes for `trial_ids`: each suggested, tagged and told."""
    import optuna

    from analysis.objectives import DEFAULT_OBJECTIVES
    from search.driver.searcher import STUDY_NAME, open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(study_name=STUDY_NAME, storage=open_storage(directory),
                                directions=["maximize", "minimize"], load_if_exists=True)
    assert len(DEFAULT_OBJECTIVES) == 2
    for trial_id in trial_ids:
        trial = study.ask()
        trial.suggest_float("lr", 1e-3, 1e-2, log=True)
        trial.set_user_attr("ray_trial_id", trial_id)
        study.tell(trial, [0.5, 100.0])


def _two_trials(tmp_path):  # noqa: ANN202 - (directory, journal path, journal bytes after t0)
    """A search with rows t0 and infeasible-00001 and the journal that knows both."""
    from search.store.results import ResultsStore

    directory, cfg = _started_search(tmp_path)
    _study_of(directory, ["t0"])
    after_first = (directory / "optuna-journal.log").read_bytes()
    _study_of(directory, ["infeasible-00001"])
    ResultsStore(directory, cfg.to_toml()).add(record("infeasible-00001", status="infeasible"))
    return directory, directory / "optuna-journal.log", after_first


@pytest.mark.parametrize("damage", ["emptied", "deleted", "older copy"])
def test_a_journal_that_does_not_know_the_rows_is_refused(tmp_path, capsys, monkeypatch,
                                                          damage):
    directory, journal, after_first = _two_trials(tmp_path)
    if damage == "emptied":
        journal.write_bytes(b"")
        state = "is empty but trials.parquet holds 2 trials"
    elif damage == "deleted":
        journal.unlink()
        state = "is missing but trials.parquet holds 2 trials"
    else:
        journal.write_bytes(after_first)
        state = "lacks 1 of the 2 trials in trials.parquet (infeasible-00001)"
    rows = (directory / "trials.parquet").read_bytes()
    _no_work(monkeypatch)
    assert main(["resume", str(directory), "--quiet", "--trials", "5"]) == 2
    assert capsys.readouterr().err == (
        f"mosaic-dse: error: {journal} {state}: it was deleted, emptied or replaced by an older "
        "copy, and resuming would train configurations again and reuse trial numbers; restore "
        "its newest copy (a .bak beside it, if any, or a backup), or start a new --name\n")
    assert (directory / "trials.parquet").read_bytes() == rows


def test_the_journal_that_knows_every_row_is_accepted(tmp_path):
    from search.store.journal import check_journal

    directory, journal, _ = _two_trials(tmp_path)
    check_journal(journal, ["t0", "infeasible-00001"])
    check_journal(tmp_path / "absent.log", [])  # a first segment killed before any row


@pytest.mark.parametrize("line", [b'{"a": 1}', b"[1, 2]", b'"text"', b'{"op_code": 99, '
                                  b'"worker_id": "w"}', b'{"op_code": "5", "worker_id": "w"}'])
def test_a_json_line_that_is_no_optuna_operation_is_refused(tmp_path, capsys, monkeypatch,
                                                            line):
    directory, journal, _ = _two_trials(tmp_path)
    number = len(journal.read_bytes().splitlines()) + 1
    with open(journal, "ab") as f:
        f.write(line + b"\n")
    _no_work(monkeypatch)
    assert main(["resume", str(directory), "--quiet", "--trials", "5"]) == 2
    assert capsys.readouterr().err == (
        f"mosaic-dse: error: {journal} line {number} is not an Optuna journal operation "
        f"({line.decode()}); restore its newest copy (a .bak beside it, if any, or a backup), "
        "or start a new --name\n")


def test_an_operation_optuna_cannot_replay_is_refused(tmp_path, capsys, monkeypatch):
    directory, journal, _ = _two_trials(tmp_path)
    with open(journal, "ab") as f:  # a trial attribute without its trial
        f.write(b'{"op_code": 8, "worker_id": "w", "user_attr": {"a": 1}}\n')
    _no_work(monkeypatch)
    assert main(["resume", str(directory), "--quiet", "--trials", "5"]) == 2
    assert capsys.readouterr().err == (
        f"mosaic-dse: error: {journal} cannot be replayed by Optuna (KeyError 'trial_id'): "
        "restore its newest copy (a .bak beside it, if any, or a backup), or start a new "
        "--name\n")
