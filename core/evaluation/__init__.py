"""Judging predictions: scikit-learn metrics, validation thresholds, patient-level bootstrap
intervals, out-of-fold summaries and paired differences, conformal prediction sets.

Works on tables of predictions, never on a model: it sits below `core.models`.
"""
