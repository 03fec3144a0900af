"""Model cards: what each model is, how it was made, and how well it did."""
# ruff: noqa: E402  (the imports follow the first statement)

from ui.entry_navigation import run_through_entry_script

run_through_entry_script()  # first: a page run on its own (a fresh server's first request) goes through streamlit_app.py,
#                              which also draws this page's title (its HEADINGS)

import json

import streamlit as st

from core.dashboard import cards as dcards
from core.dashboard import charts
from core.models import kinds
from ui import cached, messages, share

messages.notice()

cards = cached.cards()
if not cards:
    st.info("No trained models in `models/` yet.", icon=":material/hourglass_empty:")
    st.stop()

names = [c["name"] for c in cards]
linked = share.take_list("models", names)
name = st.selectbox("Model", names, index=names.index(linked[0]) if linked else 0, key="card_model")
share.publish(models=[name])
card = cached.card_by_name()[name]
color = cached.colors().get(name)
st.markdown(f"## <span style='color:{color}'>●</span> {name}", unsafe_allow_html=True)
if card.get("description"):
    st.markdown(card["description"])
if card.get("smoke"):
    st.warning("Smoke-trained (a few steps, for testing the pipeline): its numbers mean nothing.", icon=":material/science:")
if not dcards.is_shipped(card):
    st.info("Its weights are not in git: the card and committed predictions are shown, but it cannot predict live here.", icon=":material/cloud_off:")

facts, arch = st.columns([3, 2])
with facts:
    st.markdown("**Facts**")
    facts_table = dcards.card_facts(card)
    st.table({"field": list(facts_table), "value": [str(v) for v in facts_table.values()]}, border="horizontal", hide_index=True, hide_header=True)
with arch:
    st.markdown("**Architecture**")
    st.json(card.get("architecture") or {"members": kinds.members(card), "thresholds": card.get("thresholds")}, expanded=True)
    st.markdown("**Preprocessing** (applied in this order, also at prediction time)")
    st.dataframe(dcards.preprocessing_table(card), hide_index=True, width="stretch")

tab_metrics, tab_train, tab_data, tab_recipe = st.tabs(["Metrics", "Training curves", "Data & split", "Recipe"])
with tab_metrics:
    st.dataframe(dcards.metrics_table(card), hide_index=True, width="stretch")
    readings = dcards.readings_table(card)
    if len(readings) > 1 or card.get("oof"):
        st.markdown("**In every task its output can be read in** — test split and out of fold")
        st.dataframe(readings, hide_index=True, width="stretch")
    test = card.get("test") or {}
    if test.get("confusion"):
        st.plotly_chart(charts.confusion(test["confusion"], test.get("confusion_labels") or card["classes"],
                                         f"Test confusion matrix (n={test.get('n_images')}, " + (f"threshold {test['threshold']:.2f})" if isinstance(test.get("threshold"), (int, float)) else "argmax)"), color), width="content", key="card_cm")
    ext = dcards.external_check_table(card)
    if not ext.empty:
        st.markdown("**External check** — the embedded CBIS-DDSM sample (never used for training)")
        summary = dcards.external_summary_text(card)
        if summary:
            st.caption(summary)
        st.dataframe(ext, hide_index=True, width="stretch")
with tab_train:
    hist = cached.history(card)
    if hist is None:
        st.info("No history.csv for this model.")
    else:
        losses, others = dcards.history_series(hist)
        a, b = st.columns(2)
        a.plotly_chart(charts.history(dcards.history_long(hist, losses), "Loss"), width="stretch", key="hist_loss")
        b.plotly_chart(charts.history(dcards.history_long(hist, others), "Validation figures"), width="stretch", key="hist_auc")
        st.caption("Dotted lines: the next unfreezing stage starts. The kept checkpoint is the epoch marked best.")
with tab_data:
    counts = dcards.split_counts_table(card)
    data = card.get("data") or {}
    st.markdown(f"Dataset **{data.get('dataset', '—')}**, split seed {data.get('split_seed', '—')}: {data.get('split', '—')}")
    if not counts.empty:
        st.dataframe(counts, width="stretch")
with tab_recipe:
    st.caption(f"Seed system followed: **{card.get('seed_system', '—')}** · recipe file `{card.get('recipe_file', '—')}`")
    st.code(json.dumps(card.get("recipe") or {}, indent=2), language="json")
