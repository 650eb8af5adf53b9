"""The layer order holds: no import runs back up from a lower layer to a higher one.

The flow is sources → collectors → recording → store → questions → CLI / API /
page (docs/architecture.md). Every `vtrail` import in the package, at module
level or inside a function, is checked against the table below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "src" / "vtrail"

#: What each layer may import besides itself. `core` is the modules at the top
#: of the package (ids, model, wire, limits, payload, timeexpr): the vocabulary.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "store": {"core"},
    "collectors": {"core"},
    "recording": {"core", "collectors", "store"},
    "query": {"core", "store"},
    "policy": {"core"},
    "triage": {"core", "store", "query", "policy"},
    "ipam": {"core", "store", "recording", "query", "policy"},
    "assets": {"core", "store", "recording", "query"},
    "provisioning": {"core", "store", "query", "policy", "triage", "collectors"},
    "images": {"core", "store", "query", "policy"},
    "demo": {"core", "collectors", "recording", "store"},
    "accounting": {"core", "store", "query", "policy", "triage"},
    "maintenance": {"core", "store", "query", "policy", "triage"},
    "web": set(),
    "api": {
        "core",
        "store",
        "recording",
        "query",
        "policy",
        "triage",
        "ipam",
        "assets",
        "provisioning",
        "maintenance",
        "images",
        "web",
        "accounting",
    },
    "cli": {
        "core",
        "store",
        "collectors",
        "recording",
        "query",
        "policy",
        "triage",
        "ipam",
        "assets",
        "provisioning",
        "maintenance",
        "images",
        "demo",
        "api",
        "accounting",
    },
}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) < 2:
        return "core"  # `from vtrail import __version__`
    return parts[1] if (ROOT / parts[1]).is_dir() else "core"


def module_name(path: Path) -> str:
    return ".".join(("vtrail", *path.relative_to(ROOT).with_suffix("").parts)).removesuffix(
        ".__init__"
    )


def imports(path: Path) -> list[tuple[int, str]]:
    """Every vtrail module `path` imports, with its line."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "vtrail" or node.module.startswith("vtrail."):
                base = node.module
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    is_module = (ROOT / Path(*sub.split(".")[1:])).is_dir() or (
                        ROOT / Path(*sub.split(".")[1:])
                    ).with_suffix(".py").exists()
                    out.append((node.lineno, sub if is_module else base))
        elif isinstance(node, ast.ImportFrom) and node.level:
            # `from . import x` stays in its package; `..` climbs, so resolve it.
            package = module_name(path).split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            base = ".".join(package[: len(package) - node.level + 1])
            out.append((node.lineno, f"{base}.{node.module}" if node.module else base))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names if a.name.startswith("vtrail"))
    return out


def violations() -> list[str]:
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        here = layer_of(module_name(path))
        for line, target in imports(path):
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            there = layer_of(target)
            if there != here and there not in ALLOWED[here]:
                bad.append(f"{where}: {here} imports {target} ({there} is not below {here})")
    return bad


def test_every_layer_is_known() -> None:
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages <= set(ALLOWED), (
        f"a package with no place in the layers: {packages - set(ALLOWED)}"
    )


def test_no_import_runs_up_the_layers() -> None:
    assert violations() == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    # The check must find what it is meant to refuse, or it passes by seeing nothing.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from vtrail.cli import render\n    import vtrail.store\n")
    assert imports(probe) == [(2, "vtrail.cli.render"), (3, "vtrail.store")]
    assert layer_of("vtrail.cli.render") == "cli"
    assert "cli" not in ALLOWED["demo"]


@pytest.mark.parametrize(
    ("module", "layer"),
    [("vtrail.ids", "core"), ("vtrail.recording.recorder", "recording"), ("vtrail", "core")],
)
def test_layer_of(module: str, layer: str) -> None:
    assert layer_of(module) == layer
