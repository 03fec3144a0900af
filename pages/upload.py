"""Upload one mammogram (PNG, JPEG, TIFF or DICOM) or try a sample: predictions model by model,
their map layers, the zoomable original and downloads. Nothing is saved, nothing is shared."""

from pathlib import Path

import streamlit as st

from core.dashboard import export, inference
from core.errors import MammoError
from ui import analysis, charts, common, predictions, share, viewer

st.title("Upload a mammogram")
common.notice()
st.caption(":material/lock: Your file stays in this server's memory, in your browser session only: its picture and results are kept for "
           "your last three images and dropped when the session ends. No other visitor can see them; nothing is written to disk or logged. "
           "Only de-identified acquisition facts are read from a DICOM header.")

samples = {r.image_id: r for r in common.records("sample", None) if r.path and Path(r.path).is_file()}
if share.take("dataset", ["sample"]):
    linked = share.take("image", samples)
    if linked:
        st.session_state["upload_sample"] = linked


def _use_upload() -> None:  # a new file replaces the sample
    st.session_state.pop("upload_sample", None)


upload = st.file_uploader("PNG, JPEG, TIFF or DICOM", type=None, key="upload_file", on_change=_use_upload,
                          help="The format is recognised from the content, so DICOMs without a file extension work too.")
if samples and st.button("No file at hand? Try a sample image", icon=":material/science:", key="upload_try_sample",
                         help="A full-field CBIS-DDSM DICOM of the embedded sample (public data, MIT)."):
    ids = list(samples)
    current = st.session_state.get("upload_sample")
    st.session_state["upload_sample"] = ids[(ids.index(current) + 1) % len(ids)] if current in ids else ids[0]
sample_id = st.session_state.get("upload_sample") if st.session_state.get("upload_sample") in samples else None
if upload is None and sample_id is None:
    share.publish(models=common.chosen_models())
    st.info("Drop a mammogram above, or try a sample image. Every embedded sample image is also on the **Explore the data** page.", icon=":material/upload_file:")
    st.stop()

models = common.chosen_models()
explain_positive = st.toggle("Also explain lesion / malignant", False, key="upload_explain_positive",
                             help="Models that explain their decision with Grad-CAM get a second saliency layer for the abnormal class when they decided another one (slower).")

if sample_id is not None:
    label = f"sample {sample_id}"  # public data: its own id
    data = Path(samples[sample_id].path).read_bytes()
    key = ("sample", sample_id)
    share.publish(dataset="sample", image=sample_id, models=models)
    st.caption(f":material/science: Showing the embedded sample image **{common.privacy.md_escape(sample_id)}** (truth: {samples[sample_id].label}). Upload a file to replace it.")
else:
    data = upload.getvalue()
    label = common.upload_label(upload)  # privacy: "upload 1" in every output, never the file's name
    key = ("upload", inference.content_hash(data))
    share.publish(models=models)
ready, errors = common.ensure_models(models)
for n, msg in errors.items():
    common.show_error(msg, icon=":material/error:")
try:
    view, reader = analysis.view_of(key, lambda: inference.read_upload(data, label), with_meta=True)
except MammoError as exc:
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()
except Exception as exc:  # never a traceback
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()
shape = view.shape

left, right = st.columns([1, 2])
with left:
    st.image(view.base8, caption=f"{label} — {shape[1]}×{shape[0]} px (shown downscaled; zoom below)", width="stretch",
             alt=f"The mammogram {label}, downscaled from {shape[1]} by {shape[0]} pixels.")
with right:
    st.markdown("**De-identified metadata**")
    st.dataframe(view.meta, hide_index=True, width="stretch")

if not ready:
    st.info("Choose models in the sidebar to get predictions.")
    st.stop()

colors = common.colors()
st.subheader("Predictions")
st.caption("The table sets every model side by side on this image (decision, probability against the model's own threshold, spread, "
           "conformal prediction set at the sidebar's coverage, right or wrong where the truth is known). "
           "Each card below: the model's decision and probabilities, its stage trace if it has stages, and a **Map layer** to draw on "
           "the image — Grad-CAM saliency, dense patch scores or a U-Net segmentation, whichever the model gives. "
           "Cards appear as each model finishes; a model added later runs alone.")
try:
    results, choices = analysis.run_grid(key, ready, reader, explain_positive,
                                         lambda r: predictions.run_card(r, view.base8, view.scale, (), "upload", colors.get(r.name)), with_input=True,
                                         summary=lambda runs: predictions.comparison(runs, samples[sample_id] if sample_id is not None else None, "upload"))
except MammoError as exc:
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()
ok = [r for r in results if r.ok]
if ok:
    st.plotly_chart(charts.probabilities(inference.probability_frame(ok), colors), width="stretch", key="upload_probs",
                    alt="Grouped bar chart of each model's class probabilities for this image.")

st.subheader("Zoom into the original")
viewer.show(view, results, (), "upload", label)

inputs = [r for r in results if r.model_input is not None]
if inputs:
    with st.expander("What each network sees (its preprocessed input)", icon=":material/visibility:"):
        pick = st.selectbox("Preprocessed model input of", [r.name for r in inputs], key="upload_input_model")
        r0 = next(r for r in inputs if r.name == pick)
        st.image(r0.model_input, caption="what the network sees, after its card's preprocessing (patch models: the patch)", width=360,
                 alt=f"The input of {pick} after its preprocessing.")

st.subheader("Download")
d1, d2 = st.columns(2)
d1.download_button("Overlays (PNG)", export.result_png(view.base8, ok, view.scale, choices, (), label), file_name="mammo_result.png", mime="image/png", icon=":material/image:", key="dl_png")
d2.download_button("Probabilities (CSV)", common.privacy.neutralise_csv(export.result_csv(results, label)), file_name="mammo_result.csv", mime="text/csv", icon=":material/table:", key="dl_csv")
