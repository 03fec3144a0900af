"""Everything the dashboard computes, with no Streamlit import, one module per concern:

- `cards`: leaderboard and card tables, committed predictions and history, model colours
- `records`: dataset records as a filterable table, thumbnails, split membership
- `overlays`: display-size images and any `MapLayer` drawn on the mammogram
- `viewer`: the zoomable viewer's layers; `study`: a woman's views side by side
- `session_cache`: per-session results of the chosen models on one image
- `export`: CSV and PNG downloads of one analysed image
- `charts`: the plotly figures (layout only), for the pages and the report
- `html_report`: Compare's report to take away, one self-contained HTML file

Running the models is `core.serving`'s job, the curves and paired bootstraps `core.reports`'.
The pages in `pages/` only lay out what these return, so every number and picture on
screen can be recomputed (and tested) without a browser.
"""
