"""Events are typed: every kind produced is in the catalogue, every payload key is declared for its kind.

Why: the issue asks that "a test proves that every kind emitted anywhere is in the catalogue and that every
payload key a consumer reads is written by its producer". The catalogue is ``console/domain/events.py``:
``EventKind`` (a ``StrEnum`` of dotted kinds) and ``PAYLOADS``, one ``total=False`` ``TypedDict`` per kind.

What is checked, statically over ``console/`` (the source is parsed with :mod:`ast`, never imported; only the
catalogue itself is imported, to read the enum and the payload keys):

1. *Producers use catalogue kinds.* A producer is a call to a function or method named ``publish``,
   ``_publish``, ``emit`` or ``_emit``, any call whose first positional argument is ``EventKind.<NAME>``, and
   ``Event(kind=..., ...)``. Its kind (first positional argument, else ``kind=``) must be ``EventKind.<NAME>``, an
   ``if``-expression or ``or`` of such, a name assigned only such values in the same function, a parameter
   annotated ``EventKind``, or a call to one of ``KIND_FACTORIES`` (functions returning a member). Anything else
   (a string, an f-string) is "kind not from the catalogue". Every ``EventKind.<NAME>`` written anywhere must be a
   member of the enum.
2. *Producers write declared keys.* For a producer with a literal ``data={"key": ...}``, each constant key must be
   declared by the payload of every kind the call can publish (of some kind, when the kind is a parameter or
   comes from a factory and so is not known statically; :func:`console.domain.events.check_payload` checks
   those at run time).
3. *Consumers read declared keys.* In the modules that consume events (``console/tui``, ``console/cli.py``,
   ``console/demo.py``, ``console/notify``, ``console/engine``, ``console/server``), a read ``X.data["key"]`` or
   ``X.data.get("key")`` must name a key some payload declares. When the read sits (lexically) in the body of an
   ``if``, or after an ``and``, whose test compares a kind to one kind (``==``/``is``) or to a tuple of kinds
   (``in``), the key must be declared by every one of those kinds; the ``else`` of a ``!=``/``is not``/``not in``
   test counts too. A kind here is ``EventKind.<NAME>`` or a string that is a catalogue value.

The "is it an event?" heuristic, since ``data`` is a common attribute name: ``X.data`` is an event's payload when X
is a name containing ``event`` (any case) or named ``e``/``ev``/``evt``, an attribute whose name contains ``event``
(``self.event``), or a subscript of either (``events[0]``). The kind tested by an ``if`` is any ``<expr>.kind`` or a
variable named ``kind``. Comparing an event's ``.kind`` to a string that is not a catalogue value is reported too.

``test_checkers_catch_synthetic_violations`` proves each checker can fail, on a synthetic tree and catalogue; it
runs even before the catalogue exists. The tests over the real tree skip (visibly) only while
``console/domain/events.py`` does not exist.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import textwrap
import typing
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from architecture.astscan import Module, dotted, load_package, unparse, walk_with_parents

PACKAGE_DIR = Path(__file__).resolve().parents[2] / "console"

#: Names of the calls that publish an event.
PRODUCER_NAMES = {"publish", "_publish", "emit", "_emit"}

#: Functions that return a member of EventKind (typed ``-> EventKind``), accepted as a producer's kind.
KIND_FACTORIES = {
    "transition_kind": "console.domain.events: the run.<state> kind of a run's state change",
}

#: Top-level groups (first name under ``console``) whose modules consume events.
CONSUMERS = {"tui", "cli", "demo", "notify", "engine", "server"}

EVENT_NAMES = {"e", "ev", "evt"}


@dataclass(frozen=True)
class Catalogue:
    """What the checkers need of ``console.domain.events``."""

    members: dict[str, str]  # EventKind member name -> dotted value
    payloads: dict[str, frozenset[str]]  # dotted value -> declared payload keys
    payload_names: dict[str, str]  # dotted value -> name of its TypedDict

    @classmethod
    def from_module(cls, events: ModuleType) -> Catalogue:
        kinds = events.EventKind
        payloads, names = {}, {}
        for kind, payload in events.PAYLOADS.items():
            payloads[str(kind.value)] = frozenset(payload.__required_keys__) | frozenset(payload.__optional_keys__)
            names[str(kind.value)] = payload.__name__
        return cls({m.name: str(m.value) for m in kinds}, payloads, names)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self.members.values())

    @property
    def all_keys(self) -> frozenset[str]:
        return frozenset().union(*self.payloads.values())

    def declares(self, kind: str, key: str) -> bool:
        return key in self.payloads.get(kind, frozenset())

    def payload_name(self, kind: str) -> str:
        return self.payload_names.get(kind, "no payload in PAYLOADS")


# ------------------------------------------------------------------------------------------- kind expressions

#: A kind expression evaluates to one of these kinds (dotted values); ``OPEN``: some member, not known statically.
Kinds = frozenset[str]
OPEN: Kinds = frozenset({"*"})


def _is_enum_ref(node: ast.AST) -> bool:
    """``EventKind.X`` (or ``events.EventKind.X``)."""
    if not isinstance(node, ast.Attribute) or node.attr.startswith("_"):
        return False
    base = dotted(node.value)
    return base is not None and (base == "EventKind" or base.endswith(".EventKind"))


def _func_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def _mentions_event_kind(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        return "EventKind" in annotation.value
    return any((isinstance(n, ast.Name) and n.id == "EventKind") or (isinstance(n, ast.Attribute)
               and n.attr == "EventKind") for n in ast.walk(annotation))


def _enclosing_scope(parents: tuple[ast.AST, ...]) -> ast.AST:
    for node in reversed(parents):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module)):
            return node
    return parents[0]


def _assigned_values(scope: ast.AST, name: str) -> list[ast.expr] | None:
    """Every value assigned to ``name`` in ``scope``; None if it is bound some other way (a loop, a with ...)."""
    values: list[ast.expr] = []
    for node in ast.walk(scope):
        if isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                values.append(node.value)
            elif any(isinstance(n, ast.Name) and n.id == name for t in node.targets for n in ast.walk(t)):
                return None  # unpacked: not followed
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            if isinstance(node.target, ast.Name) and node.target.id == name and node.value is not None:
                values.append(node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension, ast.withitem)):
            target = node.optional_vars if isinstance(node, ast.withitem) else node.target
            if target is not None and any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(target)):
                return None
    return values


def kinds_of(expr: ast.expr | None, catalogue: Catalogue, scope: ast.AST, depth: int = 0) -> Kinds | None:
    """The kinds an expression can be, or None when it is not provably a catalogue kind."""
    if expr is None or depth > 5:
        return None
    if _is_enum_ref(expr):
        assert isinstance(expr, ast.Attribute)
        value = catalogue.members.get(expr.attr)
        return frozenset({value}) if value else OPEN  # an unknown member is reported on its own
    if isinstance(expr, ast.IfExp):
        return _union([kinds_of(expr.body, catalogue, scope, depth + 1),
                       kinds_of(expr.orelse, catalogue, scope, depth + 1)])
    if isinstance(expr, ast.BoolOp):
        return _union([kinds_of(v, catalogue, scope, depth + 1) for v in expr.values])
    if isinstance(expr, ast.Call) and _func_name(expr) in KIND_FACTORIES:
        return OPEN
    if isinstance(expr, ast.Name):
        if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            args = scope.args
            for arg in [*args.posonlyargs, *args.args, *args.kwonlyargs]:
                if arg.arg == expr.id:
                    return OPEN if _mentions_event_kind(arg.annotation) else None
        values = _assigned_values(scope, expr.id)
        if not values:
            return None
        return _union([kinds_of(v, catalogue, scope, depth + 1) for v in values])
    return None


def _union(parts: list[Kinds | None]) -> Kinds | None:
    if any(p is None for p in parts):
        return None
    return frozenset().union(*parts)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- producers


@dataclass(frozen=True)
class Producer:
    module: Module
    call: ast.Call
    kind: ast.expr | None
    kinds: Kinds | None
    data: ast.expr | None

    @property
    def where(self) -> str:
        return f"{self.module.display}:{self.call.lineno}"


def iter_producers(root: Path, catalogue: Catalogue) -> list[Producer]:
    producers = []
    for module in load_package(root).values():
        for node, parents in walk_with_parents(module.tree):
            if not isinstance(node, ast.Call):
                continue
            name = _func_name(node)
            keywords = {k.arg: k.value for k in node.keywords if k.arg}
            first = node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else None
            if name in PRODUCER_NAMES or (first is not None and _is_enum_ref(first)):
                kind = first if first is not None else keywords.get("kind")
            elif name == "Event" and "kind" in keywords:
                kind = keywords["kind"]
            else:
                continue
            scope = _enclosing_scope(parents)
            producers.append(Producer(module, node, kind, kinds_of(kind, catalogue, scope), keywords.get("data")))
    return producers


def check_kinds(root: Path, catalogue: Catalogue) -> list[str]:
    """Producers whose kind is not from the catalogue, and ``EventKind.X`` that is not a member."""
    violations = []
    for producer in iter_producers(root, catalogue):
        if producer.kinds is None:
            shown = unparse(producer.kind) if producer.kind is not None else "(no kind argument)"
            violations.append(f"{producer.where}: {unparse(producer.call.func)}({shown}, ...): kind not from the "
                              f"catalogue")
    for module in load_package(root).values():
        for node in ast.walk(module.tree):
            if _is_enum_ref(node):
                assert isinstance(node, ast.Attribute)
                if node.attr not in catalogue.members:
                    violations.append(f"{module.display}:{node.lineno}: {unparse(node)} is not a member of EventKind")
    return violations


def _literal_keys(data: ast.expr | None) -> list[tuple[str, int]]:
    if not isinstance(data, ast.Dict):
        return []
    return [(k.value, k.lineno) for k in data.keys
            if isinstance(k, ast.Constant) and isinstance(k.value, str)]


def check_produced_keys(root: Path, catalogue: Catalogue) -> list[str]:
    """Literal payload keys a producer writes that its kind's payload does not declare."""
    violations = []
    for producer in iter_producers(root, catalogue):
        if producer.kinds is None:
            continue  # reported by check_kinds
        for key, line in _literal_keys(producer.data):
            where = f"{producer.module.display}:{line}"
            if producer.kinds == OPEN or "*" in producer.kinds:
                if key not in catalogue.all_keys:
                    violations.append(f"{where}: writes data[{key!r}], which no payload declares")
                continue
            for kind in sorted(producer.kinds):
                if not catalogue.declares(kind, key):
                    violations.append(f"{where}: writes data[{key!r}] of {kind}, which its payload "
                                      f"({catalogue.payload_name(kind)}) does not declare")
    return violations


