"""Explore's "Evaluate the chosen models on this data" through Streamlit's AppTest, on a
class-folder dataset (a small synthetic archive under a start-up data root): run, the cards'
table and charts, a cancelled run that keeps its rows and continues, no server path shown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.models import registry

REPO = Path(__file__).resolve().parents[1]
APP = str(REPO / "streamlit_app.py")
MODELS = ["patch-lite0-dense", "s2-mobilenet-keras"]  # a torch and a Keras model, both read as stage 2
KEY = "evaldata_folder"


def _texts(at) -> str:
    parts = [e.value for kind in ("markdown", "caption", "info", "warning", "error", "title") for e in getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    from core.score.synthetic import make_archive

    if not all(n in registry.names() and registry.weights_available(registry.card(n)) for n in MODELS):
        pytest.skip("the shipped torch / Keras models are not in this checkout")
    root = tmp_path_factory.mktemp("class-folders")
    make_archive(root, 9)  # 8 readable copies (benign and malignant) and one corrupt file
    return root


def test_explore_evaluates_a_class_folder_dataset(archive, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MAMMO_SHARED_DATA", str(tmp_path / "no-shared"))
    monkeypatch.setenv("MAMMO_DATA_ROOTS", str(archive))
    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["chosen_models"] = MODELS
    at.run()
    at.switch_page("pages/explore.py").run()
    at.selectbox(key="explore_dataset").set_value("folder").run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key=f"{KEY}_n").set_value(6).run()
    at.button(key=f"{KEY}_run").click().run()
    assert not at.exception, [e.value for e in at.exception]

    state = at.session_state[KEY]
    assert len(state["rows"]) == 6 * len(MODELS) and not state["running"]
    assert at.pills(key=f"{KEY}_task").options == ["stage1", "stage2", "flat3"]
    at.pills(key=f"{KEY}_task").set_value("stage2").run()
    assert not at.exception, [e.value for e in at.exception]
    tables = [d for d in at.dataframe if "ROC AUC" in d.value.columns]
    assert tables and set(tables[0].value["model"]) == set(MODELS)
    rows = pd.concat(at.session_state[KEY]["rows"])
    readable = rows[rows["error"].isna()].groupby("model").size().to_dict()
    assert dict(zip(tables[0].value["model"], tables[0].value["images"])) == readable  # error rows are left out
    assert len(at.get("plotly_chart")) >= 3 + len(MODELS), "ROC, PR, calibration and one confusion matrix per model"
    assert len(at.get("download_button")) == 2
    page = _texts(at)
    assert str(archive) not in page and str(tmp_path) not in page

    # a run stopped by a click keeps its rows; Run continues with only what is missing
    state = at.session_state[KEY]
    state["rows"] = state["rows"][:3]
    state["running"] = True
    at.session_state[KEY] = state
    at.run()
    assert any("Cancelled" in w.value for w in at.warning)
    at.button(key=f"{KEY}_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.session_state[KEY]["rows"]) == 6 * len(MODELS)
    assert not any("Cancelled" in w.value for w in at.warning)
