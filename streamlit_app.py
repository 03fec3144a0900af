"""Mammography-AI workbench: `streamlit run streamlit_app.py`.

The entry script sets the page up, draws the navigation, the chosen page's title and the
shared sidebar (data folder, models), and hands over to the page. The navigation and the
title come first, before anything heavy is imported, so that they show at once. Pages are
UI only; logic lives in core.

Every URL (`/upload`, `/explore`, ...) runs this script first, also on a freshly started
server (`ui/entry_navigation.py` says how). Data folders: the shared data folder and the
roots given at start-up, `streamlit run streamlit_app.py -- --data DIR [--data DIR2]` or
`MAMMO_DATA_ROOTS`; nothing else on the server can be browsed.
"""

from __future__ import annotations

from pathlib import Path

from core import quiet  # noqa: F401  (first: TensorFlow / absl / CUDA noise off)

import streamlit as st

from ui import entry_navigation

st.set_page_config(page_title="Mammography AI workbench", page_icon=":material/radiology:", layout="wide", initial_sidebar_state="expanded")

HERE = Path(__file__).resolve().parent  # pages by absolute path: cloud/streamlit_app.py runs this file too
pages = [
    st.Page(HERE / "pages/overview.py", title="Overview", icon=":material/leaderboard:", default=True),
    st.Page(HERE / "pages/compare.py", title="Compare models", icon=":material/compare:", url_path="compare"),
    st.Page(HERE / "pages/explore.py", title="Explore the data", icon=":material/image_search:", url_path="explore"),
    st.Page(HERE / "pages/upload.py", title="Upload a mammogram", icon=":material/upload_file:", url_path="upload"),
    st.Page(HERE / "pages/model_cards.py", title="Model cards", icon=":material/description:", url_path="model_cards"),
]
HEADINGS = {"": "Mammography AI workbench", "compare": "Compare models", "explore": "Explore the data",
            "upload": "Upload a mammogram or a study", "model_cards": "Model cards"}  # each page's title, by URL path
entry_navigation.show_app_navigation()
page = st.navigation(pages)
st.title(HEADINGS[page.url_path])  # drawn here, at once: the sidebar's model cards need NumPy and pandas, imported next

from ui import sidebar  # noqa: E402

sidebar.draw(page.url_path)
page.run()
