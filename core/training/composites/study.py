"""A study model's folder from its member's committed files only (no weights run): the
out-of-fold rows at image and breast level, the fixed split's predictions, the card.

Every figure keeps the member's fold structure: fold f's member scored its validation part
(fold f+1) and its held-out part (fold f); the bilateral score pairs films inside one part
(both breasts of a woman are always in one fold), the threshold of fold f is chosen on its
validation part, the held-out part is only judged. The weight of the other breast is the
card's fixed rule (0.5), not fitted; `weight_check` reports what the validation parts say
about it, for information.
Built by `python -m core train recipes/study_own_stage1_maps_stacked.yaml` (kind `study`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.errors import UsageError
from core.evaluation.metrics import choose_threshold
from core.labels import space
from core.models import registry
from core.models.card import write_card
from core.evaluation.oof import OOF_FILE, card_oof, oof_summary, paired_difference
from core.studies.combine import StudySpec, frames

BREAST_FILE = "oof_breast.csv"
FIXED_RULE = ("fixed before the out-of-fold figures were read (issue 22): "
              "score(this breast) − 0.5 · score(the other breast); not fitted")
RULE_WHY = ("mean across views: CC and MLO are two looks at the same tissue and the four-view "
            "reference (NYU's classifier) averages its per-view outputs; MIAS has one view per "
            "breast, so mean and max give the same numbers here and the choice is not measured")


def part_scores(member: dict[str, Any]) -> pd.DataFrame:
    """The member's positive score of every (fold, part, image): fold f's model on its
    validation part and its held-out part. From an ensemble's `member_scores.csv` (each fold's
    members, augmentations and combination); its held-out rows equal `oof_predictions.csv`."""
    from core.training.composites.ensemble import wide
    from core.models.composites.combine import combine_rows
    from core.training.composites.member_scores import SCORES_FILE

    path = Path(member["_folder"]) / SCORES_FILE
    if not path.exists() or not member.get("combine_per_fold"):
        raise UsageError(f"model {member['name']!r}: a study member needs its validation-part scores ({SCORES_FILE} and per-fold combination)")
    names = list(member["members"])
    w = wide(pd.read_csv(path), names, list(member.get("tta", ["none"])))
    out = [rows.assign(score=combine_rows(rows[names].to_numpy(), member["combine_per_fold"][str(int(fold))])) for fold, rows in w.groupby("fold")]
    return pd.concat(out)[["fold", "part", "image_id", "patient_id", "truth", "y", "score"]].reset_index(drop=True)


def _per_fold_threshold(rows: pd.DataFrame) -> dict[int, float]:
    val = rows[rows["part"] == "val"]
    return {int(f): choose_threshold(g["y"].to_numpy(), g["p"].to_numpy()) for f, g in val.groupby("fold")}


def out_of_fold(member: dict[str, Any], sides: pd.DataFrame, spec: StudySpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(image rows, breast rows) of the held-out parts, thresholds from the validation parts.
    `sides`: image_id, side, view."""
    cls = space(member["task"]).classes
    parts = part_scores(member).merge(sides, on="image_id", how="left")
    if parts["side"].isna().any():
        raise UsageError("side is missing for some of the member's images")
    img, br = frames(parts, spec, keys=("fold", "part", "patient_id"))
    out = []
    for level, rows, ident in (("image", img, "image_id"), ("breast", br, "breast_id")):
        rows = rows.assign(p=spec.rescale(rows["bilateral"]))
        t = _per_fold_threshold(rows)
        test = rows[rows["part"] == "test"].sort_values(ident)
        extra = {"image": lambda d: {"side": d["side"], "view": d["view"], "member_score": d["score"], "other_breast": d["other_breast"]},
                 "breast": lambda d: {"side": d["side"], "views": d["views"], "member_score": d["score"]}}[level](test)
        out.append(pd.DataFrame({ident: test[ident], "patient_id": test["patient_id"], **extra, "fold": test["fold"].astype(int),
                                 "truth": np.where(test["y"] == 1, cls[1], cls[0]), f"p_{cls[0]}": 1 - test["p"], f"p_{cls[1]}": test["p"],
                                 "threshold": test["fold"].map(t)}).reset_index(drop=True))
    return out[0], out[1]


def breast_view(breasts: pd.DataFrame, classes: list[str], score: str | None = None) -> pd.DataFrame:
    """Breast rows as an `oof_view` (image_id := breast_id), scored by `score` (default p_<positive>)."""
    pos = classes[1]
    return pd.DataFrame({"image_id": breasts["breast_id"], "patient_id": breasts["patient_id"], "fold": breasts["fold"],
                         "y": (breasts["truth"] == pos).astype(int), "score": breasts[score or f"p_{pos}"]})


