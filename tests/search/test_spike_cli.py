"""`mosaic-dse make-spike-dataset`: a folder of recordings to SHD files; one-line errors, exit 2,
nothing left in ROOT."""

from __future__ import annotations

import re

import pytest

from search.cli import main
from tests.model.test_spike_dataset import write_recordings


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["make-spike-dataset", "--channels", "16", "--workers", "1", "--quiet", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_converts_a_folder_and_says_how_to_train_on_it(tmp_path, capsys):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    code, out, err = _run(capsys, str(folder), str(tmp_path / "root"), "--test-speakers", "bob")
    assert code == 0, err
    assert "wrote 4 train and 2 test recordings (2 classes; test speakers: bob;" in out
    assert f'--set data.root="{tmp_path / "root"}"' in out
    assert sorted(p.name for p in (tmp_path / "root" / "SHD").iterdir()) == [
        "conversion.json", "shd_test.h5", "shd_test.h5.zip", "shd_train.h5", "shd_train.h5.zip"]


@pytest.mark.parametrize("extra, level", [((), None), (("--normalise",), -25.0),
                                          (("--normalise", "-30"), -30.0)])
def test_normalise_sets_the_cochleas_level(tmp_path, capsys, extra, level):
    import json

    folder = write_recordings(tmp_path / "audio", per_label=1)
    code, _, err = _run(capsys, str(folder), str(tmp_path / "root"), "--test-speakers", "bob",
                        *extra)
    assert code == 0, err
    manifest = json.loads((tmp_path / "root" / "SHD" / "conversion.json").read_text())
    assert manifest["cochlea"]["level_db"] == level


def _bad_file(folder):
    (folder / "low_bob_7.wav").write_bytes(b"RIFF broken")


def _bad_name(folder):
    (folder / "low-bob-7.wav").write_bytes(b"")


def _empty(folder):
    for path in folder.iterdir():
        path.unlink()


@pytest.mark.parametrize("damage, extra, message", [
    (_bad_file, (), r"low_bob_7\.wav: unreadable audio"),
    (_empty, (), r"no recordings \(\.wav, \.flac, \.ogg\) in"),
    (_bad_name, (), r"file name 'low-bob-7' does not match --pattern '\{label\}_\{speaker\}"),
    (None, ("--classes", "low,mid"), r"label 'high' is not one of the classes \(low, mid; "
                                     r"from --classes\)"),
    (None, ("--test-speakers", "zoe"), r"--test-speakers zoe not among the speakers "
                                       r"\(anna, bob, cleo\)"),
    (None, ("--pattern", "{label}"), r"--pattern must use \{label\} and \{speaker\}"),
    (None, ("--channels", "701"), r"SHD files hold at most 700 channels"),
    (None, ("--speed-perturb", "0.9,3"), r"speed factors must be distinct, in \[0\.5, 2\]"),
])
def test_bad_input_is_one_line_exit_2_and_root_stays_empty(tmp_path, capsys, damage, extra,
                                                          message):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    if damage is not None:
        damage(folder)
    code, out, err = _run(capsys, str(folder), str(tmp_path / "root"), *extra)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("mosaic-dse: error: ")
    assert re.search(message, err), err
    assert not (tmp_path / "root").exists()


def test_manifest_labels_and_missing_columns(tmp_path, capsys):
    folder = write_recordings(tmp_path / "audio", per_label=1)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,label,speaker\nlow_anna_0.wav,a,s1\nhigh_bob_0.wav,b,s2\n")
    code, out, err = _run(capsys, str(folder), str(tmp_path / "root"), "--manifest",
                          str(manifest), "--test-speakers", "s2", "--classes", "a,b")
    assert code == 0, err
    assert "wrote 1 train and 1 test recordings" in out
    manifest.write_text("file,label\nlow_anna_0.wav,a\n")
    code, _, err = _run(capsys, str(folder), str(tmp_path / "other"), "--manifest",
                        str(manifest))
    assert code == 2 and "missing path, speaker" in err
