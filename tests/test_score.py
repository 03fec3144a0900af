"""`python -m core score` on Ray Data (local mode) and `evaluate --predictions`.

A 12-file synthetic archive (copies of the embedded sample, one corrupt) is scored by one
torch and one Keras model; the first run is interrupted after a few batches and a second
run resumes it. The evaluation of the output is checked against scikit-learn computed here.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn import metrics as skm

from core.models import registry

pytest.importorskip("ray")

TORCH, KERAS = "patch-lite0-dense", "s2-mobilenet-keras"  # shipped, both readable as stage 2 (benign vs malignant); the torch one has scored maps
N_FILES = 12


def _models() -> list[str]:
    names = [n for n in (TORCH, KERAS) if n in registry.names() and registry.weights_available(registry.card(n))]
    if len(names) < 2:
        pytest.skip("the shipped torch / Keras models are not in this checkout")
    return names


class _Interrupt(Exception):
    pass


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    """(archive, output, first-run keys, second-run summary): a run stopped after 6 images, then resumed."""
    from core.score import run
    from core.score.store import ScoreStore
    from core.score.synthetic import make_archive

    models = _models()
    root = tmp_path_factory.mktemp("archive")
    counts = make_archive(root, N_FILES)
    out = root.parent / "scores.parquet"

    def stop_after_six(done: int, total: int) -> None:
        if done >= 6:
            raise _Interrupt

    import ray

    flush = run.FLUSH_ROWS
    run.FLUSH_ROWS = 1  # every batch becomes a part file, as a long run's flushes would
    # both runs join one local Ray instance, as runs with `--address` join a cluster (the second
    # run's workers are warm); the study test below starts and stops its own, as the CLI does
    assert run.init_ray(None, 1)
    try:
        with pytest.raises(_Interrupt):
            run.score(root, "folder", models, out, workers=1, batch_size=2, progress=stop_after_six)
        run.FLUSH_ROWS = flush
        first = ScoreStore(out).done()
        summary = run.score(root, "folder", models, out, workers=1, batch_size=2)
        assert ray.is_initialized(), "a run that joined Ray leaves it running"
    finally:
        run.FLUSH_ROWS = flush
        ray.shutdown()
    return root, out, first, summary, counts, models


def test_archive_scored_once_per_image_and_model(scored):
    root, out, first, summary, counts, models = scored
    assert counts["corrupt"] >= 1
    frame = pd.read_parquet(out)
    assert len(frame) == N_FILES * len(models) == summary.rows
    assert not frame.duplicated(["image_id", "model"]).any()
    assert set(frame["model"]) == set(models)
    for col in ("image_id", "patient_id", "split", "truth", "model", "p_benign", "p_malignant", "error"):
        assert col in frame.columns
    assert not (root.parent / f".{out.name}.parts").exists(), "parts are merged into the one output file"


def test_corrupt_file_is_an_error_row_not_a_stop(scored):
    _, out, _, _, counts, models = scored
    frame = pd.read_parquet(out)
    bad = frame[frame["error"].notna()]
    assert len(bad) == counts["corrupt"] * len(models)
    assert bad[[c for c in frame.columns if c.startswith("p_")]].isna().all().all()
    good = frame[frame["error"].isna()]
    assert len(good) == counts["good"] * len(models)
    probs = good[["p_benign", "p_malignant"]].to_numpy()
    assert np.isfinite(probs[good["model"] == KERAS]).all()


def test_resume_skips_what_the_interrupted_run_wrote(scored):
    _, _, first, summary, _, models = scored
    first_images = {i for i, m in first if all((i, n) in first for n in models)}
    assert 0 < len(first_images) < N_FILES
    assert summary.skipped == len(first_images)
    assert summary.scored == N_FILES - len(first_images)


def test_rows_name_no_server_path(scored):
    root, out, *_ = scored
    text = pd.read_parquet(out).astype(str).to_csv()
    assert str(root) not in text and str(root.parent) not in text


def test_rows_equal_an_in_process_prediction(scored):
    """The Ray path predicts what `python -m core predict` does (same model code, same decode)."""
    from core.io.reader import read_image

    root, out, *_ = scored
    frame = pd.read_parquet(out)
    row = frame[(frame["model"] == TORCH) & frame["error"].isna()].iloc[0]
    pred = registry.load(TORCH).predict(read_image(root / f"{row['image_id']}.dcm"))
    got = row[[f"p_{c}" for c in pred.classes]].to_numpy(float)
    assert np.allclose(got, pred.probabilities, atol=1e-5)
    assert row["pred"] == pred.decision
    scored = {k: m.score for k, m in pred.maps.items() if m.score is not None}
    assert scored and all(row[f"map_{k}"] == pytest.approx(v, abs=1e-5) for k, v in scored.items())  # each map's image score


def test_evaluate_reproduces_sklearn(scored, capsys):
    from core.cli import main

    _, out, *_ = scored
    assert main(["evaluate", "--predictions", str(out), "--json", "--bootstrap", "50"]) == 0
    results = {(r["model"], r["task"]): r for r in json.loads(capsys.readouterr().out)}
    frame = pd.read_parquet(out)
    for model in (TORCH, KERAS):
        rows = frame[(frame["model"] == model) & frame["error"].isna()]
        y = (rows["label"] == "malignant").to_numpy().astype(int)
        p_mal, p_ben = rows["p_malignant"].to_numpy(float), rows["p_benign"].to_numpy(float)
        score = p_mal / (p_mal + p_ben)  # the malignant share: stage 2 read from any output
        r = results[(model, "stage2")]
        thr = json.loads(rows["thresholds"].iloc[0])["stage2"]
        assert r["n_images"] == len(rows)
        assert r["metrics"]["roc_auc"]["value"] == pytest.approx(skm.roc_auc_score(y, score))
        assert r["metrics"]["pr_auc"]["value"] == pytest.approx(skm.average_precision_score(y, score))
        assert r["metrics"]["brier"]["value"] == pytest.approx(skm.brier_score_loss(y, score))
        assert r["confusion"] == skm.confusion_matrix(y, (score >= thr).astype(int), labels=[0, 1]).tolist()
        lo, hi = r["metrics"]["roc_auc"]["ci95"]
        assert lo is None or lo <= r["metrics"]["roc_auc"]["value"] <= hi
    flat = results[(TORCH, "flat3")]
    rows = frame[(frame["model"] == TORCH) & frame["error"].isna()]
    assert flat["metrics"]["accuracy"]["value"] == pytest.approx(skm.accuracy_score(rows["label"], rows["pred"]))


def test_evaluate_text_and_bad_file(scored, tmp_path, capsys):
    from core.cli import main

    _, out, *_ = scored
    assert main(["evaluate", "--predictions", str(out), "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    assert "stage2" in text and TORCH in text and str(out) not in text
    bad = tmp_path / "secret-name.parquet"
    bad.write_bytes(b"not parquet")
    assert main(["evaluate", "--predictions", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "secret-name" not in err


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    from core.cli import main

    assert main(["score", "--dataset", "folder", "--out", str(tmp_path / "x.parquet")]) == 2  # no --data
    assert main(["score", "--dataset", "folder", "--data", str(tmp_path), "--out", str(tmp_path / "x.csv")]) == 2
    assert main(["score", "--dataset", "sample", "--model", "no-such-model", "--out", str(tmp_path / "x.parquet")]) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error:") for line in err) and not any(str(tmp_path) in line for line in err)


def test_store_merges_parts_with_different_map_columns(tmp_path):
    """Models differ in their maps: parts with different map columns merge into one schema."""
    from core.score.store import ScoreStore

    store = ScoreStore(tmp_path / "s.parquet")
    store.write(pd.DataFrame({"image_id": ["a"], "model": ["m1"], "map_segmentation": [0.3]}))
    store.write(pd.DataFrame({"image_id": ["a"], "model": ["m2"], "map_patch_lesion": [0.7]}))
    assert store.done() == {("a", "m1"), ("a", "m2")}
    assert store.finish() == 2
    table = pq.read_table(tmp_path / "s.parquet").to_pandas()
    assert set(table.columns) == {"image_id", "model", "map_segmentation", "map_patch_lesion"}
    assert table["map_segmentation"].notna().sum() == 1 and table["map_patch_lesion"].notna().sum() == 1


STUDY = "study-own-stage1-maps-stacked"


def test_study_rows_per_film_and_breast_grouped_by_patient(tmp_path):
    """The sample's two four-view studies scored by the study model: each film against the other
    breast and one row per breast, equal to the study model's own reading of each woman (the
    combine the Upload page and `predict --study` use)."""
    from core.datasets import load_dataset
    from core.io.reader import read_image
    from core.score import run
    from core.score.study_rows import study_path
    from core.studies.grouping import by_patient, group

    if STUDY not in registry.names() or not registry.weights_available(registry.card(STUDY)):
        pytest.skip("the shipped study model is not in this checkout")
    import ray

    out = tmp_path / "sample.parquet"
    assert not ray.is_initialized()
    summary = run.score(None, "sample", [STUDY], out, workers=1, batch_size=4)
    assert not ray.is_initialized(), "the run stops the local Ray instance it started"
    rows = pd.read_parquet(study_path(out))
    assert summary.study_rows == len(rows) == 8 + 4
    images, breasts = rows[rows["level"] == "image"], rows[rows["level"] == "breast"]
    assert sorted(breasts["unit_id"]) == sorted(f"{p}/{s}" for p in images["patient_id"].unique() for s in "LR")
    assert set(breasts["views"]) == {"CC+MLO"}
    model = registry.load(STUDY)
    records = load_dataset("sample")
    for patient, study in by_patient(records).items():
        reading = model.read_study(group([(i.label, i.side, i.view, read_image(i.item.path)) for i in study.images]))
        mine = breasts[breasts["patient_id"] == patient].set_index("side")
        for b in reading.breasts:
            assert mine.loc[b.side, "p_lesion"] == pytest.approx(b.study_score, abs=1e-4)
            assert mine.loc[b.side, "pred"] == b.decision
            truth = "lesion" if any(r.label != "normal" for r in records if r.patient_id == patient and r.side == b.side) else "normal"
            assert mine.loc[b.side, "truth"] == truth
        films = images[images["patient_id"] == patient].set_index("unit_id")
        for i in reading.images:
            assert films.loc[i.label, "p_lesion"] == pytest.approx(i.study_score, abs=1e-4)
