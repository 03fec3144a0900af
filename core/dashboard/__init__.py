"""Everything the dashboard computes, with no Streamlit import, one module per concern:

- `cards`: leaderboard and card tables, committed predictions and history, model colours
- `curves`: ROC / PR / calibration / operating points in any task, paired out-of-fold bootstrap
- `records`: dataset records as a filterable table, thumbnails, split membership
- `overlays`: display-size images and any `MapLayer` drawn on the mammogram
- `inference`: one model on one image -> its `Prediction` (or the reason it failed)
- `export`: CSV and PNG downloads of one analysed image

The pages in `pages/` only lay out what these return, so every number and picture on
screen can be recomputed (and tested) without a browser.
"""
