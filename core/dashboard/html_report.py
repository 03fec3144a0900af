"""Compare's report to take away (issue 35, part 6): one self-contained HTML file of what the
page shows for the chosen models of one task, that opens offline.

`figures` computes every number from committed files (cards, predictions.csv,
oof_predictions.csv, the slice facts) with the same functions the page and
`python -m core leaderboard` use; `render` lays them out: the leaderboard rows, the paired
out-of-fold comparison, the ROC / precision-recall / calibration curves, slices, operating
points, decision curves, the films the models disagree on (dataset image ids only: the
report never reads an upload), each card's weights SHA-256 and the data set's record digest,
and under each part the command that recomputes it. Plotly.js is embedded once, inline; the
figures' numbers are embedded too, as JSON (`<script type="application/json" id="figures">`),
so a test (or a reader) can hold them to `models/supervisor_figures.json`.

Every text is HTML-escaped; no path, file name or header value is written. The same inputs
give the same bytes, apart from the time the report was made.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from core.evaluation import operating_points as ops
from core.evaluation.conformal import DEFAULT_COVERAGE
from core.labels import space, tasks_for
from core.models import kinds

PARTS = ("leaderboard", "paired_oof", "curves", "slices", "operating_points", "decision_curves", "disagreements", "provenance")
DISAGREEMENT_ROWS = 30
WRONG_ROWS = 15
DISCLAIMER = ("For research and teaching only: not a medical device, not for diagnosis, screening or any decision about a patient. "
              "Figures come from small public data sets (MIAS) and say how these models rank on them, nothing about their use in care.")


# --------------------------------------------------------------------------- the numbers
def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    return value


def _curve(c) -> dict[str, Any] | None:
    if c is None:
        return None
    lo, hi = c.ci
    return {"value": float(c.auc), "ci_low": float(lo), "ci_high": float(hi), "n": int(c.n), "x": np.asarray(c.x, float).tolist(),
            "y": np.asarray(c.y, float).tolist(), "extra": dict(c.extra)}


def record_digest(members: pd.DataFrame, truth: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per data set: SHA-256 of the sorted record facts of the films the figures use (data set,
    image id, density, side, view, lesion classes and the truth in the task), and their count."""
    rows = members[members["image_id"].astype(str).isin(set(truth))].copy()
    rows = rows.astype(object).where(rows.notna(), "").astype(str)
    out: dict[str, dict[str, Any]] = {}
    for dataset, g in rows.groupby("dataset", sort=True):
        cols = [c for c in ("dataset", "image_id", "density", "side", "view", "lesion_classes") if c in g.columns]
        lines = sorted("\t".join([*(r[c] for c in cols), str(truth[r["image_id"]])]) for _, r in g.iterrows())
        out[str(dataset)] = {"films": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(), "fields": cols + ["truth"]}
    return out


def _weights(card: dict[str, Any], part_of: str = "") -> dict[str, Any]:
    w = card.get("weights") or {}
    out = {"model": card["name"], "kind": kinds.kind_of(card), "sha256": w.get("sha256"), "bytes": w.get("bytes"), "shipped": w.get("shipped", True),
           "members": kinds.members(card), "part_of": part_of}
    if not w.get("sha256"):
        out["note"] = "none of its own: built from its members" if kinds.is_composite(card) else "no weights file"
        out["bytes"] = None
    return out


