"""A woman's study on a page (Upload with several files, Explore's other views): the views in
conventional order, each one's side and view (from the DICOM fields or the user's choice),
every model per view, and each study model's per-breast and bilateral reading."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Hashable, Sequence

import streamlit as st

from core import privacy
from core.dashboard import study as dstudy
from core.errors import MammoError, StudyError
from core.studies.grouping import SIDES, VIEWS, side_of
from core.studies.combine import reads_study
from core.types import Mammogram
from ui import analysis, messages, model_loading
from ui.predictions import table_height

UNSET = "— set it —"
VIEW_ORDER = {v: k for k, v in enumerate(VIEWS)}
SIDE_ORDER = {v: k for k, v in enumerate(SIDES)}


@dataclass
class Source:
    """One image of the study: its neutral label, cache key, how to read it, its dataset record
    (None for an upload) and its side / view when known without the user."""

    label: str
    key: Hashable
    read: Callable[[], Mammogram]
    record: Any = None
    side: str | None = None
    view: str | None = None


def _guess(source: Source) -> tuple[str | None, str | None]:
    """Side / view from the record, else from the de-identified DICOM fields (read once a session)."""
    if source.record is not None:
        return side_of(source.record.side), source.record.view
    guesses = st.session_state.setdefault("_study_guess", {})
    if source.key not in guesses:
        guesses[source.key] = dstudy.guessed_slot(source.read().meta)
    return guesses[source.key]


def assign(sources: Sequence[Source], prefix: str, editable: bool = True) -> Any:
    """Each image's side and view (editable), grouped into the study; None after a friendly
    message when they cannot be one woman's study."""
    guessed = []
    for s in sources:
        try:
            guessed.append((s, *_guess(s)))
        except MammoError as exc:
            messages.friendly_error(exc, f"{s.label} could not be read as a mammogram")
            return None
    # the controls in the order the views are shown below them (R-CC, L-CC, R-MLO, L-MLO; unknown last)
    guessed.sort(key=lambda g: (VIEW_ORDER.get(g[2], len(VIEW_ORDER)), SIDE_ORDER.get(g[1], len(SIDE_ORDER))))
    entries = []
    cols = st.columns(len(sources))
    for col, (s, side, view) in zip(cols, guessed):
        with col:
            st.markdown(f"**{privacy.md_escape(s.label)}**")
            if editable:
                sides, views = [UNSET, *dstudy.SIDE_CHOICES], [UNSET, *dstudy.VIEW_CHOICES]
                side = st.selectbox("Side", sides, index=sides.index(side) if side in sides else 0, key=f"{prefix}_side_{s.key}",
                                    format_func=lambda v: {"R": "right (R)", "L": "left (L)"}.get(v, v), help="Read from the DICOM laterality where there is one.")
                view = st.selectbox("View", views, index=views.index(view) if view in views else 0, key=f"{prefix}_view_{s.key}",
                                    help="Read from the DICOM view position where there is one.")
            else:
                st.caption(f"side {side or '—'}, view {view or '—'}")
        entries.append((s.label, None if side == UNSET else side, None if view == UNSET else view, s))
    try:
        return dstudy.study_of(entries)
    except StudyError as exc:
        messages.friendly_error(exc, "These images cannot be read as one woman's study")
        return None


def show(sources: Sequence[Source], names: Sequence[str], prefix: str, editable: bool = True) -> tuple[Any, dict] | None:
    """The study section; returns (study, {(label, model): run}) for the page to go on, or None."""
    study = assign(sources, prefix, editable)
    if study is None:
        return None
    views = {}
    cols = st.columns(len(study.images))
    for col, item in zip(cols, study.images):
        s: Source = item.item
        try:
            view, _ = analysis.view_of(s.key, s.read, with_meta=s.record is None)
        except MammoError as exc:
            messages.friendly_error(exc, f"{s.label} could not be read as a mammogram")
            return None
        views[s.label] = view
        col.image(view.base8, caption=f"{item.slot} · {s.label}", width="stretch", alt=f"The {item.slot} view, {s.label}.")

    models = {n: model_loading.load_model(n) for n in names}  # loaded by the page (`ensure_models`)
    image_models = [n for n in names if not reads_study(models[n])]
    extra, errors = model_loading.ensure_models([m for m in dstudy.members_needed(list(models.values())) if m not in names])
    for msg in errors.values():
        messages.show_error(msg, icon=":material/error:")
    ready = image_models + extra
    runs: dict[tuple[str, str], Any] = {}
    progress = st.container()
    for item in study.images:
        s = item.item
        with progress:
            reader = analysis.ImageReader(s.read)
            for run in analysis.run_all(s.key, ready, reader, lambda r: None):
                runs[(s.label, run.name)] = run
    progress.empty()

    st.subheader("Every model, view by view")
    st.caption("Each image model's decision and the probability of that decision on each view, in the order R-CC, L-CC, R-MLO, L-MLO.")
    shown = [n for n in image_models if n in ready]
    per_view = dstudy.per_view_table(study, shown, runs)
    st.dataframe(per_view, hide_index=True, width="stretch", key=f"{prefix}_per_view", height=table_height(len(per_view)))
    found, missing = dstudy.readings(list(models.values()), study, runs)
    st.subheader("Per breast, and each breast against the other")
    if found:
        st.caption("Each study model combines its member's scores of a breast's views (mean) and reads that breast against the other one "
                   "(score − w · other breast, w on the card). With one breast only, the other is taken at the member's validation mean.")
        st.dataframe(dstudy.per_breast_table(found), hide_index=True, width="stretch", key=f"{prefix}_per_breast")
        with st.expander("Each film against the other breast", icon=":material/compare:"):
            st.dataframe(dstudy.per_image_study_table(found), hide_index=True, width="stretch")
        if not study.bilateral:
            st.info("Only one breast is here: add the other breast's views for the bilateral reading.", icon=":material/info:")
    else:
        st.info("Choose a study model in the sidebar (kind study) for per-breast and bilateral readings.", icon=":material/info:")
    for n, why in missing.items():
        messages.show_error(f"{n}: {why}", icon=":material/error:")
    return study, runs
