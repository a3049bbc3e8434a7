"""Faults end in one line and exit 2 with nothing written lost: odd paths, torn journals, bad
seeds and names, SIGTERM, full disks, remote storage order, Ray's ports, bad input files."""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pyarrow.parquet as pq
import pytest

from analysis.io import read_table
from hardware.errors import ConfigError, ResultsError
from search.cli import main
from search.commands.common import toml_override
from search.config.files import load_config, parse_config
from search.driver.searcher import STUDY_NAME, open_storage
from search.store.journal import OPTUNA_LOCK_SUFFIX, repair_tail
from search.store.layout import JOURNAL, SYNCED_FILES
from search.store.remote import RemoteResults
from search.store.results import ResultsStore
from tests.analysis.factories import CONFIG_TEXT, record
from tests.search.conftest import read_while_writing, sigterm_and_wait, tiny_sets
from tests.search.test_kill_and_cluster import CLI, _env

ODD = 'back\\slash "double" \'single\'\ttab'  # every character repr() and TOML treat specially
# capacities every network of the tiny space fits, so every trial trains and has one row
FITS = ["hardware.cap_nt=32", "hardware.cap_r0=32", "hardware.cap_r1=32"]
TINY = ["search", "--config", "tiny", "--quiet", "--set", "training.epochs=1",
        "--set", "search.max_concurrent=1", *[f"--set={s}" for s in FITS]]


def _rows(directory: Path) -> list[dict]:
    rows = pq.read_table(directory / "trials.parquet").to_pylist()
    assert len({r["trial_id"] for r in rows}) == len(rows)
    return rows


# --- paths verbatim, torn journal, stale Optuna lock -------------------------------------------

@pytest.mark.parametrize("path", [ODD, "C:\\results", "2024", "s3://bucket/a b"])
def test_overrides_carry_strings_verbatim(path):
    cfg = load_config("tiny", [toml_override("search.storage", path)])
    assert cfg.search.storage == path
    assert parse_config(cfg.to_toml()).search.storage == path  # and so does config.toml


