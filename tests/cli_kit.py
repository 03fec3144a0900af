"""What the CLI-driving tests share: `python -m core ...` with a models folder, run as users run
it (a child process) or through the command's own entry point in the test process (sparing a
torch import per call)."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(models_dir: Path, *args: str, timeout: float = 1500) -> subprocess.CompletedProcess:
    """`python -m core --models-dir <models_dir> <args>` in a child process."""
    return subprocess.run([sys.executable, "-m", "core", "--models-dir", str(models_dir), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def in_process(models_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """The same command through `core.cli.main` in this process; the registry's cache is
    cleared after it, since the next step reads the folders this call may have written."""
    from core.cli import main
    from core.models import registry

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--models-dir", str(models_dir), *args])
    registry.clear_cache()
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def smoke_train(models_dir: Path, recipe: str, data: Path) -> subprocess.CompletedProcess:
    """`python -m core train <recipe> --smoke --data <data>`, in this process."""
    return in_process(models_dir, "train", str(REPO / recipe), "--smoke", "--data", str(data))
