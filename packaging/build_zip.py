"""Build the Pulsar Functions package ``dist/streamloop.zip`` and prove it loads like Pulsar's instance.

Layout (Pulsar's Python instance requires the top folder to be named after the zip)::

    streamloop/src/streamloop/worker/   the worker package (and ``streamloop/__init__.py``), put at the
                                        front of sys.path; the local runtime and the tools stay home
    streamloop/deps/*.whl            the whole runtime dependency closure, as wheels

At every instance start Pulsar runs ``pip install -t <dir> --no-index --find-links deps deps/*.whl``.
``-t`` ignores what the worker's interpreter already has and ``--no-index`` forbids downloads, so ``deps/``
must hold the *whole* closure: protobuf stays in it because onnx and onnxruntime require it, even though the
instance brings its own. Only ``pulsar-client`` (and so its ``[functions]`` extras, which nothing else in the
closure needs) is left out.

``--no-deps`` builds ``dist/streamloop-nodeps.zip`` (code only) for workers whose ``python3`` environment
already has the dependencies installed: instances then start without any pip step.

Usage::

    python packaging/build_zip.py                      # wheels for the worker venv's Python and platform
    python packaging/build_zip.py --python-version 3.12 --platform manylinux_2_28_x86_64
    python packaging/build_zip.py --no-deps
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO / "functions" / "streamloop"
# The only part of the package that runs on a worker (see functions/streamloop/worker/__init__.py).
WORKER_PARTS = ("__init__.py", "worker")
CONSTRAINTS = REPO / "packaging" / "constraints.txt"
# Provided by the Pulsar instance itself; never shipped (pulsar-client[functions] pulls the rest).
INSTANCE_PROVIDED = {"pulsar-client"}
# Modules that must import from the unpacked zip alone (the closure proof).
PROOF_IMPORTS = [
    "streamloop.worker.codec",
    "orjson",
    "numpy",
    "river",
    "onnx",
    "onnxruntime",
    "pydantic",
    "yaml",
]


def canonical(name: str) -> str:
    """PEP 503 normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def runtime_requirements() -> list[str]:
    """The ``[project].dependencies`` of pyproject.toml, minus what the instance provides."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    keep = []
    for req in project["dependencies"]:
        name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]
        if canonical(name) not in INSTANCE_PROVIDED:
            keep.append(req)
    return keep


def worker_target(python: str) -> tuple[str, list[str]]:
    """The ``X.Y`` version and the platform tags (best first) of the worker's interpreter."""
    probe = (
        "import json, sys\n"
        "try:\n    from packaging import tags\n"
        "except ImportError:\n    from pip._vendor.packaging import tags\n"
        "print(json.dumps([f'{sys.version_info[0]}.{sys.version_info[1]}', list(tags.platform_tags())]))"
    )
    out = subprocess.run([python, "-c", probe], check=True, capture_output=True, text=True).stdout
    version, platforms = json.loads(out)
    return version, platforms


def download_closure(
    deps: Path, requirements: list[str], python_version: str, platforms: list[str], pip: list[str]
) -> list[Path]:
    """``pip download`` every runtime dependency, transitively, as wheels for the target worker."""
    deps.mkdir(parents=True, exist_ok=True)
    cmd = [*pip, "download", "-q", "--only-binary=:all:", "--implementation", "cp"]
    cmd += ["--python-version", python_version, "-d", str(deps)]
    for platform in platforms:
        cmd += ["--platform", platform]
    if CONSTRAINTS.exists():
        cmd += ["-c", str(CONSTRAINTS)]
    subprocess.run([*cmd, *requirements], check=True, env=clean_pip_env())
    return sorted(deps.glob("*.whl"))


