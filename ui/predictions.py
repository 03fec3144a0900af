"""The models on one image, shared by Explore and Upload: one comparison table and chart
first, then each model's detail in a collapsed expander (its maps are drawn in the one
viewer, `ui.viewer`).

Draws whatever the `Prediction` carries, whatever kind of model made it: the decision and
probabilities (with their spread, if any), the conformal set and the stage trace.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from core import privacy
from core.serving import inference
from ui import cached, messages, profiles


def table_height(rows: int) -> int:
    """A dataframe's height that shows every row with no blank ones (Streamlit's 35 px rows)."""
    return 35 * (rows + 1) + 3


def detail(run: inference.ModelRun, color: str | None, badge: str | None = None, key: str | None = None) -> None:
    """One model's detail in a collapsed expander: decision, probabilities, conformal set,
    stage trace (members of an ensemble, stages of a hierarchy) and what its network sees.
    With a `key` it is drawn only while open (opening it reruns the page from the session's
    cached runs), so a page of fifteen models sends their labels, not fifteen inputs and traces
    nobody opened; the label says the decision and an uncertain conformal set. With a
    session recalibration profile on, the decision and probabilities are the profile's, labelled so."""
    shipped = run
    run, profile = profiles.recalibrated(run)
    icon = ":material/error:" if not run.ok else ":material/analytics:"
    coverage = float(st.session_state.get("coverage", 0.9))
    chosen = inference.prediction_set(shipped, cached.card_by_name().get(shipped.name), coverage)
    title = f"{run.name} — {run.decision}" + (f" ({run.task})" if run.task else "") + (f" · uncertain at {coverage:.0%}" if chosen and len(chosen) > 1 else "")
    box = st.expander(title, icon=icon, key=key, on_change="rerun") if key else st.expander(title, icon=icon)
    with box:
        if key and not box.open:
            return
        st.markdown(f"<span style='color:{color or '#444'}'>●</span> **{privacy.md_escape(run.name)}**", unsafe_allow_html=True)
        if not run.ok:
            messages.show_error(run.error or "no prediction", icon=":material/error:")
            return
        st.metric(f"decision: {run.decision}", f"{inference.decided_probability(run):.2f}", help="probability of the decided class")
        st.caption(privacy.md_escape(inference.probability_text(run)) + f" · {run.seconds:.2f} s")
        if profile is not None:
            st.caption(f":material/tune: **{privacy.md_escape(profiles.badge(profile))}** · as shipped: "
                       + privacy.md_escape(inference.probability_text(shipped)) + f", decision {privacy.md_escape(shipped.decision)}")
        _prediction_set(chosen, coverage)
        if badge:
            st.caption(badge)
        _trace(run)
        if run.model_input is not None:
            st.image(run.model_input, caption="what the network sees, after this model's preprocessing (patch models: the patch)", width=280,
                     alt=f"The input of {run.name} after its preprocessing.")


def comparison(runs: Sequence[inference.ModelRun], record=None, key: str = "comparison") -> None:
    """The models side by side on this image: one compact table and one chart (Upload, Explore)."""
    from core.dashboard import charts

    coverage = float(st.session_state.get("coverage", 0.9))
    frame = inference.comparison_frame(runs, cached.card_by_name(), coverage, record)
    if frame.empty:
        return
    profiles.switch(key)
    frame = _recalibrated_rows(frame, runs, coverage, record)
    st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_table", height=table_height(len(frame)),
                 column_config={"p(positive)": st.column_config.NumberColumn(format="%.3f"), "threshold": st.column_config.NumberColumn(format="%.3f"),
                                "spread": st.column_config.NumberColumn(format="%.3f"),
                                "prediction set": st.column_config.TextColumn(f"set at {coverage:.0%}", help="Split-conformal prediction set, calibrated on the model's out-of-fold predictions; two classes: uncertain."),
                                "right": st.column_config.CheckboxColumn("right", help="The decision against the known truth (dataset and sample images).")})
    if frame["p(positive)"].notna().any():
        st.plotly_chart(charts.against_threshold(frame, cached.colors()), width="stretch", key=f"{key}_chart",
                        alt="Dot plot: each model's probability of the positive class beside its own decision threshold.")


def _recalibrated_rows(frame, runs: Sequence[inference.ModelRun], coverage: float, record):
    """The comparison rows of models with an applied session profile, as the profile shows them
    (decision, probability, threshold, right), and a "calibration" column saying which rows are so.
    The conformal set stays the model's own (calibrated on its out-of-fold rows)."""
    swapped = [profiles.recalibrated(r) for r in runs]
    if not any(p is not None for _, p in swapped):
        return frame
    recal = inference.comparison_frame([r for r, _ in swapped], cached.card_by_name(), coverage, record)
    cols = ["decision", "p(positive)", "threshold", "spread", "right"]
    frame = frame.copy()
    mask = [p is not None for _, p in swapped]
    frame.loc[mask, cols] = recal.loc[mask, cols].to_numpy()
    frame.insert(frame.columns.get_loc("decision"), "calibration", ["recalibrated (session)" if p is not None else "as shipped" for _, p in swapped])
    return frame


def _prediction_set(chosen: Sequence[str] | None, coverage: float) -> None:
    if chosen is None:
        return
    if len(chosen) > 1:
        st.warning(f"Uncertain at {coverage:.0%} coverage: both {' and '.join(chosen)} fit (conformal set from this model's out-of-fold predictions).", icon=":material/help:")
    elif chosen:
        st.caption(f":material/verified: Prediction set at {coverage:.0%} coverage: {{{chosen[0]}}}")
    else:
        st.caption(f"No class fits at {coverage:.0%} coverage (empty conformal set).")


def _trace(run: inference.ModelRun) -> None:
    steps = inference.trace_steps(run)
    if not steps:
        return
    lines = []
    for s in steps:
        value = f" {privacy.md_escape(s['label'])} = **{s['value']:.3f}**" if s["value"] is not None else ""
        detail = f" · {privacy.md_escape(s['detail'])}" if s["detail"] else ""
        lines.append(f"- {privacy.md_escape(s['title'])}:{value}{detail}")
    st.markdown("**Stage trace**\n" + "\n".join(lines))
