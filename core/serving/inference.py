"""Running models on one image for the dashboard: read an upload in memory, run each model
once, keep its `Prediction` (maps shrunk to display size), isolate a failing model.

The pages draw whatever a prediction carries (probabilities, decision, spread, stage
trace, any number of map layers) without knowing which kind of model made it.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from typing import Any, Iterator, Sequence

import numpy as np
import pandas as pd

from core.errors import InvalidImageError, MammoError, ModelError
from core.models.prediction import MapLayer, Prediction
from core.types import Mammogram
from core.models.backends.passes import model_workers
from core.serving.display import DISPLAY_LONG_SIDE, model_input_view, normalisation, shrink_layer


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_upload(data: bytes, name: str | None = None) -> Mammogram:
    """Decode uploaded bytes in memory; InvalidImageError (a friendly one-liner) on anything bad."""
    from core.io.reader import read_image

    if not data:
        raise InvalidImageError(f"{name or 'the file'} is empty")
    return read_image(data, name=name)


def safe_meta_table(image: Mammogram) -> pd.DataFrame:
    """De-identified acquisition facts only (SafeMeta never carries an identifier)."""
    d = image.meta.to_dict()
    rows = [{"field": k.replace("_", " "), "value": ("×".join(f"{x:g}" for x in v) if isinstance(v, (tuple, list)) else str(v))} for k, v in d.items() if v not in (None, "")]
    return pd.DataFrame(rows, columns=["field", "value"])


@dataclass
class ModelRun:
    """One model on one image: its `Prediction`, or the one-line reason it failed (picklable for caching)."""

    name: str
    prediction: Prediction | None = None
    error: str | None = None
    seconds: float = 0.0
    model_input: np.ndarray | None = None  # uint8 view of the preprocessed input, where the model has one

    @property
    def ok(self) -> bool:
        return self.prediction is not None and self.error is None

    @property
    def task(self) -> str:
        return self.prediction.task if self.prediction else ""

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.prediction.classes) if self.prediction else ()

    @property
    def probabilities(self) -> list[float]:
        return [float(p) for p in self.prediction.probabilities] if self.prediction else []

    @property
    def decision(self) -> str:
        return self.prediction.decision if self.prediction else "—"

    @property
    def threshold(self) -> float | None:
        return self.prediction.threshold if self.prediction else None

    @property
    def maps(self) -> dict[str, MapLayer]:
        return dict(self.prediction.maps) if self.prediction else {}

    @property
    def trace(self) -> list[dict[str, Any]]:
        return list(self.prediction.trace or []) if self.prediction else []

    @property
    def on_demand(self) -> dict[str, str]:
        """{map key: label} of the layers computed only when picked (`with_layer`)."""
        return dict(self.prediction.on_demand) if self.prediction else {}


_MODEL_LOCKS: dict[int, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


def _lock_for(model: Any) -> threading.Lock:
    with _LOCKS_GUARD:
        return _MODEL_LOCKS.setdefault(id(model), threading.Lock())


def limit_torch_threads() -> int | None:
    """Give torch half the cores when it shares the process with TensorFlow.

    Measured on a 2-core machine: after a Keras Grad-CAM, a torch MobileNetV2 Grad-CAM
    takes 5-10 s with torch's default thread count (both thread pools spin on the same
    cores) and 0.16 s with one thread. Only touches torch if it is already imported.
    """
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    n = max(1, (os.cpu_count() or 2) // 2)
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def run_model(model: Any, image: Mammogram, *, with_maps: bool = True, with_input: bool = False,
              long_side: int = DISPLAY_LONG_SIDE) -> ModelRun:
    """`model.predict(image)` with its maps shrunk to display size, timed; any failure becomes
    `ModelRun.error` (one model failing never hides the others). One run per model at a time
    (sessions share cached models). Maps that need a backward pass are only listed
    (`ModelRun.on_demand`); `with_layer` computes one when it is picked.
    """
    limit_torch_threads()
    with _lock_for(model):
        try:
            return _run(model, image, with_maps, with_input, long_side)
        finally:
            release_memory()


def with_layer(run: ModelRun, model: Any, image: Mammogram, key: str, long_side: int = DISPLAY_LONG_SIDE) -> ModelRun:
    """The run with one of its on-demand layers computed and added to its maps (a new run:
    the cached one stays as it was). MammoError when the layer cannot be made."""
    from core.models.prediction import layer_on_demand

    if key in run.maps or run.prediction is None:
        return run
    if key not in run.prediction.on_demand:
        raise ModelError(f"model {run.name!r} has no such map layer")
    limit_torch_threads()
    with _lock_for(model):
        try:
            layer = shrink_layer(layer_on_demand(model, image, key), long_side)
        finally:
            release_memory()
    later = {k: v for k, v in run.prediction.on_demand.items() if k != key}
    return replace(run, prediction=replace(run.prediction, maps={**run.prediction.maps, key: layer}, on_demand=later))


def expected_ms(model: Any) -> float:
    """The model's CPU latency measured when it was packed (card), 0 when unknown."""
    return float((getattr(model, "card", None) or {}).get("latency_ms_p50_cpu_batch1") or 0.0)


