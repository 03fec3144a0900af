"""Silence library noise before any framework is imported; import this module first.

TensorFlow, absl, oneDNN and the CUDA probes print to stderr from C++ at import time,
and pydicom / Pillow warnings can quote header values. Neither may reach a user's
terminal or the server log: readers turn real problems into a typed error
(`core.io.reader`), and everything else said by these libraries is dropped here.

Environment variables are only set when the user has not set them, so
`TF_CPP_MIN_LOG_LEVEL=0 python -m core ...` still shows TensorFlow's log when debugging.
Importing this module is cheap (no framework import) and idempotent.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import logging
import os
import sys
import threading
import warnings
from typing import Any

_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",  # TensorFlow C++: errors and below, oneDNN / CPU-feature notes
    "TF_CPP_MAX_VLOG_LEVEL": "-1",
    "ABSL_MIN_LOG_LEVEL": "3",  # absl C++ logging in XLA / CUDA probes
    "GRPC_VERBOSITY": "ERROR",
    "GLOG_minloglevel": "3",
    "KMP_WARNINGS": "0",
}
# libraries whose Python warnings and log records are dropped (they may quote file contents)
_LIBRARIES = ("tensorflow", "tf_keras", "keras", "absl", "h5py", "tf_keras_vis", "jax", "torch", "timm",
              "torchvision", "pytorch_grad_cam", "pydicom", "PIL", "pylibjpeg", "openjpeg", "libjpeg", "rle")
# modules whose import prints from C++ straight to fd 2
_NOISY_IMPORTS = frozenset({"tensorflow"})
_done = False


def silence() -> None:
    """Set the environment, warning filters and logger levels (once per process)."""
    global _done
    if _done:
        return
    for key, value in _ENV.items():
        os.environ.setdefault(key, value)
    pattern = r"^(" + "|".join(_LIBRARIES) + r")(\.|$)"
    warnings.filterwarnings("ignore", module=pattern)
    # warnings attributed to the reader itself (stacklevel pointing out of the library)
    warnings.filterwarnings("ignore", module=r"^core\.io$")
    # balanced accuracy on a resample or a small split that lacks a predicted class: expected,
    # and scikit-learn then leaves that class out, which is the figure the cards define
    warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true", category=UserWarning)
    for name in _LIBRARIES:
        logger = logging.getLogger(name)
        logger.setLevel(logging.CRITICAL + 1)
        logger.propagate = False
    if "pydicom" in sys.modules:
        _quiet_pydicom()  # else: when it is imported (see _QuietImporter), keeping this import cheap
    if not any(isinstance(f, _QuietImporter) for f in sys.meta_path):
        sys.meta_path.insert(0, _QuietImporter())
    _done = True


def _quiet_pydicom() -> None:
    """Malformed values are checked by `core.io.reader`, field by field, without quoting them."""
    try:
        from pydicom import config
    except ImportError:  # pragma: no cover - pydicom is a hard requirement
        return
    config.settings.reading_validation_mode = config.IGNORE
    logger = logging.getLogger("pydicom")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False


@contextlib.contextmanager
def stderr_fd_silenced():
    """Send file descriptor 2 to /dev/null: C++ libraries print there, past Python's sys.stderr."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no real fd 2 (embedded interpreter)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        try:
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class _QuietLoader:
    """Runs the wrapped loader's exec_module (with fd 2 silenced for a noisy module), then
    an after-import step; then steps aside."""

    def __init__(self, loader: Any, fullname: str) -> None:
        self._loader = loader
        self._fullname = fullname

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec: Any) -> Any:
        return self._loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        module.__loader__ = self._loader
        if getattr(module, "__spec__", None) is not None:
            module.__spec__.loader = self._loader
        if self._fullname in _NOISY_IMPORTS:
            with stderr_fd_silenced():
                self._loader.exec_module(module)
        else:
            self._loader.exec_module(module)
        after = _AFTER_IMPORT.get(self._fullname)
        if after is not None:
            after()


class _QuietImporter(importlib.abc.MetaPathFinder):
    """TensorFlow 2.21 prints oneDNN / CUDA notes from C++ before absl logging is set up,
    ignoring TF_CPP_MIN_LOG_LEVEL; the only way to keep them off stderr is to silence
    fd 2 while it is imported."""

    _busy = threading.local()

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if (fullname not in _NOISY_IMPORTS and fullname not in _AFTER_IMPORT) or getattr(self._busy, "on", False):
            return None
        self._busy.on = True
        try:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        finally:
            self._busy.on = False
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _QuietLoader(spec.loader, fullname)
        return spec


_AFTER_IMPORT = {"pydicom": _quiet_pydicom}  # pydicom sets its own logger up when imported
silence()
