"""When a page is drawn, seen from inside the page: the benchmarks' stopwatch.

The benchmarks used to ask Playwright every 25-50 ms whether the viewer's caption was there and
nothing was running (three selector queries over the DevTools protocol each time). On the
2-core machine that polling alone cost Chromium 0.43 s of CPU per second of waiting, taken from
the server it was timing, and 12 visitors' pages polled at once cost more than the cores have.
A visitor's browser does none of that. So the check runs in the page: a MutationObserver
(throttled to one check per 50 ms) notes the wall-clock time at which the condition first
holds, and Python reads that note a few times a second.
"""

from __future__ import annotations

import time

BUSY = '[data-testid="stStatusWidget"], [data-testid="stSpinner"], [data-testid="stProgress"], [data-stale="true"]'

_INSTALL = """([label, busy, queueText]) => {
  const probe = {drawnAt: null, queuedAt: null, errorAt: null};
  window.__benchProbe = probe;
  let pending = false;
  const check = () => {
    pending = false;
    if (probe.drawnAt !== null || probe.errorAt !== null) return;
    const text = document.body.textContent || "";
    if (queueText && probe.queuedAt === null && text.includes(queueText)) probe.queuedAt = Date.now();
    if (document.querySelector('[data-testid="stException"]')) { probe.errorAt = Date.now(); return; }
    if (text.includes(label) && !document.querySelector(busy)) probe.drawnAt = Date.now();
  };
  const soon = () => { if (!pending) { pending = true; setTimeout(check, 50); } };
  probe.observer = new MutationObserver(soon);
  probe.observer.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  probe.timer = setInterval(soon, 250);  // a state that holds without a further mutation
}"""

_READ = "() => { const p = window.__benchProbe; return p ? {drawnAt: p.drawnAt, queuedAt: p.queuedAt, errorAt: p.errorAt} : null; }"
_STOP = "() => { const p = window.__benchProbe; if (p) { p.observer.disconnect(); clearInterval(p.timer); } }"


def watch(page, label: str, queue_text: str = "") -> None:
    """Start watching `page` for `label` with nothing running (call just before the action timed)."""
    page.evaluate(_INSTALL, [label, BUSY, queue_text])


def read(page) -> dict:
    """{drawnAt, queuedAt, errorAt}: wall-clock seconds (time.time()) or None."""
    p = page.evaluate(_READ) or {}
    return {k: (None if p.get(k) is None else p[k] / 1000.0) for k in ("drawnAt", "queuedAt", "errorAt")}


def stop(page) -> None:
    page.evaluate(_STOP)


def wait_drawn(page, started: float, timeout_s: float = 300, every_s: float = 0.2) -> float:
    """Seconds from `started` (time.time()) until the watched label was drawn with nothing running."""
    while time.time() - started < timeout_s:
        p = read(page)
        if p["errorAt"] is not None:
            raise RuntimeError("a Streamlit exception was drawn")
        if p["drawnAt"] is not None:
            stop(page)
            return p["drawnAt"] - started
        page.wait_for_timeout(int(every_s * 1000))
    raise RuntimeError(f"not drawn in {timeout_s:.0f} s")
