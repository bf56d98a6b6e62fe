"""The lower layers (store, versioning, lineage, core, stats) import no capability package.

Every module of those packages is parsed with ``ast`` and every ``import``/``from`` in it,
inside functions and ``TYPE_CHECKING`` blocks too, is checked against what a lower layer may
use: itself, the audit log and the few top-level modules every layer shares. A capability
(sourcing, curation, annotation, quality, export, cli, api, the workspace, …) importing a lower
layer is fine; the reverse builds the import cycles this test exists to keep out. Above them,
no two packages import each other at all (:func:`test_packages_import_each_other_in_one_direction`).
"""

from __future__ import annotations

import ast
from pathlib import Path

import curata

PACKAGE = Path(curata.__file__).parent
LOWER = ("store", "versioning", "lineage", "core", "stats")
ALLOWED = (
    *(f"curata.{name}" for name in LOWER),
    "curata.governance.audit",
    "curata._version",
    "curata.timeutil",
    "curata.faults",
    "curata.settings",
)
"""What a lower layer may import from curata (a module or anything below it)."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    """Whether ``name`` names a module or package of curata (not a name inside one)."""
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every curata module ``path`` imports; ``from curata.x import y``
    counts as ``curata.x.y`` when ``y`` is a module, so that a package's harmless submodule
    does not hide behind it (or stand for all of it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path.parent)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
    return [(line, name) for line, name in found if name.split(".")[0] == "curata"]


def _allowed(name: str) -> bool:
    return any(name == ok or name.startswith(ok + ".") for ok in ALLOWED)


def violations() -> list[str]:
    out = []
    for layer in LOWER:
        for path in sorted((PACKAGE / layer).rglob("*.py")):
            for line, name in imports_of(path):
                if not _allowed(name):
                    where = path.relative_to(PACKAGE.parent)
                    out.append(f"{_module_name(path)} ({where}:{line}) imports {name}")
    return out


def test_lower_layers_import_no_capability() -> None:
    found = violations()
    assert not found, "a lower layer imports a capability package:\n" + "\n".join(found)


def test_the_walk_sees_every_kind_of_import(tmp_path: Path, monkeypatch) -> None:
    """The checker itself: top-level, ``from``, relative and function-local imports are all
    found, and a capability among them is named with its module and line."""
    layer = tmp_path / "curata" / "versioning"
    layer.mkdir(parents=True)
    (tmp_path / "curata" / "__init__.py").write_text("")
    (tmp_path / "curata" / "sourcing").mkdir()
    (tmp_path / "curata" / "sourcing" / "__init__.py").write_text("")
    (tmp_path / "curata" / "sourcing" / "service.py").write_text("")
    (layer / "__init__.py").write_text("")
    (layer / "diff.py").write_text("")
    (layer / "bad.py").write_text(
        "import curata.store\n"
        "from . import diff\n"
        "from curata.governance import audit\n"
        "def later():\n"
        "    from curata.sourcing.service import check_name\n"
        "    import curata.quality.gates\n"
    )
    monkeypatch.setattr(__name__ + ".PACKAGE", tmp_path / "curata")
    for other in ("store", "lineage", "core"):
        (tmp_path / "curata" / other).mkdir()
    assert imports_of(layer / "bad.py") == [
        (1, "curata.store"),
        (2, "curata.versioning.diff"),
        (3, "curata.governance"),
        (5, "curata.sourcing.service"),
        (6, "curata.quality.gates"),
    ]
    assert violations() == [
        "curata.versioning.bad (curata/versioning/bad.py:3) imports curata.governance",
        "curata.versioning.bad (curata/versioning/bad.py:5) imports curata.sourcing.service",
        "curata.versioning.bad (curata/versioning/bad.py:6) imports curata.quality.gates",
    ]


def package_edges(root: Path) -> dict[str, dict[str, str]]:
    """``{package: {package it imports: where (module:line), first found}}`` over the top-level
    packages and modules of curata (``curata.annotation.queue`` counts as ``annotation``),
    with every import, ``TYPE_CHECKING`` and function-local ones included: a cycle of types
    only is still a cycle of concepts."""
    edges: dict[str, dict[str, str]] = {}
    for path in sorted(root.rglob("*.py")):
        module = _module_name(path)
        parts = module.split(".")
        if len(parts) < 2:  # curata/__init__.py re-exports the workspace: the package's face
            continue
        for line, name in imports_of(path):
            target = name.split(".")
            if len(target) > 1 and target[1] != parts[1]:
                edges.setdefault(parts[1], {}).setdefault(target[1], f"{module}:{line}")
    return edges


def cycles(edges: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one package (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in edges.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def test_packages_import_each_other_in_one_direction() -> None:
    """No two packages of curata import each other, directly or round a loop (annotation and
    quality, governance and annotation, quality and the workspace were such loops): each
    concept builds on the ones below it, so a package can be read, tested and replaced with
    only what is under it. A failure names each loop and one import per edge."""
    edges = package_edges(PACKAGE)
    loops = cycles(edges)
    described = [
        " <-> ".join(loop)
        + ": "
        + "; ".join(
            f"{a} -> {b} ({edges[a][b]})" for a in loop for b in loop if b in edges.get(a, {})
        )
        for loop in loops
    ]
    assert not loops, "packages import each other:\n" + "\n".join(described)


def test_the_cycle_finder_finds_loops() -> None:
    """The finder itself, on planted graphs: a two-package loop, a three-package loop through
    a third, and a chain that is no loop."""
    chain = {"quality": {"annotation": "q:1"}, "annotation": {"core": "a:1"}}
    assert cycles(chain) == []
    two = {**chain, "annotation": {"core": "a:1", "quality": "a:2"}}
    assert cycles(two) == [["annotation", "quality"]]
    three = {"a": {"b": "a:1"}, "b": {"c": "b:1"}, "c": {"a": "c:1"}, "d": {"a": "d:1"}}
    assert cycles(three) == [["a", "b", "c"]]


def test_quality_functions_take_no_workspace_or_session_factory() -> None:
    """No function of ``curata.quality`` takes a ``Workspace`` (a service locator) or a
    ``sessionmaker`` (reads a caller cannot see): the services are built with their
    dependencies, and what they call takes values or the caller's ``Session``. A service's own
    ``__init__`` is where a session factory belongs."""
    exempt = {("QualityService", "__init__"), ("VendorAuditService", "__init__")}

    def offenders(source: str, where: str) -> list[str]:
        found = []

        def visit(node: ast.AST, owner: str | None) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.ClassDef):
                    visit(child, child.name)
                elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    a = child.args
                    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg]
                    for p in params:
                        if p is None or p.annotation is None or (owner, child.name) in exempt:
                            continue
                        text = ast.unparse(p.annotation)  # string annotations too
                        if "Workspace" in text or "sessionmaker" in text:
                            found.append(f"{where}:{child.lineno} {child.name}({p.arg}: {text})")
                    visit(child, None)
                else:
                    visit(child, owner)

        visit(ast.parse(source), None)
        return found

    planted = (
        "class QualityService:\n"
        "    def __init__(self, sessions: sessionmaker[Session]) -> None: ...\n"
        "    def report(self, ws: 'Workspace') -> None: ...\n"
        "def load(sessions: orm.sessionmaker[Session], *, n: int) -> None:\n"
        "    def inner(ws: Workspace | None = None) -> None: ...\n"
    )
    assert offenders(planted, "x.py") == [
        "x.py:3 report(ws: 'Workspace')",
        "x.py:4 load(sessions: orm.sessionmaker[Session])",
        "x.py:5 inner(ws: Workspace | None)",
    ]
    found = []
    for path in sorted((PACKAGE / "quality").rglob("*.py")):
        found += offenders(path.read_text("utf-8"), str(path.relative_to(PACKAGE.parent)))
        assert all(name != "curata.workspace" for _, name in imports_of(path)), path
    assert not found, "a quality function takes a Workspace or a sessionmaker:\n" + "\n".join(found)


def test_question_types_import_only_core_and_stats() -> None:
    """A question type (:mod:`curata.questions`) is built on the lower layers only, so every
    capability (annotation, quality, export) can dispatch to it without a cycle."""
    ok = ("curata.questions", "curata.core", "curata.stats")
    found = [
        f"{_module_name(path)}:{line} imports {name}"
        for path in sorted((PACKAGE / "questions").rglob("*.py"))
        for line, name in imports_of(path)
        if not any(name == top or name.startswith(top + ".") for top in ok)
    ]
    assert not found, "a question type imports above core and stats:\n" + "\n".join(found)


def test_opening_a_workspace_loads_no_scipy() -> None:
    """The workspace builds every service, the quality service too; what only a statistic
    needs (scipy, for drift's change points) is imported where it is used. Loaded with the
    workspace, scipy's objects went through every garbage collection of every API worker:
    about 3% more CPU per annotation cycle (bench/annotation_load.py, in-process loop)."""
    import subprocess
    import sys

    code = "import sys, curata.workspace; print(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "'scipy'" not in done.stdout