# ------------------------------------------------------------------------------------------- consumers


def _is_event(node: ast.expr) -> bool:
    if isinstance(node, ast.Subscript):
        return _is_event(node.value)
    if isinstance(node, ast.Name):
        return "event" in node.id.lower() or node.id in EVENT_NAMES
    if isinstance(node, ast.Attribute):
        return "event" in node.attr.lower()
    return False


def _payload_read(node: ast.AST) -> tuple[str, ast.expr] | None:
    """``(key, X)`` for ``X.data["key"]`` (a load) or ``X.data.get("key", ...)`` where X is an event."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        data, key = node.value, node.slice
    elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
          and node.args):
        data, key = node.func.value, node.args[0]
    else:
        return None
    if not (isinstance(data, ast.Attribute) and data.attr == "data" and _is_event(data.value)):
        return None
    if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
        return None
    return key.value, data.value


def _is_kind_subject(node: ast.expr) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "kind") or (isinstance(node, ast.Name)
                                                                        and node.id == "kind")


def _kind_literal(node: ast.expr, catalogue: Catalogue) -> str | None:
    if _is_enum_ref(node):
        assert isinstance(node, ast.Attribute)
        return catalogue.members.get(node.attr)
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in catalogue.values:
        return node.value
    return None


def _kind_test(test: ast.expr, catalogue: Catalogue) -> tuple[Kinds, bool] | None:
    """``(kinds, positive)`` when ``test`` compares a kind with catalogue kinds; ``positive`` is False for
    ``!=``/``is not``/``not in`` (then the kinds hold in the ``else``)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1):
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if not _is_kind_subject(left) and _is_kind_subject(right) and isinstance(op, (ast.Eq, ast.NotEq, ast.Is,
                                                                                  ast.IsNot)):
        left, right = right, left
    if not _is_kind_subject(left):
        return None
    if isinstance(op, (ast.Eq, ast.Is, ast.NotEq, ast.IsNot)):
        literal = _kind_literal(right, catalogue)
        return (frozenset({literal}), isinstance(op, (ast.Eq, ast.Is))) if literal else None
    if isinstance(op, (ast.In, ast.NotIn)) and isinstance(right, (ast.Tuple, ast.List, ast.Set)) and right.elts:
        literals = [_kind_literal(e, catalogue) for e in right.elts]
        if all(literals):
            return frozenset(typing.cast(list[str], literals)), isinstance(op, ast.In)
    return None


