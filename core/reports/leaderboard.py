"""The comparison table from committed files only (no weights loaded, no framework imported).

One row per (model, task it can be read in), ranked by out-of-fold ROC-AUC where a model
has out-of-fold predictions, then by test ROC-AUC. `check` recomputes every card's test
figures from `predictions.csv` and every out-of-fold figure from `oof_predictions.csv`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.labels import TASK_ORDER, space, tasks_for
from core.models import kinds, registry
from core.models.card import backbone


def _num(m: dict[str, Any] | None) -> dict[str, float] | None:
    """A metric as numbers: value, ci_low, ci_high (cards store ci95 = [low, high])."""
    if not m or m.get("value") is None:
        return None
    if "ci95" in m:
        lo, hi = m["ci95"]
    else:
        lo, hi = m.get("ci_low"), m.get("ci_high")
    return {"value": float(m["value"]), "ci_low": float(lo), "ci_high": float(hi)}


def _fmt(m: dict[str, float] | None, digits: int = 3) -> str:
    if not m or m["value"] != m["value"]:
        return "—"
    return f"{m['value']:.{digits}f} ({m['ci_low']:.2f}–{m['ci_high']:.2f})"


def task_view(card: dict[str, Any], task: str) -> dict[str, Any]:
    """The card's own figures for its task, or those of a reading of its output in `task`."""
    if tuple(card["classes"]) == space(task).classes:
        return card
    return (card.get("views") or {}).get(task, {})


def rows(models_dir: str | Path | None = None, task: str | None = None) -> list[dict[str, Any]]:
    out = []
    for c in registry.discover(models_dir):
        for t in tasks_for(c["classes"]):
            if task and t != task:
                continue
            view = task_view(c, t)
            test = view.get("test") or {}
            m = test.get("metrics", {})
            oof = (c.get("oof") or {}).get(t)
            breast = breast_summary(c, t)
            out.append({
                "model": c["name"], "task": t, "own_task": c["task"], "kind": kinds.kind_of(c), "seed": c.get("seed_system"), "framework": c.get("framework"), "backbone": backbone(c),
                "init": "ImageNet" if str((c.get("initial_weights") or {}).get("source", "")).startswith("ImageNet") else ("—" if kinds.is_composite(c) else "random"),
                "oof_images": (oof or {}).get("n_images"), "oof_folds": (oof or {}).get("folds"), "oof_roc_auc": _num((oof or {}).get("roc_auc")), "oof_pr_auc": _num((oof or {}).get("pr_auc")),
                "oof_macro_f1": _num((oof or {}).get("macro_f1")), "oof_balanced_accuracy": _num((oof or {}).get("balanced_accuracy")),
                "oof_breasts": (breast or {}).get("n_images"), "oof_breast_roc_auc": _num((breast or {}).get("roc_auc")),
                "oof_fold_mean": (oof or {}).get("fold_roc_auc", {}).get("mean"), "oof_fold_sd": (oof or {}).get("fold_roc_auc", {}).get("sd"),
                "test_images": test.get("n_images"), "test_roc_auc": _num(m.get("roc_auc")), "test_pr_auc": _num(m.get("pr_auc")),
                "sensitivity": _num(m.get("sensitivity")), "specificity": _num(m.get("specificity")), "macro_f1": _num(m.get("macro_f1")), "balanced_accuracy": _num(m.get("balanced_accuracy")),
                "threshold": view.get("threshold"), "external_called_lesion": (c.get("external_summary") or {}).get("called_lesion") if t == "stage1" else None,
                "latency_ms": c.get("latency_ms_p50_cpu_batch1"), "size_mb": round((c.get("weights") or {}).get("bytes", 0) / 2**20, 1) if c.get("weights") else None,
                "shipped": (c.get("weights") or {}).get("shipped", True),
            })
    order = {t: i for i, t in enumerate(TASK_ORDER)}

    def rank(r: dict[str, Any]) -> tuple:
        # each space ranks on its headline figure: ROC-AUC for binary tasks, macro-F1 for 3 classes
        oof = (r[f"oof_{space(r['task']).headline}"] or {}).get("value", -1.0)
        test = (r["test_roc_auc"] or {}).get("value", -1.0)
        # complete cross-validations first: one fold's 66 images cannot outrank 322
        return (order.get(r["task"], 9), -(r["oof_folds"] or 0), -(oof if oof == oof else -1.0), -(test if test == test else -1.0), r["model"])

    return sorted(out, key=rank)


