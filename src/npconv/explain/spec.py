"""A safe parser for layer specifications such as ``"Conv2d(3, 64, 7, stride=2); ReLU()"``.

The text is parsed with :mod:`ast` and never evaluated: each statement must be a call of a known layer
name (``Conv2d`` or ``nn.Conv2d``) whose arguments are literals — ints, floats, strings, bools, ``None``,
negative numbers, and tuples or lists of those. Anything else (names, attribute access, arithmetic,
comprehensions, ``**kwargs``) is rejected with a message naming the layer and the argument.
"""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

LITERAL_TYPES = (bool, int, float, str, type(None))
MAX_SPEC_LENGTH = 20_000


class SpecError(ValueError):
    """A malformed SPEC: syntax error, unknown layer or non-literal argument."""


@dataclass(frozen=True)
class LayerCall:
    """One parsed layer: ``index`` counts from 1, ``text`` is the source of the call."""

    index: int
    text: str
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


def _layer_name(function: ast.expr) -> str | None:
    """``Conv2d`` or ``nn.Conv2d`` (also ``npconv.nn.Conv2d`` / ``torch.nn.Conv2d``) → ``"Conv2d"``."""
    if isinstance(function, ast.Name):
        return function.id
    if isinstance(function, ast.Attribute) and isinstance(function.value, (ast.Name, ast.Attribute)):
        prefix = ast.unparse(function.value)
        if prefix in ("nn", "npconv.nn", "torch.nn"):
            return function.attr
    return None


def literal_value(node: ast.expr) -> Any:
    """The value of a literal node, or SpecError when it is anything but a plain literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, LITERAL_TYPES):
        return node.value
    if (
        isinstance(node, ast.UnaryOp)
        and isinstance(node.op, (ast.USub, ast.UAdd))
        and isinstance(node.operand, ast.Constant)
        and isinstance(node.operand.value, (int, float))
        and not isinstance(node.operand.value, bool)
    ):
        return -node.operand.value if isinstance(node.op, ast.USub) else node.operand.value
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [literal_value(element) for element in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    raise SpecError(f"`{ast.unparse(node)}` is not a literal")


def _parse_call(index: int, text: str, node: ast.stmt, known: Collection[str]) -> LayerCall:
    where = f"layer {index} `{text}`"
    if not isinstance(node, ast.Expr) or not isinstance(node.value, ast.Call):
        raise SpecError(f"{where}: expected a layer constructor call such as `Conv2d(3, 16, 3)`")
    call = node.value
    name = _layer_name(call.func)
    if name is None or name not in known:
        shown = ast.unparse(call.func)
        raise SpecError(f"{where}: `{shown}` is not a known layer; known layers: {', '.join(sorted(known))}")
    args = []
    for position, argument in enumerate(call.args, start=1):
        if isinstance(argument, ast.Starred):
            raise SpecError(f"{where}: argument {position}: `*` unpacking is not allowed")
        try:
            args.append(literal_value(argument))
        except SpecError as error:
            raise SpecError(
                f"{where}: argument {position}: {error}; only ints, floats, strings, bools, None and "
                "tuples/lists of them are allowed"
            ) from None
    kwargs: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise SpecError(f"{where}: `**` unpacking is not allowed")
        try:
            kwargs[keyword.arg] = literal_value(keyword.value)
        except SpecError as error:
            raise SpecError(
                f"{where}: argument {keyword.arg}=: {error}; only ints, floats, strings, bools, None and "
                "tuples/lists of them are allowed"
            ) from None
    return LayerCall(index=index, text=text, name=name, args=tuple(args), kwargs=kwargs)


def parse_spec(spec: str, known: Collection[str]) -> list[LayerCall]:
    """Parse ``spec`` (layer calls separated by ``;`` or newlines) into :class:`LayerCall` s.

    Args:
        spec: the specification text, e.g. ``"Conv2d(3, 64, 7, stride=2, padding=3); ReLU()"``.
        known: the layer names that may be called.

    Raises:
        SpecError: for a syntax error, an empty spec, an unknown layer or a non-literal argument.
    """
    if len(spec) > MAX_SPEC_LENGTH:
        raise SpecError(f"SPEC is {len(spec)} characters long; at most {MAX_SPEC_LENGTH} are accepted")
    try:
        module = ast.parse(spec, mode="exec")
    except SyntaxError as error:
        column = f", column {error.offset}" if error.offset else ""
        raise SpecError(f"SPEC is not valid: {error.msg} (line {error.lineno}{column})") from None
    except (ValueError, RecursionError, MemoryError) as error:
        raise SpecError(f"SPEC is not valid: {error}") from None
    if not module.body:
        raise SpecError("SPEC is empty: give at least one layer, e.g. 'Conv2d(3, 16, 3)'")
    calls = []
    for index, node in enumerate(module.body, start=1):
        text = ast.get_source_segment(spec, node) or ast.unparse(node)
        calls.append(_parse_call(index, text.strip(), node, known))
    return calls
