"""The models that can predict live, loading them, and remembering the ones that fail.

A model that fails (missing weights, SHA-256 mismatch, load error) is remembered per
process, until its files change, and is neither re-hashed nor re-loaded on every rerun.
Frameworks (torch, TensorFlow) are imported only when a model is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import streamlit as st

from core import privacy
from core.dashboard import cards as dcards
from core.errors import MammoError, ModelError, model_reason
from ui import cached
from ui.data_roots import models_dir

_LOADED: set[tuple[str, str]] = set()  # models already in st.cache_resource in this process
_FAILED: dict[tuple[str, str], tuple[tuple, str]] = {}  # (root, name) -> (files' stamp, reason)
_CHECKED: dict[tuple[str, str], tuple[tuple, str | None]] = {}  # (root, name) -> (stamp, SHA-256 problem)


@st.cache_resource(show_spinner=False, max_entries=16)
def _load(name: str, root: str):
    from core.models import registry

    return registry.load(name, root)


def _stamp(root: str, name: str, by_name: dict[str, dict[str, Any]] | None = None, depth: int = 0) -> tuple:
    """(file, size, mtime) of every file in the model's folder and its parts' folders: cheap to
    take, and it changes when a weights file is replaced (so a fixed model is tried again).
    `by_name`: the cards, when the caller has them (each read of the cache copies every card)."""
    by_name = cached.card_by_name() if by_name is None else by_name
    folder = Path(root) / name
    out: list[tuple] = []
    try:
        for f in sorted(folder.iterdir()):
            if f.is_file():
                st_ = f.stat()
                out.append((name, f.name, st_.st_size, st_.st_mtime_ns))
    except OSError:
        return ((name, "missing"),)
    if depth < 3:
        for member in _members(by_name.get(name, {})):
            out.extend(_stamp(root, member, by_name, depth + 1))
    return tuple(out)


def _members(card: dict[str, Any]) -> list[str]:
    """The models a composite card is built from (none for a plain one)."""
    try:
        from core.models import kinds

        return [m for m in kinds.members(card) if isinstance(m, str)] if kinds.is_composite(card) else []
    except Exception:
        return [card[k] for k in ("stage1", "stage2") if isinstance(card.get(k), str)]


def load_model(name: str):
    """A cached model; a failure is remembered (per process, until the model's files change) and
    raised again as a `ModelError` without re-hashing or re-loading."""
    root = models_dir()
    key, stamp = (root, name), _stamp(root, name)
    failed = _FAILED.get(key)
    if failed and failed[0] == stamp:
        raise ModelError(failed[1])
    try:
        model = _load(name, root)
    except MammoError as exc:
        _FAILED[key] = (stamp, model_reason(name, exc))
        raise ModelError(_FAILED[key][1]) from None
    except Exception as exc:  # a library failure while rebuilding: remembered too
        _FAILED[key] = (stamp, f"could not be loaded ({type(exc).__name__})")
        raise ModelError(_FAILED[key][1]) from None
    _FAILED.pop(key, None)
    _LOADED.add(key)
    return model


def model_problem(name: str, by_name: dict[str, dict[str, Any]] | None = None) -> str | None:
    """Why a model cannot predict (a remembered load failure, or weights failing their SHA-256
    check), or None. The check hashes each weights file once per process and file change."""
    from core.models import registry

    root = models_dir()
    by_name = cached.card_by_name() if by_name is None else by_name
    key, stamp = (root, name), _stamp(root, name, by_name)
    failed = _FAILED.get(key)
    if failed and failed[0] == stamp:
        return failed[1]
    if key in _LOADED:
        return None
    checked = _CHECKED.get(key)
    if checked and checked[0] == stamp:
        return checked[1]
    problem: str | None = None
    card = by_name.get(name)
    try:
        if card is None:
            problem = "no model card"
        elif _members(card):
            for member in _members(card):
                sub = model_problem(member, by_name)
                if sub:
                    problem = f"its part {member} failed: {sub}"
                    break
        else:
            registry.verify(card)
    except MammoError as exc:
        problem = model_reason(name, exc)
    except Exception as exc:
        problem = f"could not be checked ({type(exc).__name__})"
    _CHECKED[key] = (stamp, problem)
    return problem


def failed_models(names: Sequence[str]) -> dict[str, str]:
    """{name: reason} for the models among `names` that cannot predict."""
    out = {}
    by_name = cached.card_by_name()
    for n in names:
        problem = model_problem(n, by_name)
        if problem:
            out[n] = problem
    return out


def live_model_names() -> list[str]:
    """Models of any kind whose weights are in this checkout (the ones that can predict live)."""
    from core.models import registry

    out = []
    for c in cached.cards():
        try:
            if dcards.is_shipped(c) and registry.weights_available(c):
                out.append(c["name"])
        except (KeyError, TypeError, MammoError):
            continue
    return out


def usable_model_names() -> list[str]:
    """Live models that do not fail their checks: the ones the sidebar offers."""
    live = live_model_names()
    bad = failed_models(live)
    return [n for n in live if n not in bad]


def chosen_models() -> list[str]:
    """The models picked in the sidebar (only live ones that passed their checks)."""
    usable = usable_model_names()
    picked = st.session_state.get("chosen_models")
    if picked is None:
        return usable
    return [n for n in picked if n in usable]


def ensure_models(names: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Load the models (showing a status box the first time: importing torch / TensorFlow is slow).

    Returns (loaded names, {name: friendly error}).
    """
    root = models_dir()
    by_name = cached.card_by_name()
    errors: dict[str, str] = {}
    for n in names:  # remembered failures: no status box, no re-hash
        failed = _FAILED.get((root, n))
        if failed and failed[0] == _stamp(root, n, by_name):
            errors[n] = f"{n}: {failed[1]}"
    todo = [n for n in names if (root, n) not in _LOADED and n not in errors]
    if todo:
        frameworks = sorted({by_name.get(n, {}).get("framework") or "composite" for n in todo})
        with st.status(f"Loading {len(todo)} model(s) — first use imports {', '.join(frameworks)}…", expanded=False) as status:
            for n in todo:
                status.write(f"loading {privacy.md_escape(n)} (SHA-256 checked)")
                try:
                    load_model(n)
                except MammoError as exc:
                    errors[n] = f"{n}: {exc}"
                except Exception as exc:  # never let a library traceback reach the page
                    errors[n] = f"{n}: could not be loaded ({type(exc).__name__})"
            status.update(label=f"{len(todo) - len(errors)} model(s) ready", state="error" if errors else "complete")
    return [n for n in names if n not in errors], errors
