"""Compare 2–4 models of one task on their committed predictions, and two of them out of fold."""
# ruff: noqa: E402  (the imports follow the first statement)

from ui.entry_navigation import run_through_entry_script

run_through_entry_script()  # first: a page run on its own (a fresh server's first request) goes through streamlit_app.py,
#                              which also draws this page's title (its HEADINGS)

import streamlit as st

from core import privacy
from core.dashboard import cards as dcards
from core.dashboard import charts
from core.reports import curves as dcurves
from core.labels import space
from ui import cached, judging, messages, report_download, share

messages.notice()

cards = [c for c in dcards.rankable(cached.cards()) if cached.predictions(c) is not None]
if not cards:
    st.info("No model has committed predictions yet (models/<name>/predictions.csv).", icon=":material/hourglass_empty:")
    st.stop()

tasks = dcards.task_order(t for c in cards for t in dcards.tasks_of(c))
linked_task = share.take("task", tasks)  # a shared link's task, the default of a widget made now
task = st.segmented_control("Task", tasks, default=linked_task or tasks[0], format_func=dcards.short_task_title, key="compare_group") or tasks[0]
ranked = [r["model"] for r in cached.leaderboard_rows() if r["task"] == task]
candidates = sorted((c["name"] for c in cards if task in dcards.tasks_of(c)), key=lambda n: (ranked.index(n) if n in ranked else len(ranked), n))
by_name = cached.card_by_name()
colors = cached.colors()
st.caption(f"{dcards.task_title(task)}. Listed: every model whose output can be read in this task, in leaderboard order "
           "(a 3-class model is read as stage 1 with p(lesion) = 1 − p(normal) and as stage 2 with the malignant share of the lesion "
           "probability; a U-Net's image score is a stage-1 score).")

linked_models = share.take_list("models", candidates)
chosen = st.multiselect("Models (2–4)", candidates, default=(linked_models or candidates)[:4], max_selections=4, key=f"compare_models_{task}")
share.publish(task=task, models=chosen)
if not chosen:
    st.info("Pick at least one model.")
    st.stop()
if len(chosen) == 1:
    st.caption("Pick a second model to compare; showing one.")
report_download.button(by_name, chosen, task, colors)  # one HTML file of this page's parts, built when clicked (ui/report_download.py)

c1, c2 = st.columns([2, 1])
events = dcurves.events_for(task)
if len(events) > 1:
    event = c1.radio("Positive event", events, horizontal=True, key="compare_event", format_func=dcurves.EVENT_TEXT.get)
else:
    event = events[0]
    c1.markdown(f"Positive class: **{event}**")
split = c2.radio("Images", ["test", "val"], horizontal=True, key="compare_split", format_func=lambda s: {"test": "test split", "val": "validation split"}[s])

datasets = {(by_name[n].get("data") or {}).get("dataset") for n in chosen}
if len(datasets) > 1:
    st.warning("These models were trained and tested on different datasets; their curves are not on the same images.", icon=":material/warning:")

data = {n: cached.task_data(by_name[n], task) for n in chosen}
read = [n for n, td in data.items() if td is not None and not td.own]
if read:
    st.caption(":material/swap_horiz: Read in this task from their own classes: " + ", ".join(privacy.md_escape(n) for n in read) + ".")

st.subheader("Operating points")
st.caption("Move a slider to change that model's decision threshold; sensitivity, specificity, the confusion matrix and the dot on the ROC curve follow. Default: the threshold chosen on validation.")
points = {}
cols = st.columns(len(chosen))
for col, name in zip(cols, chosen):
    td = data[name]
    with col:
        st.markdown(f"<span style='color:{colors.get(name)};font-size:1.3em'>●</span> **{privacy.md_escape(name)}**", unsafe_allow_html=True)
        if td is None:
            st.info("No committed predictions.")
            continue
        t0 = round(dcurves.default_threshold(td, event), 2)
        thr = st.slider("threshold", 0.0, 1.0, float(min(max(t0, 0.0), 1.0)), 0.01, key=f"thr_{name}_{task}_{event}")
        op = dcurves.operating_point(td.frame, td.classes, thr, event, split)
        points[name] = op
        if op["n"] == 0:
            st.info(f"No {split} images.")
            continue
        m1, m2 = st.columns(2)
        m1.metric("Sensitivity", f"{op['sensitivity']:.2f}")
        m2.metric("Specificity", f"{op['specificity']:.2f}")
        st.plotly_chart(charts.confusion(op["confusion"], op["labels"], f"{split}, threshold {thr:.2f} (n={op['n']})", colors.get(name)), width="stretch", key=f"cm_{name}")
        if len(td.classes) > 2:
            cm3 = dcurves.confusion_3class(td.frame, td.classes, split)
            st.plotly_chart(charts.confusion(cm3, td.classes, "3 classes, as decided by the model", colors.get(name)), width="stretch", key=f"cm3_{name}")

