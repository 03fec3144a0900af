"""The `python -m core` contract: real files, real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def assert_one_line_error(p: subprocess.CompletedProcess, code: int) -> None:
    assert p.returncode == code, p.stderr
    assert "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and p.stderr.startswith("error:")


def test_read_sample_dicom_json_has_no_identifier(sample_dicom):
    p = run("read", str(sample_dicom), "--json")
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["source_format"] == "dicom" and meta["bits_stored"] == 16 and meta["rows"] > 4000
    assert meta["laterality"] in ("L", "R") and meta["view"] in ("CC", "MLO")
    assert "P_00" not in p.stdout


def test_read_bad_files_exit_3_with_one_line(tmp_path):
    bad = tmp_path / "scan.dcm"
    bad.write_text("not a dicom at all")
    assert_one_line_error(run("read", str(bad)), 3)
    assert_one_line_error(run("read", str(tmp_path / "missing.png")), 3)
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    assert_one_line_error(run("read", str(empty)), 3)


def test_usage_errors_exit_2():
    assert run("nonsense").returncode == 2
    assert_one_line_error(run("dataset", "--dataset", "mias"), 2)


def test_samples_lists_the_eight_cases_with_truth():
    p = run("samples", "--json")
    data = json.loads(p.stdout)
    assert data["count"] == 8 and data["labels"] == {"normal": 0, "benign": 6, "malignant": 2}
    by_id = {r["image_id"]: r for r in data["records"]}
    assert by_id["Mass-Test_P_00820_LEFT_CC"]["label"] == "malignant"
    assert by_id["Mass-Test_P_00820_RIGHT_CC"]["label"] == "benign"


def test_dataset_mias_counts(shared_data):
    p = run("dataset", "--dataset", "mias", "--data", str(shared_data), "--json")
    data = json.loads(p.stdout)
    assert data["count"] == 322 and data["labels"] == {"normal": 207, "benign": 63, "malignant": 52}


def test_dataset_missing_folder_exit_3(tmp_path):
    assert_one_line_error(run("dataset", "--dataset", "mias", "--data", str(tmp_path / "nope")), 3)


def test_models_and_leaderboard_read_cards():
    p = run("models", "--json")
    assert p.returncode == 0
    rows = json.loads(p.stdout)
    cards = sorted(REPO.glob("models/*/card.json"))
    assert len(rows) == len(cards)
    p = run("leaderboard", "--format", "csv")
    assert p.returncode == 0 and p.stdout.splitlines()[0].startswith("model,")


def test_predict_unknown_model_exit_4(sample_dicom):
    assert_one_line_error(run("predict", str(sample_dicom), "--model", "no-such-model"), 4)
