"""Lesion-geometry models end to end through the real CLI on 40 MIAS films (one fold):
fold run -> packed folders -> registry -> maps on the original grid -> leaderboard check.

Every command runs the command's own entry point (`core.cli.main`) in this process, as
tests/test_train_command.py does, to spare a torch import per call; `predict` with its saved
maps also runs as users run it, in a child process.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cli_kit import child, in_process, smoke_train


@pytest.fixture(scope="module")
def lesion_models(tmp_path_factory, shared_data) -> Path:
    out = tmp_path_factory.mktemp("lesion_models")
    for recipe in ("recipes/seed000_patch_dense_lite0.yaml", "recipes/seed002_unet_bcir.yaml"):
        p = smoke_train(out, recipe, shared_data)
        assert p.returncode == 0, p.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def smoke_films(tmp_path_factory, shared_data) -> Path:
    """A data folder holding only the 40 films the smoke runs train on (links, and their
    Info.txt rows): `evaluate` then judges a smoke model on its own films' test part (a
    handful of films) instead of pushing the full 66-film test split through it."""
    from core.datasets import load_dataset

    root = tmp_path_factory.mktemp("smoke_data")
    (root / "mini-mias").mkdir()
    ids = {r.image_id for r in load_dataset("mias", shared_data)[:40]}
    source = shared_data / "mini-mias"
    rows = [line for line in (source / "Info.txt").read_text().splitlines() if line[:6] in ids]
    (root / "mini-mias" / "Info.txt").write_text("\n".join(rows) + "\n")
    for f in source.iterdir():
        if f.stem in ids:
            (root / "mini-mias" / f.name).symlink_to(f)
    assert len(load_dataset("mias", root)) == 40
    return root


def test_smoke_lesion_folders_are_complete(lesion_models):
    from core.models import kinds, registry

    cards = {kinds.kind_of(c): c for c in registry.discover(lesion_models)}
    assert set(cards) == {"patch_dense", "patch_dense_e2e", "segmentation"}
    for c in cards.values():
        folder = Path(c["_folder"])
        for f in ("predictions.csv", "oof_predictions.csv", "history.csv"):
            assert (folder / f).exists(), f
        oof_header = (folder / "oof_predictions.csv").read_text().splitlines()[0]
        assert oof_header.startswith("image_id,patient_id,fold,truth,p_")
        assert len(c["external_check"]) == 8 and "called_lesion" in c["external_summary"]
    seg = cards["segmentation"]["segmentation"]
    assert {"dice", "iou", "centre_hit_rate"} <= set(seg) and 0 <= seg["dice"]["value"] <= 1
    assert cards["patch_dense"]["score_rules"]["stage1"] and set(cards["patch_dense"]["views"]) == {"stage1", "stage2"}


def test_maps_on_the_original_grid_reproduce_their_scores(lesion_models, sample_dicom):
    from core.io.reader import read_image
    from core.models import registry

    image = read_image(sample_dicom)
    for c in registry.discover(lesion_models):
        p = registry.load(c["name"], lesion_models).predict(image)
        assert p.maps, c["name"]
        for layer in p.maps.values():
            assert layer.on_grid().shape == image.shape
            assert layer.rescore() == pytest.approx(layer.score, abs=1e-6)


def test_cli_predict_returns_the_maps_and_leaderboard_reproduces_them(lesion_models, sample_dicom, tmp_path):
    p = child(lesion_models, "predict", str(sample_dicom), "--json", "--save-maps", str(tmp_path))
    assert p.returncode == 0, p.stderr[-1500:]
    rows = json.loads(p.stdout)
    kinds = {k: m["kind"] for r in rows for k, m in r["maps"].items()}
    assert {"segmentation", "patch_scores"} <= set(kinds.values())
    assert len(list(tmp_path.glob("*.png"))) == sum(len(r["maps"]) for r in rows)
    assert str(sample_dicom.name) not in p.stdout  # files are named by a neutral label
    p = in_process(lesion_models, "leaderboard", "--check")
    assert p.returncode == 0 and "DIFF" not in p.stdout, p.stdout[-1500:]


def test_dense_map_geometry_is_exact():
    from core.preprocess.geometry import cells_to_image

    cells = np.arange(12, dtype=np.float32).reshape(3, 4)
    img = cells_to_image(cells, (192, 224), stride=32, window=4)
    assert img.shape == (192, 224) and img.max() == cells.max() and img[0, 0] == 0 and img[-1, -1] == 11
    assert img[64, 64] == cells[0, 0] and img[96 + 64, 96 + 64] == cells[min(2, (96 + 64 - 48) // 32), min(3, (96 + 64 - 48) // 32)]


def test_smoke_ensemble_with_tta_over_the_lesion_models(lesion_models, shared_data, sample_dicom):
    """Seed 004's ensemble over the smoke-trained lesion models: members chosen on validation,
    TTA probabilities reproduced from the members by hand, spread and maps carried."""
    import pandas as pd

    from core.io.reader import read_image
    from core.labels import project
    from core.models import registry
    from core.models.composites import tta

    p = smoke_train(lesion_models, "recipes/seed004_ensemble_stage1_tta.yaml", shared_data)
    assert p.returncode == 0, p.stderr[-2000:]
    card = registry.card("ens-stage1-tta-smoke", lesion_models)
    assert card["kind"] == "ensemble" and card["members"] and set(card["members"]) <= {"unet-bcir-lite0-smoke", "patch-lite0-dense-smoke"}
    assert card["selection"]["skipped"]["s1-efficientnet-lite0-torch-smoke"] == "not in this models folder"
    oof = pd.read_csv(Path(card["_folder"]) / "oof_predictions.csv")
    assert {"spread", "threshold", "p_lesion"} <= set(oof.columns) and (oof["spread"] >= 0).all()
    scores = pd.read_csv(Path(card["_folder"]) / "member_scores.csv")
    assert set(scores["aug"]) == {"none", "hflip", "vflip"}

    registry.clear_cache()
    ens = registry.load(card["name"], lesion_models)
    image = read_image(sample_dicom)
    pred = ens.predict(image)
    by_hand = []
    for name in card["members"]:
        member = registry.load(name, lesion_models)
        runs = [project(member.predict_proba([tta.augmented(image, a)]), member.classes, "stage1")[0] for a in card["tta"]]
        by_hand.append(np.mean(runs, 0))
    assert pred.probabilities == pytest.approx(np.mean(by_hand, 0), abs=1e-5)
    assert pred.spread is not None and pred.spread.shape == (2,) and pred.probabilities.sum() == pytest.approx(1, abs=1e-5)
    assert pred.maps and all(layer.on_grid().shape == image.shape for layer in pred.maps.values())
    for layer in pred.maps.values():
        if layer.score_rule:
            assert layer.rescore() == pytest.approx(layer.score, abs=1e-6)


def test_smoke_hierarchy_rebuilt_on_the_lesion_models(lesion_models, shared_data, smoke_films, sample_dicom):
    """Seed 001's hierarchy rebuilt from the best out-of-fold stage models (smoke ensembles
    here): picked by out-of-fold ROC-AUC, its out-of-fold rows reproduced from the stages'
    held-out rows by the stage rule, judged against the flat model, through the CLI."""
    import pandas as pd

    from core.models import registry

    for recipe, name in (("recipes/seed004_ensemble_stage1_tta.yaml", "ens-stage1-tta-smoke"), ("recipes/seed004_ensemble_stage2_tta.yaml", "ens-stage2-tta-smoke")):
        if not (lesion_models / name / "card.json").exists():  # the test above may have built it
            p = smoke_train(lesion_models, recipe, shared_data)
            assert p.returncode == 0, p.stderr[-2000:]
    s2 = registry.card("ens-stage2-tta-smoke", lesion_models)
    outside = pd.read_csv(Path(s2["_folder"]) / "oof_outside_task.csv")
    assert set(outside["truth"]) == {"normal"} and outside["threshold"].notna().all()  # stage 2's opinion on normal films

    p = smoke_train(lesion_models, "recipes/seed001_hierarchy_lesion.yaml", shared_data)
    assert p.returncode == 0, p.stderr[-2000:]
    registry.clear_cache()
    card = registry.card("hierarchy-lesion", lesion_models)  # a smoke hierarchy keeps its recipe name (as seed001_hierarchy)
    assert card["stage2_input"] == "whole" and card["selection"].startswith("best complete out-of-fold")
    assert card["stage1"] == max((c for c in registry.discover(lesion_models) if c["task"] == "stage1" and c.get("oof")), key=lambda c: c["oof"]["stage1"]["roc_auc"]["value"])["name"]
    oof = pd.read_csv(Path(card["_folder"]) / "oof_predictions.csv")
    s1 = pd.read_csv(Path(registry.card(card["stage1"], lesion_models)["_folder"]) / "oof_predictions.csv").set_index("image_id")
    assert len(oof) == len(s1) and set(oof["truth"]) <= {"normal", "benign", "malignant"}
    for r in oof.itertuples():  # the stage rule, by hand
        lesion = s1.loc[r.image_id, "p_lesion"] >= s1.loc[r.image_id, "threshold"]
        assert r.stage1_p_lesion == pytest.approx(s1.loc[r.image_id, "p_lesion"])
        want = "normal" if not lesion else ("malignant" if r.stage2_p_malignant >= r.stage2_threshold else "benign")
        assert r.pred == want and r.p_normal == pytest.approx(1 - r.stage1_p_lesion, abs=1e-6)
    flat3 = card["oof"]["flat3"]
    from sklearn.metrics import f1_score

    assert flat3["macro_f1"]["value"] == pytest.approx(f1_score(oof["truth"], oof["pred"], average="macro", labels=["normal", "benign", "malignant"], zero_division=0))
    assert "patch-lite0-dense-smoke" in {d["flat"] for d in card["flat_vs_hierarchy"]}  # every flat 3-class model with out-of-fold rows

    p = in_process(lesion_models, "predict", str(sample_dicom), "--model", card["name"], "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout)
    text = json.dumps(got)
    assert "stage 1" in text and card["stage1"] in text
    p = in_process(lesion_models, "evaluate", "--model", card["name"], "--data", str(smoke_films), "--bootstrap", "50", "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    judged = json.loads(p.stdout)
    assert judged["split"] == "test" and 0 < judged["n_images"] < 40 and "macro_f1" in judged["metrics"]
    p = in_process(lesion_models, "leaderboard", "--check")
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert "hierarchy-lesion " in p.stdout and "hierarchy − patch-lite0-dense-smoke macro_f1" in p.stdout


def test_normal_films_undersampled_the_seed_001_way():
    from core.training.map_top import undersample_normals

    labels = np.array([0] * 40 + [1] * 6 + [2] * 5)
    train = np.arange(0, 51, 1)
    kept = undersample_normals(train, labels, 4, seed=0)
    assert set(np.flatnonzero(labels > 0)) <= set(kept)  # every lesion film stays
    assert (labels[kept] == 0).sum() == 10 and len(set(kept)) == len(kept)
    np.testing.assert_array_equal(kept, undersample_normals(train, labels, 4, seed=0))
    np.testing.assert_array_equal(undersample_normals(train, labels, 1, seed=0), train)


def test_smoke_flat_model_on_the_lesion_backbone(lesion_models, shared_data, smoke_films, sample_dicom):
    """Seed 001's flat 3-class model over the smoke patch model's map, through the CLI: fold
    run on the patch model's own fold net, normal films undersampled, packed, listed,
    predicted and evaluated, its out-of-fold rows reproduced by the leaderboard check."""
    import pandas as pd
    import torch

    from core.datasets import load_dataset
    from core.training.folds import fold_parts
    from core.models.fold_runs import run_dir
    from core.models import registry

    p = smoke_train(lesion_models, "recipes/seed001_flat3_lesion_maps.yaml", shared_data)
    assert p.returncode == 0, p.stderr[-2000:]
    card = registry.card("flat3-lite0-maps-smoke", lesion_models)
    assert card["kind"] == "patch_dense_e2e" and card["members"] == ["patch-lite0-dense-smoke"] and card["seed_system"] == "001"
    run = torch.load(run_dir("flat3-lite0-maps-smoke") / "fold0.pt", map_location="cpu", weights_only=False)
    records = load_dataset("mias", shared_data)[:40]
    train_part = fold_parts(records, 0)["train"]
    normals = sum(records[i].label == "normal" for i in train_part)
    assert run["train_films"] == len(train_part) - normals + max(1, round(normals / 4))
    oof = pd.read_csv(Path(card["_folder"]) / "oof_predictions.csv")
    assert {"p_normal", "p_benign", "p_malignant"} <= set(oof.columns) and np.allclose(oof[["p_normal", "p_benign", "p_malignant"]].sum(axis=1), 1, atol=1e-4)
    from core.io.reader import read_image
    from core.models import kinds

    held_out = oof[oof["fold"] == 0].iloc[0]  # fold 0's rebuilt model (ensembles score it) gives its run's row
    film = next(r for r in records if r.image_id == held_out["image_id"])
    got = kinds.fold_model(card, 0).predict_proba([read_image(Path(film.path))])[0]
    np.testing.assert_allclose(got, held_out[["p_normal", "p_benign", "p_malignant"]].to_numpy(float), atol=1e-4)
    assert "flat3-lite0-maps-smoke" in in_process(lesion_models, "models").stdout
    p = in_process(lesion_models, "predict", str(sample_dicom), "--model", "flat3-lite0-maps-smoke", "--json")
    assert p.returncode == 0 and json.loads(p.stdout)[0]["task"] == "flat3", p.stderr[-1500:]
    p = in_process(lesion_models, "evaluate", "--model", "flat3-lite0-maps-smoke", "--dataset", "mias", "--data", str(smoke_films), "--split", "test", "--bootstrap", "50")
    assert p.returncode == 0 and "macro_f1" in p.stdout, p.stderr[-1500:]
    p = in_process(lesion_models, "leaderboard", "--check")
    assert p.returncode == 0 and "DIFF" not in p.stdout, p.stdout[-1500:]
