"""Kind `study`: one image model read across a woman's films (issue 22). Its member scores
every film; `core.studies.combine` turns the scores into per-breast and bilateral readings.

`read_study` is the reading a study gets (Upload, `predict --study`, `core score`);
`predict` keeps the one-image contract every caller relies on: a film alone is read
against the stand-in for the other breast (the card's `study.absent`), on the same scale,
with a trace line that says so.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from core.labels import project, space
from core.types import Mammogram
from core.models.kinds import register_kind
from core.models.prediction import Prediction, decide


class StudyModel:
    framework = "composite"
    input = "whole"
    looks_at_roi = False
    reads_study = True  # callers offer it the whole study (`read_study`), not film by film only

    def __init__(self, card: dict[str, Any], member: Any) -> None:
        from core.studies.combine import StudySpec

        self.card, self.member = card, member
        self.members = [member]
        self.name: str = card["name"]
        self.task: str = card["task"]
        self.classes: tuple[str, ...] = space(self.task).classes
        self.threshold: float | None = card.get("threshold")
        self.spec = StudySpec.from_card(card)

    def member_score(self, pred: Prediction) -> float:
        """The member's positive score read in the study's task."""
        return float(project(np.asarray(pred.probabilities)[None], pred.classes, self.task)[0, 1])

    def _alone(self, score: float) -> np.ndarray:
        p = float(self.spec.rescale(score - self.spec.weight * self.spec.absent))
        return np.array([1 - p, p], np.float32)

    def parts(self, image: Mammogram) -> list[tuple[Any, Mammogram]]:
        """The member's prediction this film's reading uses, for `run_models` to run ahead."""
        return [(self.member, image)]

    def predict(self, image: Mammogram, roi=None, *, with_maps: bool = True) -> Prediction:
        pred = self.member.predict(image, with_maps=with_maps)
        s = self.member_score(pred)
        probs = self._alone(s)
        trace = [{"stage": "member", "model": self.member.name, f"p_{self.classes[1]}": round(s, 4)},
                 {"stage": "study", "note": f"one film: the other breast taken at {self.spec.absent:.3f} (validation mean); give both breasts for the bilateral reading"}]
        return Prediction(self.name, self.task, self.classes, probs, decide(self.classes, probs, self.threshold), self.threshold, dict(pred.maps), trace=trace,
                          study_input=s)

    def predict_proba(self, images: Sequence[Mammogram], rois=None) -> np.ndarray:
        if not images:
            return np.zeros((0, 2), np.float32)
        return np.stack([self._alone(self.member_score(self.member.predict(im, with_maps=False))) for im in images])

    def read_scores(self, study, scores: Sequence[float]):
        """The readings from member scores already computed (in the study's image order)."""
        from core.studies.combine import reading

        return reading(study, scores, self.spec, model=self.name, member=self.member.name, threshold=self.threshold, classes=self.classes)

    def read_study(self, study) -> Any:
        """A `core.studies.grouping.Study` whose items are Mammograms -> `StudyReading`."""
        return self.read_scores(study, [self.member_score(self.member.predict(i.item, with_maps=False)) for i in study.images])


@register_kind("study", composite=True)
def build_study(card: dict[str, Any], root: str) -> StudyModel:
    from core.models import registry

    return StudyModel(card, registry.load(card["members"][0], root))