@pytest.mark.usefixtures("ray_session")
def test_odd_path_searches_then_resumes_after_a_torn_journal(data_root, tmp_path, capsys):
    storage = tmp_path / ODD
    data = f"data.root={str(data_root)!r}"
    assert main([*TINY, "--set", data, "--storage", str(storage), "--name", "odd",
                 "--trials", "1"]) == 0
    directory = storage / "odd"
    assert load_config(directory / "config.toml").search.storage == str(storage)
    assert len(_rows(directory)) == 1
    journal = directory / JOURNAL
    whole, torn = journal.read_bytes(), b'{"op_code": 5, "worker_id": "w", "trial_id": 0, "par'
    with open(journal, "ab") as f:  # the driver died mid-append, holding Optuna's lock
        f.write(torn)
    os.symlink(journal, f"{journal}{OPTUNA_LOCK_SUFFIX}")
    capsys.readouterr()
    started = time.monotonic()
    assert main(["resume", str(directory), "--trials", "2", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert f"mosaic-dse: removed the stale Optuna lock {journal}.lock" in err
    assert f"mosaic-dse: repaired {journal}: cut {len(torn)} bytes of a torn last write" in err
    assert time.monotonic() - started < 30  # Optuna's grace period was not waited out
    backup = next(directory.glob(f"{JOURNAL}.*.bak"))
    assert backup.read_bytes() == whole + torn
    assert journal.read_bytes().startswith(whole)
    assert all(json.loads(line) for line in journal.read_bytes().splitlines())
    assert len(optuna.load_study(study_name=STUDY_NAME, storage=open_storage(directory))
               .trials) >= 2
    assert len(_rows(directory)) == 2


def test_a_whole_journal_is_left_alone(tmp_path):
    journal = tmp_path / JOURNAL
    journal.write_bytes(b'{"a": 1}\n{"b": 2}\n')
    assert repair_tail(journal) is None and repair_tail(tmp_path / "absent") is None
    assert journal.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert list(tmp_path.iterdir()) == [journal]


def test_a_torn_tail_of_whole_garbage_lines_is_cut(tmp_path):
    journal = tmp_path / JOURNAL
    journal.write_bytes(b'{"a": 1}\n{"b": \n\x00\x00')  # 9 good bytes, then 9 torn
    torn = repair_tail(journal)
    assert (torn.dropped_bytes, torn.kept_lines) == (9, 1)
    assert journal.read_bytes() == b'{"a": 1}\n'
    assert torn.backup.read_bytes() == b'{"a": 1}\n{"b": \n\x00\x00'


def test_damage_before_the_tail_is_refused_and_changes_nothing(tmp_path):
    journal = tmp_path / JOURNAL
    journal.write_bytes(b'{"a": 1}\n{"b": {"c": 3}\n{"d": 4}\n')  # today's torn-then-appended
    with pytest.raises(ResultsError, match=f"{journal} line 2 is not valid JSON but later lines "
                                           "are"):
        repair_tail(journal)
    assert journal.read_bytes() == b'{"a": 1}\n{"b": {"c": 3}\n{"d": 4}\n'


def test_the_stale_lock_is_the_one_optuna_takes(tmp_path):
    from optuna.storages.journal import JournalFileSymlinkLock

    journal = str(tmp_path / JOURNAL)
    assert JournalFileSymlinkLock(journal)._lock_file == journal + OPTUNA_LOCK_SUFFIX


# --- seeds and names, checked before anything is written ---------------------------------------

@pytest.mark.parametrize("key", ["search.seed", "training.seed", "data.split_seed",
                                 "data.synthetic_seed"])
@pytest.mark.parametrize("value", [-1, 2**32])
def test_seeds_must_be_in_the_samplers_range(key, value):
    with pytest.raises(ConfigError, match=rf"\].{key.split('.')[1]}: must be in \[0, "
                                          rf"4294967295\], got {value} \(fix --set {key}="):
        load_config("tiny", [f"{key}={value}"])
    assert load_config("tiny", [f"{key}=4294967295"])


def test_a_bad_seed_writes_nothing(tmp_path, capsys):
    args = [*TINY, "--storage", str(tmp_path), "--name", "s", "--set", "search.seed=4294967296"]
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("mosaic-dse: error: [search].seed: must be in")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["search", "--dry-run", "--seed", "-1"],
                                  ["search", "--dry-run", "--seed", "4294967296"],
                                  ["map", "--profile", "0,0.5", "--seed", "-1"],
                                  ["make-synthetic-shd", "DIR", "--seed", "-1"]])
def test_seed_flags_are_checked_by_the_parser(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "argument --seed: must be in [0, 4294967295], got" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["..", ".", "a/b", "a\\b", ""])
def test_name_must_be_a_plain_directory_name(name, tmp_path, capsys):
    storage = tmp_path / "storage"
    assert main([*TINY, "--storage", str(storage), "--name", name]) == 2
    assert "[search].name: must be a plain directory name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_huge_grid_is_one_line_not_a_memory_error(capsys):
    with pytest.raises(ConfigError, match=r"\[hardware\].rows: rows\*cols must be <= 1024 "
                                          r"tiles, got 2000\*2000 = 4000000"):
        load_config("tiny", ["hardware.rows=2000", "hardware.cols=2000"])
    with pytest.raises(ConfigError, match=r"\[hardware\].neurons_per_tile: .* <= 16384 "
                                          r"neurons, got 3\*3\*4000 = 36000"):
        load_config("tiny", ["hardware.neurons_per_tile=4000"])
    assert main(["map", "--profile", "0,0.5", "--rows", "2000", "--cols", "2000",
                 "--neurons-per-tile", "8", "--cap-nt", "8", "--cap-r0", "8",
                 "--cap-r1", "8"]) == 2
    assert "map: rows*cols must be <= 1024 tiles" in capsys.readouterr().err


