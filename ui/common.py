"""Streamlit glue shared by the pages: cached access to cards, predictions, models and results.

Only caching and widgets live here; the numbers and pictures come from `core.dashboard_data`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import streamlit as st

from core import dashboard_data as dd
from core.errors import MammoError

REPO = Path(__file__).resolve().parents[1]
_LOADED: set[tuple[str, str]] = set()  # models already in st.cache_resource in this process


def models_dir() -> str:
    """`$MAMMO_MODELS_DIR`, else the repository's models/ folder."""
    return os.environ.get("MAMMO_MODELS_DIR") or str(REPO / "models")


def default_data_dir() -> str:
    env = os.environ.get("MAMMO_SHARED_DATA")
    if env:
        return env
    shared = REPO.parent / "shared" / "data"
    return str(shared) if shared.is_dir() else ""


def _folder_stamp(root: str) -> tuple:
    """Changes whenever a model folder gains or updates a file (models arrive while the app runs)."""
    p = Path(root)
    if not p.is_dir():
        return ()
    out = []
    for f in sorted(p.glob("*/*")):
        if f.name in ("card.json", "predictions.csv", "history.csv"):
            try:
                out.append((str(f), f.stat().st_mtime_ns))
            except OSError:
                pass
    return tuple(out)


@st.cache_data(show_spinner=False, max_entries=8)
def _cards(root: str, stamp: tuple) -> list[dict[str, Any]]:
    from core.models import registry

    try:
        return registry.discover(root)
    except MammoError:
        return []


def cards() -> list[dict[str, Any]]:
    """Every model card (JSON only; no framework import)."""
    root = models_dir()
    return _cards(root, _folder_stamp(root))


def card_by_name() -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in cards()}


def colors() -> dict[str, str]:
    return dd.model_colors([c["name"] for c in cards()])


@st.cache_data(show_spinner=False, max_entries=64)
def _predictions(folder: str, mtime: float, _card: dict[str, Any]):
    return dd.read_predictions(_card)


def predictions(card: dict[str, Any]):
    """The card's predictions.csv as a DataFrame (cached), or None."""
    path = Path(card["_folder"]) / "predictions.csv"
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _predictions(card["_folder"], mtime, card)


@st.cache_data(show_spinner=False, max_entries=64)
def _history(folder: str, mtime: float, _card: dict[str, Any]):
    return dd.read_history(_card)


def history(card: dict[str, Any]):
    path = Path(card["_folder"]) / "history.csv"
    mtime = path.stat().st_mtime if path.is_file() else 0.0
    return _history(card["_folder"], mtime, card)


@st.cache_resource(show_spinner=False, max_entries=16)
def _load(name: str, root: str):
    from core.models import registry

    return registry.load(name, root)


def load_model(name: str):
    root = models_dir()
    model = _load(name, root)
    _LOADED.add((root, name))
    return model


def live_model_names() -> list[str]:
    """Classifier models whose weights are in this checkout (the ones that can predict live)."""
    from core.models import registry

    out = []
    for c in dd.classifier_cards(cards()):
        try:
            if dd.is_shipped(c) and registry.weights_available(c):
                out.append(c["name"])
        except (KeyError, TypeError):
            continue
    return out


def chosen_models() -> list[str]:
    """The models picked in the sidebar (only live ones)."""
    live = live_model_names()
    picked = st.session_state.get("chosen_models")
    if picked is None:
        return live
    return [n for n in picked if n in live]


def ensure_models(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Load the models (showing a status box the first time: importing torch / TensorFlow is slow).

    Returns (loaded names, {name: friendly error}).
    """
    root = models_dir()
    todo = [n for n in names if (root, n) not in _LOADED]
    errors: dict[str, str] = {}
    if todo:
        frameworks = sorted({card_by_name().get(n, {}).get("framework") or "composite" for n in todo})
        with st.status(f"Loading {len(todo)} model(s) — first use imports {', '.join(frameworks)}…", expanded=False) as status:
            for n in todo:
                status.write(f"loading **{n}** (SHA-256 checked)")
                try:
                    load_model(n)
                except MammoError as exc:
                    errors[n] = str(exc)
                except Exception as exc:  # never let a library traceback reach the page
                    errors[n] = f"model {n!r} could not be loaded ({type(exc).__name__})"
            status.update(label=f"{len(todo) - len(errors)} model(s) ready", state="error" if errors else "complete")
    return [n for n in names if n not in errors], errors


def _analyse(image, names: tuple[str, ...], cam: str, with_input: bool):
    base8, scale = dd.downscale(image.pixels)
    results = [dd.run_model(load_model(n), image, base8.shape, cam=cam, with_input=with_input) for n in names]
    return base8, scale, results


@st.cache_data(show_spinner=False, max_entries=24)
def analyse_upload(digest: str, _data: bytes, name: str, names: tuple[str, ...], cam: str):
    """(safe metadata table, original shape, display image, scale, results) for uploaded bytes.

    Cached by the bytes' SHA-256; the full-resolution pixels are not kept in the cache.
    """
    image = dd.read_upload(_data, name)
    base8, scale, results = _analyse(image, names, cam, with_input=True)
    return dd.safe_meta_table(image), image.shape, base8, scale, results


@st.cache_data(show_spinner=False, max_entries=24)
def analyse_path(path: str, mtime: float, names: tuple[str, ...], cam: str):
    from core.io import read_image

    image = read_image(path)
    base8, scale, results = _analyse(image, names, cam, with_input=False)
    return image.shape, base8, scale, results


@st.cache_data(show_spinner=False, max_entries=2000)
def thumbnail(path: str | None) -> Any:
    return dd.thumbnail(path)


@st.cache_data(show_spinner=False, max_entries=16)
def records(dataset: str, root: str | None):
    from core.datasets import load_dataset

    return load_dataset(dataset, root or None)


def notice() -> None:
    st.caption(f":material/info: {dd.NOTICE}")


def friendly_error(exc: BaseException, what: str = "That did not work") -> None:
    """A one-line message for the user, never a traceback."""
    if isinstance(exc, MammoError):
        st.error(f"{what}: {exc}", icon=":material/error:")
    else:
        st.error(f"{what} ({type(exc).__name__}). Please try another file or model.", icon=":material/error:")


def membership_badge(state: str) -> str:
    return dd.MEMBERSHIP_TEXT.get(state, state)