def weights_rows(cards: Sequence[dict[str, Any]], models_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Each chosen card's weights, then those of every model a composite is built from (once each)."""
    from core.errors import ModelError
    from core.models import registry

    rows = [_weights(c) for c in cards]
    seen = {c["name"] for c in cards}
    todo = [(m, c["name"]) for c in cards for m in kinds.members(c)]
    while todo:
        name, parent = todo.pop(0)
        if name in seen:
            continue
        seen.add(name)
        try:
            member = registry.card(name, models_dir)
        except ModelError:
            rows.append({"model": name, "kind": "—", "sha256": None, "note": "card not in this checkout", "part_of": parent, "members": []})
            continue
        rows.append(_weights(member, parent))
        todo += [(m, name) for m in kinds.members(member)]
    return rows


def membership(cards: Sequence[dict[str, Any]], models_dir: str | Path | None = None, data_root: str | Path | None = None,
               use_records: bool = True) -> tuple[pd.DataFrame | None, str]:
    """The films' slice facts and where they come from: the data set's records where the data
    folder is here (`use_records`), else the committed ones. The folder is never named."""
    from core.reports import supervisor

    found = supervisor.records_membership(supervisor.datasets_of(cards), data_root) if use_records else None
    if found is not None:
        return found, "the data set's records in the data folder"
    found = supervisor.committed_membership(models_dir)
    return found, "" if found is None else f"the committed slice facts ({supervisor.FIGURES_FILE})"


def _oof_pair(oof_cards: Sequence[dict[str, Any]], pair: tuple[str, str] | None, task: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    from core.reports import curves

    by = {c["name"]: c for c in oof_cards}
    if pair and pair[0] in by and pair[1] in by and pair[0] != pair[1]:
        return by[pair[0]], by[pair[1]]
    if len(oof_cards) < 2:
        return None
    rest = list(oof_cards[1:])
    return oof_cards[0], rest[curves.distinct_rival(oof_cards[0], rest, task) or 0]


def commands(task: str, names: Sequence[str], judged: Sequence[str], pair: tuple[str, str] | None, specificity: float, sensitivity: float,
             split: str, event: str) -> dict[str, str]:
    """The command that recomputes each part. `leaderboard --slices / --operating-points` pairs
    the first model with the first other whose scores differ, so the pair leads their list."""
    from core.reports.curves import events_for

    ordered = list(pair) + [n for n in judged if n not in pair] if pair else list(judged)
    models = ",".join(ordered)
    report = f"python -m core report --task {task} --models {','.join(names)}"
    if pair:
        report += f" --pair {pair[0]},{pair[1]}"
    if (specificity, sensitivity) != (ops.DEFAULT_SPECIFICITY, ops.DEFAULT_SENSITIVITY):
        report += f" --specificity {specificity:.2f} --sensitivity {sensitivity:.2f}"
    if split != "test":
        report += f" --split {split}"
    if event != events_for(task)[0]:
        report += f" --event {event}"
    return {
        "leaderboard": f"python -m core leaderboard --task {task} --format json",
        "paired_oof": f"{report} --part paired_oof",
        "curves": f"{report} --part curves",
        "slices": f"python -m core leaderboard --slices --task {task} --models {models} --format json",
        "operating_points": f"python -m core leaderboard --operating-points --task {task} --models {models} --specificity {specificity:.2f} --sensitivity {sensitivity:.2f} --format json",
        "decision_curves": f"{report} --part decision_curves",
        "disagreements": f"{report} --part disagreements",
        "provenance": f"{report} --part provenance",
        "check": "python -m core leaderboard --check",
        "report": f"{report} --out report.html",
    }


def figures(cards: Sequence[dict[str, Any]], task: str, *, models_dir: str | Path | None = None, members: pd.DataFrame | None = None,
            members_source: str = "", pair: tuple[str, str] | None = None, specificity: float = ops.DEFAULT_SPECIFICITY,
            sensitivity: float = ops.DEFAULT_SENSITIVITY, split: str = "test", event: str | None = None, coverage: float = DEFAULT_COVERAGE,
            n_boot: int | None = None) -> dict[str, Any]:
    """Every number of the report for the chosen models' `cards` (in the page's order) in `task`,
    JSON-safe. `members`: the films' slice facts (`core.reports.supervisor.membership`); None
    leaves the slices out. `pair`: the paired comparisons' A and B (default: as the page picks)."""
    from core.dashboard.cards import flat_vs_hierarchy_table, read_predictions, versus_seeds_table
    from core.evaluation.disagreements import confidently_wrong, disagreements
    from core.evaluation.net_benefit import decision_curves
    from core.reports import curves, leaderboard, supervisor

    n_boot = supervisor.N_BOOT if n_boot is None else int(n_boot)
    names = [c["name"] for c in cards]
    s = space(task)
    event = event or curves.events_for(task)[0]
    out: dict[str, Any] = {"task": task, "task_title": s.title, "models": names, "binary": s.binary,
                           "settings": {"specificity": float(specificity), "sensitivity": float(sensitivity), "split": split, "event": event,
                                        "coverage": float(coverage), "n_boot": n_boot, "seed": supervisor.SEED}}
    ranked = [r for r in leaderboard.rows(models_dir, task) if r["model"] in names]
    out["leaderboard"] = ranked
    table = leaderboard.leaderboard(models_dir, task)
    out["leaderboard_table"] = _records(table[table["model"].isin(names)][TABLE_COLUMNS])

    # the curves of the chosen split, as the page draws them
    cv: dict[str, Any] = {}
    for c in cards:
        pred = read_predictions(c)
        if pred is None or task not in tasks_for(c.get("classes") or ()):
            continue
        roc, pr, cal = curves.task_curves(curves.task_data(c, pred, task), event, split)
        if roc is not None:
            cv[c["name"]] = {"roc": _curve(roc), "pr": _curve(pr), "calibration": _curve(cal)}
    out["curves"] = cv

    judged = supervisor.judged_cards(models_dir, task, names) if s.binary else []
    named = supervisor.views(judged, task) if judged else {}
    jnames = list(named)
    if pair and not (pair[0] in named and pair[1] in named and pair[0] != pair[1]):
        pair = None
    jpair = pair or (supervisor.pick_pair(named) if len(jnames) > 1 else None)
    out["judged"] = jnames
    out["pair"] = list(jpair) if jpair else None

    oof = curves.oof_candidates(cards, task)
    two = _oof_pair(oof, jpair, task) if s.binary else None
    out["paired_oof"] = curves.paired_oof(two[0], two[1], task, n_boot=n_boot) if two else None
    if out["paired_oof"]:
        out["paired_oof"]["text"] = curves.paired_text(out["paired_oof"])

    # the cards' own paired comparisons: an own recipe against the seeds, a hierarchy against the flat models
    versus = versus_seeds_table(cards, task)
    out["versus_seeds"] = _records(versus)
    out["flat_vs_hierarchy"] = [] if s.binary else _records(flat_vs_hierarchy_table(cards))

    out["slices"] = supervisor.slice_figures(named, members, jpair, n_boot=n_boot) if named and members is not None else None
    out["operating_points"] = supervisor.operating_figures(named, specificity, sensitivity, jpair, n_boot=n_boot) if named else None
    dc = decision_curves(named) if named else pd.DataFrame()
    out["decision_curves"] = None if dc.empty else {"n_images": int(dc["n_images"].iloc[0]),
                                                    "curves": {m: {"threshold": g["threshold"].tolist(), "net_benefit": g["net_benefit"].tolist()} for m, g in dc.groupby("model", sort=False)}}
    dis = disagreements(named, limit=DISAGREEMENT_ROWS) if len(named) > 1 else pd.DataFrame()
    out["disagreements"] = [] if dis.empty else [{"image_id": str(r["image_id"]), "truth": s.positive if int(r["y"]) == 1 else s.classes[0],
                                                  "probabilities": {n: float(r[f"p::{n}"]) for n in jnames}, "calls": {n: bool(r[f"call::{n}"]) for n in jnames}}
                                                 for _, r in dis.iterrows()]
    wrong = {}
    for n, v in named.items():
        w = confidently_wrong(v, s.classes, coverage, limit=WRONG_ROWS)
        wrong[n] = [{"image_id": str(r["image_id"]), "truth": s.positive if int(r["y"]) == 1 else s.classes[0], "set": str(r["set_class"]),
                     "p_truth": float(r["p_truth"])} for _, r in w.iterrows()]
    out["confidently_wrong"] = wrong

    truth: dict[str, int] = {}
    for v in named.values():
        truth.update({str(i): int(y) for i, y in zip(v["image_id"], v["y"])})
    out["provenance"] = {"weights": weights_rows(cards, models_dir), "datasets": sorted({(c.get("data") or {}).get("dataset") or "—" for c in cards}),
                         "records": record_digest(members, truth) if members is not None and truth else {}, "records_source": members_source}
    out["commands"] = commands(task, names, jnames, jpair, float(specificity), float(sensitivity), split, event)
    out["commands"]["versus_seeds"] = "; ".join(f"python -m core.reports.versus {n} --format json" for n in dict.fromkeys(versus["own recipe"]))
    return _json_safe(out)


TABLE_COLUMNS = ["model", "seed", "kind", "backbone", "oof_images", "oof_roc_auc", "oof_fold", "oof_pr_auc", "test_images", "test_roc_auc", "sensitivity", "specificity", "threshold"]


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if v is None or (isinstance(v, float) and v != v) else v) for k, v in r.items()} for r in frame.to_dict("records")]


