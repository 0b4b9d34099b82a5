"""The part of GitHub's GraphQL schema that the GitHub connector's queries use, as SDL.

``tests/fixtures/github/schema.graphql`` is :func:`subset_sdl` of GitHub's published schema (in
``../shared/data``) for :func:`connector_queries`; ``tests/fixtures/make_fixtures.py`` writes it and
``test_recorded_data.py`` checks that it is still exactly that. What it keeps:

- every field the queries select, with only the arguments they pass, on the type the query reads it
  from; an interface read that way brings every type implementing it, with the same fields;
- the types those fields return and those arguments take; a union keeps the members the queries name
  in a type condition (``... on PullRequest``);
- enums returned by a field keep all their values (GitHub may answer any of them), enums only passed
  as arguments keep the values the queries pass;
- descriptions and ``@deprecated`` as GitHub wrote them; other directives, and the interfaces nothing
  reads through, are left out.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    EnumTypeDefinitionNode,
    EnumValueNode,
    FieldDefinitionNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLEnumType,
    GraphQLSchema,
    InlineFragmentNode,
    InputObjectTypeDefinitionNode,
    InterfaceTypeDefinitionNode,
    ListValueNode,
    NamedTypeNode,
    ObjectTypeDefinitionNode,
    ScalarTypeDefinitionNode,
    TypeInfo,
    TypeInfoVisitor,
    TypeNode,
    UnionTypeDefinitionNode,
    Visitor,
    get_named_type,
    parse,
    print_ast,
    visit,
)

BUILT_IN_SCALARS = frozenset({"String", "Int", "Float", "Boolean", "ID"})
HEADER = (
    "# The part of GitHub's public GraphQL schema (octokit/graphql-schema, MIT: see ../licenses) that the\n"
    "# GitHub connector's queries use. Made by tests/fixtures/make_fixtures.py from ../shared/data; do not\n"
    "# edit by hand (test_recorded_data.py checks it is a true, exact subset).\n\n"
)


@dataclass
class Usage:
    """What a set of queries reads from a schema."""

    fields: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    arguments: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    conditions: set[str] = field(default_factory=set)
    enum_literals: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def connector_queries(schema: GraphQLSchema) -> list[str]:
    """Every distinct query the GitHub connector sends with everything on (pull requests, reviews,
    issues, and the token's own login looked up), captured from a fake GitHub validating against
    ``schema``; a query the schema rejects fails here."""
    from fake_github import FakeGitHub
    from impact_miner.connectors import github
    from impact_miner.model import Person, SourceSection, TimeRange
    from impact_miner.registry import FetchContext

    window = TimeRange(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    with FakeGitHub(schema=schema) as fake:
        section = SourceSection("gh", "github", {"url": fake.url, "token": fake.token, "issues": True})
        result = github.fetch(Person(), window, section, FetchContext(now=datetime(2026, 3, 1, tzinfo=UTC)))
        assert result.report.status == "ok", result.report.detail
        return list(dict.fromkeys(entry.query for entry in fake.log if entry.query))


def usage(schema: GraphQLSchema, queries: list[str]) -> Usage:
    """The fields, arguments, type conditions and enum literals ``queries`` use in ``schema``."""
    found = Usage()
    for query in queries:
        info = TypeInfo(schema)
        visit(parse(query), TypeInfoVisitor(info, _Recorder(info, found)))
    return found


class _Recorder(Visitor):
    def __init__(self, info: TypeInfo, found: Usage) -> None:
        super().__init__()
        self.info, self.found = info, found

    def enter_field(self, node: FieldNode, *_: Any) -> None:
        parent = self.info.get_parent_type()
        if parent is not None and not node.name.value.startswith("__"):
            self.found.fields[parent.name].add(node.name.value)

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        parent, definition = self.info.get_parent_type(), self.info.get_field_def()
        if parent is None or definition is None:
            return
        name = next(n for n, arg in definition.args.items() if n == node.name.value)
        self.found.arguments[(parent.name, _field_name(definition, parent))].add(name)
        kind = get_named_type(definition.args[name].type)
        values = node.value.values if isinstance(node.value, ListValueNode) else (node.value,)
        if isinstance(kind, GraphQLEnumType):
            self.found.enum_literals[kind.name] |= {v.value for v in values if isinstance(v, EnumValueNode)}

    def enter_inline_fragment(self, node: InlineFragmentNode, *_: Any) -> None:
        if node.type_condition is not None:
            self.found.conditions.add(node.type_condition.name.value)

    def enter_fragment_definition(self, node: FragmentDefinitionNode, *_: Any) -> None:
        self.found.conditions.add(node.type_condition.name.value)


def _field_name(definition: Any, parent: Any) -> str:
    return next(name for name, candidate in parent.fields.items() if candidate is definition)


def subset_sdl(sdl: str, schema: GraphQLSchema, queries: list[str]) -> str:
    """The SDL of the part of ``schema`` (whose text is ``sdl``) that ``queries`` use."""
    used = usage(schema, queries)
    definitions = {d.name.value: d for d in parse(sdl).definitions if hasattr(d, "name") and d.name}
    interfaces = {
        name for name in used.fields if isinstance(definitions.get(name), InterfaceTypeDefinitionNode)
    }
    wanted: dict[str, set[str]] = {name: set(names) for name, names in used.fields.items()}
    for name, node in definitions.items():
        if isinstance(node, ObjectTypeDefinitionNode):
            for interface in {i.name.value for i in node.interfaces or ()} & interfaces:
                wanted.setdefault(name, set()).update(used.fields[interface])
    keep: set[str] = set(wanted) | used.conditions
    outputs: set[str] = set()
    for type_name, names in wanted.items():
        for node in _fields(definitions[type_name], names):
            outputs.add(_named(node.type))
            for argument in node.arguments or ():
                if argument.name.value in used.arguments.get((type_name, node.name.value), set()):
                    keep.add(_named(argument.type))
    keep |= outputs
    keep |= _input_closure(keep, definitions)
    kept = [
        _trimmed(definitions[name], wanted, used, keep, interfaces, outputs)
        for name in sorted(keep - BUILT_IN_SCALARS)
    ]
    return HEADER + print_ast(DocumentNode(definitions=tuple(kept))) + "\n"


def _fields(node: Any, names: set[str]) -> list[FieldDefinitionNode]:
    return [f for f in node.fields or () if f.name.value in names]


def _named(node: TypeNode) -> str:
    while not isinstance(node, NamedTypeNode):
        node = node.type  # type: ignore[attr-defined]
    return node.name.value


def _input_closure(keep: set[str], definitions: dict[str, Any]) -> set[str]:
    """Input objects used by kept arguments bring the types of all their fields."""
    found: set[str] = set()
    pending = [n for n in keep if isinstance(definitions.get(n), InputObjectTypeDefinitionNode)]
    while pending:
        name = pending.pop()
        for item in definitions[name].fields or ():
            inner = _named(item.type)
            if inner not in found and inner not in keep:
                found.add(inner)
                if isinstance(definitions.get(inner), InputObjectTypeDefinitionNode):
                    pending.append(inner)
    return found


def _trimmed(
    node: Any,
    wanted: dict[str, set[str]],
    used: Usage,
    keep: set[str],
    interfaces: set[str],
    outputs: set[str],
) -> Any:
    """A copy of one type definition holding only what the queries use."""
    name = node.name.value
    changes: dict[str, Any] = {"directives": _deprecated_only(node.directives)}
    if isinstance(node, ObjectTypeDefinitionNode | InterfaceTypeDefinitionNode):
        changes["fields"] = tuple(
            _field(f, used.arguments.get((name, f.name.value), set()))
            for f in _fields(node, wanted.get(name, set()))
        )
        changes["interfaces"] = tuple(i for i in node.interfaces or () if i.name.value in interfaces)
    elif isinstance(node, UnionTypeDefinitionNode):
        changes["types"] = tuple(t for t in node.types or () if t.name.value in keep)
    elif isinstance(node, EnumTypeDefinitionNode) and name not in outputs:
        literals = used.enum_literals.get(name, set())
        changes["values"] = tuple(v for v in node.values or () if v.name.value in literals)
    elif not isinstance(
        node, EnumTypeDefinitionNode | ScalarTypeDefinitionNode | InputObjectTypeDefinitionNode
    ):
        raise TypeError(f"unexpected definition {name}: {type(node).__name__}")
    return replace(node, **changes)


def _field(node: FieldDefinitionNode, arguments: set[str]) -> FieldDefinitionNode:
    return replace(
        node,
        arguments=tuple(a for a in node.arguments or () if a.name.value in arguments),
        directives=_deprecated_only(node.directives),
    )


def _deprecated_only(directives: Any) -> tuple[Any, ...]:
    return tuple(d for d in directives or () if d.name.value == "deprecated")
