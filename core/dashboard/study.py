"""A study on the pages: a woman's images with their sides and views, every image model's
run per view, and each study model's per-breast and bilateral reading from those same runs
(one forward pass per network per view; `core.studies.combine` does the sums). No Streamlit.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import pandas as pd

from core.errors import StudyError
from core.studies.grouping import SIDES, VIEWS, Study, group, side_of, view_of
from core.studies.combine import StudyReading, reads_study
from core.types import SafeMeta

SIDE_CHOICES: tuple[str, ...] = SIDES
VIEW_CHOICES: tuple[str, ...] = VIEWS


def guessed_slot(meta: SafeMeta | None) -> tuple[str | None, str | None]:
    """Side and view read from the de-identified DICOM fields; None where absent or not a
    CC / MLO view (the user then picks it)."""
    if meta is None:
        return None, None
    try:
        view = view_of(meta.view)
    except StudyError:
        view = None
    return side_of(meta.laterality), view


def study_of(entries: Sequence[tuple[str, str | None, str | None, Any]]) -> Study:
    """(label, side, view, item) per image -> the study in conventional order; `StudyError`
    (naming the field, never its value) when the images cannot be one woman's study."""
    return group(list(entries))


def members_needed(models: Sequence[Any]) -> list[str]:
    """The image models a page must run on every view for its study models' readings."""
    return list(dict.fromkeys(m.member.name for m in models if reads_study(m)))


def readings(models: Sequence[Any], study: Study, runs: Mapping[tuple[str, str], Any]) -> tuple[list[StudyReading], dict[str, str]]:
    """Each study model's reading from its member's runs, `runs[(image label, model name)]`.

    Returns (readings, {model: why it has none}) — a member that failed on a view gives a
    reason, not a number."""
    out, missing = [], {}
    for m in models:
        if not reads_study(m):
            continue
        member_runs = [runs.get((i.label, m.member.name)) for i in study.images]
        if any(r is None or not r.ok for r in member_runs):
            missing[m.name] = f"its member {m.member.name} has no result on every view"
            continue
        out.append(m.read_scores(study, [m.member_score(r) for r in member_runs]))
    return out, missing


def per_view_table(study: Study, names: Sequence[str], runs: Mapping[tuple[str, str], Any]) -> pd.DataFrame:
    """One row per image model, one column per view (R-CC, L-CC, R-MLO, L-MLO order): its
    decision and the probability of that decision."""
    rows = []
    for n in names:
        row: dict[str, Any] = {"model": n}
        for i in study.images:
            r = runs.get((i.label, n))
            if r is None or not r.ok:
                row[i.slot] = "—"
                continue
            p = r.probabilities[list(r.classes).index(r.decision)] if r.decision in r.classes else max(r.probabilities)
            row[i.slot] = f"{r.decision} {p:.2f}"
        rows.append(row)
    return pd.DataFrame(rows, columns=["model"] + [i.slot for i in study.images])


def per_breast_table(found: Sequence[StudyReading]) -> pd.DataFrame:
    """One row per study model and breast: its views, the member's score (views combined),
    the study score against the other breast, the decision at the model's threshold."""
    rows = [{"model": r.model, "breast": {"R": "right", "L": "left"}[b.side], "views": "+".join(b.views),
             "member score": round(b.score, 3), "study score": round(b.study_score, 3),
             "threshold": None if r.threshold is None else round(r.threshold, 3), "decision": b.decision or "—",
             "bilateral": "both breasts" if r.paired else "one breast: other at the validation mean"}
            for r in found for b in r.breasts]
    return pd.DataFrame(rows, columns=["model", "breast", "views", "member score", "study score", "threshold", "decision", "bilateral"])


def per_image_study_table(found: Sequence[StudyReading]) -> pd.DataFrame:
    """Each study model's per-image reading: the film alone (member) and against the other breast."""
    rows = [{"model": r.model, "image": i.label, "view": f"{i.side}-{i.view or '?'}", "member score": round(i.score, 3),
             "study score": round(i.study_score, 3), "decision": i.decision or "—"} for r in found for i in r.images]
    return pd.DataFrame(rows, columns=["model", "image", "view", "member score", "study score", "decision"])
