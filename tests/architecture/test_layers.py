"""The layering of ``console/``, enforced statically.

Why: the issue asks for "the layering enforced by a test that fails on any import cycle, TYPE_CHECKING imports
included: tui|cli -> engine -> scheduler|notify|scan -> store -> domain, and no module reading another module's
underscored attributes". A remote client (``console.server``) can only be added safely once the engine is the one
facade and the services below it do not reach back into it.

Layers, highest first; a module may import its own layer and the layers below it, never a layer above:

* ``ui``: ``console.tui.*``, ``console.cli``, ``console.demo``, ``console.__main__``, ``console.server.*``
* ``engine``: ``console.engine`` (a module today, a package after the split)
* ``services``: ``console.scheduler.*``, ``console.notify.*``, ``console.scan.*``, ``console.sim.*``; inside this
  layer scheduler, notify and scan do not import each other nor the simulator; ``sim`` may import ``scan``
* ``store``: ``console.store.*``
* ``domain``: ``console.domain.*`` and the foundation modules ``console`` (the package), ``console.errors``,
  ``console.clock``, ``console.jobs``

A module that fits no layer is itself a violation: place it in ``LAYERS`` when you add it. Only the ui layer
imports ``textual`` (the engine and the simulator are headless too: a socket server must run without a TUI).

An import cycle between modules of ``console`` fails, whatever the import's position. ``import a.b`` is an edge
to ``a.b``; ``from a.b import c`` to ``a.b`` and, if ``c`` is a submodule, to ``a.b.c``.

No module touches another object's underscored attribute: ``x._y`` fails unless ``x`` is ``self``, ``cls`` or
``super()``, and so does ``from m import _y``. Exceptions: a dunder method (``__eq__``, ``__lt__`` ...) reading an
attribute its own class defines on a parameter (``other._key``), and the commented ``PRIVATE_ALLOWED`` list.

Every check parses the source with :mod:`ast` and never imports it, so imports inside ``if TYPE_CHECKING:``,
inside functions and inside ``try`` blocks all count. Each checker is a function from the package directory to a
list of violations, and ``test_checkers_catch_synthetic_violations`` proves each of them can fail.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterable
from itertools import pairwise
from pathlib import Path

import pytest

from architecture.astscan import (
    Module,
    dotted,
    imported_modules,
    is_dunder,
    is_private,
    iter_imports,
    load_package,
    named_modules,
    resolve_from,
    unparse,
    walk_with_parents,
)

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "console"

#: Layer ranks: a module may import modules of its own rank or lower.
RANKS = {"domain": 0, "store": 1, "services": 2, "engine": 3, "ui": 4}

#: First component below the top package -> layer ("" is the top package itself).
LAYERS = {
    "": "domain", "domain": "domain", "errors": "domain", "clock": "domain", "jobs": "domain",
    # who acts (from the OS) and how a pasted command line is spelled: pure helpers the notices use too
    "actor": "domain", "commands": "domain",
    # "is this a data directory?": reads the store's layout, nothing above it
    "store": "store", "datadir": "store",
    "scheduler": "services", "notify": "services", "scan": "services", "sim": "services",
    "engine": "engine",
    "tui": "ui", "cli": "ui", "cli_options": "ui", "demo": "ui", "__main__": "ui", "server": "ui",
}

#: Inside the services layer, which service groups each group may import (besides itself).
SERVICE_PEERS = {"scheduler": set(), "notify": set(), "scan": set(), "sim": {"scan"}}

#: Groups that must never import textual (the TUI toolkit): everything but the ui layer.
NO_TEXTUAL = {"domain", "errors", "clock", "jobs", "actor", "commands", "", "store", "datadir", "scheduler", "notify",
              "scan", "sim", "engine"}

#: Legitimate reads of an underscored attribute of another object: (dotted base or "*", attribute) -> reason.
PRIVATE_ALLOWED: dict[tuple[str, str], str] = {
    ("sys", "_getframe"): "documented CPython API, the only way to inspect a caller's frame",
    ("os", "_exit"): "documented: exit a forked child without running cleanup handlers",
    ("*", "_replace"): "namedtuple API (underscored only to avoid clashing with field names)",
    ("*", "_asdict"): "namedtuple API",
    ("*", "_fields"): "namedtuple API",
    ("*", "_make"): "namedtuple API",
    # asyncssh has no plug-in point for starting the login behind the service request: console.scan.sshconnect
    # replaces two message handlers of one SSHClientConnection (named ssh_conn there) and reads the login state
    # asyncssh's own handler reads. asyncssh is pinned <3; tests/scan/test_sshauth.py and the real-sshd test
    # fail if a release changes what these mean.
    ("ssh_conn", "_packet_handlers"): "asyncssh: the connection's table of message handlers",
    ("ssh_conn", "_next_service"): "asyncssh: the service requested and not yet accepted",
    ("ssh_conn", "_auth_in_progress"): "asyncssh: a login has begun",
    ("ssh_conn", "_auth_complete"): "asyncssh: the login succeeded",
    ("ssh_conn", "_username"): "asyncssh: the user name the login is for",
}


def group_of(module: str) -> str:
    """``console.notify.service`` -> ``notify``; ``console`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_of(module: str) -> str | None:
    return LAYERS.get(group_of(module))


def _tag(context: str) -> str:
    return f" [{context}]" if context else ""


# --------------------------------------------------------------------------------------------- checkers


def check_layers(root: Path) -> list[str]:
    """Imports of a higher layer, imports between service groups, and modules that fit no layer."""
    modules = load_package(root)
    violations = []
    for name, module in modules.items():
        layer = layer_of(name)
        if layer is None:
            violations.append(f"{module.display}:1: module {name} is in no layer (add it to LAYERS)")
            continue
        for imp in iter_imports(module):
            for target in named_modules(imp, root.name):
                target_layer = layer_of(target)
                if target_layer is None:
                    continue  # a name that is not a module (``from console import __version__``), or a module
                    # in no layer: that is reported once, on the module itself
                if RANKS[target_layer] > RANKS[layer]:
                    violations.append(f"{imp.where}: {name} ({layer}) imports {target} ({target_layer}), a higher "
                                      f"layer{_tag(imp.context)}")
                elif layer == target_layer == "services":
                    group, target_group = group_of(name), group_of(target)
                    if group != target_group and target_group not in SERVICE_PEERS[group]:
                        violations.append(f"{imp.where}: {name} ({group}) imports {target} ({target_group}): "
                                          f"service groups do not import each other{_tag(imp.context)}")
    return violations


def check_textual(root: Path) -> list[str]:
    """Imports of ``textual`` outside the ui layer."""
    violations = []
    for name, module in load_package(root).items():
        if group_of(name) not in NO_TEXTUAL:
            continue
        for imp in iter_imports(module):
            if imp.target == "textual" or imp.target.startswith("textual."):
                violations.append(f"{imp.where}: {name} imports {imp.target}; only the ui layer may use "
                                  f"textual{_tag(imp.context)}")
    return violations


def import_graph(modules: dict[str, Module]) -> dict[str, dict[str, list[str]]]:
    """importer -> imported -> places (``path:line [context]``) where the edge is made."""
    graph: dict[str, dict[str, list[str]]] = {name: {} for name in modules}
    for name, module in modules.items():
        for imp in iter_imports(module):
            for target in imported_modules(imp, modules):
                graph[name].setdefault(target, []).append(imp.where + _tag(imp.context))
    return graph


def strongly_connected(graph: dict[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit); components of one node are included."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, list[str]]] = [(start, sorted(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            if successors:
                succ = successors.pop(0)
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, sorted(graph.get(succ, ()))))
                elif succ in on_stack:
                    low[node] = min(low[node], index[succ])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _shortest_cycle(graph: dict[str, dict[str, list[str]]], members: set[str]) -> list[str]:
    """A shortest cycle through the first member of a strongly connected component, staying inside it."""
    start = min(members)
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node]):
                if succ not in members:
                    continue
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if succ not in previous:
                    previous[succ] = node
                    following.append(succ)
        frontier = following
    raise AssertionError(f"no cycle in component {sorted(members)}")  # pragma: no cover


def check_cycles(root: Path) -> list[str]:
    """Import cycles between modules of the package, each with one concrete cycle and where its edges are."""
    graph = import_graph(load_package(root))
    violations = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = _shortest_cycle(graph, set(component))
        edges = "\n".join(f"      {a} -> {b}: {', '.join(graph[a][b])}" for a, b in pairwise(cycle))
        others = sorted(set(component) - set(cycle))
        also = f"\n      (the same cycle also holds: {', '.join(others)})" if others else ""
        violations.append(f"import cycle: {' -> '.join(cycle)}\n{edges}{also}")
    return violations


def _class_owned_names(cls: ast.ClassDef) -> set[str]:
    """Names a class defines for itself: body assignments and methods, and ``self.x = ...`` anywhere in it."""
    names: set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, ast.Assign):
            names.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            names.add(stmt.target.id)
    for node in ast.walk(cls):
        if (isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name) and node.value.id == "self"):
            names.add(node.attr)
    return names


def _is_own(value: ast.expr) -> bool:
    """``self``, ``cls`` or ``super()`` (with or without arguments)."""
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    return (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super")


def _dunder_peer_access(node: ast.Attribute, parents: tuple[ast.AST, ...]) -> bool:
    """``other._x`` inside a dunder method (``__eq__``, ``__lt__`` ...) of a class that owns ``_x`` itself,
    where ``other`` is a parameter of that method: comparing two instances of the same class."""
    if not isinstance(node.value, ast.Name):
        return False
    for i in range(len(parents) - 1, 0, -1):
        func = parents[i]
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            cls = parents[i - 1]
            if not (is_dunder(func.name) and isinstance(cls, ast.ClassDef)):
                return False
            params = {a.arg for a in [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]}
            return node.value.id in params and node.attr in _class_owned_names(cls)
    return False


def check_private_access(root: Path) -> list[str]:
    """Reads (and writes) of another object's ``_underscored`` attribute, and ``from m import _name``."""
    modules = load_package(root)
    violations = []
    for module in modules.values():
        for node, parents in walk_with_parents(module.tree):
            if isinstance(node, ast.Attribute) and is_private(node.attr):
                if _is_own(node.value) or _dunder_peer_access(node, parents):
                    continue
                base = dotted(node.value) or "*"
                if (base, node.attr) in PRIVATE_ALLOWED or ("*", node.attr) in PRIVATE_ALLOWED:
                    continue
                violations.append(f"{module.display}:{node.lineno}: {unparse(node)}")
            elif isinstance(node, ast.ImportFrom):
                violations.extend(_private_from_imports(module, node, modules))
    return violations


def _private_from_imports(module: Module, node: ast.ImportFrom, modules: dict[str, Module]) -> list[str]:
    """``from m import _x`` where ``_x`` is a private name of m (not a private submodule, imported by name)."""
    source = resolve_from(module, node)
    found = []
    for alias in node.names:
        if not is_private(alias.name):
            continue
        if (source, alias.name) in PRIVATE_ALLOWED or ("*", alias.name) in PRIVATE_ALLOWED:
            continue
        if f"{source}.{alias.name}" in modules:
            continue  # a private submodule, imported by name: not an attribute of another module
        found.append(f"{module.display}:{node.lineno}: from {source} import {alias.name}")
    return found


# --------------------------------------------------------------------------------------------- tests


def _fail_on(title: str, violations: list[str]) -> None:
    if violations:
        pytest.fail(f"{len(violations)} {title}:\n" + "\n".join(f"  {v}" for v in violations), pytrace=False)


def test_no_import_of_a_higher_layer() -> None:
    violations = check_layers(PACKAGE_DIR)
    _fail_on("imports against the layering (ui -> engine -> services -> store -> domain)", violations)


def test_only_the_ui_imports_textual() -> None:
    violations = check_textual(PACKAGE_DIR)
    _fail_on("imports of textual outside the ui layer", violations)


def test_no_import_cycle() -> None:
    violations = check_cycles(PACKAGE_DIR)
    _fail_on("import cycles (TYPE_CHECKING and function-level imports count)", violations)


def test_no_access_to_another_objects_private_attributes() -> None:
    violations = check_private_access(PACKAGE_DIR)
    _fail_on("accesses to another object's underscored attribute", violations)


def _write(root: Path, files: dict[str, str]) -> Path:
    package = root / "console"
    for rel, text in files.items():
        path = package / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return package


def test_checkers_catch_synthetic_violations(tmp_path: Path) -> None:
    package = _write(tmp_path, {
        "__init__.py": "",
        "errors.py": "class Oops(Exception):\n    pass\n",
        "domain/__init__.py": "",
        "domain/model.py": """\
            from __future__ import annotations
            from typing import TYPE_CHECKING
            from console.errors import Oops
            if TYPE_CHECKING:
                from console.store.db import Store
            """,
        "store/__init__.py": "from .db import Store\n",
        "store/db.py": """\
            from ..domain import model
            class Store:
                def __init__(self):
                    self._rows = []
                def __eq__(self, other):
                    return self._rows == other._rows
            """,
        "scheduler/__init__.py": "",
        "scheduler/loop.py": """\
            def tick(engine):
                from console.notify import service
                return engine._store, service._helper()
            """,
        "notify/__init__.py": "",
        "notify/service.py": """\
            from textual.app import App
            def _helper():
                return 1
            def read(record):
                return record._replace(x=1), super()._helper
            """,
        "scan/__init__.py": "",
        "scan/a.py": "import console.scan.b\n",
        "scan/b.py": "def f():\n    from . import a\n",
        "engine.py": "from console.cli import main\n",
        "cli.py": "import console.engine\nfrom console.engine import _Private\ndef main():\n    pass\n",
        "stray.py": "",
    })

    assert check_layers(package) == [
        # an upward import hidden under TYPE_CHECKING
        "console/domain/model.py:5: console.domain.model (domain) imports console.store.db (store), a higher layer "
        "[TYPE_CHECKING]",
        "console/engine.py:1: console.engine (engine) imports console.cli (ui), a higher layer",
        # an import between service groups, inside a function
        "console/scheduler/loop.py:2: console.scheduler.loop (scheduler) imports console.notify (notify): service "
        "groups do not import each other [in function]",
        "console/stray.py:1: module console.stray is in no layer (add it to LAYERS)",
    ]  # and not cli -> engine, store -> domain, the relative imports, scan.a <-> scan.b

    assert check_textual(package) == [
        "console/notify/service.py:1: console.notify.service imports textual.app; only the ui layer may use textual"]

    cycles = check_cycles(package)
    assert len(cycles) == 3, cycles
    text = "\n".join(cycles)
    assert "import cycle: console.domain.model -> console.store.db -> console.domain.model" in text
    assert "console/domain/model.py:5 [TYPE_CHECKING]" in text
    assert "import cycle: console.scan.a -> console.scan.b -> console.scan.a" in text
    assert "console/scan/b.py:2 [in function]" in text
    assert "import cycle: console.cli -> console.engine -> console.cli" in text

    private = check_private_access(package)
    assert sorted(private) == [
        "console/cli.py:2: from console.engine import _Private",
        "console/scheduler/loop.py:3: engine._store",
        "console/scheduler/loop.py:3: service._helper",
    ], private  # not self._rows, other._rows in __eq__, record._replace, super()._helper


def test_layering_sees_through_a_missing_init(tmp_path: Path) -> None:
    """Half-way through a refactor ``console/engine/`` may have no ``__init__.py`` yet: its imports still count."""
    package = _write(tmp_path, {
        "__init__.py": "", "engine/core.py": "", "scheduler/__init__.py": "",
        "scheduler/loop.py": "import typing\nif typing.TYPE_CHECKING:\n    from console.engine import Engine\n",
        "domain/__init__.py": "", "domain/x.py": "from console import engine, errors, __version__\n",
    })
    assert check_layers(package) == [
        "console/domain/x.py:1: console.domain.x (domain) imports console.engine (engine), a higher layer",
        "console/scheduler/loop.py:3: console.scheduler.loop (services) imports console.engine (engine), a higher "
        "layer [TYPE_CHECKING]",
    ]


def test_tarjan_finds_every_component() -> None:
    graph = {"a": ["b"], "b": ["c"], "c": ["a", "d"], "d": ["e"], "e": ["d"], "f": []}
    assert sorted(strongly_connected(graph)) == [["a", "b", "c"], ["d", "e"], ["f"]]


def test_relative_imports_resolve(tmp_path: Path) -> None:
    package = _write(tmp_path, {
        "__init__.py": "", "store/__init__.py": "from . import db\n", "store/db.py": "from ..domain.x import y\n",
        "domain/__init__.py": "", "domain/x.py": "y = 1\n",
    })
    modules = load_package(package)
    graph = import_graph(modules)
    assert set(graph["console.store"]) == {"console.store.db"}
    assert set(graph["console.store.db"]) == {"console.domain.x"}
    assert all(isinstance(m.tree, ast.Module) for m in modules.values())
