"""Upload one mammogram (PNG, JPEG, TIFF or DICOM): predictions, their map layers and downloads. Nothing is saved."""

import streamlit as st

from core.dashboard import export, inference
from core.errors import MammoError
from ui import charts, common, predictions

st.title("Upload a mammogram")
common.notice()
st.caption(":material/lock: The file stays in this server's memory for this session only: it is never written to disk or logged. "
           "Only de-identified acquisition facts are read from a DICOM header.")

upload = st.file_uploader("PNG, JPEG, TIFF or DICOM", type=None, key="upload_file",
                          help="The format is recognised from the content, so DICOMs without a file extension work too.")
if upload is None:
    st.info("Drop a mammogram above. No file at hand? Every embedded sample image is on the **Explore the data** page.", icon=":material/upload_file:")
    st.stop()

models = common.chosen_models()
explain_positive = st.toggle("Also explain lesion / malignant", False, key="upload_explain_positive",
                             help="Models that explain their decision with Grad-CAM get a second saliency layer for the abnormal class when they decided another one (slower).")

data = upload.getvalue()
digest = inference.content_hash(data)
label = common.upload_label(upload)  # privacy: "upload 1" in every output, never the file's name
ready, errors = common.ensure_models(models)
for n, msg in errors.items():
    common.show_error(msg, icon=":material/error:")
try:
    with st.spinner(f"Reading the image and running {len(ready)} model(s) with their maps…"):
        meta, shape, base8, scale, results = common.analyse_upload(digest, data, label, tuple(ready), explain_positive)
except MammoError as exc:
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()
except Exception as exc:  # never a traceback
    common.friendly_error(exc, "This file could not be read as a mammogram")
    st.stop()

left, mid, right = st.columns([2, 3, 2])
with left:
    st.image(base8, caption=f"{label} — {shape[1]}×{shape[0]} px (shown downscaled)", width="stretch")
with mid:
    st.markdown("**De-identified metadata**")
    st.dataframe(meta, hide_index=True, width="stretch")
with right:
    inputs = [r for r in results if r.model_input is not None]
    if inputs:
        pick = st.selectbox("Preprocessed model input of", [r.name for r in inputs], key="upload_input_model")
        r0 = next(r for r in inputs if r.name == pick)
        st.image(r0.model_input, caption="what the network sees, after its card's preprocessing (patch models: the patch)", width="stretch")

if not ready:
    st.info("Choose models in the sidebar to get predictions.")
    st.stop()

colors = common.colors()
ok = [r for r in results if r.ok]
st.subheader("Predictions")
if ok:
    st.plotly_chart(charts.probabilities(inference.probability_frame(ok), colors), width="stretch", key="upload_probs")
st.caption("Each card: the model's decision and probabilities, its stage trace if it has stages, and a **Map layer** to draw on "
           "the image — Grad-CAM saliency, dense patch scores or a U-Net segmentation, whichever the model gives.")
choices = predictions.run_grid(results, base8, scale, (), "upload", colors)

st.subheader("Download")
d1, d2 = st.columns(2)
d1.download_button("Overlays (PNG)", export.result_png(base8, ok, scale, choices, (), label), file_name="mammo_result.png", mime="image/png", icon=":material/image:", key="dl_png")
d2.download_button("Probabilities (CSV)", common.privacy.neutralise_csv(export.result_csv(results, label)), file_name="mammo_result.csv", mime="text/csv", icon=":material/table:", key="dl_csv")
