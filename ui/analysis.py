"""Per-session analysis of one image: the image view and each model's run, cached in this
session's state (never shared with another visitor), computed model by model with progress.

`core.dashboard.session_cache` bounds what a session holds (four images, one study, and their runs);
changing the model selection runs only the models that have no result yet for the image.
Every model run goes through the process's one queue (`core.serving.pool`): a visitor whose
upload waits behind others sees how many are ahead, updated while they wait.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Hashable, Sequence

import streamlit as st

from core import privacy
from core.serving import inference, pool
from core.dashboard import session_cache
from core.dashboard.viewer import ImageView, full_resolution_uri, image_view
from core.types import Mammogram
from ui import model_loading, warm_up

# Finished models are drawn together at most this often: each message re-renders the page in
# the browser, and one per model (a detail and a progress step, for 15 models) cost Chromium
# more CPU than the models' own runs on a 2-core machine.
DRAW_EVERY_S = 0.5
# A waiting visitor's queue message is redrawn when the number ahead changes and this often
# besides (its "waiting N s"): with twelve visitors waiting, a redraw of each page every second
# took the browsers' share of the two cores from the uploads being served.
WAIT_TICK_S = 5.0
_IMAGES = "_session_images"
_RUNS = "_session_runs"
_READERS = "_session_view_readers"
_FULL = "_session_full_picture"


def images() -> session_cache.BoundedCache:
    """This session's image views (bounded; dropped with the session)."""
    if _IMAGES not in st.session_state:
        st.session_state[_IMAGES] = session_cache.BoundedCache(session_cache.MAX_IMAGES)
    return st.session_state[_IMAGES]


def runs() -> session_cache.BoundedCache:
    """This session's model runs, keyed by (image key, model)."""
    if _RUNS not in st.session_state:
        st.session_state[_RUNS] = session_cache.BoundedCache(session_cache.MAX_RUNS)
    return st.session_state[_RUNS]


class ImageReader:
    """Reads the image at most once per script run, only when something is not cached."""

    def __init__(self, read: Callable[[], Mammogram]) -> None:
        self._read = read
        self._image: Mammogram | None = None

    def __call__(self) -> Mammogram:
        if self._image is None:
            self._image = self._read()
        return self._image

    def release(self) -> None:
        """Every model has run: let go of the image and of what the models remember of it."""
        if self._image is not None:
            inference.forget(self._image)
            self._image = None


def view_of(key: Hashable, read: Callable[[], Mammogram], with_meta: bool = False) -> tuple[ImageView, ImageReader]:
    """The image's view from this session's cache, else read and made now. Raises what `read` raises."""
    reader = ImageReader(read)
    view = images().get(key)
    if view is None:
        image = reader()
        view = images().put(key, image_view(image, inference.safe_meta_table(image) if with_meta else None))
    if _READERS not in st.session_state:
        st.session_state[_READERS] = session_cache.BoundedCache(session_cache.MAX_IMAGES)
    st.session_state[_READERS].put(id(view), (view, reader))  # for `full_picture`, when the viewer asks for every pixel
    return view, reader


def full_picture(view: ImageView) -> str | None:
    """The view's image at its original resolution as a JPEG data URI, for the viewer's
    "Full detail" (read again from its source: only the display-size picture is kept); the
    last one is kept in this session. None when the image can no longer be read."""
    kept = st.session_state.get(_FULL)
    if kept is not None and kept[0] is view:
        return kept[1]
    entry = st.session_state.get(_READERS, session_cache.BoundedCache(1)).get(id(view))
    if entry is None or entry[0] is not view:
        return None
    reader = entry[1]
    try:
        uri = full_resolution_uri(reader())
    finally:
        reader.release()
    st.session_state[_FULL] = (view, uri)
    return uri