def breast_summary(card: dict[str, Any], task: str) -> dict[str, Any] | None:
    """Out-of-fold figures at breast level (a breast is abnormal when any of its views is): a
    study model's own (`oof_breast`); for an image model of a dataset with one view per breast
    (MIAS), its image-level figures, which are the same thing there."""
    from core.studies.grouping import ONE_VIEW_PER_BREAST

    if (card.get("oof_breast") or {}).get(task):
        return card["oof_breast"][task]
    if (card.get("data") or {}).get("dataset") in ONE_VIEW_PER_BREAST and space(task).binary:
        return (card.get("oof") or {}).get(task)
    return None


BRIEF = ["model", "seed", "kind", "oof_images", "oof_roc_auc", "oof_fold", "test_roc_auc", "sensitivity", "specificity", "external_called_lesion"]
DISPLAY = ["model", "task", "seed", "kind", "backbone", "init", "oof_images", "oof_roc_auc", "oof_fold", "oof_pr_auc", "oof_breast_roc_auc", "test_images", "test_roc_auc", "sensitivity", "specificity", "threshold", "external_called_lesion", "latency_ms", "size_mb", "shipped"]


def leaderboard(models_dir: str | Path | None = None, task: str | None = None, brief: bool = False, level: str = "image") -> pd.DataFrame:
    """Formatted table (strings with CIs) for people; `rows` has the numbers. `brief`: the
    columns a README or a slide needs. `level="breast"`: the out-of-fold columns at breast
    level (binary tasks; rows without breast-level figures show —)."""
    table = []
    for r in rows(models_dir, task):
        if level == "breast":
            if not space(r["task"]).binary:
                continue
            r = r | {"oof_images": r["oof_breasts"], "oof_roc_auc": r["oof_breast_roc_auc"]}
        f = dict(r)
        for k in ("oof_roc_auc", "oof_breast_roc_auc", "oof_pr_auc", "oof_macro_f1", "oof_balanced_accuracy", "test_roc_auc", "test_pr_auc", "sensitivity", "specificity", "macro_f1", "balanced_accuracy"):
            f[k] = _fmt(r[k])
        sd = r["oof_fold_sd"]
        f["oof_fold"] = "—" if r["oof_fold_mean"] is None else f"{r['oof_fold_mean']:.3f} ± {sd:.3f}" if sd is not None and sd == sd else f"{r['oof_fold_mean']:.3f} (one fold)"
        f["threshold"] = None if r["threshold"] is None else round(r["threshold"], 3)
        if not space(r["task"]).binary:
            f["sensitivity"], f["specificity"] = f"macro-F1 {f['macro_f1']}", f"bal. acc. {f['balanced_accuracy']}"
            if r["oof_macro_f1"]:
                f["oof_fold"], f["oof_pr_auc"] = f"macro-F1 {f['oof_macro_f1']}", f"bal. acc. {f['oof_balanced_accuracy']}"
        table.append(f)
    return pd.DataFrame(table, columns=BRIEF if brief else DISPLAY)


HEADLINE_TASKS = {"stage1": "Stage 1, normal vs lesion", "stage2": "Stage 2, benign vs malignant"}


