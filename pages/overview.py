"""Overview: every model's card facts and test metrics with 95 % CIs (cards only, no framework import)."""

import streamlit as st

from core import dashboard_data as dd
from ui import charts, common

st.title("Mammography AI workbench")
st.warning(f"**{dd.NOTICE}**", icon=":material/health_and_safety:")
st.markdown(
    "Five published mammography systems, reproduced as models trained here on mini-MIAS "
    "(322 film mammograms) and checked on the embedded CBIS-DDSM sample. Every number below comes from the committed model "
    "cards; metrics are on each model's held-out **test** patients with 95 % patient-level bootstrap CIs."
)

cards = dd.classifier_cards(common.cards()) + dd.segmentation_cards(common.cards())
if not cards:
    st.info("No trained models in `models/` yet. Train one with `python -m core train recipes/<recipe>.yaml`.", icon=":material/hourglass_empty:")
    st.stop()

tasks = sorted({c["task"] for c in cards}, key=lambda t: list(dd.TASK_TITLES).index(t) if t in dd.TASK_TITLES else 99)
picked = st.pills("Task", tasks, selection_mode="multi", default=tasks, format_func=lambda t: dd.TASK_TITLES.get(t, t).split(" — ")[0] + f" ({t})", key="overview_tasks")
table = dd.leaderboard_table(cards, picked or tasks)

c1, c2, c3 = st.columns(3)
c1.metric("Models", len(table))
c2.metric("Tasks", table["task"].nunique() if len(table) else 0)
c3.metric("Weights in this checkout", int(table["weights shipped"].sum()) if len(table) else 0)

st.subheader("Leaderboard")
st.caption("Click a column header to sort. Each metric column holds the test value; the next one its 95 % patient-level bootstrap CI.")
config = {
    "model": st.column_config.TextColumn("model", pinned=True),
    "weights shipped": st.column_config.CheckboxColumn("weights shipped"),
    "CPU latency (ms)": st.column_config.NumberColumn(format="%.0f"),
}
for col in table.columns:
    if col in dd.METRIC_LABELS.values():
        config[col] = st.column_config.NumberColumn(col, format="%.3f")
st.dataframe(table, hide_index=True, width="stretch", column_config=config, key="leaderboard")

auc_col = "ROC AUC" if "ROC AUC" in table.columns else None
if auc_col:
    st.plotly_chart(charts.metric_ci(table, auc_col, common.colors()), width="stretch", key="auc_ci")
st.caption("Binary tasks: ROC AUC of the positive class; 3-class tasks: macro one-vs-rest ROC AUC. The dotted line is chance.")
