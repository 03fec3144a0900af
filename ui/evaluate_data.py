"""Explore's "Evaluate the chosen models on this data": a bounded local score of the shown
images (the same steps as `python -m core score`), then the cards' leaderboard, curves and
confusion matrices for this data, and the rows as CSV / Parquet; then a threshold and a
calibration fitted on these rows with patient-level cross-validation (before / after, with
intervals), applied for the session (`ui.profiles`) or saved beside the data when asked.

A run goes model by model; every finished row is kept in the session, so Cancel (or any
other click, which stops a running script in Streamlit) keeps them and Run continues.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

import pandas as pd
import streamlit as st

from core import privacy
from core.dashboard import charts
from core.reports import curves as dcurves
from core.datasets import resolve_root
from core.errors import CalibrationError, MammoError
from core.evaluation import recalibration
from core.labels import space, tasks_for
from core.score import local
from core.score import metrics as smetrics
from core.score.plan import make_plan
from core.types import Record
from ui import cached, messages, profiles
from ui.data_roots import allowed_data_dir, models_dir
from ui.datasets import DATASET_NAMES

MAX_IMAGES = 200
DEFAULT_IMAGES = 24
RECAL_BOOT = 500
PROFILE_FOLDER = "mammo-calibration"  # made inside the data folder, only when the user saves


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
            _results(state, key, dataset)


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


def _results(state: dict, key: str, dataset: str) -> None:
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
    _recalibration(frame[frame["error"].isna()], key, dataset)


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


# --------------------------------------------------------------------------- recalibration
def _recalibration(frame: pd.DataFrame, key: str, dataset: str) -> None:
    """"Fit threshold and calibration for this data": per two-class model, cross-validated by
    patient; before / after table and reliability chart; apply for the session or save beside the data."""
    st.markdown("##### Fit threshold and calibration for this data")
    names = list(dict.fromkeys(frame["model"]))
    binary = [m for m in names if len(smetrics.model_classes(frame, m)) == 2]
    if not binary:
        st.info("Recalibration fits two-class models (stage 1, stage 2, segmentation scores); the chosen models give three classes.")
        return
    if frame["label"].nunique() < 2:
        st.info(f"These films hold one class only (every film is {frame['label'].iloc[0]}): a threshold and a calibration need labelled films "
                "of both classes, so this data cannot recalibrate a model.", icon=":material/block:")
        return
    rkey = f"{key}_recal"
    c1, c2 = st.columns([3, 1])
    method = c1.radio("Calibration", list(recalibration.METHODS), format_func=recalibration.METHODS.get, horizontal=True, key=f"{rkey}_method")
    fit = c2.button("Fit", icon=":material/tune:", key=f"{rkey}_fit")
    st.caption(f"Patient-level {recalibration.N_SPLITS}-fold cross-validation (stratified by class, a patient's films in one part): the calibration "
               "and the threshold (Youden's J, as the cards choose theirs) are fitted on the training parts and judged on the held-out part. "
               "*As shipped*: the model's probability at its card's threshold. Intervals: 95 % patient bootstrap "
               f"({RECAL_BOOT} resamples). What *Apply* uses is fitted on every row.")
    others = [m for m in names if m not in binary]
    if others:
        st.caption(f"Not recalibrated (three classes): {privacy.md_escape(', '.join(others))}.")
    if fit:
        st.session_state[rkey] = _fit(frame, binary, str(method), dataset) | {"rows": len(frame), "method": method}
    state = st.session_state.get(rkey)
    if not state:
        return
    if (state["rows"], state["method"]) != (len(frame), method):
        st.caption(":material/update: Fitted on other rows or with another method: press Fit again to update.")
    for m, msg in state["errors"].items():
        messages.show_error(f"{m} cannot be recalibrated on this data: {msg}", icon=":material/block:")
    fits = state["fits"]
    if not fits:
        return
    table = pd.concat([cv.table().assign(model=m) for m, (cv, _) in fits.items()], ignore_index=True)
    table = table[["model"] + [c for c in table.columns if c != "model"]]
    st.dataframe(table, hide_index=True, width="stretch", key=f"{rkey}_table",
                 column_config={c: st.column_config.NumberColumn(format="%.3f") for c in table.columns if c not in ("model", "", "threshold")})
    st.caption("Out of fold: ECE (10 equal-width bins) and Brier score (lower is better), sensitivity and specificity at the threshold. "
               "The recalibrated threshold is chosen in each training part, so its range across parts is shown. ECE is biased upward on "
               "few films, so its bootstrap interval can lie above its value.")
    st.plotly_chart(_reliability_chart(fits), width="stretch", key=f"{rkey}_chart",
                    alt="Reliability chart: observed share of positives against mean predicted probability, before and after recalibration, out of fold.")
    a, b = st.columns(2)
    if a.button("Apply for this session", type="primary", icon=":material/check:", key=f"{rkey}_apply",
                help="Explore and Upload then show these models' probability and decision from the fitted profile, labelled so, until you turn it off."):
        profiles.put(p for _, p in fits.values())
    if b.button("Save beside the data", icon=":material/save:", key=f"{rkey}_save",
                help=f"Writes one JSON profile a model into a {PROFILE_FOLDER} folder inside this data folder (never into the models folder)."):
        _save(dataset, [p for _, p in fits.values()])
    held = profiles.stored()
    if any(held.get(m) is p for m, (_, p) in fits.items()):
        st.success("Applied for this session: Explore and Upload show these models recalibrated, labelled on screen, with a toggle to turn it off.",
                   icon=":material/tune:")


def _fit(frame: pd.DataFrame, names: Sequence[str], method: str, dataset: str) -> dict:
    fits, errors = {}, {}
    kind = DATASET_NAMES.get(dataset, "labelled")
    with st.spinner("Fitting…"):
        for m in names:
            task = tasks_for(smetrics.model_classes(frame, m))[0]
            rows, classes = smetrics.task_frame(frame, m, task)
            data = recalibration.binary_rows(rows, space(task).positive)
            try:
                fits[m] = recalibration.recalibrate(data, method, model=m, task=task, classes=classes, fitted_on=f"{kind} data",
                                                    threshold_before=smetrics.thresholds(frame, m).get(task), n_boot=RECAL_BOOT)
            except CalibrationError as exc:
                errors[m] = str(exc)
    return {"fits": fits, "errors": errors}


def _reliability_chart(fits: dict):
    import plotly.graph_objects as go

    colors = cached.colors()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="perfectly calibrated", hoverinfo="skip"))
    for m, (cv, _) in fits.items():
        y = cv.oof["y"].to_numpy()
        for column, dash, arm, figs in (("score", "dash", "as shipped", cv.before), ("calibrated", "solid", "recalibrated", cv.after)):
            r = recalibration.reliability(y, cv.oof[column].to_numpy())
            fig.add_trace(go.Scatter(x=r["predicted"], y=r["observed"], mode="lines+markers", line=dict(color=colors.get(m), dash=dash, width=2),
                                     name=f"{m} — {arm} (ECE {figs['ece']['value']:.3f})", customdata=r["films"],
                                     hovertemplate="predicted %{x:.2f}, observed %{y:.2f} (%{customdata} films)<extra></extra>"))
    fig.update_xaxes(title="mean predicted probability (out of fold)", range=[0, 1])
    fig.update_yaxes(title="observed share of positives", range=[0, 1])
    fig.update_layout(title="Reliability before (dashed) and after (solid)", height=430, margin=dict(l=10, r=10, t=50, b=10))
    return fig


def _save(dataset: str, fitted: Sequence[recalibration.CalibrationProfile]) -> None:
    """One JSON a model in a folder inside the data folder; never in the models folder, never a path on screen."""
    folder = None if dataset == "sample" else allowed_data_dir(st.session_state.get("data_dir"))
    if folder is None:
        st.warning("This data set has no data folder on this server to save beside: the profiles stay in this session only.", icon=":material/info:")
        return
    try:
        target = (resolve_root(dataset, folder) / PROFILE_FOLDER).resolve()
        models = Path(models_dir()).resolve()
        if target == models or models in target.parents:
            raise PermissionError("inside the models folder")
        target.mkdir(exist_ok=True)
        for p in fitted:
            safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in p.model)
            (target / f"{safe}.json").write_text(p.to_json(), encoding="utf-8")
    except (OSError, MammoError):
        st.warning("The profiles could not be written beside the data (the folder is read-only or not yours to write): they stay in this "
                   "session only.", icon=":material/lock:")
        return
    st.success(f"Saved {len(fitted)} profile(s) beside the data, in its {PROFILE_FOLDER} folder (one JSON a model).", icon=":material/save:")