# --------------------------------------------------------------------------- the document
CSS = """
body{font-family:Inter,"Segoe UI",system-ui,sans-serif;margin:0 auto;max-width:1180px;padding:24px 28px 60px;color:#1d2330;line-height:1.45}
h1{font-size:1.7em;margin:0 0 4px} h2{font-size:1.25em;margin:34px 0 6px;border-bottom:1px solid #dde2ea;padding-bottom:4px} h3{font-size:1.02em;margin:18px 0 4px}
.muted{color:#5b6475;font-size:.92em} .disclaimer{background:#fff6e0;border:1px solid #f0d68a;border-radius:6px;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;margin:6px 0 10px;font-size:.86em;width:100%} th,td{border:1px solid #dde2ea;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f5f9;font-weight:600} tr:nth-child(even) td{background:#fafbfd}
code.cmd{display:block;background:#f3f5f9;border-left:3px solid #8aa1c8;padding:5px 9px;margin:4px 0 12px;font-size:.84em;white-space:pre-wrap;word-break:break-all}
.fig{margin:4px 0} .row{display:flex;gap:14px;flex-wrap:wrap} .row>div{flex:1 1 520px;min-width:0}
td.num{text-align:right;font-variant-numeric:tabular-nums} td.hash{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}
"""


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text), quote=True)


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v) or v == "":
        return "<td>—</td>"
    if isinstance(v, (bool, np.bool_)):
        return f"<td>{'yes' if v else 'no'}</td>"
    if isinstance(v, (int, np.integer)) or (isinstance(v, (float, np.floating)) and float(v).is_integer()):
        return f"<td class=num>{int(v)}</td>"
    if isinstance(v, (float, np.floating)):
        return f"<td class=num>{float(v):.4f}</td>"
    return f"<td>{_e(v)}</td>"


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    if not rows:
        return "<p class=muted>—</p>"
    cols = list(columns or rows[0].keys())
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(_cell(r.get(c)) for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _frame(frame: pd.DataFrame) -> str:
    return _table(_records(frame), list(frame.columns)) if not frame.empty else "<p class=muted>—</p>"


def _cmd(text: str) -> str:
    return f"<p class=muted>Recomputed by:</p><code class=cmd>{_e(text)}</code>"


class _Figures:
    """Plotly figures as HTML, plotly.js inline with the first one only; fixed element ids."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, fig, name: str) -> str:
        import plotly.io as pio

        fig.update_layout(template="plotly_white")
        part = pio.to_html(fig, include_plotlyjs=self.count == 0, full_html=False, div_id=f"figure-{name}",
                           config={"displaylogo": False, "responsive": True})
        self.count += 1
        return f"<div class=fig>{part}</div>"


def _curve_obj(d: dict[str, Any]):
    from core.reports.curves import Curve

    return Curve(np.asarray(d["x"], float), np.asarray(d["y"], float), float(d["value"]) if d["value"] is not None else math.nan,
                 (math.nan if d["ci_low"] is None else d["ci_low"], math.nan if d["ci_high"] is None else d["ci_high"]), int(d["n"]), d.get("extra") or {})


def _nan(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (math.nan if v is None else v) for k, v in d.items()}


def render(figs: dict[str, Any], colors: dict[str, str] | None = None, generated: str | None = None) -> str:
    """The HTML document of `figures`' output (plotly.js inline: it opens offline)."""
    from core.dashboard import charts
    from core.dashboard.cards import model_colors
    from core.reports import supervisor

    colors = colors or model_colors(figs["models"])
    generated = generated or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cmds = figs["commands"]
    st = figs["settings"]
    plot = _Figures()
    parts: list[str] = []
    add = parts.append

    add(f"<h1>Comparing models — {_e(figs['task_title'])}</h1>")
    add(f"<p class=muted>Made {_e(generated)} by the mammography workbench's Compare page. Models: {_e(', '.join(figs['models']))}. "
        f"Out-of-fold parts: {_e(', '.join(figs['judged']) or 'none (no complete out-of-fold run among the chosen models)')}.</p>")
    add(f"<div class=disclaimer>{_e(DISCLAIMER)}</div>")
    add("<p class=muted>Every figure below comes from the committed model folders (card.json, predictions.csv, oof_predictions.csv) and "
        "the films' record facts; the command under each part recomputes it. Intervals are patient-level bootstrap 95 % intervals "
        f"({st['n_boot']:,} resamples, seed {st['seed']}). The numbers are also in this file as JSON (the element with id \"figures\").</p>")

    add("<h2>Leaderboard rows</h2>")
    add("<p class=muted>Ranked out of fold (complete five-fold runs first), then by the test split; 95 % intervals in brackets.</p>")
    add(_table(figs["leaderboard_table"], TABLE_COLUMNS))
    if figs["leaderboard"]:
        rows = [{k: (_nan(v) if isinstance(v, dict) else v) for k, v in r.items()} for r in figs["leaderboard"]]
        add(plot(charts.ranking(rows, colors, "ROC AUC, out of fold and on the test split"), "ranking"))
    add(_cmd(cmds["leaderboard"]) + "<p class=muted>and every card figure against its committed predictions:</p>" + f"<code class=cmd>{_e(cmds['check'])}</code>")

    add("<h2>Out of fold: is one model better?</h2>")
    d = figs.get("paired_oof")
    if d:
        add("<p class=muted>The paired patient-level bootstrap: both models' ROC AUC on the same out-of-fold images, patients resampled together; "
            "the interval is of their difference.</p>")
        add(_table([{"A": d["model_a"], "B": d["model_b"], "AUC A": d["auc_a"], "AUC B": d["auc_b"], "A − B": d["difference"], "95 % CI low": d["ci_low"],
                     "95 % CI high": d["ci_high"], "images": d["n_images"], "patients": d["n_patients"], "share of differences above 0": d["share_above_zero"]}]))
        add(f"<p>{_e(d['text'])}</p>")
        add(plot(charts.paired(_nan(d), colors), "paired-oof"))
        add(_cmd(cmds["paired_oof"]))
    else:
        add("<p class=muted>A paired out-of-fold comparison needs two chosen models of a binary task with out-of-fold predictions.</p>")

    if figs.get("versus_seeds"):
        add("<h3>Does our own recipe beat the seeds? Out of fold</h3>")
        add("<p class=muted>Each own recipe against every seed recipe of this task with a complete five-fold run, on the same held-out images "
            "(paired patient-level bootstrap); beaten only when the whole 95 % interval is above 0.</p>")
        add(_table(figs["versus_seeds"]) + _cmd(cmds["versus_seeds"]))
    if figs.get("flat_vs_hierarchy"):
        add("<h3>Flat or hierarchical? Out of fold</h3>")
        add("<p class=muted>Each hierarchy against each flat 3-class model on the same out-of-fold films (paired patient-level bootstrap).</p>")
        add(_table(figs["flat_vs_hierarchy"]) + _cmd(cmds["check"]))

    add(f"<h2>Curves — {_e(st['event'])}, {_e(st['split'])} split</h2>")
    cv = figs["curves"]
    if cv:
        rocs = {n: _curve_obj(c["roc"]) for n, c in cv.items() if c["roc"]}
        prs = {n: _curve_obj(c["pr"]) for n, c in cv.items() if c["pr"]}
        cals = {n: _curve_obj(c["calibration"]) for n, c in cv.items() if c["calibration"]}
        roc = charts.roc(rocs, colors, None, f"ROC — {st['event']}, {st['split']} split").update_xaxes(constrain="domain")  # square, its axes 0..1
        add("<div class=row><div>" + plot(roc, "roc") + "</div><div>"
            + plot(charts.pr(prs, colors, f"Precision–recall — {st['event']}, {st['split']} split"), "pr") + "</div></div>")
        add("<h3>Calibration</h3>")
        add("<p class=muted>Predicted probability against how often the event happened, in quantile bins; Brier score in the legend.</p>")
        add(plot(charts.calibration(cals, colors, f"Calibration — {st['event']}, {st['split']} split"), "calibration"))
        add(_table([{"model": n, "images": c["roc"]["n"], "ROC AUC": c["roc"]["value"], "95 % CI": _ci(c["roc"]), "average precision": (c["pr"] or {}).get("value"),
                     "95 % CI (AP)": _ci(c["pr"]), "Brier": (c["calibration"] or {}).get("value")} for n, c in cv.items()]))
        add(_cmd(cmds["curves"]))
    else:
        add("<p class=muted>No chosen model has committed predictions with both classes in this split.</p>")

    if not figs["binary"]:
        add("<h2>Out-of-fold judging</h2><p class=muted>Slices, operating points, decision curves and disagreements are per binary task "
            "(stage 1 or stage 2).</p>")
    elif not figs["judged"]:
        add("<h2>Out-of-fold judging</h2><p class=muted>The judging parts need models with a complete out-of-fold run in this task.</p>")
    else:
        add("<h2>Slices</h2>")
        sl = figs.get("slices")
        if sl:
            add("<p class=muted>Each model's out-of-fold ROC AUC, and sensitivity and specificity at the threshold each film was judged at (its fold "
                "model's validation threshold), per slice. A lesion-class slice is that class's films against every normal film. "
                f"{_e(supervisor.SMALL.capitalize())}.</p>")
            add(_frame(supervisor.slice_table(sl)))
            if sl.get("paired"):
                add(f"<h3>Paired difference per slice, {_e(sl['paired']['a'])} − {_e(sl['paired']['b'])}</h3>")
                add(_frame(supervisor.paired_slice_table(sl)))
            add(_cmd(cmds["slices"]))
        else:
            add("<p class=muted>The slices need the films' record facts (the data folder or the committed ones).</p>")

        add(f"<h2>Operating points — specificity {st['specificity']:.2f}, sensitivity {st['sensitivity']:.2f}</h2>")
        op = figs["operating_points"]
        add("<p class=muted>Each fold's films are called at the threshold that holds the target on the other folds' out-of-fold rows, never their own; "
            "the held figure is then measured on the held-out films.</p>")
        add(_frame(supervisor.operating_table(op)))
        if op.get("paired"):
            add(f"<h3>Paired difference at these points, A = {_e(op['paired']['a'])}, B = {_e(op['paired']['b'])}</h3>")
            add(_frame(supervisor.paired_operating_table(op)))
        add(_cmd(cmds["operating_points"]))

        add("<h2>Decision curves</h2>")
        dc = figs.get("decision_curves")
        if dc:
            long = pd.concat([pd.DataFrame({"model": m, "threshold": c["threshold"], "net_benefit": c["net_benefit"]}) for m, c in dc["curves"].items()], ignore_index=True)
            add(plot(charts.net_benefit(long, colors), "decision-curves"))
            add(f"<p class=muted>Net benefit counts true positives per film and charges each false positive pt / (1 − pt); a model is worth using where "
                f"its curve lies above both treat-all and treat-none. Out of fold, on the {dc['n_images']} films every model scored; the models' own "
                "probabilities, not recalibrated.</p>")
            add(_cmd(cmds["decision_curves"]))

        add("<h2>Films to open first</h2>")
        jn = figs["judged"]
        if len(jn) > 1:
            add(f"<h3>Where the models disagree (first {DISAGREEMENT_ROWS})</h3>")
            add("<p class=muted>Ranked by how evenly the models split at their fold thresholds, then by how far their probabilities lie on both sides. "
                "Dataset image ids only.</p>")
            add(_table([{"image": r["image_id"], "truth": r["truth"], **{f"p {n}": r["probabilities"][n] for n in jn},
                         **{f"call {n}": "positive" if r["calls"][n] else "negative" for n in jn}} for r in figs["disagreements"]]))
        add(f"<h3>Confidently wrong (one-class conformal set at {st['coverage']:.0%} coverage without the truth; first {WRONG_ROWS} per model)</h3>")
        for n, rows in figs["confidently_wrong"].items():
            add(f"<p><b>{_e(n)}</b></p>" + _table([{"image": r["image_id"], "truth": r["truth"], "set": r["set"], "p(truth)": r["p_truth"]} for r in rows]))
        add(_cmd(cmds["disagreements"]))

    add("<h2>Provenance</h2>")
    pv = figs["provenance"]
    add("<h3>Model cards' weights</h3>")
    add("<p class=muted>A composite model has no weights of its own: the models it is built from follow it, each with the SHA-256 its card "
        "records (the loader refuses a weights file whose hash differs).</p>")
    add(_table([{"model": w["model"], "kind": w["kind"], "weights SHA-256": w.get("sha256") or w.get("note"), "bytes": w.get("bytes"),
                 "shipped in git": w.get("shipped"), "built from": ", ".join(w.get("members") or []), "part of": w.get("part_of")} for w in pv["weights"]]))
    add("<h3>The data set's records</h3>")
    if pv["records"]:
        add("<p class=muted>SHA-256 of the sorted record facts of the films the out-of-fold figures use, one line a film: "
            f"{_e(', '.join(next(iter(pv['records'].values()))['fields']))} (tab-separated). Facts from {_e(pv['records_source'] or 'the records')}.</p>")
        add(_table([{"data set": k, "films": v["films"], "record digest (SHA-256)": v["sha256"]} for k, v in pv["records"].items()]))
    else:
        add(f"<p class=muted>Data set: {_e(', '.join(pv['datasets']))} (no out-of-fold films in this report).</p>")
    add(_cmd(cmds["provenance"]))
    add("<h3>Recompute everything</h3>")
    add("<p class=muted>This report, from the committed files:</p>" + f"<code class=cmd>{_e(cmds['report'])}</code>"
        + "<p class=muted>and every committed figure it rests on (the cards' test and out-of-fold figures, models/supervisor_figures.json):</p>"
        + f"<code class=cmd>{_e(cmds['check'])}</code>")

    # inert inside its script element: no "<", ">" or "&" (JSON reads the escapes back)
    data = json.dumps(figs, sort_keys=True, ensure_ascii=True, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    title = _e(f"Model comparison — {figs['task_title']}")
    return (f"<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8><meta name=viewport content=\"width=device-width, initial-scale=1\">"
            f"<title>{title}</title><style>{CSS}</style></head><body>\n" + "\n".join(parts)
            + f"\n<script type=\"application/json\" id=\"figures\">{data}</script>\n</body></html>\n")


def _ci(d: dict[str, Any] | None) -> str:
    if not d or d.get("ci_low") is None or d.get("ci_high") is None:
        return "—"
    return f"{d['ci_low']:.3f} to {d['ci_high']:.3f}"


def build_report(cards: Sequence[dict[str, Any]], task: str, *, colors: dict[str, str] | None = None, generated: str | None = None, **kw: Any) -> str:
    """The report of the chosen models' `cards` in `task` (`figures`' keywords), as one HTML string."""
    return render(figures(cards, task, **kw), colors, generated)


def embedded_figures(document: str) -> dict[str, Any]:
    """The numbers a report embeds (the JSON of its `figures` element)."""
    start = document.index('<script type="application/json" id="figures">') + len('<script type="application/json" id="figures">')
    end = document.index("</script>", start)
    return json.loads(document[start:end])