def _wait_in_queue(bar: Any, reader: ImageReader) -> Callable[[int, float], None]:
    """What a visitor waiting for the model queue sees: the progress bar names how many are
    ahead, updated while they wait (never a frozen page). A waiting visitor holds no decoded
    image (a full-field DICOM is ~50 MB of floats): it is read again once their turn comes,
    so memory does not grow with the queue."""
    def on_wait(ahead: int, waited_s: float) -> None:
        reader.release()
        bar.progress(0.0, text=pool.ahead_text(ahead, waited_s))
    return on_wait


def run_all(key: Hashable, names: Sequence[str], reader: ImageReader, draw: Callable[[inference.ModelRun], None],
            with_input: bool = False, summary: Callable[[list[inference.ModelRun]], None] | None = None,
            head: Any = None) -> list[inference.ModelRun]:
    """Every named model's run on the image, cached in this session.

    Cached runs are drawn at once; the others run side by side (`inference.run_models`, one
    per core) under a progress bar (in `head`, a container above, when given), and each
    model's detail (`draw`) appears in its place as soon as it finishes; `summary` then draws
    every run at once in `head` (the comparison table). Returns the runs in `names` order.
    """
    head = head if head is not None else st.container()
    cache = runs()
    todo = [n for n in names if (key, n) not in cache]
    bar = head.progress(0.0, text=f"Running {len(todo)} model(s)…") if todo else None
    slots = [st.empty() for _ in names]
    by_name: dict[str, inference.ModelRun] = {}

    def show(n: str, run: inference.ModelRun) -> None:
        by_name[n] = run
        with slots[names.index(n)].container():
            draw(run)

    for n in names:
        if n not in todo:
            show(n, cache.get((key, n)))
    if todo:
        warm_up.visitor_run_started()
        with pool.queue().slot(on_wait=_wait_in_queue(bar, reader), tick_s=WAIT_TICK_S):
            models = [model_loading.load_model(n) for n in todo]
            bar.progress(0.0, text=f"Running {len(todo)} model(s), {inference.model_workers()} at a time…")
            finished: list[str] = []
            last_drawn = time.monotonic() - DRAW_EVERY_S  # the first model to finish is drawn at once
            for done, (i, run) in enumerate(inference.run_models(models, reader(), with_input=with_input, long_side=session_cache.CACHED_MAP_LONG_SIDE), start=1):
                by_name[todo[i]] = cache.put((key, todo[i]), session_cache.compact_run(run))
                finished.append(todo[i])
                if done == len(todo) or time.monotonic() - last_drawn >= DRAW_EVERY_S:
                    for n in finished:
                        show(n, by_name[n])
                    bar.progress(done / len(todo), text=f"{privacy.md_escape(todo[i])} done ({done} of {len(todo)})…")
                    finished, last_drawn = [], time.monotonic()
        bar.empty()
    reader.release()
    ordered = [by_name[n] for n in names]
    if summary is not None:
        with head:
            summary(ordered)
    return ordered


def add_layer(key: Hashable, run: inference.ModelRun, layer_key: str, reader: ImageReader) -> inference.ModelRun:
    """The run with one on-demand layer computed (a backward pass, under a spinner) and kept
    in this session's cache. Raises MammoError when the image or the layer cannot be made."""
    if layer_key in run.maps:
        return run
    note = st.empty()
    with st.spinner(f"Computing {privacy.md_escape(run.on_demand.get(layer_key, 'the map'))} for {privacy.md_escape(run.name)}…"):
        try:
            with pool.queue().slot(on_wait=lambda ahead, waited: note.caption(pool.ahead_text(ahead, waited)), tick_s=WAIT_TICK_S):
                note.empty()
                done = inference.with_layer(run, model_loading.load_model(run.name), reader(), layer_key)
        finally:
            reader.release()
    note.empty()
    return runs().put((key, run.name), session_cache.compact_run(done))


def forget_others(key: Hashable) -> None:
    """Drop this session's runs of other images beyond the image cache's bound (they are unreachable)."""
    kept = set(images())
    runs().drop(lambda k: k[0] != key and k[0] not in kept)
