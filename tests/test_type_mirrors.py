"""The typed mirrors of the namedtuples match the namedtuples that run.

mailslot.py and lanmsg/protocol.py build their namedtuples with collections.namedtuple (typing
costs start-up time) and declare each one's fields again, with types, as a typing.NamedTuple
under ``if TYPE_CHECKING:`` for mypy. Nothing runs those declarations, so this test reads them
from the source and checks the names, order and defaults against the classes in use.
"""

from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = {"mailslot": ROOT / "mailslot.py", "lanmsg.protocol": ROOT / "lanmsg" / "protocol.py"}


def _mirrors(path: pathlib.Path) -> list[tuple[str, list[str], dict[str, ast.expr]]]:
    """(class name, field names, {field: default expression}) of each NamedTuple class in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ClassDef) and any(ast.unparse(b) == "NamedTuple" for b in node.bases):
            names, defaults = [], {}
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    names.append(item.target.id)
                    if item.value is not None:
                        defaults[item.target.id] = item.value
            out.append((node.name, names, defaults))
    return out


CASES = [(module, *mirror) for module, path in MODULES.items() for mirror in _mirrors(path)]


def test_every_module_has_mirrors():
    assert {c[0] for c in CASES} == set(MODULES)
    assert len(CASES) >= 9


@pytest.mark.parametrize(("module", "name", "fields", "defaults"), CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES])
def test_mirror_matches_the_namedtuple(module, name, fields, defaults):
    mod = importlib.import_module(module)
    runtime = getattr(mod, name)  # the collections.namedtuple of the else: branch
    assert list(runtime._fields) == fields
    namespace = vars(mod)
    declared = {f: eval(compile(ast.Expression(e), module, "eval"), namespace) for f, e in defaults.items()}
    assert runtime._field_defaults == declared