# --- SIGTERM, full disk, Ray's ports -----------------------------------------------------------

@pytest.mark.slow
def test_sigterm_stops_with_the_resume_hint(data_root, tmp_path):
    sets = tiny_sets(data_root, tmp_path, "term", 4, "training.epochs=1",
                     "search.max_concurrent=1", *FITS)
    proc = subprocess.Popen([*CLI, "search", "--config", "tiny", *[f"--set={s}" for s in sets]],
                            env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    directory = tmp_path / "term"
    def first_row() -> None:
        deadline = time.monotonic() + 240
        while not (directory / "trials.parquet").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)

    err = sigterm_and_wait(proc, first_row)
    assert proc.returncode == 143, err[-3000:]
    assert "Traceback" not in err
    assert err.rstrip().endswith(f"mosaic-dse: terminated; finished trials are saved. Continue "
                                 f"with: mosaic-dse resume {directory}")
    assert read_table(directory / "trials.parquet").num_rows >= 1


@pytest.mark.usefixtures("ray_session")
def test_a_full_disk_mid_search_is_one_line_and_keeps_the_rows(data_root, tmp_path, capsys,
                                                               monkeypatch):
    import analysis.io

    writes, write_table = [], analysis.io.pq.write_table

    def fills_the_disk(table, where, **kwargs):  # the disk fills after the first trials.parquet
        writes.append(table.num_rows)
        if len(writes) > 2:  # trials.parquet, pareto.parquet
            raise OSError(errno.ENOSPC, "No space left on device")
        write_table(table, where, **kwargs)

    monkeypatch.setattr(analysis.io.pq, "write_table", fills_the_disk)
    directory = tmp_path / "full"
    assert main([*TINY, "--set", f"data.root={str(data_root)!r}", "--storage", str(tmp_path),
                 "--name", "full", "--trials", "3"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (f"mosaic-dse: error: cannot write {directory}/trials.parquet: "
                                    f"No space left on device (free disk space or make "
                                    f"{directory} writable)")
    assert "Traceback" not in err
    monkeypatch.undo()
    assert read_table(directory / "trials.parquet").num_rows == 1  # the row before the fault


@pytest.mark.parametrize(("code", "words"), [(errno.ENOSPC, "No space left on device"),
                                             (errno.EROFS, "Read-only file system")])
def test_store_write_failures_are_results_errors(tmp_path, monkeypatch, code, words):
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("a"))
    before = (tmp_path / "trials.parquet").read_bytes()

    def fails(table, where, **kwargs):
        raise OSError(code, words)

    monkeypatch.setattr("analysis.io.pq.write_table", fails)
    store.add(record("b"))  # durable in the row log; the files follow on the store's cadence
    with pytest.raises(ResultsError, match=f"cannot write {tmp_path}/trials.parquet: {words} "
                                           f"\\(free disk space or make {tmp_path} writable\\)"):
        store.flush()
    assert (tmp_path / "trials.parquet").read_bytes() == before


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss to list listening ports")
def test_the_local_ray_listens_on_loopback_only():
    script = r"""
import json, os, subprocess
import ray
from search.driver.cluster import init_ray

init_ray(None)
ray.get(ray.remote(lambda: os.getpid()).remote())  # a worker too
parent = {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        parent[int(pid)] = int(open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError):
        pass
ours, grew = {os.getpid()}, True
while grew:
    more = {p for p, pp in parent.items() if pp in ours} - ours
    ours, grew = ours | more, bool(more)
lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout.splitlines()
print(json.dumps([l.split()[3] for l in lines
                  if any(int(p) in ours for p in __import__("re").findall(r"pid=(\d+)", l))]))
ray.shutdown()
"""
    done = subprocess.run([sys.executable, "-c", script], env=_env(), capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    addresses = json.loads(done.stdout.splitlines()[-1])
    assert len(addresses) >= 3  # GCS, raylet, driver and worker ports
    loopback = re.compile(r"(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]|\[::1\]):\d+")
    assert [a for a in addresses if not loopback.fullmatch(a)] == []


# --- remote storage ----------------------------------------------------------------------------

def test_upload_puts_the_journal_before_trials(tmp_path, monkeypatch):
    from pyarrow import fs

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in SYNCED_FILES:
        (mirror / name).write_text(name)
    uploaded, copy_files = [], fs.copy_files

    def recording(source, destination, **kwargs):
        uploaded.append(Path(source).name)
        copy_files(source, destination, **kwargs)

    monkeypatch.setattr(fs, "copy_files", recording)
    RemoteResults(f"file://{tmp_path}/remote/run", mirror).upload()
    assert uploaded.index(JOURNAL) < uploaded.index("trials.parquet")
    assert (tmp_path / "remote" / "run" / JOURNAL).read_text() == JOURNAL


@pytest.mark.usefixtures("ray_session")
def test_resume_takes_a_storage_uri(data_root, tmp_path, capsys):
    uri = f"file://{tmp_path}/store"
    assert main([*TINY, "--set", f"data.root={str(data_root)!r}", "--storage", uri,
                 "--name", "remote", "--trials", "1"]) == 0
    assert main(["resume", f"{uri}/remote", "--trials", "2", "--quiet"]) == 0
    assert len(_rows(tmp_path / "store" / "remote")) == 2
    assert main(["resume", f"{uri}/absent"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"mosaic-dse: error: {uri}/absent is not a mosaic-dse search (no config.toml; give "
        "<storage-uri>/<name>)")


# --- bad input files and output paths ----------------------------------------------------------

CHIP = ["--rows", "3", "--cols", "3", "--neurons-per-tile", "8", "--cap-nt", "8", "--cap-r0", "8",
        "--cap-r1", "8"]


@pytest.mark.parametrize(("name", "content", "why"), [
    ("empty.npy", b"", "No data left in file"),
    ("broken.npz", b"PK\x03\x04broken", "File is not a zip file")])
def test_unreadable_links_files_are_one_line(tmp_path, capsys, name, content, why):
    (tmp_path / name).write_bytes(content)
    assert main(["map", "--links", str(tmp_path / name), *CHIP]) == 2
    assert capsys.readouterr().err == (f"mosaic-dse: error: cannot read links file "
                                       f"{tmp_path / name}: {why} (save it with numpy.save)\n")
    assert main(["map", "--network", str(tmp_path / name)]) == 2
    assert f"cannot read network file {tmp_path / name}: {why}" in capsys.readouterr().err


def test_plot_and_out_into_missing_places_are_one_line(tmp_path, capsys):
    from tests.analysis.factories import write_store

    results = write_store(tmp_path / "run", [record("a"), record("b", 0.7, 200)])
    assert main(["pareto", str(results), "--plot", str(tmp_path / "missing" / "f.png")]) == 2
    assert capsys.readouterr().err == (f"mosaic-dse: error: --plot: {tmp_path / 'missing'} does "
                                       "not exist (create the directory first)\n")
    (tmp_path / "file").write_text("")
    assert main(["report", str(results), "--out", str(tmp_path / "file")]) == 2
    assert f"--out: {tmp_path / 'file'} is not a directory" in capsys.readouterr().err
    assert main(["report", str(results), "--out", str(tmp_path / "file" / "sub")]) == 2
    assert "cannot create it: Not a directory" in capsys.readouterr().err


def test_the_readme_read_example_is_safe_while_a_search_writes(tmp_path):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```python\n")[1].split("import duckdb")[0]
    code = block.replace("~/mosaic-dse-results/default", str(tmp_path))
    store = ResultsStore(tmp_path, CONFIG_TEXT)
    store.add(record("t0", 0.1))

    def read() -> int:
        scope: dict = {}
        exec(code, scope)  # noqa: S102 - the README's own example
        return len(scope["trials"])

    reads, failures = read_while_writing(read, store, 40)
    assert failures == [] and reads and reads == sorted(reads)
