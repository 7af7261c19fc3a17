"""Operator input files read safely: size-capped, strictly UTF-8, TOML and YAML parsed with bounds.

Why: ``--file /dev/zero`` and ``inventory import /dev/zero`` read until memory ran out; a 409-byte YAML alias
bomb (anchors referring to anchors, nine deep) expanded to billions of nodes when the inventory walked it; a
task file in Latin-1 or a TOML array nested a thousand deep ended in a traceback. Each of those now raises
:class:`~console.errors.ValidationError` naming the file and the rule (CLI exit 2), and nothing is stored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from console.errors import ValidationError

#: The largest input file read (an inventory of tens of thousands of hosts is a few MiB).
MAX_INPUT_BYTES = 8 * 1024 * 1024
#: Nodes a YAML document may expand to once its aliases are followed (a bomb expands to billions).
MAX_YAML_NODES = 1_000_000


def read_text(path: Path, field: str, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of ``path``, read no further than ``limit`` bytes (a device or a pipe never ends)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ValidationError.single(field, f"cannot read {path}: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise ValidationError.single(field, f"{path} is larger than {limit // (1024 * 1024)} MiB; input files "
                                            "must be smaller")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValidationError.single(field, f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x} at "
                                            f"offset {exc.start}); save the file as UTF-8") from None


def parse_toml(text: str, field: str, source: str) -> dict[str, Any]:
    """``text`` as TOML; a syntax error or nesting deeper than Python's parser can follow is bad input."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError.single(field, f"{source} is not valid TOML: {exc}") from exc
    except RecursionError:
        raise ValidationError.single(field, f"{source} nests arrays or tables too deeply") from None


def check_yaml_size(root: Node | None, limit: int = MAX_YAML_NODES) -> None:
    """Refuse a YAML node graph that expands to more than ``limit`` nodes once aliases are followed.

    ``yaml.compose`` shares one node object per anchor, so the graph itself is small; counting each distinct
    node once (memoised by identity) and multiplying by how often it is referred to costs O(nodes)."""
    if root is None:
        return
    sizes: dict[int, int] = {}
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        total = 1 + sum(sizes.get(id(child), 1) for child in children)
        if total > limit:
            raise ValueError(f"expands to more than {limit:,} nodes through its aliases (an alias bomb?)")
        sizes[key] = total


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    return []



