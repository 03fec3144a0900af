"""Streamlit-only helpers shared by the pages (caching, sidebar state, plotly figures)."""
