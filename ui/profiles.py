"""Recalibration profiles applied for this session: what Explore's "Fit threshold and
calibration for this data" puts here, and what Explore and Upload show with it.

A profile lives in this visitor's session only (saved to disk only when asked, beside the
data, by `ui.evaluate_data`). While profiles are on, a model's shown probability and decision
are the profile's (`recalibrated`), labelled on screen (`badge`); one toggle turns them off.
Applying one is numpy only (`CalibrationProfile.apply`): no scikit-learn on the serving path.
"""

from __future__ import annotations

import dataclasses
from typing import Iterable

import numpy as np
import streamlit as st

from core import privacy
from core.evaluation.recalibration import METHODS, CalibrationProfile
from core.serving import inference

_PROFILES = "_calibration_profiles"  # {model name: CalibrationProfile}
_ON = "_calibration_on"  # whether the session's profiles are applied (kept across pages)


def stored() -> dict[str, CalibrationProfile]:
    """Every profile this session holds, applied or not."""
    return dict(st.session_state.get(_PROFILES) or {})


def put(profiles: Iterable[CalibrationProfile]) -> None:
    """Hold these profiles for the session (one a model: a new one replaces the old) and turn them on."""
    held = stored()
    held.update({p.model: p for p in profiles})
    st.session_state[_PROFILES] = held
    st.session_state[_ON] = True


def clear() -> None:
    st.session_state.pop(_PROFILES, None)
    st.session_state.pop(_ON, None)


def is_on() -> bool:
    return bool(st.session_state.get(_ON, True))


def active() -> dict[str, CalibrationProfile]:
    """The profiles applied now (none while the toggle is off)."""
    return stored() if is_on() else {}


def badge(profile: CalibrationProfile) -> str:
    return f"recalibrated on {profile.fitted_on} (session)"


def describe(profile: CalibrationProfile) -> str:
    return (f"{METHODS.get(profile.method, profile.method)} and threshold {profile.threshold:.3f}, fitted on {profile.n_films} films "
            f"of {profile.n_patients} patients ({profile.fitted_on}; data digest {profile.dataset_digest})")


def profile_for(run: inference.ModelRun) -> CalibrationProfile | None:
    """The applied profile of this run's model, when it fits the run's output (two classes, the same ones)."""
    p = active().get(run.name)
    if p is None or not run.ok or tuple(run.classes) != tuple(p.classes):
        return None
    return p


def recalibrated(run: inference.ModelRun) -> tuple[inference.ModelRun, CalibrationProfile | None]:
    """The run as the applied profile shows it (probabilities, decision and threshold from the
    profile; no spread, which was measured on the uncalibrated scale), and that profile; the run
    itself and None when no profile applies."""
    p = profile_for(run)
    if p is None:
        return run, None
    score = p.apply(run.prediction.positive_probability)
    pred = dataclasses.replace(run.prediction, probabilities=np.array([1.0 - score, score], dtype=np.float64),
                               decision=p.classes[1] if score >= p.threshold else p.classes[0], threshold=p.threshold, spread=None)
    return dataclasses.replace(run, prediction=pred), p


def _remember(key: str) -> None:
    st.session_state[_ON] = bool(st.session_state.get(key))


def switch(prefix: str) -> None:
    """The one toggle (and what it applies) where a session holds profiles; nothing otherwise."""
    held = stored()
    if not held:
        return
    key = f"{prefix}_calibration_on"
    if key in st.session_state and st.session_state[key] != is_on():
        del st.session_state[key]  # changed on another page: follow it
    st.toggle(f"Apply this session's recalibration ({len(held)} model{'s' if len(held) > 1 else ''})", value=is_on(), key=key,
              on_change=_remember, args=(key,), help="Probabilities and decisions of these models from the threshold and calibration fitted "
              "on Explore's evaluation of a labelled data set. Kept in this browser session only.")
    if is_on():
        st.caption(":material/tune: " + "; ".join(f"**{privacy.md_escape(p.model)}**: {privacy.md_escape(badge(p))}" for p in held.values()))