def run_models(models: Sequence[Any], image: Mammogram, *, workers: int | None = None, **options: Any) -> Iterator[tuple[int, ModelRun]]:
    """`run_model` for each model, `workers` at a time, quickest first (the card's measured
    latency); yields (index, run) as each finishes, so a page draws a card the moment its
    model is done. A network is never run by two threads at once (each model's results
    lock), and a result two models share (an ensemble's member on a flipped view) is
    computed once. A model's first run in the process goes alone (first calls allocate
    more: imports, kernels). Leaving early cancels the rest.

    Measured on 2 cores, 14 models on one DICOM: side by side, the models take 2.0-2.4 s
    against 2.7-3.1 s one at a time; quickest first draws the first card after 0.25 s
    instead of 1.1 s, for the same total (`benchmarks/bench_dashboard.py`)."""
    workers = model_workers() if workers is None else workers
    order = sorted(range(len(models)), key=lambda i: expected_ms(models[i]))
    alone = [i for i in order if workers <= 1 or len(models) <= 1 or models[i] not in _WARM]
    for i in alone:  # a model's first run goes alone: its one-off allocations stay off the peak
        run = run_model(models[i], image, **options)
        _WARM.add(models[i])
        yield i, run
    rest = [i for i in order if i not in alone]
    ahead = parts_ahead([models[i] for i in rest], image)
    futures = {}
    if ahead and workers > 1:  # the members' views on one worker, the models that need none on the other
        futures[_pool(workers).submit(_run_parts, ahead, options.get("with_maps", True))] = None
        computed = {id(m) for m, view in ahead if view is image}
        rest.sort(key=lambda i: id(models[i]) in computed or hasattr(models[i], "parts"))  # stable: quickest first within each half
    futures |= {_pool(workers).submit(run_model, models[i], image, **options): i for i in rest}
    try:
        for done in as_completed(futures):
            if futures[done] is not None:
                yield futures[done], done.result()
    finally:
        for f in futures:
            f.cancel()


def parts_ahead(models: Sequence[Any], image: Mammogram) -> list[tuple[Any, Mammogram]]:
    """Every (member, view) prediction that the composites among `models` combine (`parts`:
    an ensemble's members on its flipped views, a study's or a map top's member), members of
    members first, each once. Run ahead on one worker, they leave the other free for the
    models that need none, and the composites find them remembered instead of waiting on
    each other for the same member's views."""
    found: dict[tuple[int, int], tuple[Any, Mammogram]] = {}
    depth: dict[tuple[int, int], int] = {}
    frontier, level = [(m, image) for m in models], 0
    while frontier and level < 8:  # composites of composites are two levels deep today
        level += 1
        deeper = []
        for model, view in frontier:
            for member, member_view in getattr(model, "parts", lambda _: [])(view):
                key = (id(member), id(member_view.pixels))
                if depth.get(key, 0) < level:
                    depth[key], found[key] = level, (member, member_view)
                    deeper.append((member, member_view))
        frontier = deeper
    return [found[k] for k in sorted(found, key=lambda k: -depth[k])]


def _run_parts(parts: list[tuple[Any, Mammogram]], with_maps: bool) -> None:
    """Each part's prediction, remembered by its model; a failure is left to the composite
    that asks for it again (and reports it as its own run's error)."""
    try:
        for member, view in parts:
            try:
                member.predict(view, with_maps=with_maps)
            except Exception:  # noqa: BLE001 - the composite's own run reports it
                pass
    finally:
        release_memory()


_WARM: "weakref.WeakSet[Any]" = weakref.WeakSet()  # models that have run once in this process
_POOLS: dict[int, ThreadPoolExecutor] = {}
_POOLS_GUARD = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """One pool for the whole process, shared by every session: however many visitors
    upload at once, at most `workers` models run at a time (memory stays bounded), and
    the worker threads (with their allocator arenas) live as long as the process."""
    with _POOLS_GUARD:
        if workers not in _POOLS:
            _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="model-run")
        return _POOLS[workers]


def forget(image: Mammogram) -> None:
    """The image's analysis is done: models drop what they remember of it (views, inputs,
    maps), whoever still holds the image."""
    from core.models.prediction import forget_image

    forget_image(image.pixels)


