"""Mammography-AI workbench: `streamlit run streamlit_app.py`.

The entry script sets the page up, draws the shared sidebar (data folder, models) and
hands over to the page chosen in the navigation. Pages are UI only; logic lives in core.
"""

from __future__ import annotations

import streamlit as st

from ui import common

st.set_page_config(page_title="Mammography AI workbench", page_icon=":material/radiology:", layout="wide", initial_sidebar_state="expanded")

pages = [
    st.Page("pages/overview.py", title="Overview", icon=":material/leaderboard:", default=True),
    st.Page("pages/compare.py", title="Compare models", icon=":material/compare:"),
    st.Page("pages/explore.py", title="Explore the data", icon=":material/image_search:"),
    st.Page("pages/upload.py", title="Upload a mammogram", icon=":material/upload_file:"),
    st.Page("pages/model_cards.py", title="Model cards", icon=":material/description:"),
]
page = st.navigation(pages)

with st.sidebar:
    st.markdown("### :material/radiology: Mammography AI")
    st.caption("Open workbench: five published systems, retrained on public data.")
    if "data_dir" not in st.session_state:
        st.session_state["data_dir"] = common.default_data_dir()
    st.text_input("Data folder", key="data_dir", placeholder="/path/to/data",
                  help="A folder holding mini-mias/, cbis-ddsm/, mini-ddsm/ or normal|benign|malignant class folders. The embedded sample needs none.")
    live = common.live_model_names()
    if "chosen_models" not in st.session_state:
        st.session_state["chosen_models"] = live
    else:  # models can appear while the app runs; keep the choice valid
        st.session_state["chosen_models"] = [n for n in st.session_state["chosen_models"] if n in live]
    st.multiselect("Models for live predictions", live, key="chosen_models",
                   help="Used on the Explore and Upload pages. Only models whose weights are in this checkout can predict.")
    n_cards = len(common.cards())
    if n_cards > len(live):
        st.caption(f"{n_cards - len(live)} other model(s) have cards and committed predictions only.")
    st.divider()
    st.caption("Research use only — not a medical device.")

page.run()
