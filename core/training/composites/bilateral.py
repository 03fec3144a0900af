"""Bilateral asymmetry, measured (issue 11 §5): does a film's lesion score read against the
other breast of the same woman (MIAS has both films of every woman, in the same split)
rank lesions better than the film alone?

Everything comes from a stacked ensemble's committed `member_scores.csv` (each fold model's
scores of its validation and held-out parts, per augmentation). For each feature set, one
logistic regression per fold is fitted on that fold's validation part and scores its
held-out part, as the shipped stacked ensemble does. The feature set is chosen inside the
validation parts (patient-grouped cross-validation, pooled ROC-AUC), never on held-out
films; the out-of-fold figures and the paired bootstraps against every seed recipe are
reported for every set so the choice can be judged.

    python -m core.training.composites.bilateral models/own-stage1-maps-stacked
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from core.models.composites.combine import combine_rows, fit_logistic, logit

KEYS = ["fold", "part", "image_id", "patient_id", "truth", "y"]

# feature set -> (film's member scores, other film's member scores) -> columns of logits / differences
FEATURE_SETS: dict[str, Callable[[pd.DataFrame, list[str]], np.ndarray]] = {
    "film alone": lambda w, m: logit(w[m].to_numpy()),
    "film + other film": lambda w, m: np.hstack([logit(w[m].to_numpy()), logit(w[[f"{c} (other)" for c in m]].to_numpy())]),
    "film + difference to the other film": lambda w, m: np.hstack([logit(w[m].to_numpy()), w[m].to_numpy() - w[[f"{c} (other)" for c in m]].to_numpy()]),
}


def paired_films(scores: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Per (fold, part, film): each member's score averaged over the augmentations, and the
    same for the woman's other film in that part (every MIAS woman has two)."""
    members = sorted(scores["member"].unique())
    w = scores.pivot_table(index=KEYS, columns="member", values="score", aggfunc="mean")[members].reset_index()
    group = w.groupby(["fold", "part", "patient_id"])
    if not (group["image_id"].transform("size") == 2).all():
        raise ValueError("bilateral reading needs exactly two films of every woman in each part")
    for m in members:
        w[f"{m} (other)"] = group[m].transform("sum") - w[m]
    return w, members


def _fit_score(train: pd.DataFrame, test: pd.DataFrame, members: list[str], features: str) -> np.ndarray:
    make = FEATURE_SETS[features]
    if features == "film alone":  # exactly the shipped stacked ensemble's rule
        return combine_rows(test[members].to_numpy(), fit_logistic(train[members].to_numpy(), train["y"].to_numpy()))
    from sklearn.linear_model import LogisticRegression

    lr = LogisticRegression(C=1.0, max_iter=1000).fit(make(train, members), train["y"].to_numpy())
    return lr.predict_proba(make(test, members))[:, 1]


def out_of_fold(w: pd.DataFrame, members: list[str], features: str) -> pd.DataFrame:
    """Held-out films scored by the rule each fold fitted on its own validation part."""
    rows = []
    for fold, part in w.groupby("fold"):
        val, test = part[part["part"] == "val"], part[part["part"] == "test"]
        rows.append(test[["image_id", "patient_id", "truth", "y"]].assign(fold=int(fold), score=_fit_score(val, test, members, features)))
    return pd.concat(rows).sort_values("image_id").reset_index(drop=True)


def validation_auc(w: pd.DataFrame, members: list[str], features: str, splits: int = 4) -> float:
    """Pooled ROC-AUC of patient-grouped cross-validation inside each fold's validation part."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    ys, ss = [], []
    for _, part in w[w["part"] == "val"].groupby("fold"):
        part = part.reset_index(drop=True)
        s = np.zeros(len(part))
        for tr, te in GroupKFold(splits).split(part, part["y"], part["patient_id"]):
            s[te] = _fit_score(part.iloc[tr], part.iloc[te], members, features)
        ys.append(part["y"].to_numpy())
        ss.append(s)
    return float(roc_auc_score(np.concatenate(ys), np.concatenate(ss)))


def seed_oof(models_dir: Path, task: str) -> dict[str, pd.DataFrame]:
    """Every seed recipe's out-of-fold rows read in `task` (image_id, patient_id, y, score)."""
    from core.evaluation.oof import oof_view

    out = {}
    for card_path in sorted(models_dir.glob("*/card.json")):
        card = json.loads(card_path.read_text())
        oof_path = card_path.parent / "oof_predictions.csv"
        if card.get("seed_system", "own") != "own" and oof_path.exists():
            try:
                out[card["name"]] = oof_view(pd.read_csv(oof_path), card["classes"], task)
            except (KeyError, ValueError):  # a model that cannot be read in this task
                continue
    return out


def study(folder: Path, n_boot: int = 1000) -> dict[str, Any]:
    """Every feature set's validation and out-of-fold ROC-AUC, and its paired difference
    against each seed recipe scored on the same films; `chosen` is the validation pick."""
    from core.evaluation.metrics import auc as _auc
    from core.evaluation.oof import oof_summary, paired_difference

    card = json.loads((folder / "card.json").read_text())
    w, members = paired_films(pd.read_csv(folder / "member_scores.csv"))
    seeds = seed_oof(folder.parent, card["task"])
    sets = {}
    for features in FEATURE_SETS:
        oof = out_of_fold(w, members, features)
        summary = oof_summary(oof, n_boot=n_boot)
        versus = {}
        for name, other in seeds.items():
            if set(other["image_id"]) >= set(oof["image_id"]):
                d = paired_difference(oof, other, n_boot=n_boot)
                versus[name] = {k: round(float(d[k]), 3) for k in ("auc_b", "difference", "ci_low", "ci_high")}
        sets[features] = {"validation_roc_auc": round(validation_auc(w, members, features), 3),
                          "oof_roc_auc": round(_auc(oof["y"].to_numpy(), oof["score"].to_numpy()), 3),
                          "oof_ci": [round(float(summary["roc_auc"]["ci_low"]), 3), round(float(summary["roc_auc"]["ci_high"]), 3)],
                          "versus_seeds": versus}
    chosen = max(sets, key=lambda k: sets[k]["validation_roc_auc"])
    return {"ensemble": card["name"], "members": members, "films": int(len(w[w["part"] == "test"])), "chosen_on_validation": chosen, "feature_sets": sets}


def main(argv: list[str]) -> None:
    folder = Path(argv[0] if argv else "models/own-stage1-maps-stacked")
    out = study(folder)
    print(f"{out['ensemble']} members {', '.join(out['members'])}; {out['films']} held-out films")
    for name, s in out["feature_sets"].items():
        mark = "  <- chosen on validation" if name == out["chosen_on_validation"] else ""
        print(f"\n{name}: validation (grouped CV) {s['validation_roc_auc']:.3f}; out of fold {s['oof_roc_auc']:.3f} ({s['oof_ci'][0]:.2f}–{s['oof_ci'][1]:.2f}){mark}")
        for seed, d in s["versus_seeds"].items():
            verdict = "beats" if d["ci_low"] > 0 else "not shown"
            print(f"  vs {seed:<30} ({d['auc_b']:.3f}): {d['difference']:+.3f} ({d['ci_low']:+.3f} to {d['ci_high']:+.3f}) {verdict}")


if __name__ == "__main__":
    main(sys.argv[1:])
