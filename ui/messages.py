"""What the pages say to the visitor: the research-use notice, errors, and neutral names for uploads.

A message is shown literally (no markdown from its text, no server path, one line), an
error never shows a traceback, and an uploaded file is called "upload 1", "upload 2", ...
everywhere instead of by its own name.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import privacy
from core.dashboard import cards as dcards
from core.errors import MammoError


def notice() -> None:
    st.caption(f":material/info: {dcards.NOTICE}")


def show_error(text: object, **kwargs: Any) -> None:
    """st.error with the text shown literally: no markdown, no server path, one line."""
    st.error(privacy.md_escape(privacy.one_line(text)), **kwargs)


def friendly_error(exc: BaseException, what: str = "That did not work") -> None:
    """A one-line message for the user, never a traceback, a path or markdown from the message."""
    if isinstance(exc, MammoError):
        show_error(f"{what}: {exc}", icon=":material/error:")
    else:
        show_error(f"{what} ({type(exc).__name__}). Please try another file or model.", icon=":material/error:")


def upload_label(upload: Any) -> str:
    """"upload 1", "upload 2", ...: the name every output uses instead of the uploaded file's name."""
    labels = st.session_state.setdefault("_upload_labels", {})
    key = getattr(upload, "file_id", None) or id(upload)
    if key not in labels:
        labels[key] = privacy.neutral_label("upload", len(labels) + 1)
    return labels[key]
