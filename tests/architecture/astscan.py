"""Static (AST) scanning of a package tree, shared by the architecture tests.

Nothing here imports the code it looks at: every source file is parsed with :mod:`ast`, so the checks are fast
and an import side effect (or a conditional import that does not run) cannot hide anything from them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Module:
    """One source file of the scanned package."""

    name: str  # dotted module name, e.g. "console.notify.service"; a package is named by its __init__.py
    path: Path
    display: str  # path as shown in messages, relative to the directory that holds the package
    is_package: bool
    tree: ast.Module = field(repr=False, compare=False)


def load_package(root: Path) -> dict[str, Module]:
    """Every ``.py`` file under the package directory ``root`` (whose name is the top-level package name)."""
    root = root.resolve()
    modules: dict[str, Module] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if "__pycache__" in rel.parts:
            continue
        parts = [root.name, *rel.with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        display = path.relative_to(root.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=display)
        modules[name] = Module(name=name, path=path, display=display, is_package=is_package, tree=tree)
    return modules


def walk_with_parents(tree: ast.AST) -> Iterator[tuple[ast.AST, tuple[ast.AST, ...]]]:
    """Every node of ``tree`` with the chain of its ancestors (outermost first)."""
    stack: list[tuple[ast.AST, tuple[ast.AST, ...]]] = [(tree, ())]
    while stack:
        node, parents = stack.pop()
        yield node, parents
        children = list(ast.iter_child_nodes(node))
        for child in reversed(children):
            stack.append((child, (*parents, node)))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_context(parents: tuple[ast.AST, ...]) -> str:
    """Where an import sits, for messages: "" at module level, else "TYPE_CHECKING" and/or "in function"."""
    tags = []
    if any(isinstance(p, ast.If) and _is_type_checking(p.test) for p in parents):
        tags.append("TYPE_CHECKING")
    if any(isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for p in parents):
        tags.append("in function")
    return ", ".join(tags)


@dataclass(frozen=True)
class Import:
    """One edge of the import graph: ``importer`` imports ``target`` at ``line``."""

    importer: Module
    target: str  # dotted name as written and resolved (absolute); may be outside the package
    line: int
    context: str  # "", "TYPE_CHECKING", "in function", ...
    names: tuple[str, ...] = ()  # for ``from target import a, b``

    @property
    def where(self) -> str:
        return f"{self.importer.display}:{self.line}"


def _package_of(module: Module) -> str:
    return module.name if module.is_package else module.name.rpartition(".")[0]


def resolve_from(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module name of ``from <...> import`` (relative imports resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = _package_of(module).split(".")
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def iter_imports(module: Module) -> Iterator[Import]:
    """Every import statement of a module, at any depth (functions, ``if TYPE_CHECKING:``, try blocks ...)."""
    for node, parents in walk_with_parents(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, node.lineno, import_context(parents))
        elif isinstance(node, ast.ImportFrom):
            target = resolve_from(module, node)
            yield Import(module, target, node.lineno, import_context(parents),
                         tuple(alias.name for alias in node.names))


def imported_modules(imp: Import, modules: dict[str, Module]) -> list[str]:
    """The modules of the scanned package that one import statement loads by name.

    ``import a.b.c`` is an edge to ``a.b.c``; ``from a.b import c`` is an edge to ``a.b`` plus, when ``a/b/c.py``
    (or ``a/b/c/__init__.py``) exists, to ``a.b.c``. Parent packages loaded implicitly are not edges (else every
    submodule would be in a cycle with its package's ``__init__``); nor is a name with no file of its own (a
    namespace package, a module outside the scanned package).
    """
    targets: list[str] = []
    if imp.target in modules:
        targets.append(imp.target)
    for sub in imp.names:
        full = f"{imp.target}.{sub}"
        if full in modules:
            targets.append(full)
    return [t for t in dict.fromkeys(targets) if t != imp.importer.name]


def named_modules(imp: Import, top: str) -> list[str]:
    """The module names of package ``top`` that an import names, whether or not a file exists for them.

    ``import a.b`` and ``from a.b import c`` name ``a.b`` (``c``, module or not, is in the same layer);
    ``from a import b`` (``a`` being the top package) names ``a.b``. Used to classify imports by layer, where a
    missing ``__init__.py`` (a package half-way through a refactor) must not hide an import.
    """
    if imp.target == top and imp.names:
        names = [f"{top}.{sub}" for sub in imp.names if sub != "*"]
    elif imp.target == top or imp.target.startswith(top + "."):
        names = [imp.target]
    else:
        names = []
    return [n for n in names if n != imp.importer.name]


def is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def is_private(name: str) -> bool:
    """A single-underscore name (``_x``), as opposed to public names and dunders."""
    return name.startswith("_") and not is_dunder(name)


def dotted(node: ast.AST) -> str | None:
    """``a.b.c`` for a chain of Names and Attributes, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def unparse(node: ast.AST, limit: int = 90) -> str:
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."
