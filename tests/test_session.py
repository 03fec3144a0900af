"""Private sessions, bounded caches, progressive runs and shareable links (AppTest + units).

A session's upload, picture and results live in that session's state only: a second
session (another visitor) sees none of them. Links carry page, task, models, dataset and
image; values the app does not offer are dropped.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from core.serving import inference
from core.dashboard import session_cache
from core.dashboard.viewer import layer_grid, outline_paths
from core.models.prediction import MapLayer, Prediction
from core.types import Lesion

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")


def _live() -> list[str]:
    from core.dashboard import cards as dcards
    from core.models import kinds, registry

    cards = [c for c in registry.discover() if dcards.is_shipped(c) and registry.weights_available(c)]
    # plain classifiers first (cheapest on a busy CPU), composites last
    return [c["name"] for c in sorted(cards, key=lambda c: (kinds.is_composite(c), kinds.kind_of(c) != "classifier", c["name"]))]


def _app(page: str, models: list[str] | None = None, params: dict[str, str] | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    if models is not None:
        at.session_state["chosen_models"] = models
    for k, v in (params or {}).items():
        at.query_params[k] = v
    if page != "pages/overview.py":
        at.switch_page(page)  # the first run is the linked page, as for a direct link
    return at


def _qp(at, key: str) -> str:
    v = at.query_params[key]
    return v if isinstance(v, str) else v[-1]


def _ok(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def _table_models(at) -> list[str]:
    """The models in the page's comparison table (one row a model), or [] when none is drawn."""
    tables = [d.value for d in at.dataframe if "decision" in d.value.columns and "model" in d.value.columns]
    return tables[0]["model"].tolist() if tables else []


# --------------------------------------------------------------------------- units
def test_bounded_cache_is_lru_and_bounded():
    c = session_cache.BoundedCache(2)
    c.put("a", 1)
    c.put("b", 2)
    assert c.get("a") == 1  # "a" is now the most recent
    c.put("c", 3)
    assert "b" not in c and list(c) == ["a", "c"] and len(c) == 2
    assert c.get_or_make("a", lambda: 99) == 1 and c.get_or_make("d", lambda: 4) == 4 and "c" not in c
    assert c.drop(lambda k: k == "a") == 1 and list(c) == ["d"]
    with pytest.raises(ValueError):
        session_cache.BoundedCache(0)


def test_compact_run_keeps_the_field_of_view_in_float16():
    shape = (4000, 2600)
    big = MapLayer("saliency", "saliency", np.random.default_rng(0).random((1024, 666), dtype=np.float32), shape, threshold=0.5)
    pred = Prediction("m", "stage1", ("normal", "lesion"), np.array([0.4, 0.6]), "lesion", 0.5, {"saliency": big})
    small = session_cache.compact_run(inference.ModelRun("m", pred)).maps["saliency"]
    assert small.values.dtype == np.float16 and max(small.values.shape) == session_cache.CACHED_MAP_LONG_SIDE
    assert small.image_shape == shape and small.on_grid().shape == shape and small.threshold == 0.5
    assert small.values.nbytes < big.values.nbytes / 7
    failed = inference.ModelRun("x", None, "boom")
    assert session_cache.compact_run(failed) is failed


def test_viewer_places_maps_and_outlines_in_original_pixels():
    layer = MapLayer("cam", "saliency", np.ones((7, 5), np.float32), (700, 500))
    g = layer_grid(layer)
    assert g.z.shape == (7, 5) and g.dx == 100 and g.dy == 100 and g.x0 == 50 and g.y0 == 50
    shapes = outline_paths((Lesion("mass", "malignant", center=(100.0, 200.0), radius=30.0), Lesion("mass", "benign", bbox=(1, 2, 3, 4))), (700, 500))
    assert shapes[0] == {"type": "circle", "x0": 70.0, "y0": 170.0, "x1": 130.0, "y1": 230.0}
    assert shapes[1] == {"type": "rect", "x0": 1, "y0": 2, "x1": 3, "y1": 4}