def release_memory() -> None:
    """Hand freed heap back to the system after a model run.

    A run allocates hundreds of MB for a moment (activations of a dense patch pass, maps on
    the original grid) from glibc's per-thread arenas, which keep freed memory: without this,
    the process's RSS ratchets up model after model and session after session. No-op off glibc.
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _run(model: Any, image: Mammogram, with_maps: bool, with_input: bool, long_side: int) -> ModelRun:
    t0 = time.perf_counter()
    name = getattr(model, "name", "model")
    try:
        pred = model.predict(image, with_maps=with_maps)
        pred = replace(pred, probabilities=np.asarray(pred.probabilities, np.float64), maps={k: shrink_layer(v, long_side) for k, v in pred.maps.items()})
        view = None
        if with_input and hasattr(model, "prepare"):
            view = model_input_view(model.prepare(image)[0], normalisation(getattr(model, "card", {}) or {}))
        return ModelRun(name, pred, None, time.perf_counter() - t0, view)
    except MammoError as exc:
        return ModelRun(name, None, str(exc), time.perf_counter() - t0)
    except Exception as exc:  # a library failure on one model must not hide the others
        return ModelRun(name, None, f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)


# --------------------------------------------------------------------------- what a run says
def decided_probability(run: ModelRun) -> float:
    """The probability of the decided class (the highest one when the decision is not a class)."""
    p = run.probabilities
    if not p:
        return float("nan")
    return p[run.classes.index(run.decision)] if run.decision in run.classes else max(p)


def prediction_set(run: ModelRun, card: dict | None, coverage: float) -> tuple[str, ...] | None:
    """The run's split-conformal prediction set at `coverage`, calibrated on its model's
    out-of-fold rows (None: a 3-class output, or no complete out-of-fold run)."""
    from core.evaluation import conformal

    if not run.ok or card is None or len(run.classes) != 2:
        return None
    calibration = conformal.for_card(card, run.task)
    return None if calibration is None else calibration.prediction_set(run.prediction.positive_probability, coverage)


COMPARISON_COLUMNS = ["model", "seed", "task", "decision", "p(positive)", "threshold", "spread", "prediction set", "truth", "right"]


def comparison_frame(runs: Sequence[ModelRun], cards: dict[str, dict], coverage: float, record=None) -> pd.DataFrame:
    """One row per model on this image: decision, the positive class's probability against
    the model's own threshold, spread, conformal set and, when the truth is known (a dataset
    or sample record), right or wrong. What the Upload and Explore pages open with."""
    from core.labels import TASK_ORDER, task_truth

    rows = []
    for r in runs:
        card = cards.get(r.name, {})
        row: dict = {"model": r.name, "seed": card.get("seed_system") or "—", "task": r.task or "—"}
        if not r.ok:
            rows.append(row | {"decision": "failed"})
            continue
        binary = len(r.classes) == 2
        chosen = prediction_set(r, card, coverage)
        spread = r.prediction.spread
        truth = task_truth(r.task, record) if record is not None and r.task in TASK_ORDER else None
        rows.append(row | {
            "decision": r.decision,
            "p(positive)": r.prediction.positive_probability if binary else None,
            "threshold": r.threshold if binary else None,
            "spread": float(spread[-1]) if spread is not None and binary else None,
            "prediction set": "{" + ", ".join(chosen) + "}" if chosen is not None else "—",
            "truth": truth or "—",
            "right": None if truth is None else bool(truth == r.decision),
        })
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


def probability_text(run: ModelRun) -> str:
    spread = run.prediction.spread if run.prediction is not None else None
    parts = []
    for i, (c, p) in enumerate(zip(run.classes, run.probabilities)):
        sd = f" ± {float(spread[i]):.3f}" if spread is not None and i < len(spread) else ""
        parts.append(f"p({c}) = {p:.3f}{sd}")
    if run.threshold is not None:
        parts.append(f"threshold {run.threshold:.2f}")
    return " · ".join(parts)


def probability_frame(runs: Sequence[ModelRun]) -> pd.DataFrame:
    """Long table (model, class, probability) for a grouped bar chart."""
    rows = [{"model": r.name, "class": c, "probability": p} for r in runs if r.ok for c, p in zip(r.classes, r.probabilities)]
    return pd.DataFrame(rows, columns=["model", "class", "probability"])


def layer_options(run: ModelRun) -> dict[str, str]:
    """{map key: label} of every map layer the run's prediction carries, in its order."""
    out = {}
    for k, m in run.maps.items():
        kind = m.kind.replace("_", " ")
        out[k] = m.name if kind.lower() in m.name.lower() else f"{m.name} [{kind}]"
    return out


def trace_steps(run: ModelRun) -> list[dict[str, Any]]:
    """The stage trace as display steps: title, the main probability and its label, a detail line.

    Works on whatever keys a model's trace uses: the first `p_*` number is the step's
    probability; model, threshold, verdict and rule become the detail.
    """
    steps = []
    for i, step in enumerate(run.trace, 1):
        title = str(step.get("stage") or f"step {i}")
        probs = [(k, v) for k, v in step.items() if str(k).startswith("p_") and isinstance(v, (int, float))]
        label, value = (probs[0][0], float(probs[0][1])) if probs else ("", None)
        detail = []
        if step.get("model"):
            detail.append(str(step["model"]))
        if isinstance(step.get("threshold"), (int, float)):
            detail.append(f"threshold {float(step['threshold']):.2f}")
        if step.get("says"):
            detail.append(f"says {step['says']}")
        if step.get("rule"):
            detail.append(f"rule {step['rule']}")
        if step.get("roi"):
            roi = step["roi"]
            detail.append(f"looked around ({roi[0]:.0f}, {roi[1]:.0f})")
        pretty = label[2:].replace("_given_", " | ").replace("_", " ") if label else ""
        steps.append({"title": title, "label": f"p({pretty})" if pretty else "", "value": value, "detail": " · ".join(detail)})
    return steps
