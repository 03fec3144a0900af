"""Mammography-AI workbench: `streamlit run streamlit_app.py`.

The entry script sets the page up, draws the shared sidebar (data folder, models) and
hands over to the page chosen in the navigation. Pages are UI only; logic lives in core.

Every URL (`/upload`, `/explore`, ...) runs this script first, also on a freshly started
server (see `ui.common._use_entry_navigation`). Data folders: the shared data folder and
the roots given at start-up, `streamlit run streamlit_app.py -- --data DIR [--data DIR2]`
or `MAMMO_DATA_ROOTS`; nothing else on the server can be browsed.
"""

from __future__ import annotations

from pathlib import Path

from core import quiet  # noqa: F401  (first: TensorFlow / absl / CUDA noise off)

import streamlit as st

from core.dashboard import cards as dcards
from ui import common, share

st.set_page_config(page_title="Mammography AI workbench", page_icon=":material/radiology:", layout="wide", initial_sidebar_state="expanded")

HERE = Path(__file__).resolve().parent  # pages by absolute path: cloud/streamlit_app.py runs this file too
pages = [
    st.Page(HERE / "pages/overview.py", title="Overview", icon=":material/leaderboard:", default=True),
    st.Page(HERE / "pages/compare.py", title="Compare models", icon=":material/compare:", url_path="compare"),
    st.Page(HERE / "pages/explore.py", title="Explore the data", icon=":material/image_search:", url_path="explore"),
    st.Page(HERE / "pages/upload.py", title="Upload a mammogram", icon=":material/upload_file:", url_path="upload"),
    st.Page(HERE / "pages/model_cards.py", title="Model cards", icon=":material/description:", url_path="model_cards"),
]
page = st.navigation(pages)

with st.sidebar:
    st.markdown("### :material/radiology: Mammography AI")
    st.caption("Open workbench: five published systems, retrained on public data.")
    roots = [label for label, _ in common.data_roots()]

    def _pick_folder() -> None:  # the pages read st.session_state["data_dir"] (a checked folder)
        chosen = common.choose_data_dir(st.session_state.get("data_root"), st.session_state.get("data_subfolder", ""))
        st.session_state["data_dir"] = str(chosen) if chosen else ""
        st.session_state["data_dir_refused"] = chosen is None and st.session_state.get("data_root") in roots

    if roots:
        if "data_dir" not in st.session_state:
            st.session_state["data_dir"] = common.default_data_dir()
        st.selectbox("Data folder", roots, key="data_root", on_change=_pick_folder,
                     help="The data folders this server offers (set when it was started). They hold mini-mias/, "
                          "cbis-ddsm/, mini-ddsm/ or normal|benign|malignant class folders. The embedded sample needs none.")
        st.text_input("Subfolder (optional)", key="data_subfolder", on_change=_pick_folder, placeholder="e.g. mini-mias",
                      help="A folder inside the data folder above, as a relative path.")
        if st.session_state.get("data_dir_refused"):
            st.caption(":material/block: That subfolder is not available; only existing folders inside the data folder can be used.")
    else:
        st.session_state.setdefault("data_dir", "")
        st.caption("No data folder is configured on this server; the embedded sample is always here.")
    live = common.live_model_names()
    failing = common.failed_models(live)  # hashed once per process and file change
    usable = [n for n in live if n not in failing]
    if "chosen_models" not in st.session_state:  # a shared link's models, else every usable one
        linked = share.peek_list("models", usable) if page.url_path != "compare" else None
        st.session_state["chosen_models"] = linked or [n for n in usable if not dcards.on_demand(common.card_by_name().get(n, {}))]
    else:  # models can appear (or fail) while the app runs; keep the choice valid
        st.session_state["chosen_models"] = [n for n in st.session_state["chosen_models"] if n in usable]
    st.multiselect("Models for live predictions", usable, key="chosen_models",
                   help="Used on the Explore and Upload pages. Only models whose weights are in this checkout and pass their SHA-256 check can predict.")
    st.select_slider("Coverage of the prediction sets", options=[0.8, 0.85, 0.9, 0.95], value=0.9, key="coverage", format_func=lambda c: f"{c:.0%}",
                     help="Split-conformal prediction sets, calibrated on each model's out-of-fold predictions: the true class is in the set "
                          "for at least this share of images. An image whose set holds both classes is uncertain at this coverage.")
    slow = [n for n in usable if dcards.on_demand(common.card_by_name().get(n, {})) and n not in st.session_state["chosen_models"]]
    if slow:
        st.caption(f":material/schedule: On demand (over {dcards.ON_DEMAND_MS / 1000:.1f} s an image on CPU; pick to run): " + ", ".join(common.privacy.md_escape(n) for n in slow))
    for n, reason in failing.items():
        st.caption(f":material/error: unavailable — {common.privacy.md_escape(n)}: {common.privacy.md_escape(reason)}")
    n_cards = len(common.cards())
    if n_cards > len(live):
        st.caption(f"{n_cards - len(live)} other model(s) have cards and committed predictions only.")
    st.divider()
    st.caption("Research use only — not a medical device.")

page.run()