rocs, prs, cals = {}, {}, {}
for name in chosen:
    if data[name] is None:
        continue
    r, p, c = cached.task_curves(by_name[name], task, event, split)
    if r is not None:
        rocs[name], prs[name], cals[name] = r, p, c

if not rocs:
    st.info(f"The {split} split of these models lacks one of the two classes, so no curves can be drawn.")
else:
    st.subheader("Curves")
    a, b = st.columns(2)
    a.plotly_chart(charts.roc(rocs, colors, points, f"ROC — {event}, {split} split"), width="stretch", key="roc", alt=f"ROC curves of {', '.join(rocs)} for {event}, {split} split.")
    b.plotly_chart(charts.pr(prs, colors, f"Precision–recall — {event}, {split} split"), width="stretch", key="pr", alt=f"Precision-recall curves of {', '.join(prs)} for {event}, {split} split.")
    a.plotly_chart(charts.calibration(cals, colors, f"Calibration — {event}, {split} split"), width="stretch", key="cal", alt=f"Calibration curves of {', '.join(cals)} for {event}, {split} split.")
    b.caption("AUC / average precision with 95 % patient-level bootstrap CIs (from the card where it has them, else recomputed). "
              "Calibration: predicted probability against how often the event really happened, in quantile bins.")

st.subheader("Out of fold: is one model better?")
oof_names = [c["name"] for c in dcurves.oof_candidates([by_name[n] for n in candidates], task)]
if not space(task).binary:
    st.caption("Out-of-fold comparisons are made per binary task: pick Stage 1 or Stage 2 above.")
elif len(oof_names) < 2:
    st.info(f"A paired out-of-fold comparison needs two models of this task with out-of-fold predictions "
            f"(models/<name>/oof_predictions.csv); {len(oof_names)} {'has' if len(oof_names) == 1 else 'have'} them.", icon=":material/hourglass_empty:")
else:
    st.caption("The paired patient-level bootstrap: both models' ROC AUC on the same out-of-fold images, patients resampled together "
               "1,000 times; the interval is of their difference. A 66-image test split cannot rank models; pooled out-of-fold predictions over every image can.")
    prefer = [n for n in chosen if n in oof_names] + [n for n in oof_names if n not in chosen]
    pa, pb = st.columns(2)
    model_a = pa.selectbox("Model A", prefer, index=0, key=f"compare_oof_a_{task}")
    rest = [n for n in prefer if n != model_a]
    model_b = pb.selectbox("Model B", rest, index=cached.distinct_rival(by_name[model_a], [by_name[n] for n in rest], task) or 0, key=f"compare_oof_b_{task}")
    with st.spinner("Bootstrapping patients…"):
        d = cached.paired_oof(by_name[model_a], by_name[model_b], task)
    if d is None:
        st.info("One of these models has no readable out-of-fold predictions.")
    else:
        m1, m2, m3 = st.columns(3)
        m1.metric("AUC difference A − B", f"{d['difference']:+.3f}", f"95 % CI {d['ci_low']:+.3f} to {d['ci_high']:+.3f}", delta_color="off", delta_arrow="off",
                  help="Paired patient-level bootstrap of the out-of-fold ROC AUC difference on the images both models scored.")
        m2.metric("A: out-of-fold AUC", f"{d['auc_a']:.3f}")
        m3.metric("B: out-of-fold AUC", f"{d['auc_b']:.3f}")
        st.plotly_chart(charts.paired(d, colors), width="stretch", key="paired_oof")
        st.caption(privacy.md_escape(dcurves.paired_text(d)) + f" Share of bootstrap differences above 0: {d['share_above_zero']:.0%}.")

