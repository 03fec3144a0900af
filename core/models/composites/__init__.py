"""Kinds built from other registered models: ensembles (members x flips), the hierarchy
(seed 001's normal -> benign / malignant), the study model; the combination rules and flips.
"""
