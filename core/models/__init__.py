"""Classifier interface, framework backends (imported lazily), hierarchy and registry."""
