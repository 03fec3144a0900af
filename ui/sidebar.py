"""The sidebar every page shares: the data folder and the models for live predictions.

The pages read what it sets in `st.session_state`: "data_dir" (a checked folder under a
start-up root, or ""), "chosen_models" (live models that pass their SHA-256 check) and
"coverage" (of the conformal prediction sets).
"""

from __future__ import annotations

import streamlit as st

from core import privacy
from core.dashboard import cards as dcards
from ui import cached, data_roots, model_loading, share


def draw(url_path: str) -> None:
    """The sidebar below the navigation, for the page at `url_path`."""
    with st.sidebar:
        st.markdown("### :material/radiology: Mammography AI")
        st.caption("Open workbench: five published systems, retrained on public data.")
        _data_folder()
        _models(url_path)
        st.divider()
        st.caption("Research use only — not a medical device.")


def _data_folder() -> None:
    roots = [label for label, _ in data_roots.data_roots()]

    def _pick_folder() -> None:  # the pages read st.session_state["data_dir"] (a checked folder)
        chosen = data_roots.choose_data_dir(st.session_state.get("data_root"), st.session_state.get("data_subfolder", ""))
        st.session_state["data_dir"] = str(chosen) if chosen else ""
        st.session_state["data_dir_refused"] = chosen is None and st.session_state.get("data_root") in roots

    if roots:
        if "data_dir" not in st.session_state:
            st.session_state["data_dir"] = data_roots.default_data_dir()
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


def _models(url_path: str) -> None:
    live = model_loading.live_model_names()
    failing = model_loading.failed_models(live)  # hashed once per process and file change
    usable = [n for n in live if n not in failing]
    by_name = cached.card_by_name()
    if "chosen_models" not in st.session_state:  # a shared link's models, else every usable one
        linked = share.peek_list("models", usable) if url_path != "compare" else None
        st.session_state["chosen_models"] = linked or [n for n in usable if not dcards.on_demand(by_name.get(n, {}))]
    else:  # models can appear (or fail) while the app runs; keep the choice valid
        st.session_state["chosen_models"] = [n for n in st.session_state["chosen_models"] if n in usable]
    st.multiselect("Models for live predictions", usable, key="chosen_models",
                   help="Used on the Explore and Upload pages. Only models whose weights are in this checkout and pass their SHA-256 check can predict.")
    st.select_slider("Coverage of the prediction sets", options=[0.8, 0.85, 0.9, 0.95], value=0.9, key="coverage", format_func=lambda c: f"{c:.0%}",
                     help="Split-conformal prediction sets, calibrated on each model's out-of-fold predictions: the true class is in the set "
                          "for at least this share of images. An image whose set holds both classes is uncertain at this coverage.")
    slow = [n for n in usable if dcards.on_demand(by_name.get(n, {})) and n not in st.session_state["chosen_models"]]
    if slow:
        st.caption(f":material/schedule: On demand (over {dcards.ON_DEMAND_MS / 1000:.1f} s an image on CPU; pick to run): " + ", ".join(privacy.md_escape(n) for n in slow))
    for n, reason in failing.items():
        st.caption(f":material/error: unavailable — {privacy.md_escape(n)}: {privacy.md_escape(reason)}")
    n_cards = len(cached.cards())
    if n_cards > len(live):
        st.caption(f"{n_cards - len(live)} other model(s) have cards and committed predictions only.")
