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


def _fastest_shipped_card() -> dict | None:
    cards = [json.loads(p.read_text()) for p in REPO.glob("models/*/card.json")]
    cards = [c for c in cards if c["task"] in ("stage1", "stage2", "flat3") and c["weights"].get("shipped", True) and not c.get("smoke")]
    return min(cards, key=lambda c: c["latency_ms_p50_cpu_batch1"] * c["test"]["n_images"], default=None)


def test_evaluate_reproduces_a_committed_card(shared_data):
    card = _fastest_shipped_card()
    if card is None:
        pytest.skip("no trained model with shipped weights in models/")
    p = run("evaluate", "--model", card["name"], "--dataset", "mias", "--data", str(shared_data), "--split", "test", "--json", "--bootstrap", "50")
    assert p.returncode == 0, p.stderr[-1500:]
    got = json.loads(p.stdout)
    assert got["n_images"] == card["test"]["n_images"]
    assert got["confusion"] == card["test"]["confusion"]
    for k in ("roc_auc", "accuracy", "brier"):
        assert got["metrics"][k]["value"] == pytest.approx(card["test"]["metrics"][k]["value"], abs=1e-3), k


def test_predict_all_models_on_a_sample_dicom(sample_dicom):
    p = run("predict", str(sample_dicom), "--model", "all", "--json")
    assert p.returncode == 0, p.stderr[-1500:]
    rows = json.loads(p.stdout)
    from core.models import registry

    shipped = [c for c in registry.discover() if registry.weights_available(c)]  # composites: when their members are here
    assert {r["model"] for r in rows} == {c["name"] for c in shipped}
    for r in rows:
        assert abs(sum(r["probabilities"].values()) - 1) < 1e-3
