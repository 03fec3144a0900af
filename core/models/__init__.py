"""Every model kind, registered in one table (`kinds.py`) on import of this package.

As in timm, the registry imports no kind; this package imports each kind's module, which
registers itself. None of them imports a framework at import time.
"""

from core.models import classifier, dense_patch, segmenter  # noqa: F401  (leaf kinds register themselves)
from core.models.composites import ensemble, hierarchy, study  # noqa: F401  (composite kinds register themselves)
