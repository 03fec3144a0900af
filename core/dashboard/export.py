"""Downloads of one analysed image: a CSV of every model's prediction and a PNG contact sheet
of the chosen map layer per model. The caller gives the image's neutral name ("upload 1")."""

from __future__ import annotations

import csv
import io
import re
from typing import Any, Sequence

import numpy as np

from core.types import Lesion
from core.serving.inference import ModelRun
from core.dashboard.overlays import layer_caption, overlay_image

# layer choice per model: (map key or None, opacity, threshold or None)
Choice = tuple[str | None, float, float | None]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", str(text).lower()).strip("_") or "step"


def result_rows(runs: Sequence[ModelRun], image_name: str, membership: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per model: decision, probabilities, threshold, each map's image score, the stage trace."""
    rows = []
    for r in runs:
        row: dict[str, Any] = {"image": image_name, "model": r.name, "task": r.task, "decision": r.decision}
        for c in ("normal", "lesion", "benign", "malignant"):
            row[f"p_{c}"] = ""
        for c, p in zip(r.classes, r.probabilities):
            row[f"p_{c}"] = round(p, 6)
        if r.prediction is not None and r.prediction.spread is not None:
            for c, s in zip(r.classes, r.prediction.spread):
                row[f"sd_{c}"] = round(float(s), 6)
        row["threshold"] = "" if r.threshold is None else round(float(r.threshold), 6)
        row["maps"] = "; ".join(f"{k} ({m.kind})" for k, m in r.maps.items())
        for k, m in r.maps.items():
            if m.score is not None:
                row[f"map_{_slug(k)}_score"] = round(float(m.score), 6)
                row[f"map_{_slug(k)}_rule"] = m.score_rule or ""
        for i, step in enumerate(r.trace, 1):
            prefix = f"trace{i}_{_slug(step.get('stage', ''))}"
            for k, v in step.items():
                if k != "stage" and isinstance(v, (int, float, str)) and not isinstance(v, bool):
                    row[f"{prefix}_{_slug(k)}"] = round(v, 6) if isinstance(v, float) else v
        if membership is not None:
            row["in_model_data"] = membership.get(r.name, "")
        row["error"] = r.error or ""
        rows.append(row)
    return rows


def result_csv(runs: Sequence[ModelRun], image_name: str, membership: dict[str, str] | None = None) -> bytes:
    rows = result_rows(runs, image_name, membership)
    cols: list[str] = []
    for row in rows:
        cols += [k for k in row if k not in cols]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, restval="")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue().encode()


def result_png(base8: np.ndarray, runs: Sequence[ModelRun], scale: float, choices: dict[str, Choice] | None = None,
               lesions: Sequence[Lesion] = (), title: str = "", tile_long_side: int = 512) -> bytes:
    """One PNG: the original, then each model's chosen map layer (its first by default), each captioned."""
    from PIL import Image, ImageDraw

    choices = choices or {}
    tiles = [(overlay_image(base8, None, 0, lesions, scale), "original" + (f" — {title}" if title else ""))]
    for r in runs:
        if not r.ok:
            continue
        key, opacity, threshold = choices.get(r.name, (next(iter(r.maps), None), 0.45, None))
        layer = r.maps.get(key) if key else None
        probs = ", ".join(f"{c} {p:.2f}" for c, p in zip(r.classes, r.probabilities))
        text = f"{r.name}: {r.decision} ({probs})" + (f" — {layer_caption(layer, threshold)}" if layer is not None else "")
        tiles.append((overlay_image(base8, layer, opacity, lesions, scale, threshold), text))
    h0, w0 = base8.shape[:2]
    f = min(1.0, tile_long_side / max(h0, w0))
    tw, th = max(1, round(w0 * f)), max(1, round(h0 * f))
    cap = 49
    sheet = Image.new("RGB", (tw * len(tiles), th + cap), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (tile, text) in enumerate(tiles):
        sheet.paste(tile.resize((tw, th)), (i * tw, cap))
        for j, line in enumerate(_wrap(text, max(10, tw // 7))[:3]):
            draw.text((i * tw + 4, 2 + 15 * j), line, fill=(20, 20, 20))
    out = io.BytesIO()
    sheet.save(out, format="PNG", optimize=False)
    return out.getvalue()


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if len(cur) + len(w) + 1 > width and cur:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        lines.append(cur)
    return lines


def png_bytes(img) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()