def _positive_kinds(test: ast.expr, catalogue: Catalogue) -> Kinds | None:
    """Kinds implied when ``test`` is true (a kind test, or an ``and`` containing one)."""
    conjuncts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    found = None
    for conjunct in conjuncts:
        result = _kind_test(conjunct, catalogue)
        if result and result[1]:
            found = result[0] if found is None else found & result[0]
    return found


def narrowed_kinds(node: ast.AST, parents: tuple[ast.AST, ...], catalogue: Catalogue) -> Kinds | None:
    """The kinds an event must be at ``node``, by the innermost enclosing kind test, or None if unknown."""
    chain = (*parents, node)
    for i in range(len(chain) - 2, -1, -1):
        parent, child = chain[i], chain[i + 1]
        if isinstance(parent, (ast.If, ast.IfExp)):
            in_body = child in parent.body if isinstance(parent.body, list) else child is parent.body
            in_else = child in parent.orelse if isinstance(parent.orelse, list) else child is parent.orelse
            if in_body:
                kinds = _positive_kinds(parent.test, catalogue)
                if kinds is not None:
                    return kinds
            elif in_else:
                result = _kind_test(parent.test, catalogue)
                if result and not result[1]:
                    return result[0]
        elif isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.And) and child in parent.values:
            before = parent.values[: parent.values.index(child)]
            if before:
                kinds = _positive_kinds(ast.BoolOp(op=ast.And(), values=before), catalogue)
                if kinds is not None:
                    return kinds
    return None


