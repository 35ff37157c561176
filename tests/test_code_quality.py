"""Style and layering are part of the suite (as in azure-functions-python-library): ruff, mypy, import-linter."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True)


def test_ruff() -> None:
    result = run(str(BIN / "ruff"), "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run(sys.executable, "-m", "mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_layers() -> None:
    result = run(str(BIN / "lint-imports"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_core_never_imports_azure_functions() -> None:
    offenders = []
    for path in (ROOT / "shared").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.startswith("azure.functions")]
    assert offenders == []


def _layout_section() -> str:
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    return architecture[architecture.index("## Layout"):]


def test_architecture_layout_names_every_package_and_module_of_the_core() -> None:
    """The layout section is how a newcomer finds where a behaviour lives: it must not fall behind the tree."""
    layout = _layout_section()
    missing = []
    for package in sorted(p for p in (ROOT / "shared").iterdir() if (p / "__init__.py").is_file()):
        if f"  {package.name}/" not in layout:
            missing.append(f"shared/{package.name}/")
        missing += [f"shared/{package.name}/{m.name}" for m in sorted(package.glob("*.py"))
                    if m.stem != "__init__" and m.stem not in layout]
    missing += [f"shared/{m.name}" for m in sorted((ROOT / "shared").glob("*.py"))
                if m.stem != "__init__" and m.stem not in layout]
    assert missing == []


MODULE_LINES = 450  # the team's limit: small modules named for what they do (the developers' guide)


def test_every_module_outside_the_tests_is_under_the_size_limit() -> None:
    """Catches a module that grew past the limit: split it by what its parts do, as the limit asks."""
    packages = ("shared", "handlers", "localazure", "argoboot_cli", "benchmarks")
    sources = [p for d in packages for p in (ROOT / d).rglob("*.py")]
    sources += sorted(ROOT.glob("*.py"))
    too_long = {str(p.relative_to(ROOT)): n for p in sources if (n := len(p.read_text().splitlines())) >= MODULE_LINES}
    assert too_long == {}
