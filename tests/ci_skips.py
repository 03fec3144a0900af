"""Under `CI=true` a skipped test fails the run, unless its reason names something on the
short list below of what a CI machine may lack.

Every test the README's second command makes runnable must run in CI: a skip there once hid
that `python -m core train --address` was broken for every user (Ray Train's missing
pydantic). A skip whose reason names an entry of `CI_MAY_LACK` stays a skip; any other
becomes a failure that quotes the reason. Outside CI (no `CI=true`) skips are left alone.
"""

from __future__ import annotations

import os

import pytest

# what a CI machine may lack, and why each cannot be installed by the README's two commands
CI_MAY_LACK: dict[str, str] = {
    "chromium": "Debian's chromium is a system package that .ci/run installs with apt, not pip: "
                "on a day apt cannot reach Debian's mirror, the real-browser tests have no browser to drive",
}


def _reason(report) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


def _refuse_skip(report) -> None:
    if os.environ.get("CI") != "true" or not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _reason(report)
    if any(name in reason for name in CI_MAY_LACK):
        return
    report.outcome = "failed"
    report.longrepr = (f"skipped under CI=true: {reason}. The README's install should make this test runnable; "
                       f"a skip is allowed in CI only for what tests/ci_skips.py CI_MAY_LACK declares ({', '.join(CI_MAY_LACK)})")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _refuse_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _refuse_skip(outcome.get_result())  # a module-level importorskip skips the whole file at collection
