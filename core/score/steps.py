"""The work done on a batch of image rows: decode once, then one model per step.

These are plain callables on dict-of-numpy batches: Ray Data runs `decode` as tasks and
`ModelStep` as an actor pool (the model loaded once per actor), and the dashboard runs the
very same callables in its own process (`core.score.local`). A file that cannot be read or
a model that fails on one image becomes that row's error, never an exception.
"""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from core.errors import MammoError, model_reason
from core.privacy import one_line
from core.types import Mammogram, SafeMeta
from core.score.plan import Step
from core.score.rows import result_column

EMPTY = np.zeros((0, 0), np.float32)


def decode(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Read every image of the batch (paths leave the batch here); errors name no file."""
    from core.io.reader import read_image

    n = len(batch["image_id"])
    pixels, metas, errors, seconds = [], [], [], []
    for i in range(n):
        t0 = time.perf_counter()
        try:
            if not batch["path"][i]:
                raise MammoError("no image file for this record")
            m = read_image(str(batch["path"][i]))
            pixels.append(m.pixels)
            metas.append(json.dumps(m.meta.to_dict()))
            errors.append("")
        except MammoError as exc:
            pixels.append(EMPTY)
            metas.append("")
            errors.append(one_line(exc))
        except Exception as exc:  # a decoder bug on one file must not stop the archive
            pixels.append(EMPTY)
            metas.append("")
            errors.append(f"could not be read ({type(exc).__name__})")
        seconds.append(time.perf_counter() - t0)
    out = {k: v for k, v in batch.items() if k != "path"}
    out.update({"pixels": _objects(pixels), "meta": np.array(metas, object), "error": np.array(errors, object), "decode_seconds": np.array(seconds, np.float64)})
    return out


def _objects(items: list[Any]) -> np.ndarray:
    arr = np.empty(len(items), object)
    arr[:] = items
    return arr


def image_of(batch: dict[str, np.ndarray], i: int) -> Mammogram | None:
    if batch["error"][i]:
        return None
    pixels = np.asarray(batch["pixels"][i], np.float32)
    meta = json.loads(batch["meta"][i])
    if meta.get("pixel_spacing_mm") is not None:
        meta["pixel_spacing_mm"] = tuple(meta["pixel_spacing_mm"])
    return Mammogram(pixels, SafeMeta(**meta))


class ModelStep:
    """One model (or one stage of a split composite), loaded once per process."""

    def __init__(self, step: Step, models_dir: str, scored_maps: bool = False) -> None:
        from core import quiet  # noqa: F401  (framework noise off in a fresh worker)
        from core.models import registry

        self.step, self.scored_maps = step, scored_maps
        self.model: Any = None
        self.load_error: str | None = None
        try:
            member = registry.load(step.load, models_dir)
            if step.role == "whole":
                self.model = member
            else:  # one stage of a composite: the composite's own logic, only this stage's model
                from core.models.composites.hierarchy import Hierarchy

                card = registry.card(step.model, models_dir)
                self.model = Hierarchy(card, member if step.role == "stage1" else None, member if step.role == "stage2" else None)
        except MammoError as exc:
            self.load_error = f"model could not be loaded: {model_reason(step.load, exc)}"
        except Exception as exc:
            self.load_error = f"model could not be loaded ({type(exc).__name__})"

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        n = len(batch["image_id"])
        column = result_column(self.step.model) if self.step.role in ("whole", "stage2") else f"stage1::{self.step.model}"
        results = []
        for i in range(n):
            image = image_of(batch, i)
            if image is None:
                results.append("{}")
                continue
            t0 = time.perf_counter()
            try:
                if self.load_error:
                    raise _Failed(self.load_error)
                res = self._run(image, batch, i)
            except _Failed as exc:
                res = {"error": str(exc)}
            except MammoError as exc:
                res = {"error": model_reason(self.step.load, exc)}
            except Exception as exc:
                res = {"error": f"prediction failed ({type(exc).__name__})"}
            res["seconds"] = res.get("seconds", 0.0) + time.perf_counter() - t0
            results.append(json.dumps(res))
        out = dict(batch)
        out[column] = np.array(results, object)
        return out

    def _run(self, image: Mammogram, batch: dict[str, np.ndarray], i: int) -> dict[str, Any]:
        if self.step.role == "stage1":
            p1, lesion, roi = self.model.first_stage(image)
            return {"p1": p1, "lesion": lesion, "roi": None if roi is None else list(roi)}
        if self.step.role == "stage2":
            first = json.loads(batch[f"stage1::{self.step.model}"][i] or "{}")
            if "error" in first:
                raise _Failed(first["error"])
            roi = tuple(first["roi"]) if first.get("roi") else None
            p2 = self.model.second_stage(image, roi) if first.get("lesion") else None
            t = self.model.combine(float(first["p1"]), roi, p2)
            return {"p": [float(v) for v in t.probabilities], "decision": t.decision, "threshold": None, "roi_source": "stage 1 Grad-CAM peak" if roi else None,
                    "seconds": float(first.get("seconds", 0.0))}
        return _whole(self.model, image, json.loads(batch["rois"][i] or "[]"), self.scored_maps)


def _whole(model: Any, image: Mammogram, rois: list[list[float]], scored_maps: bool) -> dict[str, Any]:
    """A whole model's probabilities, decision and map scores; a patch model looks at every
    annotated lesion (the image is as suspicious as its worst patch, as on the cards) or,
    without annotations, at the breast centre (as `predict`)."""
    from core.models.prediction import decide

    if model.looks_at_roi and rois:
        probs = model.predict_proba([image] * len(rois), [tuple(r) for r in rois])
        p = probs[int(np.argmax(probs[:, -1]))]
        threshold = model.card.get("threshold")
        return {"p": [float(v) for v in p], "decision": decide(tuple(model.classes), p, threshold), "threshold": threshold, "roi_source": "annotated lesion"}
    pred = model.predict(image, with_maps=scored_maps)
    maps = {k: float(m.score) for k, m in pred.maps.items() if m.score is not None}
    source = "breast centre" if model.looks_at_roi else None
    return {"p": [float(v) for v in pred.probabilities], "decision": pred.decision, "threshold": pred.threshold, "maps": maps, "roi_source": source,
            "study_input": pred.study_input}


class _Failed(Exception):
    """A row-level failure whose text is already safe to show."""
