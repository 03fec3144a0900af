"""Explore's "Evaluate the chosen models on this data": a bounded local score of the shown
images (the same steps as `python -m core score`), then the cards' leaderboard, curves and
confusion matrices for this data, and the rows as CSV / Parquet.

A run goes model by model; every finished row is kept in the session, so Cancel (or any
other click, which stops a running script in Streamlit) keeps them and Run continues.
"""

from __future__ import annotations

import io
from typing import Sequence

import pandas as pd
import streamlit as st

from core import privacy
from core.reports import curves as dcurves
from core.errors import MammoError
from core.score import local
from core.score import metrics as smetrics
from core.score.plan import make_plan
from core.types import Record
from ui import cached, charts, messages
from ui.data_roots import models_dir

MAX_IMAGES = 200
DEFAULT_IMAGES = 24


def section(records: Sequence[Record], dataset: str, models: Sequence[str]) -> None:
    """The whole section, in one expander under the filters."""
    with_file = [r for r in records if r.path]
    with st.expander("Evaluate the chosen models on this data", icon=":material/leaderboard:"):
        if not models:
            st.info("Choose models in the sidebar to evaluate them on this data.")
            return
        if len(with_file) < 2:
            st.info("At least two images with their files are needed (CBIS-DDSM ships its metadata separately from the DICOMs).")
            return
        key = f"evaldata_{dataset}"
        state = st.session_state.get(key)
        c1, c2, c3 = st.columns([2, 1, 1])
        n = c1.number_input("Images (taken in turn from each class, at most)", 2, min(MAX_IMAGES, len(with_file)), min(DEFAULT_IMAGES, len(with_file)), key=f"{key}_n")
        run = c2.button("Run", type="primary", icon=":material/play_arrow:", key=f"{key}_run")
        c3.button("Cancel", icon=":material/stop:", key=f"{key}_cancel", help="Stops after the current image; finished rows are kept.")
        st.caption(f"{len(with_file)} images shown by the filters; each chosen model runs on the chosen number of them, here on this server "
                   "(`python -m core score` runs a whole archive on Ray). Models run one after the other.")
        if state and state.get("running"):  # the previous run was stopped by a click
            state["running"] = False
            state["cancelled"] = True
        if run:
            chosen = local.pick(with_file, int(n))
            same = state and state["models"] == list(models) and state["ids"] == [r.image_id for r in chosen]
            state = state if same else {"models": list(models), "ids": [r.image_id for r in chosen], "rows": []}
            state.update(running=True, cancelled=False)
            st.session_state[key] = state
            _run(state, chosen, dataset)
            state["running"] = False
        if state and state["rows"]:
            _results(state, key)


def _run(state: dict, chosen: Sequence[Record], dataset: str) -> None:
    """Score `chosen` with each model in turn, skipping rows the session already has."""
    try:
        plan = make_plan(state["models"], models_dir())
    except MammoError as exc:
        messages.friendly_error(exc, "These models cannot be evaluated")
        return
    done = {(r["image_id"], r["model"]) for f in state["rows"] for r in f[["image_id", "model"]].to_dict("records")}
    bars = {m: st.progress(0.0, text=f"{m}: waiting") for m in plan.names}
    for m in plan.names:
        todo = [r for r in chosen if (r.image_id, m) not in done]
        have = len(chosen) - len(todo)
        bars[m].progress(have / len(chosen), text=f"{m}: {have} of {len(chosen)}")
        for row in local.score_model(todo, plan, m, dataset):
            state["rows"].append(row)
            have += 1
            bars[m].progress(have / len(chosen), text=f"{m}: {have} of {len(chosen)}")


