"""The two install sets: Streamlit Community Cloud's requirements.txt gets the CPU-only torch with
its matching torchvision; the local set (make, CI) the default build; both share the rest."""
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pins(name: str) -> tuple[dict[str, str], list[str]]:
    packages, options = {}, []
    for raw in (REPO / name).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-"):
            options.append(line)
            continue
        package, version = line.split("==")
        packages[package.lower()] = version
    return packages, options


def minor(version: str) -> tuple[int, int]:
    major, minor_, *_ = re.split(r"[.+]", version)
    return int(major), int(minor_)


def test_cloud_gets_the_cpu_only_torch_and_its_own_torchvision():
    packages, options = pins("requirements.txt")
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in options
    assert "-r requirements-common.txt" in options
    assert packages["torch"].endswith("+cpu") and packages["torchvision"].endswith("+cpu")
    # torchvision 0.N is built for torch 2.(N-15): any other pair fails to import its operators.
    assert minor(packages["torchvision"])[1] == minor(packages["torch"])[1] + 15


def test_the_local_set_has_the_default_torch_and_the_same_rest():
    local, options = pins("requirements-local.txt")
    assert "-r requirements-common.txt" in options
    assert "+" not in local["torch"] and minor(local["torchvision"])[1] == minor(local["torch"])[1] + 15
    common, _ = pins("requirements-common.txt")
    assert "torch" not in common and {"streamlit", "plotly", "streamlit-drawable-canvas"} <= set(common)
    dev, dev_options = pins("requirements-dev.txt")
    assert "-r requirements-local.txt" in dev_options and "torch" not in dev
    assert "requirements-local.txt" in (REPO / "Makefile").read_text()
