"""The config models stay below the pipeline: `etl_platform.specs` imports none of its layers."""

from __future__ import annotations

import ast
from pathlib import Path

import etl_platform.specs

SPECS_DIR = Path(etl_platform.specs.__file__).parent
FORBIDDEN = ("extract", "load", "transform", "components")


def _imported_modules(tree: ast.AST, package: tuple[str, ...]) -> list[str]:
    """Every module an import names, function-level imports included, `from x import y` as x.y;
    relative imports are resolved against `package`, the importing module's package."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = ".".join(package[: len(package) + 1 - node.level])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            names.append(module)
            names.extend(f"{module}.{alias.name}" for alias in node.names)
    return names


def _is_forbidden(module: str) -> bool:
    return any(
        module == f"etl_platform.{layer}" or module.startswith(f"etl_platform.{layer}.")
        for layer in FORBIDDEN
    )


def test_specs_import_no_pipeline_layer() -> None:
    files = sorted(SPECS_DIR.rglob("*.py"))
    assert files
    offenders = [
        f"{path.relative_to(SPECS_DIR.parent)}: {module}"
        for path in files
        for module in _imported_modules(
            ast.parse(path.read_text(encoding="utf-8")),
            ("etl_platform", *path.parent.relative_to(SPECS_DIR.parent).parts),
        )
        if _is_forbidden(module)
    ]
    assert offenders == []


def test_the_check_sees_every_import_form() -> None:
    code = (
        "import etl_platform.extract.types\n"
        "from etl_platform.load import lake\n"
        "from etl_platform import transform\n"
        "def f():\n    from etl_platform.components.views import x\n"
        "from ..extract import connection\n"
    )
    found = [
        m for m in _imported_modules(ast.parse(code), ("etl_platform", "specs")) if _is_forbidden(m)
    ]
    assert len({m.split(".")[1] for m in found}) == 4
    assert "etl_platform.extract.connection" in found
