"""A dataset's records and thumbnails for the pages, read only under a configured data root.

Errors name neither the folder nor its contents: a typed path could be anything on the
server. Thumbnails of dataset images are cached process-wide (~30 kB each); an upload
never is (`ui/analysis.py` keeps it in the visitor's session).
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.dashboard import records as drecords
from core.errors import DatasetError
from ui.data_roots import allowed_data_dir

DATASET_NAMES = {"mias": "mini-MIAS", "cbis": "CBIS-DDSM", "minidds": "Mini-DDSM", "folder": "class-folder", "sample": "embedded sample"}


def records(dataset: str, root: str | None):
    """A dataset's records; only under a configured data root (the embedded sample needs none)."""
    if dataset == "sample":
        return _records(dataset, None)
    folder = allowed_data_dir(root)
    if folder is None:
        raise DatasetError("this data folder is not available: only folders under the data folders configured "
                           "at start-up can be browsed")
    return _records(dataset, str(folder))


@st.cache_data(show_spinner=False, max_entries=16)
def _records(dataset: str, root: str | None):
    from core.datasets import load_dataset

    try:
        return load_dataset(dataset, root or None)
    except DatasetError:
        raise DatasetError(f"no readable {DATASET_NAMES.get(dataset, 'dataset')} data in the chosen data folder") from None


@st.cache_data(show_spinner=False, max_entries=400)  # dataset thumbnails only (~30 kB each), not uploads
def thumbnail(path: str | None) -> Any:
    return drecords.thumbnail(path)


def membership_badge(state: str) -> str:
    """The badge for whether a model saw this image (its training, validation or test data, or none)."""
    return drecords.MEMBERSHIP_TEXT.get(state, state)
