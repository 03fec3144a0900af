"""What a supervisor needs to judge the models, from committed files: out-of-fold figures per
slice, operating points at a screening specificity / sensitivity, decision curves and the
films the models disagree on (issue 35).

The figures for every model with a complete out-of-fold run are kept in
`models/supervisor_figures.json` (`python -m core leaderboard --slices --write`), with the
slice facts of every film they use (density, side, view, lesion classes; dataset image ids
only), so `leaderboard --check` recomputes them from committed files alone, and, where the
data folder is here, also checks those facts against the data set's records.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.evaluation import operating_points as ops
from core.evaluation import slices
from core.evaluation.oof import complete, read_oof
from core.labels import space
from core.models import registry
from core.models.card import default_models_dir

FIGURES_FILE = "supervisor_figures.json"
TASKS = ("stage1", "stage2")
N_BOOT = 1000
SEED = 0
CHECK_TOL = 1e-9


def _root(models_dir: str | Path | None) -> Path:
    return Path(models_dir) if models_dir else default_models_dir()


def default_data_root() -> Path:
    """The shared data folder (`$MAMMO_SHARED_DATA`, else ../shared/data beside the repository)."""
    env = os.environ.get("MAMMO_SHARED_DATA")
    return Path(env) if env else default_models_dir().parent.parent / "shared" / "data"


def _oof_auc(card: dict[str, Any], task: str) -> float:
    v = (((card.get("oof") or {}).get(task) or {}).get("roc_auc") or {}).get("value")
    return -1.0 if v is None or v != v else float(v)


def judged_cards(models_dir: str | Path | None = None, task: str = "stage1", names: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Models with a complete out-of-fold run readable in a binary task, best out-of-fold
    ROC-AUC first (or the given names, in their order, where they qualify)."""
    if not space(task).binary:
        return []
    cards = [c for c in registry.discover(_root(models_dir)) if complete(c) and task in (c.get("oof") or {})]
    if names is not None:
        by = {c["name"]: c for c in cards}
        return [by[n] for n in names if n in by]
    return sorted(cards, key=lambda c: (-_oof_auc(c, task), c["name"]))


def views(cards: Sequence[dict[str, Any]], task: str) -> dict[str, pd.DataFrame]:
    """Each model's scored out-of-fold rows in `task` (`core.evaluation.slices.scored`)."""
    out = {}
    for c in cards:
        oof = read_oof(c)
        if oof is not None:
            out[c["name"]] = slices.scored(c, oof, task)
    return out


# --------------------------------------------------------------------------- slice facts
def datasets_of(cards: Sequence[dict[str, Any]]) -> list[str]:
    return sorted({(c.get("data") or {}).get("dataset") for c in cards} - {None})


def records_membership(datasets: Sequence[str], data_root: str | Path | None = None) -> pd.DataFrame | None:
    """The slice facts of every film of these data sets from their records, or None when a
    data set cannot be read here (no data folder)."""
    from core.datasets import load_dataset
    from core.errors import DatasetError

    root = Path(data_root) if data_root else default_data_root()
    frames = []
    for name in datasets:
        try:
            frames.append(slices.membership(load_dataset(name, None if name == "sample" else root)))
        except (DatasetError, OSError):
            return None
    return pd.concat(frames, ignore_index=True) if frames else None


def committed(models_dir: str | Path | None = None) -> dict[str, Any] | None:
    path = _root(models_dir) / FIGURES_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def committed_membership(models_dir: str | Path | None = None) -> pd.DataFrame | None:
    saved = committed(models_dir)
    if not saved or not saved.get("membership"):
        return None
    return pd.DataFrame(saved["membership"], columns=saved["membership_columns"])


def membership(cards: Sequence[dict[str, Any]], models_dir: str | Path | None = None, data_root: str | Path | None = None) -> pd.DataFrame | None:
    """Slice facts from the records where the data folder is here, else the committed ones."""
    found = records_membership(datasets_of(cards), data_root)
    return found if found is not None else committed_membership(models_dir)