def clean_pip_env() -> dict[str, str]:
    """The environment without PIP_* lookups that could hide a missing wheel (e.g. PIP_FIND_LINKS)."""
    drop = {"PIP_FIND_LINKS", "PIP_NO_INDEX", "PYTHONPATH", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def worker_files(package_dir: Path = PACKAGE_DIR) -> list[Path]:
    """The files the worker runs: ``streamloop/__init__.py`` and everything under ``streamloop/worker/``."""
    files = []
    for part in WORKER_PARTS:
        path = package_dir / part
        candidates = [path] if path.is_file() else sorted(path.rglob("*"))
        files += [
            p for p in candidates if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
        ]
    return files


def write_zip(out: Path, package_dir: Path, wheels: list[Path]) -> Path:
    """Write ``out`` with ``<stem>/src/streamloop/{__init__.py,worker/}`` and ``<stem>/deps/*.whl``."""
    top = out.stem
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in worker_files(package_dir):
            rel = path.relative_to(package_dir.parent)
            zf.write(path, f"{top}/src/{rel.as_posix()}")
        for wheel in wheels:
            # Already-compressed archives: store them as they are.
            zf.write(wheel, f"{top}/deps/{wheel.name}", compress_type=zipfile.ZIP_STORED)
    return out


def prove_loads(zip_path: Path, python: str, imports: list[str]) -> None:
    """Unpack and install ``zip_path`` the way Pulsar's instance does, then import from it alone.

    The imports run with ``-I -S`` (no site-packages), so anything missing from ``deps/`` fails here
    instead of being found in the interpreter's own environment.
    """
    pip = [str(Path(python).parent / "pip")]
    with tempfile.TemporaryDirectory(prefix="streamloop-zip-") as tmp:
        root = Path(tmp)
        with zipfile.ZipFile(zip_path) as zf:
            zf.extractall(root)
        base = root / zip_path.stem
        wheels = sorted(str(w) for w in (base / "deps").glob("*.whl"))
        if wheels:
            subprocess.run(
                [
                    *pip,
                    "install",
                    "-q",
                    "-t",
                    str(root),
                    "--no-index",
                    "--find-links",
                    str(base / "deps"),
                    *wheels,
                ],
                check=True,
                env=clean_pip_env(),
            )
        stmt = ";".join(f"import {name}" for name in imports)
        path_setup = f"import sys; sys.path[:0] = [{str(base / 'src')!r}, {str(root)!r}]"
        subprocess.run([python, "-I", "-S", "-c", f"{path_setup}; {stmt}"], check=True)
    print(f"build_zip: {zip_path.name} installs with --no-index and imports {', '.join(imports)}")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--python", default=str(REPO / ".venv" / "bin" / "python3"), help="worker interpreter"
    )
    parser.add_argument("--python-version", help="target X.Y (default: the worker interpreter's)")
    parser.add_argument("--platform", action="append", help="target platform tag(s) (default: the worker's)")
    parser.add_argument("--out", type=Path, help="zip path (default dist/streamloop.zip or -nodeps.zip)")
    parser.add_argument("--no-deps", action="store_true", help="code only; the worker has the dependencies")
    parser.add_argument("--no-proof", action="store_true", help="skip the install-and-import check")
    args = parser.parse_args(argv)

    out = args.out or REPO / "dist" / ("streamloop-nodeps.zip" if args.no_deps else "streamloop.zip")
    wheels: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="streamloop-deps-") as tmp:
        if not args.no_deps:
            version, platforms = worker_target(args.python)
            version = args.python_version or version
            platforms = args.platform or platforms
            pip = [args.python, "-m", "pip"]
            wheels = download_closure(Path(tmp), runtime_requirements(), version, platforms, pip)
            shipped = {canonical(w.name.split("-")[0]) for w in wheels}
            instance_side = sorted(
                shipped & {"protobuf", "grpcio", "apache-bookkeeper-client", "prometheus-client", "ratelimit"}
            )
            print(f"build_zip: {len(wheels)} wheels for Python {version}, {len(platforms)} platform tags")
            if instance_side:
                print(f"build_zip: the closure needs these though the instance has them: {instance_side}")
        write_zip(out, PACKAGE_DIR, wheels)
    size = out.stat().st_size / 1e6
    print(f"build_zip: wrote {out.relative_to(REPO) if out.is_relative_to(REPO) else out} ({size:.1f} MB)")
    if not args.no_proof:
        same_target = not (args.python_version or args.platform)
        if args.no_deps:
            print("build_zip: --no-deps: the worker's python3 must already have the dependencies")
        elif same_target:
            prove_loads(out, args.python, PROOF_IMPORTS)
        else:
            print("build_zip: other target than this interpreter; skipping the import proof")
    return 0


if __name__ == "__main__":
    sys.exit(main())
