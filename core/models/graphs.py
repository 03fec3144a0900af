"""Committed serving graphs: each served network as an ONNX file in its model folder.

A model's card lists its graphs under `serving_graphs` ({role: entry}); each entry names the
file, its SHA-256 and size, the input layout, the outputs, and the equality check against the
framework model that was recorded when the graph was exported (`python -m core graphs`).
Serving opens a graph with ONNX Runtime alone: no torch, timm or Keras is imported to answer
an upload. `MAMMO_RUNTIME=torch` serves the framework models instead, for comparison.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from core.errors import IntegrityError, ModelError
from core.models.card import sha256_file

CARD_KEY = "serving_graphs"
_OPEN: dict[tuple[str, str], Any] = {}  # (path, sha256) -> OnnxModel, shared by every session of the process
_LOCK = threading.Lock()


def entry(card: dict[str, Any], role: str) -> dict[str, Any] | None:
    return (card.get(CARD_KEY) or {}).get(role)


def path(card: dict[str, Any], role: str) -> Path | None:
    e = entry(card, role)
    return Path(card["_folder"]) / e["file"] if e else None


def serves(card: dict[str, Any], role: str) -> bool:
    """The model is served from its committed graph for `role`: listed, on disk, and the
    runtime asked for is ONNX Runtime (the default)."""
    from core.models.backends import onnx_runtime

    p = path(card, role)
    return p is not None and p.is_file() and onnx_runtime.choice() == "onnx"


def open_graph(card: dict[str, Any], role: str):
    """An ONNX Runtime session of the committed graph, after its SHA-256 check; opened once per
    process (every session shares it)."""
    from core.models.backends import onnx_runtime

    e, p = entry(card, role), path(card, role)
    if e is None or p is None or not p.is_file():
        raise ModelError(f"model {card['name']!r}: no serving graph for {role}")
    key = (str(p), e["sha256"])
    with _LOCK:
        if key not in _OPEN:
            digest = sha256_file(p)
            if digest != e["sha256"]:
                raise IntegrityError(f"model {card['name']!r}: serving graph SHA-256 {digest[:12]}… does not match the card ({e['sha256'][:12]}…); refusing to load")
            _OPEN[key] = onnx_runtime.open_graph(p, tuple(e["outputs"]))
        return _OPEN[key]
