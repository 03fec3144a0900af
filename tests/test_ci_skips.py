"""The CI rule on skips, tried on a throw-away test file in a child pytest: under `CI=true` an
undeclared skip (at run time or at collection) fails the run, a declared one stays a skip,
and outside CI both stay skips."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO

TESTS = '''
import pytest

def test_passes():
    assert True

def test_skips():
    pytest.skip(REASON)
'''
COLLECT = '''
import pytest
pytest.importorskip("a_module_that_is_not_installed_anywhere")

def test_never_runs():
    assert True
'''


def run(tmp_path, body: str, ci: bool) -> subprocess.CompletedProcess:
    (tmp_path / "test_child.py").write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"PYTHONPATH": str(REPO / "tests")}
    if ci:
        env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_skips", "-p", "no:cacheprovider", "-q", "-o", "addopts=",
                           "--rootdir", str(tmp_path), str(tmp_path / "test_child.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("reason, ci, failed", [
    ("ray.train.v2 requires the pydantic package, which is missing", True, True),
    ("ray.train.v2 requires the pydantic package, which is missing", False, False),
    ("chromium not found at /usr/bin/chromium (apt-get install -y chromium)", True, False),
])
def test_an_undeclared_skip_fails_under_ci(tmp_path, reason, ci, failed):
    out = run(tmp_path, f"REASON = {reason!r}\n" + TESTS, ci)
    assert (out.returncode == 1) == failed, out.stdout[-2000:]
    assert ("1 failed, 1 passed" if failed else "1 passed, 1 skipped") in out.stdout
    if failed:
        assert "skipped under CI=true" in out.stdout and "pydantic" in out.stdout


def test_a_file_skipped_at_collection_fails_under_ci(tmp_path):
    assert "1 skipped" in run(tmp_path, COLLECT, ci=False).stdout
    out = run(tmp_path, COLLECT, ci=True)
    assert out.returncode != 0 and "skipped under CI=true" in out.stdout, out.stdout[-2000:]
