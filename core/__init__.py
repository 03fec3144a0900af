"""Mammography workbench core: everything that is not UI (no Streamlit imports here)."""

__version__ = "0.1.0"