def _is_consumer(module: Module) -> bool:
    parts = module.name.split(".")
    return len(parts) > 1 and parts[1] in CONSUMERS


def check_consumed_keys(root: Path, catalogue: Catalogue) -> list[str]:
    """Payload keys consumers read that no payload (or not the narrowed kind's payload) declares."""
    violations = []
    for module in load_package(root).values():
        if not _is_consumer(module):
            continue
        for node, parents in walk_with_parents(module.tree):
            if isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq,
                                                                                                ast.Is, ast.IsNot)):
                sides = [node.left, node.comparators[0]]
                for subject, other in (sides, sides[::-1]):
                    if (isinstance(subject, ast.Attribute) and subject.attr == "kind" and _is_event(subject.value)
                            and isinstance(other, ast.Constant) and isinstance(other.value, str)
                            and other.value not in catalogue.values):
                        violations.append(f"{module.display}:{node.lineno}: compares {unparse(subject)} with "
                                          f"{other.value!r}, which is not in the catalogue")
            read = _payload_read(node)
            if read is None:
                continue
            key, event = read
            where = f"{module.display}:{node.lineno}"
            if key not in catalogue.all_keys:
                violations.append(f"{where}: reads {unparse(event)}.data[{key!r}], which no payload declares")
                continue
            for kind in sorted(narrowed_kinds(node, parents, catalogue) or ()):
                if not catalogue.declares(kind, key):
                    violations.append(f"{where}: reads data[{key!r}] of {kind}, which its payload "
                                      f"({catalogue.payload_name(kind)}) does not declare")
    return violations


# ------------------------------------------------------------------------------------------- tests


def _fail_on(title: str, violations: list[str]) -> None:
    if violations:
        pytest.fail(f"{len(violations)} {title}:\n" + "\n".join(f"  {v}" for v in violations), pytrace=False)


@pytest.fixture(scope="module")
def events() -> ModuleType:
    if importlib.util.find_spec("console.domain.events") is None:
        pytest.skip("console/domain/events.py (the event catalogue) does not exist yet")
    return importlib.import_module("console.domain.events")  # exists: an import error fails, never skips


@pytest.fixture(scope="module")
def catalogue(events: ModuleType) -> Catalogue:
    return Catalogue.from_module(events)


def test_every_kind_has_a_typed_payload(events: ModuleType) -> None:
    missing = [kind.value for kind in events.EventKind if kind not in events.PAYLOADS]
    untyped = [f"{kind}: {payload!r}" for kind, payload in events.PAYLOADS.items()
               if not typing.is_typeddict(payload)]
    strays = [repr(kind) for kind in events.PAYLOADS if not isinstance(kind, events.EventKind)]
    assert not missing, f"kinds without a payload in PAYLOADS: {missing}"
    assert not untyped, f"payloads that are not TypedDicts: {untyped}"
    assert not strays, f"PAYLOADS keys that are not EventKind members: {strays}"


