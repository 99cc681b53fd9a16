"""The deployable zip holds the worker package only, and the worker package imports nothing else of ours.

The worker (``streamloop.worker``) runs inside Pulsar's Python instance; the local runtime
(``streamloop.runtime``) and the tools (``streamloop.tools``) run on a laptop or CI and are never shipped.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "functions" / "streamloop"


def _build_zip_module():
    spec = importlib.util.spec_from_file_location("build_zip", REPO / "packaging" / "build_zip.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_zip"] = module
    spec.loader.exec_module(module)
    return module


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at module level or inside functions (absolute names)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in {"__import__", "import_module"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def test_the_zip_holds_the_worker_package_and_nothing_else(tmp_path: Path) -> None:
    build_zip = _build_zip_module()
    out = build_zip.write_zip(tmp_path / "streamloop-nodeps.zip", build_zip.PACKAGE_DIR, [])
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
    assert "streamloop-nodeps/src/streamloop/__init__.py" in names
    assert "streamloop-nodeps/src/streamloop/worker/features/function.py" in names
    assert "streamloop-nodeps/src/streamloop/worker/learner/function.py" in names
    outside = [n for n in names if not n.startswith(("streamloop-nodeps/src/streamloop/worker/",))]
    assert outside == ["streamloop-nodeps/src/streamloop/__init__.py"]
    assert not [n for n in names if "/runtime/" in n or "/tools/" in n or n.endswith(".pyc")]
    # Every worker module is shipped.
    shipped = {n.removeprefix("streamloop-nodeps/src/") for n in names}
    on_disk = {p.relative_to(PACKAGE.parent).as_posix() for p in (PACKAGE / "worker").rglob("*.py")}
    assert on_disk <= shipped


@pytest.mark.parametrize(
    "module", sorted(p.relative_to(PACKAGE).as_posix() for p in (PACKAGE / "worker").rglob("*.py"))
)
def test_worker_modules_import_neither_the_runtime_nor_the_tools(module: str) -> None:
    imported = _imported_modules(PACKAGE / module)
    ours = sorted(name for name in imported if name.split(".")[0] == "streamloop")
    strays = [name for name in ours if not name.startswith("streamloop.worker")]
    assert strays == [], f"{module} imports {strays}: the worker zip does not ship them"
