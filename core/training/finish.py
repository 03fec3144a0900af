"""The one finish step of every kind: reload the saved model through the registry, predict
every image, choose thresholds on validation, judge the test part, time it, run the
external check. What a user recomputes with `evaluate` is what the card says.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from core.evaluation.judge import external_summary, judge, view_frame
from core.evaluation.metrics import prob_columns
from core.labels import space, tasks_for
from core.models.card import HISTORY_FILE, PREDICTIONS_FILE, read_card, scratch_dir, write_card
from core.types import Record

Log = Callable[[str], None]


def finish(card: dict[str, Any], folder: Path, records: Sequence[Record], assignment: dict[str, str], *, data_dir: str | Path | None, history: pd.DataFrame | None = None, t_start: float | None = None, smoke: bool = False, log: Log = print) -> Path:
    from core.models import registry
    from core.serving.records import external_check, predict_records

    t_start = t_start or time.time()
    write_card(folder, card)
    if history is not None:
        history.to_csv(folder / HISTORY_FILE, index=False)
    registry.clear_cache()
    root = folder.parent
    model = registry.load(card["name"], root)
    log("predicting every image with the saved weights ...")
    pred = predict_records(model, records, assignment, data_dir=data_dir)
    classes = list(card["classes"])
    own = judge(pred, classes, smoke)
    if len(classes) == 2:
        pred["pred"] = np.where(pred[f"p_{classes[1]}"] >= own["threshold"], classes[1], classes[0])
    elif "pred" not in pred:
        pred["pred"] = [classes[i] for i in pred[prob_columns(classes)].to_numpy().argmax(1)]
    pred.to_csv(folder / PREDICTIONS_FILE, index=False)
    card.update(own)
    card["views"] = {t: judge(view_frame(pred, classes, t), space(t).classes, smoke) for t in tasks_for(classes) if space(t).classes != tuple(classes)}
    card["latency_ms_p50_cpu_batch1"] = latency_ms(model, records, repeats=1 if smoke else 7)  # a smoke card is never shipped
    card["external_check"] = external_check(model)
    card["external_summary"] = external_summary(card)
    card["training_seconds"] = round(time.time() - t_start, 1)
    card["trained_on"] = device_name()
    card["smoke"] = smoke
    write_card(folder, card)
    if not smoke and root.resolve() != scratch_dir("oof_models").resolve():  # the serving graph, beside the weights,
        from core.training.graphs import check_images, export  # checked against them (smoke and fold models are never served)

        export([card["name"]], root, check_images(data_dir), log=log)
        card = read_card(folder)
    m = card["test"]["metrics"]["roc_auc"]
    log(f"[{card['name']}] test ROC-AUC {m['value']:.3f} (95% CI {m['ci95'][0]:.3f}-{m['ci95'][1]:.3f}); wrote {folder}")
    return folder


def latency_ms(model, records: Sequence[Record], repeats: int = 7) -> float:
    from core.io.reader import read_image
    from core.types import Mammogram

    image = read_image(records[0].path)
    model.predict_proba([image])
    times = []
    for _ in range(repeats):
        fresh = Mammogram(image.pixels.copy(), image.meta)  # a new object: no cached preprocessing
        t0 = time.perf_counter()
        model.predict_proba([fresh])
        times.append(time.perf_counter() - t0)
    return round(1000 * float(np.median(times)), 1)


def device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    import platform

    return f"CPU ({platform.processor() or platform.machine()})"