# --------------------------------------------------------------------------- pages
def test_second_session_cannot_see_the_first_sessions_upload(sample_dicom):
    models = _live()[:1]
    first = _app("pages/upload.py", models)
    first.run()
    _ok(first)
    first.file_uploader(key="upload_file").set_value(("secret-name.dcm", sample_dicom.read_bytes(), "application/dicom")).run()
    _ok(first)
    assert len(first.session_state["_session_images"]) == 1
    if models:
        assert len(first.session_state["_session_runs"]) == len(models)
        assert _table_models(first) == models  # the comparison table, one row a model
        assert first.get("plotly_chart")  # probabilities and the zoomable mammogram
    second = _app("pages/upload.py", models)
    second.run()
    _ok(second)
    assert any("Drop a mammogram" in i.value for i in second.info)
    assert "_session_images" not in second.session_state and "_session_runs" not in second.session_state
    assert not _table_models(second)
    # nothing about the upload is in a process-wide cache either: no st.cache_data function takes image bytes
    from ui import cached

    assert not hasattr(cached, "analyse_upload") and not hasattr(cached, "analyse_path")
    text = " ".join(str(e.value) for e in first.caption) + " ".join(str(e.value) for e in first.markdown)
    assert "secret-name" not in text


def test_models_forget_an_upload_once_its_analysis_is_done(sample_dicom):
    """An ensemble with test-time augmentation shares its member's runs on three views while
    the page runs; once every card is drawn, no model remembers anything of the upload (the
    page keeps the image until its next run, which must not keep every model's maps alive)."""
    import gc

    from core.models.prediction import remembered

    models = [n for n in _live() if n == "ens-stage2-tta"]
    if not models:
        pytest.skip("ens-stage2-tta is not live in this checkout")
    at = _app("pages/upload.py", models)
    at.run()
    gc.collect()
    before = remembered()
    at.file_uploader(key="upload_file").set_value(("a.dcm", sample_dicom.read_bytes(), "application/dicom")).run()
    _ok(at)
    assert len(at.session_state["_session_runs"]) == 1
    assert remembered() <= before


def test_sample_button_then_adding_a_model_runs_only_that_model():
    live = _live()
    if len(live) < 2:
        pytest.skip("needs two live models")
    a, b = live[:2]
    at = _app("pages/upload.py", [a])
    at.run()
    _ok(at)
    at.button(key="upload_try_sample").click().run()
    _ok(at)
    assert any("embedded sample image" in c.value for c in at.caption)
    assert _qp(at, "dataset") == "sample" and _qp(at, "models") == a
    runs = at.session_state["_session_runs"]
    (key,) = [k for k in runs if k[1] == a]
    first_run = runs.get(key)
    at.session_state["chosen_models"] = [a, b]
    at.run()
    _ok(at)
    runs = at.session_state["_session_runs"]
    assert runs.get(key) is first_run  # not recomputed
    assert len(runs) == 2 and _table_models(at) == [a, b]
    assert at.selectbox(key="upload_zoom_layer").options  # every map of both models is a layer of the zoomable view


def test_backward_maps_are_made_when_picked_and_the_link_carries_the_layer():
    """A hierarchy's stage maps that need a backward pass (guided back-propagation, Grad-CAM of
    the other class) are listed but not computed with the upload; picking one computes it for
    that model only, keeps it in the session, and the shared link names it."""
    from core.models import registry

    name = "hierarchy-best"
    if name not in _live():
        pytest.skip(f"{name} is not live in this checkout")
    at = _app("pages/upload.py", [name])
    at.run()
    at.button(key="upload_try_sample").click().run()
    _ok(at)
    (run_key,) = [k for k in at.session_state["_session_runs"] if k[1] == name]
    run = at.session_state["_session_runs"].get(run_key)
    assert run.on_demand and not set(run.on_demand) & set(run.maps)  # listed, not computed
    later = sorted(k for k in run.on_demand if "gradient_saliency" in k)[0]
    box = at.selectbox(key="upload_zoom_layer")
    assert any("computed when picked" in o for o in box.options)
    box.set_value(f"{name}::{later}").run()
    _ok(at)
    run = at.session_state["_session_runs"].get(run_key)
    assert later in run.maps and later not in run.on_demand
    assert run.maps[later].kind == "saliency" and float(np.asarray(run.maps[later].values, np.float32).max()) > 0
    assert _qp(at, "layer") == f"{name}::{later}"
    # the same layer from the model directly: the page drew what the model computes
    from core.datasets import load_dataset
    from core.io.reader import read_image
    from core.models.prediction import layer_on_demand

    rec = next(r for r in load_dataset("sample") if r.image_id == _qp(at, "image"))
    direct = layer_on_demand(registry.load(name), read_image(rec.path), later)
    assert direct.name == run.maps[later].name
    # a link with that layer opens it at once
    link = _app("pages/upload.py", [name], {"dataset": "sample", "image": rec.image_id, "layer": f"{name}::{later}"})
    link.run()
    _ok(link)
    assert link.selectbox(key="upload_zoom_layer").value == f"{name}::{later}"


