"""The package: its public names, and the order of its modules (no module imports one
that builds on it)."""

import ast
import importlib
from pathlib import Path

import pytest

import sw.frontend

HERE = Path(sw.frontend.__file__).parent
#: module -> the frontend modules it may import
ALLOWED = {
    "float_model": set(),
    "conventions": {"float_model"},
    "nir": {"float_model", "conventions"},
    "quantize": {"float_model"},
    "integer_sim": set(),
}


def test_every_public_name_is_re_exported_from_its_module():
    homes = {}
    for mod in ALLOWED:
        module = importlib.import_module(f"sw.frontend.{mod}")
        for name in module.__all__:
            assert getattr(sw.frontend, name) is getattr(module, name), name
            homes[name] = mod
    assert sorted(homes) == sorted(sw.frontend.__all__)


def test_the_package_has_exactly_these_modules():
    assert {p.stem for p in HERE.glob("*.py")} == set(ALLOWED) | {"__init__"}


@pytest.mark.parametrize("mod", sorted(ALLOWED))
def test_module_imports_only_what_it_builds_on(mod):
    used = set()
    for node in ast.walk(ast.parse((HERE / f"{mod}.py").read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        assert not (isinstance(node, ast.ImportFrom) and node.level), "use absolute imports"
        used |= {n.split(".")[2] for n in names if n.startswith("sw.frontend.")}
    assert used <= ALLOWED[mod], f"{mod} imports {sorted(used - ALLOWED[mod])}"
