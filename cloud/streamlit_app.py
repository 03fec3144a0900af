"""Streamlit Community Cloud's entry point: the same app as `streamlit_app.py`.

It lives in its own folder only so that Cloud installs `cloud/requirements.txt` (the
dependency file beside the entry point wins over the root one): CPU-only torch and
torchvision wheels by direct URL, everything else from PyPI. Locally, run the root
`streamlit_app.py`; `docs/deploy.md` says what to pick in Cloud's deploy form.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # Streamlit puts this folder, not the repository, on the path
    sys.path.insert(0, str(ROOT))

runpy.run_path(str(ROOT / "streamlit_app.py"), run_name="__main__")
