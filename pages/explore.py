"""Explore a dataset: filter a thumbnail grid, pick one image, see every chosen model on it."""

from pathlib import Path

import streamlit as st

from core.dashboard import records as drecords
from core.models import kinds
from core.errors import MammoError
from core.io import read_image
from ui import analysis, common, predictions, share, viewer
from ui import evaluate_data

st.title("Explore the data")
common.notice()

DATASETS = {
    "sample": "Embedded sample — 8 CBIS-DDSM DICOMs (always here)",
    "mias": "mini-MIAS",
    "cbis": "CBIS-DDSM",
    "minidds": "Mini-DDSM",
    "folder": "Class folders (normal / benign / malignant)",
}
data_dir = (st.session_state.get("data_dir") or "").strip()
options = ["sample"] + (["mias", "cbis", "minidds", "folder"] if data_dir else [])
linked_dataset = share.take("dataset", options)  # a shared link's dataset (only one this server offers)
dataset = st.selectbox("Dataset", options, index=options.index(linked_dataset) if linked_dataset else 0, format_func=DATASETS.get, key="explore_dataset")
if not data_dir:
    st.caption("Give a data folder in the sidebar to explore mini-MIAS, CBIS-DDSM, Mini-DDSM or your own class folders.")

try:
    records = common.records(dataset, None if dataset == "sample" else data_dir)
except MammoError as exc:
    common.friendly_error(exc, "This dataset could not be read")
    st.stop()
if not records:
    st.info("This dataset has no images.")
    st.stop()

by_name = common.card_by_name()
models = common.chosen_models()
split_map = {}
for n in models:  # split column: the record's own split, else the first chosen model's split for this dataset
    card = by_name.get(n, {})
    pred = common.predictions(card) if card else None
    if pred is not None and (card.get("data") or {}).get("dataset") == dataset:
        split_map = dict(zip(pred["image_id"], pred["split"]))
        st.caption(f"Split column from **{n}**'s data where the dataset has no official split.")
        break

frame = drecords.records_frame(records, split_map)
opts = drecords.filter_options(frame)
with st.expander(f"Filters — {len(frame)} images", expanded=True, icon=":material/filter_list:"):
    fcols = st.columns(len(drecords.FILTER_COLUMNS))
    chosen = {c: fcols[i].multiselect(c, opts.get(c, []), key=f"filter_{dataset}_{c}") for i, c in enumerate(drecords.FILTER_COLUMNS)}
shown = drecords.filter_records(frame, chosen)
if shown.empty:
    st.info("No image matches these filters.")
    st.stop()
evaluate_data.section([records[i] for i in shown["index"]], dataset, models)

PER_PAGE, NCOL = 12, 6
n_pages = (len(shown) - 1) // PER_PAGE + 1
top = st.columns([3, 1])
top[0].caption(f"{len(shown)} image(s) match. Thumbnails {PER_PAGE} at a time.")
page_no = top[1].number_input("Thumbnail page", 1, n_pages, 1, key=f"grid_page_{dataset}") if n_pages > 1 else 1
rows = shown.iloc[(page_no - 1) * PER_PAGE: page_no * PER_PAGE]
with st.spinner("Making thumbnails…"):
    grid = st.columns(NCOL)
    for i, (_, row) in enumerate(rows.iterrows()):
        with grid[i % NCOL]:
            short = row["image_id"] if len(row["image_id"]) <= 16 else f"{row['patient_id']} {row['side']} {row['view']}"
            st.image(common.thumbnail(records[row["index"]].path), caption=f"{short} · {row['truth']}", width="stretch",
                     alt=f"Thumbnail of mammogram {short}, truth {row['truth']}.")

ids = shown["image_id"].tolist()
linked_image = share.take("image", ids)
image_id = st.selectbox("Image to analyse", ids, index=ids.index(linked_image) if linked_image else 0, key=f"explore_image_{dataset}")
rec = records[int(shown.loc[shown["image_id"] == image_id, "index"].iloc[0])]
share.publish(dataset=dataset, image=image_id, models=models)
st.markdown(f"**{common.privacy.md_escape(rec.image_id)}** — truth **{rec.label}**, side {rec.side or '—'}, view {rec.view or '—'}, "
            f"density {rec.density or '—'}, lesions: {common.privacy.md_escape(drecords.lesion_text(rec))}")
if not rec.path or not Path(rec.path).is_file():
    st.info("This record's image file is not in the data folder (CBIS-DDSM ships its metadata separately from the DICOMs).")
    st.stop()
if not models:
    st.info("Choose models in the sidebar to see their predictions on this image.")
    st.stop()

c1, c2 = st.columns(2)
outline = c1.toggle("Ground-truth outline", True, key="explore_outline", help="White on a black edge: the dataset's lesion annotation (circle, box or mask), where it has one.")
explain_positive = c2.toggle("Also explain lesion / malignant", False, key="explore_explain_positive",
                             help="Models that explain their decision with Grad-CAM get a second saliency layer for the abnormal class when they decided another one (slower).")

ready, errors = common.ensure_models(models)
for n, msg in errors.items():
    common.show_error(msg, icon=":material/error:")
image_key = ("path", rec.path, Path(rec.path).stat().st_mtime)
try:
    view, reader = analysis.view_of(image_key, lambda: read_image(rec.path))
except MammoError as exc:
    common.friendly_error(exc, "This image could not be analysed")
    st.stop()

lesions = rec.lesions if outline else ()
if outline and not drecords.has_geometry(rec):
    st.caption("This dataset gives no lesion geometry for this image, so there is no outline to draw.")
badges = {}
for name in ready:
    card = by_name.get(name, {})
    member_preds = [(by_name[m], common.predictions(by_name[m])) for m in kinds.members(card) if m in by_name]
    state = drecords.split_membership(card, rec.image_id, common.predictions(card) if card else None, rec.dataset, member_preds)
    badges[name] = common.membership_badge(state)
st.caption("Each card: the model's decision and probabilities, its stage trace if it has stages, and a **Map layer** to draw on "
           "the mammogram — Grad-CAM saliency, dense patch scores or a U-Net segmentation, whichever the model gives. "
           "Cards appear as each model finishes; a model added later runs alone.")
colors = common.colors()
try:
    runs, _ = analysis.run_grid(image_key, ready, reader, explain_positive,
                                lambda r: predictions.run_card(r, view.base8, view.scale, lesions, "explore", colors.get(r.name), badges.get(r.name)),
                                summary=lambda runs: predictions.comparison(runs, rec, "explore"))
except MammoError as exc:
    common.friendly_error(exc, "This image could not be analysed")
    st.stop()
st.subheader("Zoom into the original")
viewer.show(view, runs, lesions, "explore", rec.image_id)