def image_view(images: pd.DataFrame, classes: list[str], score: str | None = None) -> pd.DataFrame:
    pos = classes[1]
    return pd.DataFrame({"image_id": images["image_id"], "patient_id": images["patient_id"], "fold": images["fold"],
                         "y": (images["truth"] == pos).astype(int), "score": images[score or f"p_{pos}"]})


def versus_member(images: pd.DataFrame, breasts: pd.DataFrame, classes: list[str], n_boot: int = 1000) -> dict[str, Any]:
    """Paired patient-level bootstrap of ROC-AUC, study − member, on the same held-out rows."""
    out = {}
    for level, rows, view in (("image", images, image_view), ("breast", breasts, breast_view)):
        d = paired_difference(view(rows, classes), view(rows, classes, "member_score"), n_boot=n_boot)
        out[level] = {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in d.items()}
    return out


def weight_check(member: dict[str, Any], sides: pd.DataFrame, spec: StudySpec, weights=(0.0, 0.25, 0.5, 0.75, 1.0)) -> dict[str, Any]:
    """What the validation parts alone say about w (pooled ROC-AUC of the validation parts):
    information beside the fixed rule, never used to set it."""
    from core.evaluation.metrics import auc as _auc

    parts = part_scores(member).merge(sides, on="image_id")
    val = parts[parts["part"] == "val"]
    aucs = {}
    for w in weights:
        img, _ = frames(val, StudySpec(spec.rule, w, spec.absent), keys=("fold", "part", "patient_id"))
        aucs[f"{w:g}"] = round(_auc(img["y"].to_numpy(), img["bilateral"].to_numpy()), 4)
    return {"pooled_validation_roc_auc_by_weight": aucs, "best_on_validation": max(aucs, key=aucs.get), "used": f"{spec.weight:g} (fixed rule)"}


def fixed_split(member: dict[str, Any], sides: pd.DataFrame, spec: StudySpec) -> pd.DataFrame:
    """The fixed split's rows (the member's predictions.csv) read as a study: what the card's
    test figures and threshold come from."""
    from core.evaluation.judge import view_frame

    task = member["task"]
    cls = space(task).classes
    pred = view_frame(pd.read_csv(Path(member["_folder"]) / "predictions.csv"), member["classes"], task)
    rows = pred.assign(score=pred[f"p_{cls[1]}"], y=(pred["truth"] == cls[1]).astype(int)).merge(sides, on="image_id", how="left")
    img, _ = frames(rows, spec, keys=("split", "patient_id"))
    p = spec.rescale(img["bilateral"])
    return pd.DataFrame({"image_id": img["image_id"], "patient_id": img["patient_id"], "split": img["split"], "truth": img["truth"],
                         f"p_{cls[0]}": 1 - p, f"p_{cls[1]}": p}).sort_values("image_id").reset_index(drop=True)


def external(member: dict[str, Any], spec: StudySpec, classes: list[str]) -> list[dict[str, Any]]:
    """The embedded sample's 8 films read as its two four-view studies, from the member's own
    external check (never used for any choice)."""
    from core.datasets import load_dataset
    from core.studies.grouping import by_patient
    from core.studies.combine import combine_study

    member_p = {r["image_id"]: float(r["probabilities"][classes[1]]) for r in member.get("external_check") or []}
    rows = []
    for study in by_patient(load_dataset("sample")).values():
        if not all(i.label in member_p for i in study.images):
            continue
        c = combine_study([member_p[i.label] for i in study.images], [i.side for i in study.images], spec)
        for i, b in zip(study.images, c.image_bilateral):
            p = float(spec.rescale(b))
            rows.append({"image_id": i.label, "truth": classes[1], "probabilities": {classes[0]: round(1 - p, 4), classes[1]: round(p, 4)}, "note": f"{i.slot} of a four-view study"})
    return rows


def sides_of(records) -> pd.DataFrame:
    return pd.DataFrame([{"image_id": r.image_id, "side": r.side, "view": r.view} for r in records])