def headline(models_dir: str | Path | None = None) -> str:
    """The README's leaderboard: models with a complete five-fold run, per binary task, ranked
    out of fold (patient-level 95 % intervals), test figures beside them. `check` recomputes
    every figure in it; `tests/test_contract.py` keeps the README's copy equal to this."""
    parts = []
    for task, title in HEADLINE_TASKS.items():
        table = [r for r in rows(models_dir, task) if (r["oof_folds"] or 0) >= 5]
        if not table:
            continue
        n = max(r["oof_images"] for r in table)
        lines = [f"**{title}** (out of fold: {n} films, 5 patient-level folds)", "",
                 "| model | seed system | kind | out-of-fold ROC-AUC (95 % CI) | test ROC-AUC (95 % CI) |", "|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['seed'] or '—'} | {r['kind']} | {_fmt(r['oof_roc_auc'])} | {_fmt(r['test_roc_auc'])} |" for r in table]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def check(models_dir: str | Path | None = None, tol: float = 1e-6) -> list[dict[str, Any]]:
    """Recompute every card's test ROC-AUC (and its views') from predictions.csv, every
    out-of-fold figure from oof_predictions.csv, and the slices and operating points of
    `models/supervisor_figures.json`; one line per figure: committed vs recomputed."""
    from core.evaluation.metrics import evaluate_predictions
    from core.evaluation.judge import view_frame
    from core.evaluation.oof import card_oof, metric_figures, read_oof

    out = []
    for c in registry.discover(models_dir):
        pred_path = Path(c["_folder"]) / "predictions.csv"
        if pred_path.exists() and c.get("test"):
            pred = pd.read_csv(pred_path)
            for t in tasks_for(c["classes"]):
                view = task_view(c, t)
                if not view.get("test"):
                    continue
                frame = view_frame(pred, c["classes"], t)
                got = evaluate_predictions(frame, space(t).classes, "test", threshold=view.get("threshold"), n_boot=50)["metrics"]["roc_auc"]["value"]
                want = view["test"]["metrics"]["roc_auc"]["value"]
                out.append({"model": c["name"], "figure": f"test ROC-AUC ({t})", "card": want, "recomputed": got, "same": bool(abs(got - want) <= tol or (got != got and want != want))})
        oof = read_oof(c)
        if oof is not None and c.get("oof"):
            again = card_oof(c, oof)
            for t, summary in c["oof"].items():
                for key, figure in metric_figures(summary).items():
                    for part in ("value", "ci_low", "ci_high"):
                        want, got = figure[part], metric_figures(again.get(t, {})).get(key, {}).get(part, float("nan"))
                        out.append({"model": c["name"], "figure": f"OOF {key} {part} ({t})", "card": want, "recomputed": got, "same": bool(abs(got - want) <= tol or (got != got and want != want))})
        out += [{"model": c["name"], "figure": f, "card": want, "recomputed": got, "same": bool(abs(got - want) <= tol or (got != got and want != want))} for f, want, got in _spread_figures(c, oof)]
    from core.reports import supervisor  # slices and operating points (models/supervisor_figures.json)

    return out + supervisor.check(models_dir)


def _spread_figures(card: dict[str, Any], oof: pd.DataFrame | None) -> list[tuple[str, float, float]]:
    """Ensemble figures beyond AUCs: confident / uncertain accuracy and the TTA ablation,
    recomputed from oof_predictions.csv and member_scores.csv."""
    from core.training.composites.ensemble import tta_ablation
    from core.training.composites.member_scores import SCORES_FILE
    from core.evaluation.uncertainty import confident_vs_uncertain

    out: list[tuple[str, float, float]] = []
    u = card.get("uncertainty_oof")
    if u and oof is not None:
        again = confident_vs_uncertain(oof, list(card["classes"]))
        for group in ("confident", "uncertain"):
            want, got = u[group]["accuracy"], again[group]["accuracy"]
            if want is not None and got is not None:
                out.append((f"OOF accuracy of {group} images", want, got))
    if card.get("flat_vs_hierarchy") and oof is not None:
        from core.evaluation.oof import paired_three_class, read_oof

        for want in card["flat_vs_hierarchy"]:
            flat = read_oof(registry.card(want["flat"], Path(card["_folder"]).parent))
            again = paired_three_class(oof, flat, card["classes"])
            out += [(f"hierarchy − {want['flat']} {key} {part}", want[key][part], again[key][part]) for key in ("macro_f1", "balanced_accuracy") for part in ("difference", "ci_low", "ci_high")]
    if card.get("versus_member") and oof is not None:  # a study model: rebuilt from its member's files
        from core.training.composites.study import recheck

        out += recheck(card)
    a = card.get("tta_ablation")
    scores = Path(card["_folder"]) / SCORES_FILE
    if a and scores.exists():
        again = tta_ablation(pd.read_csv(scores), a["member"], a["augmentations"], card["task"])
        out += [(f"TTA ablation {k}", a[k], again[k]) for k in ("oof_roc_auc_without_tta", "oof_roc_auc_with_tta", "ci_low", "ci_high")]
    return out


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub table without pulling in `tabulate`."""
    cols = list(table.columns)

    def cell(v) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return "—"
        return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def json_safe(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.generic,)):
        return json_safe(value.item())
    return value
