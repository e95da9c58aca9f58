"""The architecture, checked on every run: layers import downward only, nothing outside
memory/ reaches memory's internals (modules, SQL, Redis, the store's repositories), and mypy
is clean over the four packages."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
UPPER = ("assistant", "tasks", "tui")
# memory's public surface: what other layers may import.
PUBLIC = {"store", "facades", "models", "errors", "config", "logs", "secrets", "proc"}
# The store's parts that only memory/ may touch.
INTERNAL_ATTRS = {"db", "short", "_server", "chats", "memories", "deferred", "_vectors"}
SQL = re.compile(
    r"\b(SELECT\b.+\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET|PRAGMA)\b",
    re.IGNORECASE | re.DOTALL,
)


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _upper_files():
    for pkg in UPPER:
        yield from sorted((ROOT / pkg).rglob("*.py"))


def test_import_contracts_are_kept():
    p = subprocess.run(
        [_tool("lint-imports"), "--no-cache"], cwd=ROOT, capture_output=True, text=True
    )
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]


def test_every_memory_module_is_public_or_guarded():
    """A new module in memory/ must be added to the contract (internal) or to PUBLIC."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    gate = next(c for c in config["contracts"] if c["id"] == "memory-gate")
    guarded = {m.removeprefix("memory.") for m in gate["forbidden_modules"]}
    modules = {p.stem for p in (ROOT / "memory").glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in (ROOT / "memory").iterdir() if (p / "__init__.py").exists()}
    assert modules - PUBLIC - guarded == set(), "classify these modules in pyproject.toml"
    assert guarded & PUBLIC == set()
    assert guarded - modules == set(), "the contract names modules that do not exist"


def _store_expr(node: ast.AST) -> bool:
    """`store`, `self.store`, `self.app.store`, `ps`... : a name that holds a MemoryStore."""
    if isinstance(node, ast.Name):
        return node.id == "store" or node.id.endswith("_store")
    if isinstance(node, ast.Attribute):
        return node.attr == "store"
    return False


def test_no_store_internals_sql_or_redis_outside_memory():
    found = []
    for path in _upper_files():
        tree = ast.parse(path.read_text(), str(path))
        rel = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in INTERNAL_ATTRS
                and _store_expr(node.value)
            ):
                found.append(f"{rel}:{node.lineno}: store.{node.attr}")
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and SQL.search(node.value)
                and not _is_docstring(tree, node)
            ):
                found.append(f"{rel}:{node.lineno}: SQL {node.value[:50]!r}")
    assert found == []


def _is_docstring(tree: ast.AST, const: ast.Constant) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and body[0].value is const:
                return True
    return False


@pytest.mark.timeout(300)
def test_mypy_is_clean(mypy_result):
    code, out = mypy_result()
    assert code == 0, out[-6000:]


# The sub-facades and the functions behind them are given the parts they use (memory.parts),
# never the MemoryStore itself: a new need shows up as a typed field, not as `store.<anything>`.
BEHIND_FACADES = [
    ROOT / "memory" / n for n in ("facades.py", "parts.py") if (ROOT / "memory" / n).exists()
]
BEHIND_FACADES += sorted((ROOT / "memory" / "curation").glob("*.py"))
BEHIND_FACADES += sorted((ROOT / "memory" / "transfer").glob("*.py"))
SUB_FACADES = ("curation", "browse", "consolidation", "forgetting", "transfer", "health")


def _names_the_store(annotation: ast.AST | None) -> bool:
    return annotation is not None and "MemoryStore" in ast.unparse(annotation)


def test_functions_behind_the_sub_facades_take_no_store():
    found = []
    for path in BEHIND_FACADES:
        rel = path.relative_to(ROOT)
        tree = ast.parse(path.read_text(), str(path))
        wiring = {"_vectors_of"} | {f"{name}_parts" for name in SUB_FACADES}
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if path.name == "parts.py" and getattr(node, "name", "") in wiring:
                continue  # the one place a store is taken apart
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]:
                if arg is None:
                    continue
                if arg.arg == "store" or arg.arg.endswith("_store"):
                    found.append(f"{rel}:{arg.lineno}: a parameter named {arg.arg!r}")
                elif _names_the_store(arg.annotation):
                    found.append(f"{rel}:{arg.lineno}: {arg.arg}: {ast.unparse(arg.annotation)}")
        for node in ast.walk(tree):
            if isinstance(node, ast.AnnAssign) and _names_the_store(node.annotation):
                found.append(f"{rel}:{node.lineno}: an attribute typed MemoryStore")
            if path.name != "parts.py" and isinstance(node, ast.ImportFrom):
                if node.module == "memory.store":
                    found.append(f"{rel}:{node.lineno}: imports memory.store")
    assert found == []


def test_sub_facades_hold_their_parts_not_the_store(home):
    import dataclasses

    from memory.config import load_settings
    from memory.store import MemoryStore

    with MemoryStore(load_settings(), start_redis=False) as store:
        held = []
        for name in SUB_FACADES:
            facade = getattr(store, name)
            for attr, value in vars(facade).items():
                values = [(attr, value)]
                if dataclasses.is_dataclass(value) and not isinstance(value, type):
                    for f in dataclasses.fields(value):
                        values.append((f"{attr}.{f.name}", getattr(value, f.name)))
                        if "MemoryStore" in str(f.type):
                            held.append(f"{name}.{attr}.{f.name}: {f.type}")
                held += [f"{name}.{a}" for a, v in values if isinstance(v, MemoryStore)]
        assert held == []