def test_every_kind_produced_is_in_the_catalogue(catalogue: Catalogue) -> None:
    _fail_on("event kinds not from the catalogue", check_kinds(PACKAGE_DIR, catalogue))


def test_every_payload_key_produced_is_declared(catalogue: Catalogue) -> None:
    _fail_on("payload keys written but not declared for their kind", check_produced_keys(PACKAGE_DIR, catalogue))


def test_every_payload_key_consumed_is_declared(catalogue: Catalogue) -> None:
    _fail_on("payload keys read but not declared (for the kind tested around the read)",
             check_consumed_keys(PACKAGE_DIR, catalogue))


SYNTHETIC = Catalogue(
    members={"HOST_FINISHED": "host.finished", "RUN_FIRED": "run.fired", "RUN_FINISHED": "run.finished"},
    payloads={"host.finished": frozenset({"status", "category"}), "run.fired": frozenset({"trigger"}),
              "run.finished": frozenset({"state", "category"})},
    payload_names={"host.finished": "HostFinished", "run.fired": "RunFired", "run.finished": "RunFinished"},
)


def test_checkers_catch_synthetic_violations(tmp_path: Path) -> None:
    package = tmp_path / "console"
    (package / "engine").mkdir(parents=True)
    (package / "tui").mkdir()
    for init in ("__init__.py", "engine/__init__.py", "tui/__init__.py"):
        (package / init).write_text("")
    (package / "engine" / "runs.py").write_text(textwrap.dedent("""\
        from console.domain.events import EventKind, transition_kind

        class Runs:
            def fire(self, started: bool, state: str, kind: EventKind | None = None) -> None:
                self._events.publish(EventKind.RUN_FIRED, "fired", data={"trigger": "cron", "slot": None})
                self._emit("run.fired", "a string kind")
                self._emit(f"run.{state}", "an f-string kind")
                self._emit(EventKind.RUN_EXPLODED, "not a member")
                chosen = EventKind.HOST_FINISHED if started else EventKind.RUN_FINISHED
                self._emit(chosen, "a name", data={"status": "ok", "category": "x"})
                self._emit(kind or transition_kind(state), "typed", data={"state": "ok", "bogus": 1})
                broker.publish(EventKind.HOST_FINISHED, "fine", data={"status": "failed", **extra})
        """))
    (package / "tui" / "screen.py").write_text(textwrap.dedent("""\
        from console.domain.events import EventKind

        def show(event, e, rows, kind):
            rows.append(event.data.get("status"))
            rows.append(e.data["nonsense"])
            if event.kind == EventKind.HOST_FINISHED and event.data.get("trigger"):
                rows.append(event.data["notified"])
            elif event.kind in (EventKind.RUN_FIRED, EventKind.RUN_FINISHED):
                rows.append(event.data["category"])
            if kind is not EventKind.RUN_FIRED:
                pass
            else:
                rows.append(event.data["trigger"])
            if e.kind == "host.finishd":
                rows.append(record.data["nonsense"])  # not an event: ignored
        """))

    assert check_kinds(package, SYNTHETIC) == [
        "console/engine/runs.py:6: self._emit('run.fired', ...): kind not from the catalogue",
        "console/engine/runs.py:7: self._emit(f'run.{state}', ...): kind not from the catalogue",
        "console/engine/runs.py:8: EventKind.RUN_EXPLODED is not a member of EventKind",
    ]
    assert check_produced_keys(package, SYNTHETIC) == [
        "console/engine/runs.py:5: writes data['slot'] of run.fired, which its payload (RunFired) does not declare",
        "console/engine/runs.py:10: writes data['status'] of run.finished, which its payload (RunFinished) does "
        "not declare",
        "console/engine/runs.py:11: writes data['bogus'], which no payload declares",
    ]
    assert check_consumed_keys(package, SYNTHETIC) == [
        "console/tui/screen.py:5: reads e.data['nonsense'], which no payload declares",
        "console/tui/screen.py:6: reads data['trigger'] of host.finished, which its payload (HostFinished) does "
        "not declare",
        "console/tui/screen.py:7: reads event.data['notified'], which no payload declares",
        "console/tui/screen.py:9: reads data['category'] of run.fired, which its payload (RunFired) does not "
        "declare",
        "console/tui/screen.py:14: compares e.kind with 'host.finishd', which is not in the catalogue",
    ]
