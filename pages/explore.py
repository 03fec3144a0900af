"""Explore a dataset: filter a thumbnail grid, pick one image, see every chosen model on it."""

from pathlib import Path

import streamlit as st

from core import dashboard_data as dd
from core.errors import MammoError
from ui import common

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
dataset = st.selectbox("Dataset", options, format_func=DATASETS.get, key="explore_dataset")
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

frame = dd.records_frame(records, split_map)
opts = dd.filter_options(frame)
with st.expander(f"Filters — {len(frame)} images", expanded=True, icon=":material/filter_list:"):
    fcols = st.columns(len(dd.FILTER_COLUMNS))
    chosen = {c: fcols[i].multiselect(c, opts.get(c, []), key=f"filter_{dataset}_{c}") for i, c in enumerate(dd.FILTER_COLUMNS)}
shown = dd.filter_records(frame, chosen)
if shown.empty:
    st.info("No image matches these filters.")
    st.stop()

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
            st.image(common.thumbnail(records[row["index"]].path), caption=f"{short} · {row['truth']}", width="stretch")

ids = shown["image_id"].tolist()
image_id = st.selectbox("Image to analyse", ids, key=f"explore_image_{dataset}")
rec = records[int(shown.loc[shown["image_id"] == image_id, "index"].iloc[0])]
lesion_text = "; ".join(f"{l.kind} ({l.severity}{', ' + l.detail if l.detail else ''})" for l in rec.lesions) or "none"
st.markdown(f"**{rec.image_id}** — truth **{rec.label}**, side {rec.side or '—'}, view {rec.view or '—'}, density {rec.density or '—'}, lesions: {lesion_text}")
if not rec.path or not Path(rec.path).is_file():
    st.info("This record's image file is not in the data folder (CBIS-DDSM ships its metadata separately from the DICOMs).")
    st.stop()
if not models:
    st.info("Choose models in the sidebar to see their predictions on this image.")
    st.stop()

c1, c2, c3 = st.columns(3)
opacity = c1.slider("Grad-CAM opacity", 0.0, 1.0, 0.45, 0.05, key="explore_opacity")
cam = c2.radio("Grad-CAM of", ["predicted", "abnormal"], horizontal=True, key="explore_cam",
               format_func=lambda c: {"predicted": "the predicted class", "abnormal": "lesion / malignant"}[c])
outline = c3.toggle("Ground-truth outline", True, key="explore_outline", help="Green: the dataset's lesion annotation (circle, box or mask), where it has one.")

ready, errors = common.ensure_models(models)
for n, msg in errors.items():
    st.error(msg, icon=":material/error:")
try:
    with st.spinner(f"Running {len(ready)} model(s) with Grad-CAM…"):
        shape, base8, scale, results = common.analyse_path(rec.path, Path(rec.path).stat().st_mtime, tuple(ready), cam)
except MammoError as exc:
    common.friendly_error(exc, "This image could not be analysed")
    st.stop()

lesions = rec.lesions if outline else ()
if outline and not any(l.center or l.bbox or l.mask_path for l in rec.lesions):
    st.caption("This dataset gives no lesion geometry for this image, so there is no outline to draw.")
colors = common.colors()
per_row = 3
for start in range(0, len(results), per_row):
    cols = st.columns(per_row)
    for col, r in zip(cols, results[start:start + per_row]):
        card = by_name.get(r.name, {})
        with col.container(border=True):
            st.markdown(f"<span style='color:{colors.get(r.name)}'>●</span> **{r.name}**", unsafe_allow_html=True)
            if r.error:
                st.error(r.error)
                continue
            stage_preds = [(by_name[s], common.predictions(by_name[s])) for s in (card.get("stage1"), card.get("stage2")) if s in by_name]
            state = dd.split_membership(card, rec.image_id, common.predictions(card), rec.dataset, stage_preds)
            st.markdown(f"**{r.decision}** · " + " · ".join(f"{c} {p:.2f}" for c, p in zip(r.classes, r.probabilities)))
            st.caption(common.membership_badge(state))
            st.image(dd.overlay_image(base8, r.heat, opacity, lesions, scale, r.box), width="stretch",
                     caption=f"{r.cam_method or 'Grad-CAM'} for '{r.cam_class}'" + (" — dashed box: the patch it saw" if r.box else ""))

st.subheader("Segmentation layer (U-Net)")
unets = dd.segmentation_cards(common.cards())
if unets:
    st.info("U-Net models found: " + ", ".join(c["name"] for c in unets) + ". Their lesion maps will be drawn here as a magenta layer once the segmentation backend is wired in.", icon=":material/layers:")
else:
    st.caption(":material/layers: No U-Net (task \"segmentation\") has been trained yet; its lesion-probability map will appear here as another layer.")