own = dcards.versus_seeds_table(list(by_name.values()), task)
if not own.empty:
    st.subheader("Does our own recipe beat the seeds? Out of fold")
    st.caption("Each of the project's own recipes against every seed recipe of this task with a complete five-fold run, on the same "
               "held-out images (paired patient-level bootstrap). A seed recipe counts as beaten only when the whole 95 % interval is above 0.")
    st.dataframe(own, hide_index=True, width="stretch")

if not space(task).binary:
    st.subheader("3-class models on the same images")
    preds = {n: data[n].frame for n in chosen if data[n] is not None}
    table = dcurves.common_test_images(preds, split)
    if table.empty:
        st.info("These models share no images in this split (they were built on different datasets or splits).")
    else:
        st.dataframe(dcurves.agreement_summary(table, list(preds)), hide_index=True, width="stretch",
                     column_config={"accuracy": st.column_config.ProgressColumn("accuracy", format="%.2f", min_value=0, max_value=1)})
        with st.expander(f"Every shared {split} image ({len(table)})"):
            st.dataframe(table, hide_index=True, width="stretch")

if not space(task).binary:
    st.subheader("Flat or hierarchical? Out of fold")
    three = [by_name[n] for n in candidates if dcards.three_class_confusion(by_name[n])]
    if not three:
        st.caption("No 3-class model has out-of-fold decisions yet (models/<name>/oof_predictions.csv).")
    else:
        st.caption("Seed 001's question on every film, each decided by models that never saw it: the flat 3-class model's own decision "
                   "against the hierarchy's (stage 1, then stage 2 where stage 1 said lesion, each at its fold's validation threshold). "
                   "Figures with patient-level bootstrap 95 % intervals.")
        st.dataframe(dcards.three_class_oof_table(three), hide_index=True, width="stretch")
        cols = st.columns(len(three))
        for col, card in zip(cols, three):
            cm, labels = dcards.three_class_confusion(card)
            col.plotly_chart(charts.confusion(cm, labels, f"{card['name']}, out of fold (n={sum(map(sum, cm))})", colors.get(card["name"])),
                             width="stretch", key=f"cm_oof_{card['name']}")
        paired = dcards.flat_vs_hierarchy_table(three)
        if not paired.empty:
            st.markdown("**Paired difference, hierarchy − flat** (same images, patients resampled together)")
            st.dataframe(paired, hide_index=True, width="stretch")

if space(task).binary:
    coverage = float(st.session_state.get("coverage", 0.9))
    st.subheader("Uncertainty with a guarantee")
    sets = dcards.conformal_table([by_name[n] for n in candidates], task, coverage)
    if sets.empty:
        st.caption("Prediction sets need a model's complete out-of-fold run; none of the chosen models has one in this task.")
    else:
        st.caption(f"Split-conformal prediction sets at {coverage:.0%} coverage (the sidebar sets it), out of fold: each fold's images get sets calibrated on "
                   "the other folds' scores. *Coverage* is the share of images whose set holds the truth (patient-level bootstrap 95 % CI); a set with "
                   "both classes is *uncertain*. The Explore and Upload pages give every image its set, calibrated on all out-of-fold rows.")
        share = {"coverage": st.column_config.NumberColumn(format="%.3f"),
                 **{k: st.column_config.ProgressColumn(k, format="%.2f", min_value=0, max_value=1) for k in ("one-class sets", "uncertain (both classes)", "accuracy of one-class sets")}}
        st.dataframe(sets, hide_index=True, width="stretch", column_config=share, key="conformal_table")
    spread = dcards.uncertainty_table([by_name[n] for n in candidates], task)
    if not spread.empty:
        with st.expander("The spread rule it replaces: |p − threshold| < spread"):
            st.caption("Out of fold, an image was called uncertain when its spread (sd across augmentations and members) reached across the threshold: "
                       "most images were, and they were as accurate as the others, so the mark told the user nothing. The spread stays on each card as a number.")
            st.dataframe(spread, hide_index=True, width="stretch",
                         column_config={"accuracy": st.column_config.ProgressColumn("accuracy", format="%.2f", min_value=0, max_value=1)})

judging.draw(by_name, chosen, task, colors)  # slices, disagreements, operating points, decision curves (ui/judging.py)