def build(member_name: str, name: str | None = None, *, records, models_dir: str | Path | None = None, weight: float = 0.5, rule: str = "mean", log=print) -> Path:
    from core.evaluation.judge import external_summary, judge

    t0 = time.time()
    member = registry.card(member_name, models_dir)
    root = Path(member["_folder"]).parent
    name = name or f"study-{member_name}"
    cls = list(space(member["task"]).classes)
    sides = sides_of(records)
    from core.evaluation.judge import view_frame

    mp = view_frame(pd.read_csv(Path(member["_folder"]) / "predictions.csv"), member["classes"], member["task"])
    absent = round(float(mp.loc[mp["split"] == "val", f"p_{cls[1]}"].mean()), 6)  # the other breast when a study has one
    spec = StudySpec(rule, weight, absent)
    pred = fixed_split(member, sides, spec)
    own = judge(pred, cls)
    pred["pred"] = np.where(pred[f"p_{cls[1]}"] >= own["threshold"], cls[1], cls[0])
    images, breasts = out_of_fold(member, sides, spec)
    card: dict[str, Any] = {
        "name": name, "kind": "study", "task": member["task"], "classes": cls, "framework": "composite", "input": "whole",
        "seed_system": "own", "members": [member_name],
        "description": f"{member_name} read as a study: each breast's views combined ({rule}), then that breast against the other one (w = {weight:g}).",
        "study": {"rule": rule, "rule_why": RULE_WHY, "weight": weight, "weight_rule": FIXED_RULE, "absent": absent,
                  "absent_why": "mean member score on the fixed split's validation part: the other breast of a study with one breast",
                  "score": "(bilateral + w) / (1 + w): the bilateral score's ranking on 0..1, not a calibrated probability",
                  "levels": "image: each film against the other breast; breast: its views combined, against the other breast (abnormal when any view is). MIAS has one view per breast, so breast level = image level there"},
        "parameters": int(member.get("parameters") or 0),
        "weights": {"file": None, "bytes": 0, "shipped": True, "note": "none: combines its member's scores"},
        "data": member["data"], **own, "views": {},
        "latency_ms_p50_cpu_batch1": member.get("latency_ms_p50_cpu_batch1"),
        "latency_note": "the member's, per film: the combine adds well under a millisecond",
        "external_check": external(member, spec, cls), "smoke": False,
    }
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    pred.to_csv(folder / "predictions.csv", index=False)
    images.to_csv(folder / OOF_FILE, index=False)
    breasts.to_csv(folder / BREAST_FILE, index=False)
    card["external_summary"] = external_summary(card)
    card["oof"] = card_oof(card, images)
    card["oof_breast"] = {card["task"]: oof_summary(breast_view(breasts, cls))}
    card["oof_protocol"] = {"folds_run": sorted(int(f) for f in images["fold"].unique()),
                            "protocol": "the member's patient-level 5-fold runs (seed 0), from its committed files: fold f held out, fold f+1 validation (threshold); both breasts of a woman are in one fold"}
    card["versus_member"] = versus_member(images, breasts, cls)
    card["weight_check"] = weight_check(member, sides, spec)
    card["training_seconds"] = round(time.time() - t0, 1)
    card["trained_on"] = "no training: the member's committed scores"
    write_card(folder, card)
    v = card["versus_member"]["image"]
    log(f"[{name}] out of fold ROC-AUC {v['auc_a']:.3f} vs member {v['auc_b']:.3f}: {v['difference']:+.3f} ({v['ci_low']:+.3f} to {v['ci_high']:+.3f}); wrote {folder}")
    return folder


def recheck(card: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(figure, card, recomputed) for `leaderboard --check`: the held-out rows rebuilt from the
    member's committed files (max |Δp|, 0 on the card), the breast-level figures from
    oof_breast.csv and the paired differences against the member."""
    from core.evaluation.oof import metric_figures

    folder = Path(card["_folder"])
    cls = list(card["classes"])
    images, breasts = pd.read_csv(folder / OOF_FILE), pd.read_csv(folder / BREAST_FILE)
    member = registry.card(card["members"][0], folder.parent)
    rebuilt, rebuilt_b = out_of_fold(member, images[["image_id", "side", "view"]], StudySpec.from_card(card))
    out = [("study OOF image p rebuilt from member (max |Δ|)", 0.0, float(np.abs(rebuilt.set_index("image_id")[f"p_{cls[1]}"] - images.set_index("image_id")[f"p_{cls[1]}"]).max())),
           ("study OOF breast p rebuilt from member (max |Δ|)", 0.0, float(np.abs(rebuilt_b.set_index("breast_id")[f"p_{cls[1]}"] - breasts.set_index("breast_id")[f"p_{cls[1]}"]).max()))]
    again = {card["task"]: oof_summary(breast_view(breasts, cls))}
    for t, summary in (card.get("oof_breast") or {}).items():
        for key, fig in metric_figures(summary).items():
            out += [(f"OOF breast {key} {part} ({t})", fig[part], metric_figures(again[t])[key][part]) for part in ("value", "ci_low", "ci_high")]
    vs = versus_member(images, breasts, cls)
    for level, want in (card.get("versus_member") or {}).items():
        out += [(f"study − member {level} {k}", want[k], vs[level][k]) for k in ("difference", "ci_low", "ci_high")]
    return out
