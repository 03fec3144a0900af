"""The dependency files: the README's install file asks PyPI alone (no retried look-up of an
index these machines cannot reach), and Community Cloud's file takes only torch and
torchvision, CPU builds, from PyTorch, with every other pin the same as the README's."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from conftest import REPO

INDEX_OPTIONS = re.compile(r"^\s*(-i\b|--index-url|--extra-index-url|-f\b|--find-links|--trusted-host)")
FROM_PYTORCH = {"torch", "torchvision"}


def parse(path: Path) -> tuple[list[Requirement], list[str], list[Path]]:
    """(requirements, option lines, included files) of one pip requirements file."""
    reqs, options, included = [], [], []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement")):
            included.append(path.parent / line.split(maxsplit=1)[1])
        elif line.startswith("-"):
            options.append(line)
        else:
            reqs.append(Requirement(line))
    return reqs, options, included


def closure(path: Path) -> tuple[list[Requirement], list[str]]:
    reqs, options, included = parse(path)
    for inner in included:
        more, more_options = closure(inner)
        reqs, options = reqs + more, options + more_options
    return reqs, options


def pins(reqs: list[Requirement]) -> dict[str, str]:
    return {canonicalize_name(r.name): str(r.specifier) for r in reqs if not r.url}


def readme_install_file() -> Path:
    """The file the README's first command installs (`pip install -r FILE`)."""
    text = (REPO / "README.md").read_text()
    found = re.search(r"pip install -r (\S+) && streamlit run streamlit_app\.py", text)
    assert found, "the README's first command is `pip install -r FILE && streamlit run streamlit_app.py`"
    return REPO / found.group(1)


@pytest.mark.parametrize("name", ["readme", "requirements-dev.txt"])
def test_local_install_files_ask_pypi_alone(name):
    path = readme_install_file() if name == "readme" else REPO / name
    reqs, options = closure(path)
    assert not [o for o in options if INDEX_OPTIONS.match(o)], f"{path.name} names a package index other than PyPI"
    assert not [r.name for r in reqs if r.url], f"{path.name} downloads a package from outside PyPI"
    loose = [r.name for r in reqs if not str(r.specifier).startswith("==")]
    assert not loose, f"unpinned in {path.name}: {loose}"
    assert {"torch", "torchvision", "streamlit"} <= set(pins(reqs))


def test_cloud_file_takes_only_cpu_torch_from_pytorch():
    cloud, options = closure(REPO / "cloud" / "requirements.txt")
    local, _ = closure(readme_install_file())
    assert not [o for o in options if INDEX_OPTIONS.match(o)], "an index option makes uv and pip ask that index for every package"
    direct = {canonicalize_name(r.name): r for r in cloud if r.url}
    assert set(direct) == FROM_PYTORCH, f"only torch / torchvision come from PyTorch, got {sorted(direct)}"
    local_pins = pins(local)
    for name, req in direct.items():
        url = urlparse(req.url)
        assert url.scheme == "https" and url.hostname == "download.pytorch.org" and url.path.startswith("/whl/cpu/")
        wheel, version, _, tags = parse_wheel_filename(unquote(url.path.rsplit("/", 1)[1]))
        assert canonicalize_name(wheel) == name and version.local == "cpu"
        assert f"=={version.public}" == local_pins[name], f"{name}: Cloud's wheel is not the README's pin"
        assert {t.interpreter for t in tags} == {"cp311"} and all(t.platform.endswith("x86_64") for t in tags)
    rest = {k: v for k, v in local_pins.items() if k not in FROM_PYTORCH}
    assert pins(cloud) == rest, "Cloud's file and the README's install file differ beyond torch / torchvision"


def test_cloud_entry_point_serves_the_same_app():
    """Cloud's entry point (cloud/streamlit_app.py) runs the root app: navigation, sidebar, Overview."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "cloud" / "streamlit_app.py"), default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == ["Mammography AI workbench"]  # the Overview page, the default
    assert "Leaderboard" in [s.value for s in at.subheader] and len(at.dataframe) == 1 and len(at.dataframe[0].value) > 5
    assert at.sidebar.multiselect(key="chosen_models").options  # the shared sidebar, with the live models
