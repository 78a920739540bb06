"""How deep client data may nest, checked without recursing on it.

Every encoder and decoder on the way (the request hash, the message, the
stored result, the event's detail, GET's answer) recurses once per level,
and the interpreter's limit is near 1,000 levels, lower with a few frames
of our own on top. A cap far below it, checked by a loop, keeps each of
them safe whatever the Python version.
"""

from __future__ import annotations

from typing import Any

# Objects and arrays, the outermost one counting as the first level.
MAX_NESTING = 32
# What json.dumps writes as an object or an array (a tuple as an array).
_CONTAINERS = (dict, list, tuple)


def nested_deeper_than(value: Any, limit: int = MAX_NESTING) -> bool:
    """Whether ``value`` holds objects or arrays more than ``limit`` deep."""
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, _CONTAINERS) else []
    while pending:
        node, depth = pending.pop()
        if depth > limit:
            return True
        children = node.values() if isinstance(node, dict) else node
        pending.extend((child, depth + 1) for child in children if isinstance(child, _CONTAINERS))
    return False
