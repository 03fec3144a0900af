"""Compare 2–4 models of one task on their committed test predictions."""

import streamlit as st

from core import dashboard_data as dd
from ui import charts, common

st.title("Compare models")
common.notice()

GROUPS = {
    "stage1": ("Stage 1: normal vs lesion", ("stage1",)),
    "stage2": ("Stage 2: benign vs malignant", ("stage2",)),
    "3class": ("3 classes: flat classifier vs hierarchical pipeline", ("flat3", "hierarchy")),
}
cards = [c for c in dd.classifier_cards(common.cards()) if common.predictions(c) is not None]
if not cards:
    st.info("No model has committed predictions yet (models/<name>/predictions.csv).", icon=":material/hourglass_empty:")
    st.stop()

present = [g for g, (_, tasks) in GROUPS.items() if any(c["task"] in tasks for c in cards)]
group = st.segmented_control("Task", present, default=present[0], format_func=lambda g: GROUPS[g][0], key="compare_group") or present[0]
tasks = GROUPS[group][1]
candidates = [c["name"] for c in cards if c["task"] in tasks]
by_name = common.card_by_name()
colors = common.colors()

chosen = st.multiselect("Models (2–4)", candidates, default=candidates[:4], max_selections=4, key=f"compare_models_{group}")
if not chosen:
    st.info("Pick at least one model.")
    st.stop()
if len(chosen) == 1:
    st.caption("Pick a second model to compare; showing one.")

c1, c2 = st.columns([2, 1])
events = dd.events_for(by_name[chosen[0]]["task"])
if len(events) > 1:
    event = c1.radio("Positive event", events, horizontal=True, key="compare_event",
                     format_func=lambda e: {"malignant": "malignant vs rest", "lesion": "lesion (benign + malignant) vs normal"}[e])
else:
    event = events[0]
    c1.markdown(f"Positive class: **{event}**")
split = c2.radio("Images", ["test", "val"], horizontal=True, key="compare_split", format_func=lambda s: {"test": "test split", "val": "validation split"}[s])

datasets = {(by_name[n].get("data") or {}).get("dataset") for n in chosen}
if len(datasets) > 1:
    st.warning("These models were trained and tested on different datasets; their curves are not on the same images.", icon=":material/warning:")

st.subheader("Operating points")
st.caption("Move a slider to change that model's decision threshold; sensitivity, specificity, the confusion matrix and the dot on the ROC curve follow. Default: the threshold chosen on validation.")
points = {}
cols = st.columns(len(chosen))
for col, name in zip(cols, chosen):
    card = by_name[name]
    pred = common.predictions(card)
    with col:
        st.markdown(f"<span style='color:{colors.get(name)};font-size:1.3em'>●</span> **{name}**", unsafe_allow_html=True)
        t0 = round(dd.default_threshold(card, pred, event), 2)
        thr = st.slider("threshold", 0.0, 1.0, float(min(max(t0, 0.0), 1.0)), 0.01, key=f"thr_{name}_{event}")
        op = dd.operating_point(pred, card["classes"], thr, event, split)
        points[name] = op
        if op["n"] == 0:
            st.info(f"No {split} images.")
            continue
        m1, m2 = st.columns(2)
        m1.metric("Sensitivity", f"{op['sensitivity']:.2f}")
        m2.metric("Specificity", f"{op['specificity']:.2f}")
        st.plotly_chart(charts.confusion(op["confusion"], op["labels"], f"{split}, threshold {thr:.2f} (n={op['n']})", colors.get(name)), width="stretch", key=f"cm_{name}")
        if len(card["classes"]) == 3:
            cm3 = dd.confusion_3class(pred, card["classes"], split)
            st.plotly_chart(charts.confusion(cm3, card["classes"], "3 classes, as decided by the model", colors.get(name)), width="stretch", key=f"cm3_{name}")

rocs, prs, cals = {}, {}, {}
for name in chosen:
    card, pred = by_name[name], common.predictions(by_name[name])
    r = dd.roc_curve_data(card, pred, event, split)
    if r is None:
        continue
    rocs[name] = r
    prs[name] = dd.pr_curve_data(card, pred, event, split)
    cals[name] = dd.calibration_data(card, pred, event, split)

if not rocs:
    st.info(f"The {split} split of these models lacks one of the two classes, so no curves can be drawn.")
else:
    st.subheader("Curves")
    a, b = st.columns(2)
    a.plotly_chart(charts.roc(rocs, colors, points, f"ROC — {event}, {split} split"), width="stretch", key="roc")
    b.plotly_chart(charts.pr(prs, colors, f"Precision–recall — {event}, {split} split"), width="stretch", key="pr")
    a.plotly_chart(charts.calibration(cals, colors, f"Calibration — {event}, {split} split"), width="stretch", key="cal")
    b.caption("AUC / average precision with 95 % patient-level bootstrap CIs (from the card where it has them, else recomputed). "
              "Calibration: predicted probability against how often the event really happened, in quantile bins.")

if group == "3class":
    st.subheader("Flat 3-class vs hierarchical, on the same images")
    preds = {n: common.predictions(by_name[n]) for n in chosen}
    table = dd.common_test_images(preds, split)
    if table.empty:
        st.info("These models share no images in this split (they were built on different datasets or splits).")
    else:
        st.dataframe(dd.agreement_summary(table, chosen), hide_index=True, width="stretch",
                     column_config={"accuracy": st.column_config.ProgressColumn("accuracy", format="%.2f", min_value=0, max_value=1)})
        with st.expander(f"Every shared {split} image ({len(table)})"):
            st.dataframe(table, hide_index=True, width="stretch")
