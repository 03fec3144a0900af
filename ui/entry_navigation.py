"""Every URL runs streamlit_app.py and its `st.navigation`, also the first request a freshly
started server gets.

Why this module exists (Streamlit 1.67): an entry script with a `pages/` folder beside it
starts in Streamlit's legacy pages-folder mode, and stays in it until some session has
called `st.navigation`. In that mode a first request for `/upload` runs pages/upload.py
alone, under Streamlit's automatic menu of file names ("streamlit app, compare, explore,
...") and without the entry script's sidebar. The mode is fixed when the first session
starts, before any code of the app runs; no option or API of this version starts in
`st.navigation` mode instead (`client.showSidebarNavigation` only hides a menu), and
`AppTest` starts every run in the legacy mode again. This project keeps its `pages/`
folder, so three pieces make up for it, each public API; nothing of Streamlit's own is read,
patched or replaced:

1. `.streamlit/config.toml` sets `client.showSidebarNavigation = false`, the option's
   documented use: the automatic menu is never drawn, not even for a moment.
2. `streamlit_app.py` calls `show_app_navigation()` just before its `st.navigation`: in
   1.67 that option hides a sidebar `st.navigation` too, so it is switched back on (with
   `st.set_option`; a scriptable client option) for the app's own menu.
3. Every page calls `run_through_entry_script()` first. A page run alone (the legacy mode's
   first request) runs streamlit_app.py in its place: its `st.navigation` switches every
   session of the process to `st.navigation` mode (documented behaviour), resolves the same
   URL and runs this page inside the app's frame; the lone run then stops (`st.stop`).
   On a live server that happens only for a process's first request (to a page other
   than `/`); later ones start in `st.navigation` mode and the call returns at once
   (streamlit_app.py is on the call stack).

A second browser that connects within microseconds of the very first one could still see
the automatic menu for a moment (between 2. and the `st.navigation` after it in the
other session). `tests/test_entry_navigation.py` holds all of this.
"""

from __future__ import annotations

import os
import sys
import types

import streamlit as st

ENTRY = os.path.realpath(os.path.join(os.path.dirname(__file__), os.pardir, "streamlit_app.py"))
_NAME = os.path.basename(ENTRY)


def show_app_navigation() -> None:
    """Let the app's own `st.navigation` show in the sidebar (see 2. above)."""
    if st.get_option("client.showSidebarNavigation") is False:
        st.set_option("client.showSidebarNavigation", True)


def _entry_script_running() -> bool:
    """Whether streamlit_app.py is on the call stack, i.e. it ran this page via `page.run()`."""
    frame = sys._getframe(1)
    while frame is not None:
        name = frame.f_code.co_filename
        if os.path.basename(name) == _NAME and os.path.realpath(name) == ENTRY:
            return True
        frame = frame.f_back
    return False


def run_through_entry_script() -> None:
    """A page's first statement: when the page runs alone (see 3. above), run streamlit_app.py
    instead, which runs this page within the app, then stop this lone run."""
    if _entry_script_running():
        return
    with open(ENTRY, "rb") as f:
        code = compile(f.read(), ENTRY, "exec")
    entry = types.ModuleType("__main__")  # a fresh namespace, as Streamlit runs a script (sys.modules is left alone)
    entry.__file__ = ENTRY
    exec(code, entry.__dict__)  # noqa: S102 - the app's own entry script
    st.stop()
