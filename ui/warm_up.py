"""Models warmed up in the background while a visitor is still picking a file.

A server's first upload otherwise pays the framework imports and the first-call
allocations of every chosen model (measured in `benchmarks/bench_dashboard.py`).
"""

from __future__ import annotations

import os
import threading
from typing import Sequence

from core.errors import MammoError
from ui.data_roots import models_dir
from ui.model_loading import load_model

_WARMING: set[tuple[str, tuple[str, ...]]] = set()  # (models root, names) warm-ups started in this process
_VISITOR_RAN = threading.Event()  # a visitor's own model run began: warm-ups stop running the sample


def visitor_run_started() -> None:
    """A page is about to run models for a visitor: a warm-up still running the sample would
    only compete with it for the two cores (measured: a first upload right after opening the
    page waited for the warm-up's whole run), so it stops after its current model."""
    _VISITOR_RAN.set()


def start(names: Sequence[str]) -> None:
    """Load the chosen models and run each once on the embedded sample, in a background thread.

    Once per process and model set; nothing is kept but the loaded models (the sample's
    results are dropped). Loading always finishes (the upload needs the models too);
    running the sample stops once a visitor's run has begun. `MAMMO_WARM_UP=0` turns it off.
    """
    from streamlit.runtime.scriptrunner import add_script_run_ctx, get_script_run_ctx
    from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

    key = (models_dir(), tuple(names))
    if not names or key in _WARMING or os.environ.get("MAMMO_WARM_UP", "1") == "0":
        return
    _WARMING.add(key)
    ctx = get_script_run_ctx()

    def work() -> None:
        from core.serving import inference
        from core.datasets.sample import warm_up_image

        try:
            models = []
            for n in names:
                try:
                    models.append(load_model(n))
                except MammoError:
                    continue
            image = None if _VISITOR_RAN.is_set() else warm_up_image()
            if image is not None:
                for _ in inference.run_models(models, image):
                    if _VISITOR_RAN.is_set():
                        break
                inference.forget(image)
        except (Exception, ScriptControlException):  # a warm-up never breaks a page (nor prints a traceback
            pass  # when the run that started it stopped: st.stop); the upload reports real failures

    thread = threading.Thread(target=work, name="model-warm-up", daemon=True)
    if ctx is not None:
        add_script_run_ctx(thread, ctx)
    thread.start()
