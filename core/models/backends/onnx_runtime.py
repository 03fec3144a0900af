"""Serving runtime: a torch module exported once to ONNX and run by ONNX Runtime.

Why: on this project's 2-core CPU, ONNX Runtime runs the served networks 2-6x faster
than eager PyTorch with the same outputs (docs/performance.md, `tests/test_runtime.py`).
Training, out-of-fold runs and evaluation keep eager torch; only the registered models
served to users go through here.

`MAMMO_RUNTIME=onnx` (default) or `torch` (eager, as before). Without onnxruntime, or
when an export fails, the model stays on eager torch. The exported graph is cached in
`<repo>/.cache/onnx/`, named by model, weights' SHA-256 and the torch / onnxruntime
versions, so a second start loads it in milliseconds; when that folder cannot be written
the graph is exported in memory. Nothing here is imported before a torch model is built.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

log = logging.getLogger(__name__)

RUNTIMES = ("onnx", "torch")
OPSET = 17
_EXPORT_LOCK = threading.Lock()  # the TorchScript exporter is not re-entrant


def requested() -> str:
    """The runtime asked for by `MAMMO_RUNTIME` (unknown values read as the default)."""
    value = os.environ.get("MAMMO_RUNTIME", "onnx").strip().lower()
    return value if value in RUNTIMES else "onnx"


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except Exception:  # noqa: BLE001 - any broken install means: not available
        return False
    return True


def choice() -> str:
    """The runtime served models use now: `onnx` when asked for and installed, else `torch`."""
    return "onnx" if requested() == "onnx" and available() else "torch"


def threads() -> int:
    """Intra-op threads of one session: the pages run `model_workers()` models side by side,
    so each gets its share of the cores (as `limit_torch_threads` does for torch)."""
    try:
        from core.models.backends.passes import model_workers

        workers = model_workers()
    except Exception:  # noqa: BLE001 - the dashboard package is optional here
        workers = 1
    return max(1, (os.cpu_count() or 1) // workers)


def cache_dir() -> Path:
    from core.models.card import repo_root

    return repo_root() / ".cache" / "onnx"


def cache_name(name: str, sha256: str, variant: str = "") -> str:
    """File name of one exported graph: model, weights, what was exported and the versions
    that made it (a new torch or onnxruntime re-exports)."""
    import onnxruntime
    import torch

    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    tag = f"-{variant}" if variant else ""
    return f"{safe}{tag}-{sha256[:16]}-torch{torch.__version__.split('+')[0]}-ort{onnxruntime.__version__}.onnx"


@dataclass
class OnnxModel:
    """One ONNX Runtime session (thread-safe `run`) and how it was made."""

    session: Any
    input_name: str
    output_names: tuple[str, ...]
    seconds: float  # export and / or load
    source: str  # "cache", "export" (written to the cache), "memory" (not cached) or "committed" (a model folder's graph)

    def __call__(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(list(self.output_names), {self.input_name: np.ascontiguousarray(x, np.float32)})


def session_options(n_threads: int | None = None):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = int(n_threads or threads())
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    # input sizes change per image (dense patch net): memory patterns would be re-planned per shape
    so.enable_mem_pattern = False
    return so


def _session(model: bytes | str, n_threads: int | None):
    import onnxruntime as ort

    return ort.InferenceSession(model, sess_options=session_options(n_threads), providers=["CPUExecutionProvider"])


def _export(module, example, output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]], target, fold: bool = True) -> None:
    import warnings

    import torch

    with _EXPORT_LOCK, torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        torch.onnx.export(module, (example,), target, dynamo=False, opset_version=OPSET, input_names=["x"], output_names=list(output_names), dynamic_axes=dynamic_axes, do_constant_folding=fold)


def build(module, example, *, name: str, sha256: str, output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]], variant: str = "", n_threads: int | None = None, use_cache: bool = True) -> OnnxModel:
    """An ONNX Runtime session for `module` (eval mode; `example` fixes the input rank).

    Loaded from the cache when there, else exported and written there atomically (several
    processes may start at once); exported in memory when the folder is not writable."""
    start = time.perf_counter()
    module = module.eval()
    path = cache_dir() / cache_name(name, sha256, variant) if use_cache else None
    session, source = None, "memory"
    if path is not None and path.exists():
        try:
            session, source = _session(str(path), n_threads), "cache"
        except Exception:  # noqa: BLE001 - a truncated or stale file: export again
            log.warning("cached ONNX graph of %s unreadable; exporting again", name)
    if session is None and path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
            _export(module, example, output_names, dynamic_axes, str(tmp))
            os.replace(tmp, path)
            session, source = _session(str(path), n_threads), "export"
        except OSError:
            session = None
    if session is None:
        buffer = io.BytesIO()
        _export(module, example, output_names, dynamic_axes, buffer)
        session, source = _session(buffer.getvalue(), n_threads), "memory"
    return OnnxModel(session, session.get_inputs()[0].name, tuple(output_names), time.perf_counter() - start, source)


def open_graph(path: Path, output_names: Sequence[str], n_threads: int | None = None) -> OnnxModel:
    """A committed graph (`core.models.graphs`) in ONNX Runtime: no torch is imported."""
    start = time.perf_counter()
    session = _session(str(path), n_threads)
    return OnnxModel(session, session.get_inputs()[0].name, tuple(output_names), time.perf_counter() - start, "committed")


def export_file(module, example, target: Path, *, output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    """Export a torch module to `target` (what `python -m core graphs` commits). Nothing is
    folded: the weights stay the trained fp16 values (stored as such), and ONNX Runtime fuses
    BatchNorm into the convolutions when it loads the graph, as it does for a folded one."""
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    _export(module.eval(), example, output_names, dynamic_axes, str(tmp), fold=False)
    os.replace(tmp, target)


def try_build(*args, **kwargs) -> OnnxModel | None:
    """`build`, or None (eager torch) when onnxruntime is missing or the export fails."""
    if choice() != "onnx":
        return None
    try:
        return build(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - serving goes on in eager torch
        log.warning("ONNX Runtime unavailable for %s (%s); serving eager torch", kwargs.get("name", "a model"), type(exc).__name__)
        return None
