"""Training what is built from other models' predictions: ensembles chosen on validation
parts, the hierarchy, the study model, members' held-out scores per fold, the bilateral study.
"""
