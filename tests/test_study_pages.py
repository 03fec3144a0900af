"""Studies on the pages (AppTest): the sample's four-view study on Upload with per-view,
per-breast and bilateral readings that follow the one combine rule; files without a
laterality get a side from the user; more than four files are refused; Explore shows the
woman's other views."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import REPO

APP = str(REPO / "streamlit_app.py")
STUDY = "study-own-stage1-maps-stacked"
IMAGE_MODEL = "s1-mobilenetv2-torch"


def _live(*names: str) -> list[str]:
    from core.models import registry

    cards = {c["name"]: c for c in registry.discover()}
    return [n for n in names if n in cards and registry.weights_available(cards[n])]


def _upload_page(models: list[str]):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=600)
    at.session_state["chosen_models"] = models
    at.run()
    at.switch_page("pages/upload.py").run()
    assert not at.exception
    return at


def _frame(at, first_columns: list[str]):
    return next(d.value for d in at.dataframe if list(d.value.columns)[: len(first_columns)] == first_columns)


def _png_without_laterality() -> bytes:
    from core.datasets import load_dataset
    from core.io.reader import read_image

    pixels = read_image(load_dataset("sample")[0].path).pixels
    small = cv2.resize(pixels, (pixels.shape[1] // 4, pixels.shape[0] // 4), interpolation=cv2.INTER_AREA)
    ok, png = cv2.imencode(".png", np.clip(small * 255, 0, 255).astype(np.uint8) if small.dtype != np.uint8 else small)
    assert ok
    return png.tobytes()


def test_the_samples_four_view_study_reads_per_view_per_breast_and_bilateral():
    models = _live(STUDY, IMAGE_MODEL)
    if STUDY not in models:
        pytest.skip("the study model's member weights are not here")
    at = _upload_page(models)
    at.button(key="upload_try_study").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    per_view = _frame(at, ["model", "R-CC"])
    assert list(per_view.columns) == ["model", "R-CC", "L-CC", "R-MLO", "L-MLO"]  # conventional order
    breasts = _frame(at, ["model", "breast", "views"])
    assert breasts["breast"].tolist() == ["right", "left"] and set(breasts["views"]) == {"CC+MLO"}
    assert set(breasts["bilateral"]) == {"both breasts"}
    films = _frame(at, ["model", "image", "view"])
    assert len(films) == 4
    # the page's numbers are the card's rule: breast = mean of its views, study = (b − w·other + w) / (1 + w)
    from core.models import registry

    w = registry.card(STUDY)["study"]["weight"]
    mean = {s: films[films["view"].str.startswith(s)]["member score"].mean() for s in ("R", "L")}
    for _, row in breasts.iterrows():
        side, other = ("R", "L") if row["breast"] == "right" else ("L", "R")
        assert row["member score"] == pytest.approx(mean[side], abs=2e-3)
        assert row["study score"] == pytest.approx((mean[side] - w * mean[other] + w) / (1 + w), abs=3e-3)
    # one view in detail below: the comparison table and the one viewer
    assert at.segmented_control(key="upload_study_view").value == "R-CC"
    assert at.selectbox(key="upload_zoom_layer").options


def test_files_without_laterality_get_their_side_from_the_user():
    models = _live(STUDY, IMAGE_MODEL)
    if not models:
        pytest.skip("no live model")
    png = _png_without_laterality()
    flipped = cv2.imencode(".png", cv2.flip(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED), 1))[1].tobytes()
    at = _upload_page(models)
    at.file_uploader(key="upload_file").set_value([("secret-right.png", png, "image/png"), ("secret-left.png", flipped, "image/png")]).run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "side" in errors[0] and "secret" not in errors[0], errors
    sides = [s for s in at.selectbox if s.key and s.key.startswith("upload_side_")]
    assert len(sides) == 2
    sides[0].set_value("R")
    sides[1].set_value("L")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert "secret" not in " ".join(str(e.value) for e in list(at.caption) + list(at.markdown))
    per_view = _frame(at, ["model", "R-?"])
    assert list(per_view.columns) == ["model", "R-?", "L-?"]
    if STUDY in models:
        assert _frame(at, ["model", "breast", "views"])["bilateral"].tolist() == ["both breasts", "both breasts"]


def test_more_than_four_files_are_refused():
    png = _png_without_laterality()
    at = _upload_page(_live(IMAGE_MODEL))
    at.file_uploader(key="upload_file").set_value([(f"f{i}.png", png, "image/png") for i in range(5)]).run()
    assert not at.exception
    assert at.error and "at most 4 images" in at.error[0].value


def test_explore_shows_the_womans_other_views():
    models = _live(STUDY)
    if not models:
        pytest.skip("the study model's member weights are not here")
    at = _upload_page(models)
    at.switch_page("pages/explore.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "This woman's views" in [s.value for s in at.subheader]
    breasts = _frame(at, ["model", "breast", "views"])
    assert breasts["breast"].tolist() == ["right", "left"]
    assert at.multiselect(key="filter_sample_patient_id").options == ["P_00173", "P_00820"]
