"""Running models on an image: one model on one image -> its `Prediction` (maps shrunk to
display size), the chosen models side by side, and a model over dataset records
(`records`). What the dashboard, `predict` and `evaluate` call; it imports no trainer.
"""
