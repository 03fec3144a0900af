"""The one combine rule of a study, used by the study model, `predict --study`, `core score`
and the out-of-fold build: an image model's scores of one woman's films -> per breast
(views combined) -> against the other breast.

    breast score   = rule(scores of the breast's views)            rule: mean (default) | max
    bilateral      = score − w · breast score of the other breast  (w from the card)
    study score    = (bilateral + w) / (1 + w)                     the same ranking, on 0..1

`mean` across views by default: CC and MLO are two looks at the same tissue, and averaging
them is what the four-view reference (NYU's breast_cancer_classifier) does with its
per-view outputs; `max` ("any view") is kept as a named rule. On MIAS (one MLO per breast)
the two rules give the same numbers, so the choice is not measured here. The study score
is a rank score (its AUC is the bilateral score's), not a calibrated probability.
Without the other breast its score is taken as `absent` (the member's mean score on the
validation part), so one film is read on the same scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from core.studies.grouping import SIDES, Study

RULES: dict[str, Callable[[np.ndarray], float]] = {"mean": lambda v: float(np.mean(v)), "max": lambda v: float(np.max(v))}


@dataclass(frozen=True)
class StudySpec:
    """The card's `study` entry: the rule across views, the weight of the other breast, its stand-in."""

    rule: str = "mean"
    weight: float = 0.5
    absent: float = 0.5  # the other breast's score when the study has one breast only

    @classmethod
    def from_card(cls, card: dict[str, Any]) -> "StudySpec":
        s = card.get("study") or {}
        return cls(str(s.get("rule", "mean")), float(s.get("weight", 0.5)), float(s.get("absent", 0.5)))

    def rescale(self, bilateral: float | np.ndarray) -> Any:
        return np.clip((np.asarray(bilateral, float) + self.weight) / (1 + self.weight), 0.0, 1.0)


@dataclass(frozen=True)
class Combined:
    """Numbers of one study: per image (its own and bilateral score), per side (breast and bilateral)."""

    image_bilateral: tuple[float, ...]
    breast: dict[str, float]
    other: dict[str, float]  # per side: the other breast's score (or the stand-in)
    breast_bilateral: dict[str, float]
    paired: bool  # both breasts were there (else the other breast is the stand-in)


def combine_study(scores: Sequence[float], sides: Sequence[str], spec: StudySpec) -> Combined:
    """THE combine: one woman's image scores with their sides -> breast and bilateral scores."""
    if spec.rule not in RULES:
        raise ValueError(f"unknown study rule {spec.rule!r}; known: {', '.join(RULES)}")
    s = np.asarray(scores, float)
    side = np.asarray(sides)
    breast = {b: RULES[spec.rule](s[side == b]) for b in SIDES if (side == b).any()}
    other = {b: breast.get(_other(b), spec.absent) for b in breast}
    return Combined(
        tuple(float(v - spec.weight * other[b]) for v, b in zip(s, side)),
        breast, other, {b: breast[b] - spec.weight * other[b] for b in breast}, len(breast) == 2)


def _other(side: str) -> str:
    return "L" if side == "R" else "R"


@dataclass(frozen=True)
class ImageReading:
    label: str
    side: str
    view: str | None
    score: float  # the member's positive score of this film alone
    study_score: float  # against the other breast, rescaled to 0..1
    decision: str | None


@dataclass(frozen=True)
class BreastReading:
    side: str
    views: tuple[str, ...]
    score: float  # the member's scores of its views, combined by the rule
    study_score: float  # the breast against the other breast, rescaled to 0..1
    decision: str | None


@dataclass(frozen=True)
class StudyReading:
    """What the Upload page, `predict --study` and `core score` show for one model and one study."""

    model: str
    member: str
    rule: str
    weight: float
    threshold: float | None
    classes: tuple[str, ...]
    paired: bool  # both breasts present: a true bilateral reading
    images: tuple[ImageReading, ...]
    breasts: tuple[BreastReading, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        d = asdict(self)
        for part in ("images", "breasts"):
            for r in d[part]:
                r["score"], r["study_score"] = round(r["score"], 4), round(r["study_score"], 4)
        return d


def reading(study: Study, scores: Sequence[float], spec: StudySpec, *, model: str, member: str, threshold: float | None, classes: Sequence[str]) -> StudyReading:
    """The readings of one study from the member's scores of its images (in the study's order)."""
    c = combine_study(scores, [i.side for i in study.images], spec)

    def decide(p: float) -> str | None:
        return None if threshold is None else (classes[1] if p >= threshold else classes[0])

    images = tuple(ImageReading(i.label, i.side, i.view, float(s), float(spec.rescale(b)), decide(float(spec.rescale(b))))
                   for i, s, b in zip(study.images, scores, c.image_bilateral))
    breasts = tuple(BreastReading(b, tuple(i.view or "?" for i in study.breast(b)), c.breast[b], float(spec.rescale(c.breast_bilateral[b])), decide(float(spec.rescale(c.breast_bilateral[b]))))
                    for b in study.sides)
    notes = () if c.paired else (f"one breast only: the other breast is taken at the member's validation mean ({spec.absent:.3f}); no bilateral comparison",)
    return StudyReading(model, member, spec.rule, spec.weight, threshold, tuple(classes), c.paired, images, breasts, notes)


def frames(rows: pd.DataFrame, spec: StudySpec, keys: Sequence[str] = ("patient_id",)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Many women at once (rows: image_id, patient_id, side, view, y (0/1), score, and `keys`):
    (image rows + `bilateral`, `other_breast`; breast rows: `keys`, breast_id, side, views,
    y (1 when any view is), score, bilateral). Same `combine_study`, group by group."""
    images, breasts = [], []
    for _, g in rows.groupby(list(keys), sort=False):
        c = combine_study(g["score"].to_numpy(), g["side"].to_numpy(), spec)
        images.append(g.assign(bilateral=c.image_bilateral, other_breast=[c.other[b] for b in g["side"]]))
        first = g.iloc[0]
        for b in c.breast:
            mine = g[g["side"] == b]
            breasts.append({**{k: first[k] for k in keys}, "breast_id": f"{first['patient_id']}/{b}", "side": b, "views": "+".join(str(v) for v in mine["view"]),
                            "y": int(mine["y"].max()),
                            "score": c.breast[b], "bilateral": c.breast_bilateral[b]})
    return pd.concat(images).reset_index(drop=True), pd.DataFrame(breasts)


def reads_study(model: Any) -> bool:
    """A model that reads a whole study (registered kind `study`), not film by film only."""
    return bool(getattr(model, "reads_study", False))


def read_images(model: Any, items: Sequence[tuple[Any, object, object]], labels: Sequence[str] | None = None) -> StudyReading:
    """What the pages call: [(Mammogram, side, view), ...] of one woman and a loaded study model
    -> its `StudyReading`. Side / view None: taken from the image's de-identified DICOM fields.
    Labels default to "image 1", "image 2", ... (never a file name). Raises `StudyError`."""
    from core.privacy import neutral_label
    from core.studies.grouping import from_meta, group

    labels = list(labels) if labels is not None else [neutral_label("image", k) for k in range(1, len(items) + 1)]
    entries = []
    for label, (image, side, view) in zip(labels, items):
        s, v = from_meta(image.meta, side, view)
        entries.append((label, s, v, image))
    return model.read_study(group(entries))
