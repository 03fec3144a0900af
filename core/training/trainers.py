"""Every recipe kind's trainer, registered by importing its module (as timm's models/__init__).

`core.training.kinds` is the table and imports none of these; `train_recipe` imports this
module first. The trainers import torch, so nothing else in the package imports them.
"""

from core.training import classifier_folds, map_top, patch_dense, segmentation  # noqa: F401  (each registers its kind)
from core.training.composites import trainers  # noqa: F401  (ensemble, hierarchy, study)
