"""moto's DynamoDB, the same answers for less CPU: what it recomputes on every call, once.

Sampled with py-spy (GIL held) on the endpoint during a 1,000-message billing drain,
DynamoDB's UpdateItem and PutItem were half of the endpoint's CPU, and within them moto
re-did work whose result depends only on the expression string:

* UpdateExpressionParser.make parses an UpdateExpression into an AST twice per UpdateItem
  (once in the response handler, once in the backend; 7% of the endpoint). The AST is
  never changed after it is made: the handler only reads it (find_clauses) and the
  validator works on a deep copy (Validator.__init__). So one AST per expression string
  serves every call (`cached_update_expression`).
* The validator runs ten processors over that copy (19% of the endpoint), and each one,
  at every node, rebuilt its dict of node classes (`_processing_map()`) and asked the ABC
  machinery isinstance against it. The map of every moto processor is a fixed dict of
  classes to bound methods, so a traversal reads it once, and the class of each node is
  looked up once per traversal (`traverse_reading_the_map_once`): the same processors
  run on the same nodes in the same order.
* ConditionExpressionParser lexes and parses a ConditionExpression twice per PutItem or
  UpdateItem (12% of the endpoint). The tree it builds holds the looked-up names and
  values, which change per call (Powertools' `:now`), but its shape does not: the shape
  is parsed once per expression string, with placeholders standing for the lookups, and
  each call fills in its own names and values through moto's own lookup functions, in
  moto's order, so a missing one raises what moto raises (`cached_condition_expression`).

Each change is checked against moto's own answers in
tests/unit/local_cloud/test_endpoint_dynamodb.py, failures and invalid expressions
included.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

# The parsed shapes kept per expression string: SDK callers build their expressions from
# a handful of templates, so a few hundred cover any application; a program that builds
# one expression per call only churns the cache, as moto would parse anyway.
EXPRESSION_CACHE_SIZE = 512


def speed_up_dynamodb() -> None:
    """Install the three changes above into moto (process-wide; idempotent)."""
    cached_update_expression()
    traverse_reading_the_map_once()
    cached_condition_expression()


def _ours(function: Callable[..., Any]) -> Callable[..., Any]:
    function._local_cloud = True  # type: ignore[attr-defined]
    return function


def _installed(method: Any) -> bool:
    """Whether `method` is ours already: installing twice would wrap our own."""
    return bool(getattr(getattr(method, "__func__", method), "_local_cloud", False))


# ---------------------------------------------------------------- UpdateExpression


def cached_update_expression() -> None:
    from moto.dynamodb.parsing.expressions import (  # type: ignore[attr-defined]
        UpdateExpressionParser,
    )

    if _installed(UpdateExpressionParser.make):
        return
    original = UpdateExpressionParser.make.__func__

    @functools.lru_cache(maxsize=EXPRESSION_CACHE_SIZE)
    def parsed(expression: str) -> Any:
        # An invalid expression raises and is not cached: the next call raises anew.
        return original(UpdateExpressionParser, expression)

    def make(cls: type, expression_str: str) -> Any:
        if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
            return original(cls, expression_str)
        return parsed(expression_str)

    UpdateExpressionParser.make = classmethod(_ours(make))


# ---------------------------------------------------------------- the validator's traversals


def traverse_reading_the_map_once() -> None:
    from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
        DepthFirstTraverser,
        Node,
    )

    if _installed(DepthFirstTraverser.traverse):
        return
    original_traverse = DepthFirstTraverser.traverse
    base_methods = {
        name: DepthFirstTraverser.__dict__[name]
        for name in ("traverse_node_recursively", "nodes_to_be_processed", "process")
    }

    def traverse(self: Any, node: Any) -> Any:
        cls = type(self)
        # A processor that changes how nodes are chosen or processed keeps moto's own walk.
        if any(getattr(cls, name) is not method for name, method in base_methods.items()):
            return original_traverse(self, node)
        processing = tuple(self._processing_map().items())
        pre_processing = self.pre_processing_of_child
        # Per class of node: None if it is not a Node, else its processor (False: none).
        by_class: dict[type, Callable[[Any], Any] | bool | None] = {}

        def kind(item: Any) -> Callable[[Any], Any] | bool | None:
            # isinstance and not type(): the answer is cached per class, as ABCMeta does.
            item_class = type(item)
            if item_class not in by_class:
                if not isinstance(item, Node):
                    by_class[item_class] = None
                else:
                    by_class[item_class] = next(
                        (
                            processor
                            for node_class, processor in processing
                            if isinstance(item, node_class)
                        ),
                        False,
                    )
            return by_class[item_class]

        def walk(current: Any, child_id: int) -> Any:
            processor = kind(current)
            if processor is None:
                return current
            parent_node = current.parent
            if current.children is not None:
                for i, child_node in enumerate(current.children):
                    pre_processing(current, i)
                    walk(child_node, i)
            if processor is not False:
                current = processor(current)  # type: ignore[operator]
                current.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = current
            return current

        return walk(node, -1)

    DepthFirstTraverser.traverse = _ours(traverse)


# ---------------------------------------------------------------- ConditionExpression


class _Lookup:
    """Stands for one expression attribute name or value in a parsed shape."""

    __slots__ = ("is_value", "placeholder")

    def __init__(self, placeholder: str, *, is_value: bool) -> None:
        self.placeholder = placeholder
        self.is_value = is_value


class _Shape:
    """A ConditionExpression parsed once: its tree with _Lookup values, the lookups in the
    order moto makes them, and the placeholders moto reports as found."""

    __slots__ = ("lookups", "names_found", "tree", "values_found")

    def __init__(
        self, tree: Any, lookups: list[_Lookup], names_found: list[str], values_found: list[str]
    ) -> None:
        self.tree = tree
        self.lookups = lookups
        self.names_found = names_found
        self.values_found = values_found


def cached_condition_expression() -> None:
    from moto.dynamodb.comparisons import ConditionExpressionParser

    if _installed(ConditionExpressionParser.parse):
        return
    original_parse = ConditionExpressionParser.parse

    class _ShapeParser(ConditionExpressionParser):
        """moto's parser, its lookups recorded instead of made."""

        def __init__(self, expression: str) -> None:
            super().__init__(expression, None, None)
            self.lookups: list[_Lookup] = []

        def _lookup_expression_attribute_value(self, name: str) -> Any:
            self.lookups.append(_Lookup(name, is_value=True))
            return self.lookups[-1]

        def _lookup_expression_attribute_name(self, name: str) -> Any:
            self.lookups.append(_Lookup(name, is_value=False))
            return self.lookups[-1]

        def shape(self) -> _Shape:
            # ConditionExpressionParser.parse's steps, in its order, up to the tree.
            nodes = self._lex_condition_expression()
            nodes = self._parse_paths(nodes)
            nodes = self._apply_functions(nodes)
            nodes = self._apply_comparator(nodes)
            nodes = self._apply_in(nodes)
            nodes = self._apply_between(nodes)
            nodes = self._apply_parens_and_booleans(nodes)
            node = nodes[0]
            self._assert_no_redundant_parentheses(node)
            return _Shape(
                node, self.lookups, self._find_literals(node), self._find_expr_attr_values(node)
            )

    @functools.lru_cache(maxsize=EXPRESSION_CACHE_SIZE)
    def shape_of(expression: str) -> _Shape | None:
        """None when moto's parse fails without looking anything up (a syntax error, a
        reserved word): such an expression goes through moto's own parse every time."""
        try:
            return _ShapeParser(expression).shape()
        except Exception:
            return None

    def filled(node: Any, values: dict[int, Any]) -> Any:
        value = node.value
        if isinstance(value, _Lookup):
            value = values[id(value)]
        children = node.children
        if children:
            children = [filled(child, values) for child in children]
        if value is node.value and children is node.children:
            return node
        return node._replace(value=value, children=children)

    def parse(self: Any) -> Any:
        expression = self.condition_expression
        shape = shape_of(expression) if expression and isinstance(expression, str) else None
        if shape is None:
            return original_parse(self)
        # moto looks names and values up in this order as it reads the paths, raising at
        # the first missing one (KeyError; TypeError when none were given); so do we.
        values = {
            id(lookup): (
                self._lookup_expression_attribute_value(lookup.placeholder)
                if lookup.is_value
                else self._lookup_expression_attribute_name(lookup.placeholder)
            )
            for lookup in shape.lookups
        }
        node = filled(shape.tree, values)
        self.expr_attr_names_found.extend(shape.names_found)
        self.expr_attr_values_found.extend(shape.values_found)
        return self._make_op_condition(node)

    ConditionExpressionParser.parse = _ours(parse)  # type: ignore[method-assign]