# --------------------------------------------------------------------------- figures
def pick_pair(named: dict[str, pd.DataFrame]) -> tuple[str, str] | None:
    """The first model and the first other model whose scores differ from it (a hierarchy read
    in stage 1 is its stage-1 model: their difference is exactly 0 and says nothing)."""
    names = list(named)
    if len(names) < 2:
        return None
    a = named[names[0]].set_index("image_id")["score"]
    for b in names[1:]:
        other = named[b].set_index("image_id")["score"]
        common = a.index.intersection(other.index)
        if len(common) and not np.allclose(a[common].to_numpy(), other[common].to_numpy()):
            return names[0], b
    return names[0], names[1]


def slice_figures(named: dict[str, pd.DataFrame], members: pd.DataFrame, pair: tuple[str, str] | None = None, n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Every model's slices, and the paired difference per slice of `pair` (default `pick_pair`)."""
    rows = []
    for name, v in named.items():
        rows += [{"model": name} | r for r in slices.model_slices(slices.join(v, members), n_boot, seed)]
    pair = pair or pick_pair(named)
    paired = None
    if pair:
        a, b = (slices.join(named[n], members) for n in pair)
        paired = {"a": pair[0], "b": pair[1], "rows": slices.paired_slices(a, b, n_boot, seed)}
    return {"rows": rows, "paired": paired}


def operating_figures(named: dict[str, pd.DataFrame], specificity: float = ops.DEFAULT_SPECIFICITY, sensitivity: float = ops.DEFAULT_SENSITIVITY,
                      pair: tuple[str, str] | None = None, n_boot: int = N_BOOT, seed: int = SEED) -> dict[str, Any]:
    """Per model, sensitivity at `specificity` and specificity at `sensitivity` (thresholds from
    the other folds), and the paired difference of `pair` at both points."""
    points = (("specificity", specificity), ("sensitivity", sensitivity))
    rows = [{"model": name} | ops.operating_point(v, target, fixed, n_boot, seed) for name, v in named.items() for fixed, target in points]
    pair = pair or pick_pair(named)
    paired = None
    if pair:
        paired = {"a": pair[0], "b": pair[1], "rows": [ops.paired_operating_point(named[pair[0]], named[pair[1]], target, fixed, n_boot, seed) for fixed, target in points]}
    return {"rows": rows, "paired": paired}


# --------------------------------------------------------------------------- tables for people
def _fmt(m: dict[str, float] | None, signed: bool = False) -> str:
    if not m or m.get("value") is None or m["value"] != m["value"]:
        return "—"
    sign = "+" if signed else ""
    lo, hi = m.get("ci_low"), m.get("ci_high")
    ci = "" if lo is None or lo != lo else f" ({lo:{sign}.2f} to {hi:{sign}.2f})"
    return f"{m['value']:{sign}.3f}{ci}"


SMALL = "too small (< 10 positives or negatives): not ranked"


def slice_table(figures: dict[str, Any]) -> pd.DataFrame:
    """One row per model and slice: counts, ROC-AUC / sensitivity / specificity with 95 % intervals."""
    return pd.DataFrame([{"model": r["model"], "facet": r["facet"], "slice": r["label"], "positives": r["positives"], "negatives": r["negatives"],
                          "ROC-AUC (95 % CI)": _fmt(r["roc_auc"]), "sensitivity (95 % CI)": _fmt(r["sensitivity"]), "specificity (95 % CI)": _fmt(r["specificity"]),
                          "note": SMALL if r["too_small"] else ""} for r in figures["rows"]])


def paired_slice_table(figures: dict[str, Any]) -> pd.DataFrame:
    p = figures.get("paired")
    if not p:
        return pd.DataFrame()
    return pd.DataFrame([{"facet": r["facet"], "slice": r["label"], "positives": r["positives"], "negatives": r["negatives"],
                          "Δ ROC-AUC (95 % CI)": _fmt(r["roc_auc"], True), "Δ sensitivity (95 % CI)": _fmt(r["sensitivity"], True),
                          "Δ specificity (95 % CI)": _fmt(r["specificity"], True), "note": SMALL if r["too_small"] else ""} for r in p["rows"]])


def operating_table(figures: dict[str, Any]) -> pd.DataFrame:
    """One row per model and operating point: the figure that matters with its interval, and the
    held figure as achieved on the held-out folds (it need not equal the target)."""
    out = []
    for r in figures["rows"]:
        other = "sensitivity" if r["fixed"] == "specificity" else "specificity"
        out.append({"model": r["model"], "held on the other folds": f"{r['fixed']} {r['target']:.2f}", "figure": other,
                    "value (95 % CI)": _fmt(r[other]), "held figure achieved (95 % CI)": _fmt(r[r["fixed"]]),
                    "fold thresholds": ", ".join(f"{t:.3f}" for t in r["fold_thresholds"])})
    return pd.DataFrame(out)


def paired_operating_table(figures: dict[str, Any]) -> pd.DataFrame:
    p = figures.get("paired")
    if not p:
        return pd.DataFrame()
    out = []
    for r in p["rows"]:
        other = "sensitivity" if r["fixed"] == "specificity" else "specificity"
        d = r[other]
        out.append({"operating point": f"{r['fixed']} {r['target']:.2f}", "figure": other, "A": f"{d['a']:.3f}", "B": f"{d['b']:.3f}",
                    "A − B (95 % CI)": _fmt({"value": d["difference"], "ci_low": d["ci_low"], "ci_high": d["ci_high"]}, True)})
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- the committed file and its check
def compute(models_dir: str | Path | None = None, members: pd.DataFrame | None = None, n_boot: int = N_BOOT) -> dict[str, Any]:
    """Every figure of the committed file, for every complete out-of-fold model of each binary task."""
    out: dict[str, Any] = {"n_boot": n_boot, "seed": SEED, "specificity": ops.DEFAULT_SPECIFICITY, "sensitivity": ops.DEFAULT_SENSITIVITY, "tasks": {}}
    used = []
    for task in TASKS:
        cards = judged_cards(models_dir, task)
        if not cards:
            continue
        named = views(cards, task)
        m = members if members is not None else membership(cards, models_dir)
        entry: dict[str, Any] = {"models": list(named), "operating_points": operating_figures(named, n_boot=n_boot)}
        if m is not None:
            entry["slices"] = slice_figures(named, m, n_boot=n_boot)
            used.append(m[m["image_id"].isin(set().union(*(set(v["image_id"]) for v in named.values())))])
        out["tasks"][task] = entry
    if used:
        facts = pd.concat(used).drop_duplicates("image_id").sort_values(["dataset", "image_id"])
        out["membership_columns"] = list(facts.columns)
        out["membership"] = facts.astype(object).where(facts.notna(), None).values.tolist()
    return out


def write(models_dir: str | Path | None = None, data_root: str | Path | None = None) -> Path:
    """Recompute from the records (the data folder must be here) and write the committed file."""
    from core.errors import DatasetError

    cards = [c for t in TASKS for c in judged_cards(models_dir, t)]
    members = records_membership(datasets_of(cards), data_root)
    if members is None:
        raise DatasetError("the models' data set is not in the data folder: writing the figures needs its records (give --data DIR)")
    path = _root(models_dir) / FIGURES_FILE
    path.write_text(json.dumps(_safe(compute(models_dir, members)), indent=1) + "\n")
    return path


def _safe(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, np.generic):
        return _safe(value.item())
    return value


def _flat(entry: dict[str, Any]) -> dict[tuple[str, str], float]:
    """Every number of one task's figures, keyed (model, figure) as the check prints them."""
    out: dict[tuple[str, str], float] = {}

    def put(model: str, name: str, fig: dict[str, Any]) -> None:
        for part, v in fig.items():
            if part in ("value", "ci_low", "ci_high", "a", "b", "difference"):
                out[(model, f"{name} {part}")] = float("nan") if v is None else float(v)

    sl = entry.get("slices") or {}
    for r in sl.get("rows", []):
        for k in slices.FIGURES:
            put(r["model"], f"slice {r['facet']}={r['slice']} {k}", r[k])
    if sl.get("paired"):
        p = sl["paired"]
        for r in p["rows"]:
            for k in slices.FIGURES:
                put(f"{p['a']} − {p['b']}", f"slice {r['facet']}={r['slice']} Δ{k}", r[k])
    op = entry.get("operating_points") or {}
    for r in op.get("rows", []):
        for k in ("sensitivity", "specificity"):
            put(r["model"], f"{k} at {r['fixed']} {r['target']:.2f}", r[k])
        for i, t in enumerate(r["fold_thresholds"]):
            out[(r["model"], f"fold {i} threshold at {r['fixed']} {r['target']:.2f}")] = float(t)
    if op.get("paired"):
        p = op["paired"]
        for r in p["rows"]:
            for k in ("sensitivity", "specificity"):
                put(f"{p['a']} − {p['b']}", f"Δ{k} at {r['fixed']} {r['target']:.2f}", r[k])
    return out


def check(models_dir: str | Path | None = None, data_root: str | Path | None = None) -> list[dict[str, Any]]:
    """The committed file's figures against a recomputation from committed files (its own slice
    facts); one line per figure, like `core.reports.leaderboard.check`. A complete out-of-fold
    model missing from the file, or slice facts that differ from the records, fail too."""
    saved = committed(models_dir)
    lines: list[dict[str, Any]] = []
    if saved is None:  # a folder of one's own models (a smoke run, say) need not commit them: say so, nothing to compare
        if any(judged_cards(models_dir, t) for t in TASKS):
            lines.append({"model": "—", "figure": f"no {FIGURES_FILE} here: slices and operating points not committed (python -m core leaderboard --slices --write)",
                          "card": float("nan"), "recomputed": float("nan"), "same": True})
        return lines
    members = committed_membership(models_dir)
    again = _safe(compute(models_dir, members, n_boot=int(saved.get("n_boot", N_BOOT))))
    for task in sorted(set(saved["tasks"]) | set(again["tasks"])):
        s, a = saved["tasks"].get(task, {}), again["tasks"].get(task, {})
        for name in sorted(set(s.get("models", [])) ^ set(a.get("models", []))):
            lines.append({"model": name, "figure": f"supervisor figures: model {'missing from' if name in a.get('models', []) else 'gone but in'} the file ({task})",
                          "card": float("nan"), "recomputed": 0.0, "same": False})
        want, got = _flat(s), _flat(a)
        for model, figure in sorted(set(want) | set(got)):
            w, g = want.get((model, figure), float("nan")), got.get((model, figure), float("nan"))
            same = (model, figure) in want and (model, figure) in got and bool(abs(w - g) <= CHECK_TOL or (w != w and g != g))
            lines.append({"model": model, "figure": f"{figure} ({task})", "card": w, "recomputed": g, "same": same})
    found = records_membership(sorted(set(members["dataset"])) if members is not None else [], data_root)
    if found is not None and members is not None:
        here = found[found["image_id"].isin(set(members["image_id"]))].sort_values(["dataset", "image_id"]).reset_index(drop=True)
        mine = members.sort_values(["dataset", "image_id"]).reset_index(drop=True)
        same = len(here) == len(mine) and all((here[c].fillna("").astype(str) == mine[c].fillna("").astype(str)).all() for c in mine.columns)
        lines.append({"model": "—", "figure": "slice facts of the films = the data set's records", "card": float(len(mine)), "recomputed": float(len(here)), "same": bool(same)})
    return lines
