"""Streamlit-only helpers for the pages, one job a module.

entry_navigation: every URL runs streamlit_app.py (also a fresh server's first request);
sidebar: the shared sidebar; data_roots: the models folder and the data roots;
cached: st.cache_data over the committed model folders; model_loading: live models,
loading them, remembered failures; warm_up: models warmed up in the background;
datasets: a dataset's records and thumbnails; messages: notice, errors, upload names;
share: views in the URL; analysis: a session's image runs; viewer, predictions, report,
study, evaluate_data, judging: what the pages draw; report_download: Compare's HTML report
(the plotly figures themselves are `core.dashboard.charts`).
"""
