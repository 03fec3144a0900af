"""Shareable views: the page is the URL's path, and task, models, dataset and image are its
query parameters (`/compare?task=stage1&models=a,b`), so a link opens the same view.

A link's parameters are read once, when a session starts, and each page takes the ones it
understands and checks them against what it offers (a value it does not offer is ignored,
never echoed). Every run then writes the page's current view back into the URL.
"""

from __future__ import annotations

from typing import Iterable

import streamlit as st

KEYS = ("task", "models", "dataset", "image", "layer")
_IN = "_share_in"
MAX_LEN = 2000  # a longer parameter is not a view this app wrote


def _incoming() -> dict[str, str]:
    if _IN not in st.session_state:
        got = {}
        for k in KEYS:
            v = st.query_params.get(k)
            if isinstance(v, str) and v and len(v) <= MAX_LEN:
                got[k] = v
        st.session_state[_IN] = got
    return st.session_state[_IN]


def take(key: str, allowed: Iterable[str]) -> str | None:
    """The link's value for `key` if it is one of `allowed` (consumed: later runs keep the user's choice)."""
    value = _incoming().pop(key, None)
    return value if value is not None and value in set(allowed) else None


def take_list(key: str, allowed: Iterable[str]) -> list[str] | None:
    """The link's comma-separated list for `key`, keeping only allowed names in order; None if absent."""
    value = _incoming().pop(key, None)
    if value is None:
        return None
    ok = set(allowed)
    return [v for v in dict.fromkeys(value.split(",")) if v in ok]


def peek_list(key: str, allowed: Iterable[str]) -> list[str] | None:
    """Like `take_list`, without consuming it (the sidebar and a page may both use `models`)."""
    value = _incoming().get(key)
    if value is None:
        return None
    ok = set(allowed)
    return [v for v in dict.fromkeys(value.split(",")) if v in ok]


def publish(**params: str | Iterable[str] | None) -> None:
    """Write this page's view into the URL: the given keys set, the other shareable keys
    removed (but `layer`, which the viewer writes itself with `publish_one`)."""
    for k in KEYS:
        if k == "layer" and k not in params:
            continue
        v = params.get(k)
        if v is not None and not isinstance(v, str):
            v = ",".join(v)
        if v:
            if st.query_params.get(k) != v:
                st.query_params[k] = v
        elif k in st.query_params:
            del st.query_params[k]


def publish_one(key: str, value: str | None) -> None:
    """Set or remove one shareable key, leaving the others as they are (the viewer's layer)."""
    if value:
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    elif key in st.query_params:
        del st.query_params[key]
