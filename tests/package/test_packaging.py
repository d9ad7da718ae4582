"""The wheel built from the repo holds every package and the dashboard's static files, and every
package imports from the wheel alone (not from the repo): setup.cfg's hand-kept `packages` list and
its package_dir mapping (sinks/ -> eventlog.sinks, ...) cannot drift from the tree unnoticed."""
from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path
from typing import Dict, List

import pytest

REPO = Path(__file__).resolve().parents[2]
ROOTS = {"eventlog": "eventlog", "sinks": "eventlog.sinks", "server": "eventlog.server", "cli": "eventlog.cli"}
STATIC = Path("server/web/static")
BUILD_FILES = ("setup.cfg", "pyproject.toml", "README.md")


def repo_files() -> Dict[str, Path]:
    """Every file of the four package folders, by the path it has in an installed evlog."""
    out = {}
    for folder, package in ROOTS.items():
        for path in (REPO / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                rel = path.relative_to(REPO / folder)
                out[str(Path(*package.split("."), rel))] = path
    return out


def repo_packages() -> List[str]:
    """The dotted name of every folder of the tree that has an __init__.py."""
    return sorted(name[: -len("/__init__.py")].replace("/", ".") for name in repo_files()
                  if name.endswith("/__init__.py"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the repo's sources (so the build leaves no build/ in the tree), unzipped."""
    base = tmp_path_factory.mktemp("packaging")
    src = base / "src"
    src.mkdir()
    for name in BUILD_FILES:
        shutil.copy2(REPO / name, src / name)
    for folder in ROOTS:
        shutil.copytree(REPO / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                          "-w", str(base / "dist"), str(src)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    (whl,) = (base / "dist").glob("evlog-*.whl")
    unpacked = base / "site"
    with zipfile.ZipFile(whl) as z:
        z.extractall(unpacked)
    return unpacked


def test_the_wheel_holds_every_file_of_the_packages(wheel):
    want = repo_files()
    have = {str(p.relative_to(wheel)) for p in wheel.rglob("*") if p.is_file()}
    missing = sorted(set(want) - have)
    assert missing == [], "not in the wheel (a package missing from setup.cfg's packages?): " + ", ".join(missing)


def test_the_dashboard_static_files_are_in_the_wheel(wheel):
    static = sorted(p.name for p in (REPO / STATIC).iterdir() if p.is_file())
    assert "evlog.js" in static and "uPlot.iife.min.js" in static
    for name in static:
        assert (wheel / "eventlog/server/web/static" / name).read_bytes() == (REPO / STATIC / name).read_bytes()


def test_every_package_and_entry_point_imports_from_the_wheel_alone(wheel, tmp_path):
    """Each package imports from the unzipped wheel, with only the venv's site-packages besides
    (for the dependencies): `-S` keeps site's .pth files, among them the editable install's finder
    that maps eventlog to the repo, out of the way."""
    packages = repo_packages()
    assert {"eventlog", "eventlog.sinks", "eventlog.server", "eventlog.cli", "eventlog.server.web"} <= set(packages)
    entry = configparser.ConfigParser()
    entry.read(wheel / "evlog-0.1.0.dist-info" / "entry_points.txt")
    targets = sorted(v for section in entry.sections() for v in entry[section].values())
    assert "eventlog.cli:main" in targets and "eventlog.sinks.http:HttpSink" in targets
    code = textwrap.dedent("""
        import importlib, json, sys
        packages, targets = json.loads(sys.argv[1]), json.loads(sys.argv[2])
        files = {p: importlib.import_module(p).__file__ for p in packages}
        for t in targets:
            module, _, attr = t.partition(":")
            getattr(importlib.import_module(module), attr)
        print(json.dumps({"files": files, "paths": [m.__file__ for m in list(sys.modules.values())
                                                    if (getattr(m, "__name__", "") or "").startswith("eventlog")
                                                    and getattr(m, "__file__", None)]}))
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVLOG_", "WANDB_", "PYTHON"))}
    env["PYTHONPATH"] = os.pathsep.join([str(wheel), sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    out = subprocess.run([sys.executable, "-S", "-c", code, json.dumps(packages), json.dumps(targets)],
                         cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout)
    for package in packages:
        assert Path(got["files"][package]) == wheel / Path(*package.split(".")) / "__init__.py"
    assert got["paths"] and all(Path(p).is_relative_to(wheel) for p in got["paths"]), got["paths"]