def test_shared_links_open_the_same_view():
    from core.datasets import load_dataset

    live = [n for n in _live()][:2]
    cmp_ = _app("pages/compare.py", params={"task": "stage2", "models": ",".join(live + ["../../etc/passwd"])})
    cmp_.run()
    _ok(cmp_)
    assert cmp_.segmented_control(key="compare_group").value == "stage2"
    chosen = cmp_.multiselect(key="compare_models_stage2").value
    assert "../../etc/passwd" not in chosen
    assert _qp(cmp_, "task") == "stage2" and _qp(cmp_, "models") == ",".join(chosen)

    ids = [r.image_id for r in load_dataset("sample")]
    exp = _app("pages/explore.py", models=[], params={"dataset": "sample", "image": ids[2]})
    exp.run()
    _ok(exp)
    assert exp.selectbox(key="explore_dataset").value == "sample"
    assert exp.selectbox(key="explore_image_sample").value == ids[2]
    assert _qp(exp, "image") == ids[2]

    bad = _app("pages/explore.py", models=[], params={"dataset": "/root", "image": "<script>"})
    bad.run()
    _ok(bad)
    assert bad.selectbox(key="explore_dataset").value == "sample" and bad.selectbox(key="explore_image_sample").value == ids[0]


def test_models_run_side_by_side_quickest_first_and_one_failure_hides_nothing(monkeypatch):
    """`inference.run_models`, what the pages call: every model's run comes back once, with
    its own index; one at a time they go quickest first (the card's measured latency); a
    model that raises becomes that card's error; MAMMO_MODEL_WORKERS=1 runs them one at a time."""
    import os

    from core.types import Mammogram

    started: list[str] = []

    class Fake:
        def __init__(self, name: str, ms: float, fails: bool = False) -> None:
            self.name, self.card, self.fails = name, {"latency_ms_p50_cpu_batch1": ms}, fails

        def predict(self, image, roi=None, *, with_maps=True):
            started.append(self.name)
            if self.fails:
                raise RuntimeError("broken weights")
            return Prediction(self.name, "stage1", ("normal", "lesion"), np.array([0.4, 0.6]), "lesion", 0.5)

    models = [Fake("slow", 900.0), Fake("broken", 50.0, fails=True), Fake("quick", 10.0)]
    image = Mammogram(np.zeros((8, 8), np.float32), None)
    runs = dict(inference.run_models(models, image, workers=1))
    assert started == ["quick", "broken", "slow"] and sorted(runs) == [0, 1, 2]
    assert runs[1].error == "RuntimeError: broken weights" and runs[0].ok and runs[2].ok and runs[2].probabilities == [0.4, 0.6]
    started.clear()
    assert sorted(dict(inference.run_models(models, image, workers=2))) == [0, 1, 2] and sorted(started) == ["broken", "quick", "slow"]
    monkeypatch.setenv("MAMMO_MODEL_WORKERS", "1")
    assert inference.model_workers() == 1
    monkeypatch.setenv("MAMMO_MODEL_WORKERS", "many")
    assert inference.model_workers() == min(2, os.cpu_count() or 1)
