"""Model cards: what each model is, how it was made, and how well it did."""

import json

import streamlit as st

from core import dashboard_data as dd
from ui import charts, common

st.title("Model cards")
common.notice()

cards = common.cards()
if not cards:
    st.info("No trained models in `models/` yet.", icon=":material/hourglass_empty:")
    st.stop()

name = st.selectbox("Model", [c["name"] for c in cards], key="card_model")
card = common.card_by_name()[name]
color = common.colors().get(name)
st.markdown(f"## <span style='color:{color}'>●</span> {name}", unsafe_allow_html=True)
if card.get("description"):
    st.markdown(card["description"])
if card.get("smoke"):
    st.warning("Smoke-trained (a few steps, for testing the pipeline): its numbers mean nothing.", icon=":material/science:")
if not dd.is_shipped(card):
    st.info("Its weights are not in git: the card and committed predictions are shown, but it cannot predict live here.", icon=":material/cloud_off:")

facts, arch = st.columns([3, 2])
with facts:
    st.markdown("**Facts**")
    facts_table = dd.card_facts(card)
    st.table({"field": list(facts_table), "value": [str(v) for v in facts_table.values()]}, border="horizontal", hide_index=True, hide_header=True)
with arch:
    st.markdown("**Architecture**")
    st.json(card.get("architecture") or {"stage1": card.get("stage1"), "stage2": card.get("stage2"), "thresholds": card.get("thresholds")}, expanded=True)
    st.markdown("**Preprocessing** (applied in this order, also at prediction time)")
    st.dataframe(dd.preprocessing_table(card), hide_index=True, width="stretch")

tab_metrics, tab_train, tab_data, tab_recipe = st.tabs(["Metrics", "Training curves", "Data & split", "Recipe"])
with tab_metrics:
    st.dataframe(dd.metrics_table(card), hide_index=True, width="stretch")
    test = card.get("test") or {}
    if test.get("confusion"):
        st.plotly_chart(charts.confusion(test["confusion"], test.get("confusion_labels") or card["classes"],
                                         f"Test confusion matrix (n={test.get('n_images')}, " + (f"threshold {test['threshold']:.2f})" if isinstance(test.get("threshold"), (int, float)) else "argmax)"), color), width="content", key="card_cm")
    ext = dd.external_check_table(card)
    if not ext.empty:
        st.markdown("**External check** — the embedded CBIS-DDSM sample (never used for training)")
        st.dataframe(ext, hide_index=True, width="stretch")
with tab_train:
    hist = common.history(card)
    if hist is None:
        st.info("No history.csv for this model.")
    else:
        a, b = st.columns(2)
        a.plotly_chart(charts.history(dd.history_long(hist, ["train_loss", "val_loss"]), "Loss"), width="stretch", key="hist_loss")
        b.plotly_chart(charts.history(dd.history_long(hist, ["val_auc", "val_accuracy"]), "Validation AUC and accuracy"), width="stretch", key="hist_auc")
        st.caption("Dotted lines: the next unfreezing stage starts. The kept checkpoint is the epoch marked best.")
with tab_data:
    counts = dd.split_counts_table(card)
    data = card.get("data") or {}
    st.markdown(f"Dataset **{data.get('dataset', '—')}**, split seed {data.get('split_seed', '—')}: {data.get('split', '—')}")
    if not counts.empty:
        st.dataframe(counts, width="stretch")
with tab_recipe:
    st.caption(f"Seed system followed: **{card.get('seed_system', '—')}** · recipe file `{card.get('recipe_file', '—')}`")
    st.code(json.dumps(card.get("recipe") or {}, indent=2), language="json")
