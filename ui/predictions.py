"""One model's prediction on one image as a bordered card, shared by Explore and Upload.

Draws whatever the `Prediction` carries, whatever kind of model made it: the decision and
probabilities (with their spread, if any), the stage trace, and a "Map layer" selector over
every map (Grad-CAM saliency, patch scores, segmentation) with an opacity slider and, for a
map that has a threshold, a threshold slider that outlines the region.
"""

from __future__ import annotations

from typing import Sequence

import streamlit as st

from core import privacy
from core.dashboard import inference, overlays
from core.dashboard.export import Choice
from core.types import Lesion
from ui import common

NO_LAYER = "__none__"


def run_card(run: inference.ModelRun, base8, scale: float, lesions: Sequence[Lesion], prefix: str, color: str | None,
             badge: str | None = None) -> Choice:
    """Draw one model's card; returns the layer choice (map key, opacity, threshold) for the PNG export."""
    with st.container(border=True):
        task = f" <small>({privacy.md_escape(run.task)})</small>" if run.task else ""
        st.markdown(f"<span style='color:{color or '#444'}'>●</span> **{privacy.md_escape(run.name)}**{task}", unsafe_allow_html=True)
        if not run.ok:
            common.show_error(run.error or "no prediction", icon=":material/error:")
            return (None, 0.0, None)
        st.metric(f"decision: {run.decision}", f"{inference.decided_probability(run):.2f}", help="probability of the decided class")
        st.caption(privacy.md_escape(inference.probability_text(run)))
        _prediction_set(run)
        if badge:
            st.caption(badge)
        _trace(run)
        return _layer(run, base8, scale, lesions, prefix)


def comparison(runs: Sequence[inference.ModelRun], record=None, key: str = "comparison") -> None:
    """The models side by side on this image: one compact table and one chart (Upload, Explore)."""
    from ui import charts

    coverage = float(st.session_state.get("coverage", 0.9))
    frame = inference.comparison_frame(runs, common.card_by_name(), coverage, record)
    if frame.empty:
        return
    st.dataframe(frame, hide_index=True, width="stretch", key=f"{key}_table", height=38 * (len(frame) + 1) + 8,
                 column_config={"p(positive)": st.column_config.NumberColumn(format="%.3f"), "threshold": st.column_config.NumberColumn(format="%.3f"),
                                "spread": st.column_config.NumberColumn(format="%.3f"),
                                "prediction set": st.column_config.TextColumn(f"set at {coverage:.0%}", help="Split-conformal prediction set, calibrated on the model's out-of-fold predictions; two classes: uncertain."),
                                "right": st.column_config.CheckboxColumn("right", help="The decision against the known truth (dataset and sample images).")})
    if frame["p(positive)"].notna().any():
        st.plotly_chart(charts.against_threshold(frame, common.colors()), width="stretch", key=f"{key}_chart",
                        alt="Dot plot: each model's probability of the positive class beside its own decision threshold.")


def _prediction_set(run: inference.ModelRun) -> None:
    coverage = float(st.session_state.get("coverage", 0.9))
    chosen = inference.prediction_set(run, common.card_by_name().get(run.name), coverage)
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


def _layer(run: inference.ModelRun, base8, scale: float, lesions: Sequence[Lesion], prefix: str) -> Choice:
    maps = run.maps
    if not maps:
        st.image(overlays.overlay_image(base8, None, 0.0, lesions, scale), width="stretch", caption="this model gives no map",
                 alt=f"The mammogram as seen by {run.name}, which gives no map.")
        return (None, 0.0, None)
    names = inference.layer_options(run)
    options = list(names) + [NO_LAYER]
    key = st.selectbox("Map layer", options, index=0, key=f"{prefix}_layer_{run.name}",
                       format_func=lambda k: "none (the mammogram only)" if k == NO_LAYER else names[k],
                       help="Every map this model returns, drawn on the original mammogram.")
    if key == NO_LAYER:
        st.image(overlays.overlay_image(base8, None, 0.0, lesions, scale), width="stretch", caption="the mammogram, no map",
                 alt="The mammogram without a map layer.")
        return (None, 0.0, None)
    layer = maps[key]
    opacity = st.slider("Opacity", 0.0, 1.0, 0.45, 0.05, key=f"{prefix}_opacity_{run.name}")
    threshold = None
    if layer.threshold is not None:
        threshold = st.slider("Outline threshold", 0.0, 1.0, float(min(max(layer.threshold, 0.0), 1.0)), 0.01, key=f"{prefix}_thr_{run.name}_{key}",
                              help="The region where the map reaches this level is outlined in magenta; the default is the model's own threshold.")
    st.image(overlays.overlay_image(base8, layer, opacity, lesions, scale, threshold), width="stretch", caption=overlays.layer_caption(layer, threshold),
             alt=f"The mammogram with {run.name}'s map drawn in colour: {overlays.layer_caption(layer, threshold)}.")
    if threshold is not None:
        share = overlays.region_fraction(overlays.layer_at(layer, base8.shape[:2]), threshold)
        st.caption(f"{share:.1%} of the image is at or above {threshold:.2f}.")
    return (key, opacity, threshold)
