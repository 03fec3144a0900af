"""Recipe -> ensemble model folder: candidates' held-out scores under TTA, members and
combination chosen on the folds' validation parts, out-of-fold rows from the held-out
parts, then the one finish step on the fixed split (the shipped members are fold 0's).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from core.errors import UsageError
from core.evaluation.metrics import auc, choose_threshold
from core.labels import project, space, task_truth
from core.training.folds import K
from core.models import registry
from core.models.card import default_models_dir, read_card, write_card
from core.models.composites.tta import check
from core.evaluation.oof import OOF_FILE, card_oof, oof_summary, paired_difference
from core.datasets.splits import split_patients
from core.evaluation.uncertainty import confident_vs_uncertain
from core.models.composites.combine import combine_rows, fit_logistic
from core.training.composites.member_scores import SCORES_FILE, folds_available, member_scores

Log = Callable[[str], None]


OUTSIDE_FILE = "oof_outside_task.csv"


def member_table(scores: pd.DataFrame, task: str, records, outside: bool = False) -> pd.DataFrame:
    """One row per (member, fold, part, image, augmentation): truth and positive score in `task`.
    outside: instead, the images outside the task (normal films for stage 2), their truth
    being their own label and y = -1 (a hierarchy needs stage 2's opinion on them)."""
    by_id = {r.image_id: r for r in records}
    out = []
    for member, rows in scores.groupby("member"):
        classes = tuple(c[2:] for c in rows.columns if c.startswith("p_") and rows[c].notna().all())
        truth = rows["image_id"].map(lambda i: task_truth(task, by_id[i]))
        keep = truth.isna() if outside else truth.notna()
        rows = rows[keep].copy()
        rows["truth"] = rows["image_id"].map(lambda i: by_id[i].label) if outside else truth[keep]
        rows["score"] = project(rows[[f"p_{c}" for c in classes]].to_numpy(), classes, task)[:, 1]
        out.append(rows[["member", "fold", "part", "image_id", "patient_id", "aug", "truth", "score"]])
    table = pd.concat(out, ignore_index=True)
    table["y"] = -1 if outside else (table["truth"] == space(task).positive).astype(int)
    return table


def wide(table: pd.DataFrame, members: list[str], augs: list[str]) -> pd.DataFrame:
    """Per (fold, part, image): each member's score averaged over `augs`, and the sd across
    all member x augmentation runs (the spread)."""
    t = table[table["member"].isin(members) & table["aug"].isin(augs)]
    keys = ["fold", "part", "image_id", "patient_id", "truth", "y"]
    mean = t.pivot_table(index=keys, columns="member", values="score", aggfunc="mean")[members]
    spread = t.groupby(keys)["score"].std(ddof=0).rename("spread")
    return mean.join(spread).reset_index()


def combined(w: pd.DataFrame, members: list[str], rule: str) -> tuple[pd.Series, dict[int, dict[str, Any]]]:
    """Each image's ensemble score; a fitted rule is fitted on the fold's validation part."""
    specs: dict[int, dict[str, Any]] = {}
    out = pd.Series(np.nan, index=w.index)
    for fold, rows in w.groupby("fold"):
        val = rows[rows["part"] == "val"]
        spec = fit_logistic(val[members].to_numpy(), val["y"].to_numpy()) if rule == "logistic" else {"rule": "mean"}
        specs[int(fold)] = spec
        out[rows.index] = combine_rows(rows[members].to_numpy(), spec)
    return out, specs


def select_members(w_all: pd.DataFrame, candidates: list[str], rule: str, log: Log) -> tuple[list[str], list[dict[str, Any]]]:
    """Greedy forward selection on the pooled validation parts (never the held-out parts)."""
    val = w_all[w_all["part"] == "val"]
    steps, chosen, best = [], [], -np.inf
    while True:
        trials = []
        for c in [c for c in candidates if c not in chosen]:
            score, _ = combined(val, chosen + [c], rule)
            trials.append((auc(val["y"].to_numpy(), score.to_numpy()), c))
        if not trials:
            break
        value, pick = max(trials)
        if value <= best + 1e-9:
            break
        chosen.append(pick)
        best = value
        steps.append({"members": list(chosen), "validation_roc_auc": round(value, 4)})
        log(f"  + {pick}: pooled validation ROC-AUC {value:.3f}")
    return chosen, steps


def oof_rows(w: pd.DataFrame, members: list[str], rule: str, task: str) -> tuple[pd.DataFrame, dict[int, dict[str, Any]]]:
    score, specs = combined(w, members, rule)
    w = w.assign(score=score)
    cls = space(task).classes
    rows = []
    for fold, part in w.groupby("fold"):
        val = part[part["part"] == "val"]
        t = choose_threshold(val["y"].to_numpy(), val["score"].to_numpy())
        test = part[part["part"] == "test"]
        rows.append(pd.DataFrame({"image_id": test["image_id"], "patient_id": test["patient_id"], "fold": int(fold), "truth": test["truth"], f"p_{cls[0]}": 1 - test["score"], f"p_{cls[1]}": test["score"], "spread": test["spread"], "threshold": t}))
    return pd.concat(rows).sort_values("image_id").reset_index(drop=True), specs


def outside_rows(scores: pd.DataFrame, card: dict[str, Any], oof: pd.DataFrame, records) -> pd.DataFrame:
    """Held-out images outside the ensemble's task, scored exactly as its out-of-fold rows:
    each fold's members, augmentations and combination, that fold's validation threshold."""
    task, members = card["task"], list(card["members"])
    table = member_table(scores[scores["member"].isin(members)], task, records, outside=True)
    if table.empty:
        return pd.DataFrame()
    w = wide(table[table["part"] == "test"], members, list(card["tta"]))
    cls = space(task).classes
    thresholds = oof.groupby("fold")["threshold"].first()
    rows = []
    for fold, part in w.groupby("fold"):
        score = combine_rows(part[members].to_numpy(), card["combine_per_fold"][str(int(fold))])
        rows.append(pd.DataFrame({"image_id": part["image_id"], "patient_id": part["patient_id"], "fold": int(fold), "truth": part["truth"], f"p_{cls[0]}": 1 - score, f"p_{cls[1]}": score, "spread": part["spread"], "threshold": thresholds[fold]}))
    return pd.concat(rows).sort_values("image_id").reset_index(drop=True)


def tta_ablation(table: pd.DataFrame, member: str, augs: list[str], task: str) -> dict[str, Any]:
    """Ensemble of one, with and without TTA, on the same held-out images (paired bootstrap)."""
    views = {}
    for label, use in (("without", ["none"]), ("with", augs)):
        o, _ = oof_rows(wide(table, [member], use), [member], "mean", task)
        views[label] = pd.DataFrame({"image_id": o["image_id"], "patient_id": o["patient_id"], "fold": o["fold"], "y": (o["truth"] == space(task).positive).astype(int), "score": o[f"p_{space(task).positive}"]})
    d = paired_difference(views["with"], views["without"])
    return {"member": member, "augmentations": augs, "oof_roc_auc_without_tta": d["auc_b"], "oof_roc_auc_with_tta": d["auc_a"], "difference": d["difference"], "ci_low": d["ci_low"], "ci_high": d["ci_high"], "n_images": d["n_images"]}


def build_ensemble(recipe: dict[str, Any], *, records: list, data_dir: str | Path | None = None, models_dir: str | Path | None = None, log: Log = print) -> Path:
    """`records`: the films the candidates were trained on (the recipe's data set)."""
    from core.training.finish import finish

    t0 = time.time()
    root = Path(models_dir) if models_dir else default_models_dir()
    task, rule = recipe["task"], recipe.get("combine", "mean")
    augs = check(recipe.get("tta", ["none", "hflip", "vflip"]))
    smoke = bool(recipe.get("smoke"))
    folds = [0] if smoke else list(range(K))
    usable, skipped = [], {}
    for name in recipe["candidates"]:
        if not (root / name / "card.json").exists():
            skipped[name] = "not in this models folder"
            continue
        have = folds_available(registry.card(name, root), folds)
        (usable.append(name) if len(have) == len(folds) else skipped.__setitem__(name, f"{len(have)} of {len(folds)} fold models on this machine"))
    if not usable:
        raise UsageError("no candidate has all its fold models on this machine: run their out-of-fold training first")
    for name, why in skipped.items():
        log(f"skipping {name}: {why}")
    scores = pd.concat([member_scores(n, records, augs, folds=folds, models_dir=root, log=log) for n in usable], ignore_index=True)
    table = member_table(scores, task, records)
    w_all = wide(table, usable, augs)
    if recipe.get("select", "greedy") == "greedy":
        members, steps = select_members(w_all, usable, rule, log)
    else:
        members, steps = list(usable), []
    oof, specs = oof_rows(wide(table, members, augs), members, rule, task)
    cls = list(space(task).classes)
    shipped_spec = specs[0]  # fold 0's validation part is the fixed split's validation part
    card: dict[str, Any] = {
        "name": recipe["name"], "kind": "ensemble", "task": task, "classes": cls, "framework": "composite", "input": "whole",
        "seed_system": recipe.get("seed_system", "004 (ensemble + TTA)"), "description": recipe.get("description", ""),
        "members": members, "tta": augs, "combine": shipped_spec,
        "selection": {"rule": recipe.get("select", "greedy"), "on": "pooled validation parts of the 5 folds (each fold's model scoring its own validation fold)", "candidates": list(recipe["candidates"]), "skipped": skipped, "steps": steps},
        "combine_per_fold": {str(k): v for k, v in specs.items()},
        "parameters": int(sum(int(registry.card(m, root).get("parameters") or 0) for m in members)),
        "weights": {"file": None, "bytes": 0, "shipped": True, "note": "composed of its members (the shipped fold-0 models)"},
        "data": registry.card(members[0], root)["data"], "recipe": {k: v for k, v in recipe.items() if k != "recipe_file"}, "recipe_file": recipe.get("recipe_file"),
        "cam_method": "members' maps, averaged over the test-time augmentations",
    }
    folder = root / recipe["name"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    assignment = split_patients(records, seed=0)
    finish(card, folder, records, assignment, data_dir=data_dir, t_start=t0, smoke=smoke, log=log)
    oof.to_csv(folder / OOF_FILE, index=False)
    best = max(usable, key=lambda m: oof_summary(_single_view(table, m, task))["roc_auc"]["value"])
    # the members' rows, and the best single candidate's (the TTA ablation is recomputed from them)
    table[table["member"].isin(set(members) | {best})].to_csv(folder / SCORES_FILE, index=False)
    card = read_card(folder)
    card["oof"] = card_oof(card, oof)
    card["oof_protocol"] = {"folds_run": sorted(int(f) for f in oof["fold"].unique()), "protocol": "members' patient-level 5-fold runs (seed 0): fold f held out, fold f+1 validation (members, combination weights, thresholds)"}
    card["tta_ablation"] = tta_ablation(table, best, augs, task) if len(augs) > 1 else None
    card["uncertainty_oof"] = confident_vs_uncertain(oof, cls)
    outside = outside_rows(scores, card, oof, records)
    if len(outside):
        outside.to_csv(folder / OUTSIDE_FILE, index=False)
    if len(folds) < K:
        card["oof_protocol"]["incomplete"] = f"{len(folds)} of {K} folds (smoke run)"
    write_card(folder, card)
    log(f"[{card['name']}] members {members}; out-of-fold ROC-AUC {card['oof'][task]['roc_auc']['value']:.3f}")
    return folder


def _single_view(table: pd.DataFrame, member: str, task: str) -> pd.DataFrame:
    o, _ = oof_rows(wide(table, [member], ["none"]), [member], "mean", task)
    return pd.DataFrame({"image_id": o["image_id"], "patient_id": o["patient_id"], "fold": o["fold"], "y": (o["truth"] == space(task).positive).astype(int), "score": o[f"p_{space(task).positive}"]})
