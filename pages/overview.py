"""Overview: the leaderboard per task, out-of-fold and test side by side, ranked out of fold (cards only, no framework import)."""
# ruff: noqa: E402  (the imports follow the first statement)

from ui.entry_navigation import run_through_entry_script

run_through_entry_script()  # first: a page run on its own (a fresh server's first request) goes through streamlit_app.py,
#                              which also draws this page's title (its HEADINGS)

import streamlit as st

from core.dashboard import cards as dcards
from core.dashboard import charts
from ui import cached, share

st.warning(f"**{dcards.NOTICE}**", icon=":material/health_and_safety:")
st.markdown(
    "Five published mammography systems, reproduced as models trained here on mini-MIAS "
    "(322 film mammograms) and checked on the embedded CBIS-DDSM sample. Every number below comes from the committed model "
    "cards and prediction files. **Out of fold**: pooled predictions of a patient-level 5-fold cross-validation over all images "
    "(what ranks the models); **test**: the fixed held-out test patients (what each card reports). Both with 95 % "
    "patient-level bootstrap CIs."
)

rows = cached.leaderboard_rows()
if not rows:
    st.info("No trained models in `models/` yet. Train one with `python -m core train recipes/<recipe>.yaml`.", icon=":material/hourglass_empty:")
    st.stop()

tasks = dcards.leaderboard_tasks(rows)
n_models = len({r["model"] for r in rows})
c1, c2, c3 = st.columns(3)
c1.metric("Models", n_models)
c2.metric("With out-of-fold predictions", len({r["model"] for r in rows if r.get("oof_roc_auc")}))
c3.metric("Weights in this checkout", len({r["model"] for r in rows if r.get("shipped", True)}))

st.subheader("Leaderboard")
linked = share.take("task", tasks)  # a shared link's task, the default of a widget made now
task = st.pills("Task", tasks, default=linked or tasks[0], format_func=dcards.short_task_title, key="overview_task") or tasks[0]
share.publish(task=task)
task_rows = [r for r in rows if r["task"] == task]
table = dcards.leaderboard_frame(task_rows)
st.caption(f"{dcards.task_title(task)}. Ranked by out-of-fold ROC AUC, then test ROC AUC for models without out-of-fold "
           "predictions. A model whose output has more classes is also read in this task (a 3-class model as stage 1 and stage 2, "
           "a U-Net's image score as stage 1). Click a column header to sort.")
config = {
    "rank": st.column_config.NumberColumn("#", width="small", pinned=True),
    "model": st.column_config.TextColumn("model", pinned=True),
    "weights shipped": st.column_config.CheckboxColumn("weights shipped"),
    "CPU ms": st.column_config.NumberColumn(format="%.0f"),
    "threshold": st.column_config.NumberColumn(format="%.3f"),
}
for col in ("OOF ROC AUC", "OOF PR AUC", "test ROC AUC", "sensitivity", "specificity", "macro F1", "balanced acc."):
    config[col] = st.column_config.NumberColumn(col, format="%.3f")
st.dataframe(table, hide_index=True, width="stretch", column_config=config, key=f"leaderboard_{task}")

st.plotly_chart(charts.ranking(task_rows, cached.colors(), f"ROC AUC — {dcards.short_task_title(task)}: out of fold (●) and test (◇)"),
                width="stretch", key="auc_ci", alt=f"Dot plot of each model's ROC AUC with 95 % intervals, out of fold and on the test split, {dcards.short_task_title(task)}.")
st.caption("Binary tasks: ROC AUC of the positive class; 3 classes: macro one-vs-rest ROC AUC on the test split. "
           "The dotted line is chance. Pairwise out-of-fold differences with their CIs are on **Compare models**.")