def _results(state: dict, key: str) -> None:
    frame = pd.concat(state["rows"], ignore_index=True)
    expected = len(state["ids"]) * len(state["models"])
    if len(frame) < expected:
        st.warning(f"{'Cancelled' if state.get('cancelled') else 'Incomplete'}: {len(frame)} of {expected} image × model rows. Run again to continue.",
                   icon=":material/pause_circle:")
    errors = frame[frame["error"].notna()]
    if len(errors):
        st.caption(f"{len(errors)} row(s) with an error are left out of the figures (unreadable file or failing model).")
        with st.popover("Errors"):
            st.dataframe(errors[["image_id", "model", "error"]], hide_index=True)
    results = smetrics.evaluate_scores(frame, n_boot=200)
    table = smetrics.leaderboard(results)
    tasks = list(dict.fromkeys(table["task"])) if not table.empty else []
    if not tasks:
        st.info("No model could be judged on these images yet.")
        return
    task = st.pills("Task", tasks, default=tasks[0], key=f"{key}_task") or tasks[0]
    shown = table[table["task"] == task].drop(columns=["task"]).dropna(axis=1, how="all")  # e.g. macro F1 in a binary task
    st.dataframe(shown, hide_index=True, width="stretch", key=f"{key}_table_{task}",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in ("ROC AUC", "AUC low", "AUC high", "PR AUC", "sensitivity", "specificity", "macro F1", "balanced acc.", "Brier", "threshold")})
    st.caption("The cards' metrics on these images: ROC AUC with its 95 % patient-level bootstrap CI (200 resamples); sensitivity and "
               "specificity at each model's validation-chosen threshold. A class folder gives no patient ids, so each image is its own patient.")
    _charts(frame, task, key)
    d1, d2 = st.columns(2)
    d1.download_button("Predictions (CSV)", privacy.neutralise_csv(frame.to_csv(index=False)), file_name="evaluation.csv", mime="text/csv", icon=":material/table:", key=f"{key}_csv")
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    d2.download_button("Predictions (Parquet)", buf.getvalue(), file_name="evaluation.parquet", mime="application/octet-stream", icon=":material/dataset:", key=f"{key}_parquet")


def _charts(frame: pd.DataFrame, task: str, key: str) -> None:
    colors = cached.colors()
    events = dcurves.events_for(task)
    event = st.radio("Positive event", events, horizontal=True, key=f"{key}_event_{task}", format_func=lambda e: dcurves.EVENT_TEXT.get(e, e)) if len(events) > 1 else events[0]
    names = [m for m, t in smetrics.pairs(frame) if t == task]
    data = {m: smetrics.task_data(frame, m, task) for m in names}
    rocs, prs, cals, points = {}, {}, {}, {}
    for m, td in data.items():
        if td.frame.empty:
            continue
        points[m] = dcurves.operating_point(td.frame, td.classes, dcurves.default_threshold(td, event), event, "all")
        r, p, c = dcurves.task_curves(td, event, "all")
        if r is not None:
            rocs[m], prs[m], cals[m] = r, p, c
    if rocs:
        a, b = st.columns(2)
        a.plotly_chart(charts.roc(rocs, colors, points, f"ROC — {event}"), width="stretch", key=f"{key}_roc")
        b.plotly_chart(charts.pr(prs, colors, f"Precision–recall — {event}"), width="stretch", key=f"{key}_pr")
        a.plotly_chart(charts.calibration(cals, colors, f"Calibration — {event}"), width="stretch", key=f"{key}_cal")
    else:
        st.info("These images hold one class only in this task, so no curve can be drawn; the confusion matrices below still count them.")
    cols = st.columns(min(3, max(1, len(points))))
    for i, (m, op) in enumerate(points.items()):
        with cols[i % len(cols)]:
            st.plotly_chart(charts.confusion(op["confusion"], op["labels"], f"{m} @ {op['threshold']:.2f} (n={op['n']})", colors.get(m)), width="stretch", key=f"{key}_cm_{m}")
            td = data[m]
            if len(td.classes) > 2:
                st.plotly_chart(charts.confusion(dcurves.confusion_3class(td.frame, td.classes, "all"), td.classes, f"{m}: 3 classes as decided", colors.get(m)),
                                width="stretch", key=f"{key}_cm3_{m}")
