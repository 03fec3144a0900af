"""Process-wide caches (`st.cache_data`) over what the committed model folders hold: cards,
predictions, training histories, leaderboard rows, curves with their bootstrap intervals.

Every entry is keyed by the files' modification times, so a model that arrives or changes
while the app runs is read again. The numbers come from `core.dashboard` and
`core.reports`; only caching lives here. Results derived from an image (an upload above
all) are never cached here, since every session of the process shares these caches: they
stay in the session's own cache (`ui/analysis.py`). `core.reports.curves` (SciPy) is
imported by the functions that need it, so the first page does not wait for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import streamlit as st

from core.dashboard import cards as dcards
from core.errors import MammoError
from ui.data_roots import models_dir


@st.cache_resource(ttl=2.0, show_spinner=False, max_entries=8)
def _folder_stamp(root: str) -> tuple:
    """Changes whenever a model folder gains or updates a file (models arrive while the app runs).
    Looked at again after 2 s at most: a page run asks for the cards at every model's detail,
    and listing and stat-ing every model folder each time took ~0.15 s of a warm upload (py-spy)."""
    p = Path(root)
    if not p.is_dir():
        return ()
    out = []
    for f in sorted(p.glob("*/*")):
        if f.name in ("card.json", "predictions.csv", "history.csv", "oof_predictions.csv"):
            try:
                out.append((str(f), f.stat().st_mtime_ns))
            except OSError:
                pass
    return tuple(out)


def _file_mtime(card: dict[str, Any], name: str) -> float:
    path = Path(card["_folder"]) / name
    return path.stat().st_mtime if path.is_file() else 0.0


# --------------------------------------------------------------------------- cards
# `st.cache_resource`, not `cache_data`: the cards are read on every page run, by each model's
# detail among others, and `cache_data` unpickled a copy of every card at each call (~0.15 s
# of a warm upload's script run, py-spy). Nothing mutates a card; every session shares them.
@st.cache_resource(show_spinner=False, max_entries=8)
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
    return dcards.model_colors([c["name"] for c in cards()])


# --------------------------------------------------------------------------- committed predictions and histories
@st.cache_data(show_spinner=False, max_entries=64)
def _predictions(folder: str, mtime: float, _card: dict[str, Any]):
    return dcards.read_predictions(_card)


def predictions(card: dict[str, Any]):
    """The card's predictions.csv as a DataFrame (cached), or None."""
    return _predictions(card["_folder"], _file_mtime(card, "predictions.csv"), card)


@st.cache_data(show_spinner=False, max_entries=64)
def _history(folder: str, mtime: float, _card: dict[str, Any]):
    return dcards.read_history(_card)


def history(card: dict[str, Any]):
    return _history(card["_folder"], _file_mtime(card, "history.csv"), card)


# --------------------------------------------------------------------------- rankings and curves
@st.cache_data(show_spinner=False, max_entries=8)
def _leaderboard_rows(root: str, stamp: tuple) -> list[dict[str, Any]]:
    from core.reports import leaderboard

    return leaderboard.rows(root)


def leaderboard_rows() -> list[dict[str, Any]]:
    """`core.reports.leaderboard.rows` of every task (numbers, ranked out of fold first), cached per card change."""
    root = models_dir()
    return _leaderboard_rows(root, _folder_stamp(root))


@st.cache_data(show_spinner=False, max_entries=128)
def _task_data(name: str, task: str, mtime: float, _card: dict[str, Any]):
    from core.reports import curves as dcurves

    pred = predictions(_card)
    return None if pred is None else dcurves.task_data(_card, pred, task)


def task_data(card: dict[str, Any], task: str):
    """The model's committed predictions read in `task` (`core.reports.curves.TaskData`), or None."""
    return _task_data(card["name"], task, _file_mtime(card, "predictions.csv") + _file_mtime(card, "card.json"), card)


@st.cache_data(show_spinner=False, max_entries=256)
def _task_curves(name: str, task: str, event: str, split: str, mtime: float, _card: dict[str, Any]):
    from core.reports import curves as dcurves

    td = task_data(_card, task)
    return (None, None, None) if td is None else dcurves.task_curves(td, event, split)


def task_curves(card: dict[str, Any], task: str, event: str, split: str):
    """(ROC, PR, calibration) of one model in one task, event and split; cached (bootstrap CIs are slow)."""
    return _task_curves(card["name"], task, event, split, _file_mtime(card, "predictions.csv") + _file_mtime(card, "card.json"), card)


@st.cache_data(show_spinner=False, max_entries=64)
def _paired_oof(name_a: str, name_b: str, task: str, stamp: tuple, _a: dict[str, Any], _b: dict[str, Any]):
    from core.reports import curves as dcurves

    return dcurves.paired_oof(_a, _b, task)


def paired_oof(card_a: dict[str, Any], card_b: dict[str, Any], task: str):
    """Paired patient-level bootstrap of two models' out-of-fold AUC difference, cached by names and task."""
    stamp = (_file_mtime(card_a, "oof_predictions.csv"), _file_mtime(card_b, "oof_predictions.csv"))
    return _paired_oof(card_a["name"], card_b["name"], task, stamp, card_a, card_b)


@st.cache_data(show_spinner=False, max_entries=64)
def _distinct_rival(name_a: str, names: tuple[str, ...], task: str, stamp: tuple, _a: dict[str, Any], _rivals: list[dict[str, Any]]) -> int | None:
    from core.reports import curves as dcurves

    return dcurves.distinct_rival(_a, _rivals, task)


def distinct_rival(card_a: dict[str, Any], rivals: Sequence[dict[str, Any]], task: str) -> int | None:
    """The first rival whose out-of-fold scores differ from A's (`dcurves.distinct_rival`), cached like `paired_oof`."""
    stamp = tuple(_file_mtime(c, "oof_predictions.csv") for c in (card_a, *rivals))
    return _distinct_rival(card_a["name"], tuple(c["name"] for c in rivals), task, stamp, card_a, list(rivals))
