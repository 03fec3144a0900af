"""Ensembles of registered models (seed 004): combination rules, member scores per fold
with test-time augmentation, and the build that turns a recipe into a model folder."""
