"""One image's report, the same on Upload and Explore: the comparison table, one zoomable viewer
with any model's map, each model's detail in an expander drawn when opened."""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import streamlit as st

from core.dashboard.viewer import ImageView
from core.errors import MammoError
from ui import analysis, cached, messages, predictions, viewer


def image_report(key: Hashable, view: ImageView, reader: analysis.ImageReader, names: Sequence[str], *, record: Any, label: str,
                 prefix: str, lesions: Sequence[Any] = (), badges: dict[str, str] | None = None, with_input: bool = False,
                 table_caption: str = "", viewer_note: str | None = None) -> tuple[list[Any], tuple[str | None, str | None, float]] | None:
    """Draws the report; returns (runs, (model, map, opacity) chosen in the viewer), or None
    when the image could not be analysed (a friendly message is shown)."""
    colors = cached.colors()
    st.subheader("Every model on this image")
    st.caption(table_caption)
    table, middle = st.container(), st.container()
    st.markdown("**Each model's detail**")
    try:
        runs = analysis.run_all(key, names, reader, lambda r: predictions.detail(r, colors.get(r.name), (badges or {}).get(r.name), key=f"{prefix}_detail_{r.name}"),
                                with_input=with_input, summary=lambda rs: predictions.comparison(rs, record, prefix), head=table)
    except MammoError as exc:
        messages.friendly_error(exc, "This image could not be analysed")
        return None
    chosen: tuple[str | None, str | None, float] = (None, None, 0.5)
    with middle:
        st.subheader("The mammogram, with any model's map")
        if viewer_note:
            st.caption(viewer_note)
        try:
            chosen = viewer.show(view, runs, lesions, prefix, label, lambda r, k: analysis.add_layer(key, r, k, reader))
        except MammoError as exc:
            messages.friendly_error(exc, "This map could not be made")
    return runs, chosen
