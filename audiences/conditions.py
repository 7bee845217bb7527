"""The one condition parser: audience conditions as text, as a JSON tree, and as a Python tree.

The language (grammar, reading rules, meaning, canonical text, JSON tree, limits and errors) is
documented in docs/conditions.md; this module is its definition, and the two must agree.

Every way in (`parse`, `from_json`) enforces the same limits, so that whatever it accepts prints
(`to_text`) as text that parses back to the same tree. Every rejection is a `ConditionError`.
"""

import dataclasses
import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from contacts.labels import clean_key, clean_value

MAX_TEXT_LENGTH = 10_000
# Each NOT and each pair of parentheses is one level; `NOT (a OR b)` is two.
MAX_NESTING_DEPTH = 20
MAX_CONDITIONS = 100
MAX_LIST_VALUES = 100
MAX_AUDIENCE_NAME = 255
MAX_AUDIENCE_ID = 2**63 - 1

INVALID_CONDITIONS = "invalid_conditions"

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN", "EXISTS"})
_LABEL_PREFIX = "label:"

type Node = Condition | And | Or | Not | InAudience
type JsonTree = dict[str, Any]


class Op(enum.StrEnum):
    EQ = "="
    NE = "!="
    IN = "IN"
    NOT_IN = "NOT IN"
    EXISTS = "EXISTS"
    NOT_EXISTS = "NOT EXISTS"

    @property
    def negated(self) -> "Op":
        """The operator meaning NOT this one: `k != v` is exactly `NOT k = v`, and so on."""
        return _NEGATIONS[self]


_NEGATIONS = {
    Op.EQ: Op.NE,
    Op.NE: Op.EQ,
    Op.IN: Op.NOT_IN,
    Op.NOT_IN: Op.IN,
    Op.EXISTS: Op.NOT_EXISTS,
    Op.NOT_EXISTS: Op.EXISTS,
}
_SINGLE_VALUE_OPS = frozenset({Op.EQ, Op.NE})
_LIST_OPS = frozenset({Op.IN, Op.NOT_IN})


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    """One test on a contact's labels: `key` compared with `op` against `values`."""

    key: str
    op: Op
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.op, Op):
            raise TypeError(f"op must be an Op, not {type(self.op).__name__}")
        if not isinstance(self.values, tuple):
            raise TypeError("values must be a tuple")
        if self.op in _SINGLE_VALUE_OPS:
            valid = len(self.values) == 1
        elif self.op in _LIST_OPS:
            valid = len(self.values) >= 1 and len(set(self.values)) == len(self.values)
        else:
            valid = not self.values
        if not valid:
            raise ValueError(f"{self.op} cannot take the values {self.values!r}")


@dataclasses.dataclass(frozen=True, slots=True)
class InAudience:
    """The contact is a member of a saved audience (`IN AUDIENCE`; `NOT IN AUDIENCE` is this
    under a `Not`). `audience` is the audience's id, as stored; text as a person writes it names
    the audience instead, and the name stays here until `audiences.models.resolve_audiences`
    turns it into the id."""

    audience: int | str

    def __post_init__(self) -> None:
        if isinstance(self.audience, bool) or not isinstance(self.audience, int | str):
            raise TypeError("audience must be an id or a name")
        if isinstance(self.audience, int) and not 0 < self.audience <= MAX_AUDIENCE_ID:
            raise ValueError(f"not an audience id: {self.audience}")
        if isinstance(self.audience, str) and not 0 < len(self.audience) <= MAX_AUDIENCE_NAME:
            raise ValueError("an audience name has 1 to 255 characters")


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    """All children match; at least two children, none of them an `And`."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        _check_group(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    """Any child matches; at least two children, none of them an `Or`."""

    children: tuple[Node, ...]

    def __post_init__(self) -> None:
        _check_group(self)


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    """The child does not match."""

    child: Node


def _check_group(group: And | Or) -> None:
    if not isinstance(group.children, tuple) or len(group.children) < 2:
        raise ValueError(f"{type(group).__name__} needs a tuple of at least two children")
    if any(isinstance(child, type(group)) for child in group.children):
        raise ValueError(f"{type(group).__name__} cannot directly contain another one")


def _join[G: (And, Or)](group: type[G], children: list[Node]) -> Node:
    """Combine `children` with `group`, flattening nested groups of the same kind."""
    flat: list[Node] = []
    for child in children:
        if isinstance(child, group):
            flat.extend(child.children)
        else:
            flat.append(child)
    return flat[0] if len(flat) == 1 else group(tuple(flat))


class ConditionError(ValidationError):
    """Conditions (text or JSON tree) that cannot be accepted.

    `code` is `invalid_conditions` for the shape of the conditions, or the label validator's
    `invalid_label_key` / `invalid_label_value` for a bad key or value inside them. `column`
    (1-based) points into the text and `path` (like `and[1].op`) into a JSON tree; either is None
    when the error has no position.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str = INVALID_CONDITIONS,
        column: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.column = column
        self.path = path


def _show(text: str) -> str:
    """Quote a piece of user input for an error message, cut short and with escapes visible."""
    return repr(text if len(text) <= 20 else text[:20] + "…")


def _reason(error: ValidationError) -> str:
    return " ".join(error.messages)


def _is_keyword(word: str) -> bool:
    # ASCII only: "\u0131n".upper() is "IN" (dotless i) and "\u017f".upper() is "S" (long s).
    return word.isascii() and word.upper() in _KEYWORDS


# ---------------------------------------------------------------------------------------------
# Text -> tree
# ---------------------------------------------------------------------------------------------

_SPACE = re.compile(r"\s*")
# Keys, keywords and the `label:` prefix: everything up to white space or punctuation.
_WORD = re.compile(r"""[^\s,\[\]()"'=!]+""")
_BARE_VALUE = re.compile(r"""[^\s,\[\]()"']+""")
# An audience by id in the stored form: `IN AUDIENCE #12`.
_AUDIENCE_ID = re.compile(r"#([0-9]{1,20})(?![^\s,\[\]()\"'])")
_ESCAPABLE = frozenset("\"'\\")
_ESCAPES = "\\\", \\' or \\\\"


def parse(text: str) -> Node | None:
    """Parse condition text into a normalised tree (None for empty text) or raise ConditionError."""
    if not isinstance(text, str):
        raise ConditionError("conditions must be text")
    # Checked before anything else so that huge input costs nothing.
    if len(text) > MAX_TEXT_LENGTH:
        raise ConditionError(
            f"conditions are {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}",
            column=MAX_TEXT_LENGTH + 1,
        )
    parser = _Parser(text)
    node = parser.parse()
    _check_printed_length(node)
    return node


class _Parser:
    """Recursive descent over the text itself, with no separate token list.

    Hand-written rather than generated or taken from a library: the grammar is tiny, the error
    messages must name exact columns and what was expected, the limits must be checked as input
    is read (so that no input can exhaust the stack), and it adds no dependency. Reading straight
    from the text also lets a value after `=` be a bare word that would not be a key.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.conditions = 0

    def parse(self) -> Node | None:
        self._skip_space()
        if self._at_end():
            return None
        node = self._or_expr(0)
        self._skip_space()
        if not self._at_end():
            raise self._error(f"unexpected {_show(self._token())}")
        return node

    # Grammar rules; `depth` is the number of NOTs and parentheses around the current point.

    def _or_expr(self, depth: int) -> Node:
        children = [self._and_expr(depth)]
        while self._accept_keyword("OR"):
            children.append(self._and_expr(depth))
        return _join(Or, children)

    def _and_expr(self, depth: int) -> Node:
        children = [self._not_expr(depth)]
        while self._accept_keyword("AND"):
            children.append(self._not_expr(depth))
        return _join(And, children)

    def _not_expr(self, depth: int) -> Node:
        self._skip_space()
        if self._keyword() == "IN":
            # `IN AUDIENCE x`; `NOT IN AUDIENCE x` is the NOT below around it.
            return self._in_audience()
        if self._keyword() == "NOT" or self._peek("("):
            if depth >= MAX_NESTING_DEPTH:
                raise self._error(
                    "conditions are nested too deeply", f"; the limit is {MAX_NESTING_DEPTH} levels"
                )
            if self._accept_keyword("NOT"):
                return Not(self._not_expr(depth + 1))
            self.pos += 1
            node = self._or_expr(depth + 1)
            self._skip_space()
            if not self._peek(")"):
                raise self._error("expected ')'")
            self.pos += 1
            return node
        return self._condition()

    def _condition(self) -> Condition:
        start = self.pos
        match = _WORD.match(self.text, self.pos)
        if match is None or _is_keyword(match.group()):
            raise self._error("expected a condition")
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self._error("too many conditions", f"; the limit is {MAX_CONDITIONS}")
        word = match.group()
        self.pos = match.end()
        key_column = start + 1
        prefix = word[: len(_LABEL_PREFIX)]
        if prefix.isascii() and prefix.lower() == _LABEL_PREFIX:
            word = word[len(_LABEL_PREFIX) :]
            key_column += len(_LABEL_PREFIX)
            if not word:
                raise self._error(f"expected a label key after {_show(_LABEL_PREFIX)}")
        try:
            key = clean_key(word)
        except ValidationError as error:
            raise ConditionError(
                f"invalid label key {_show(word)} at column {key_column}: {_reason(error)}",
                code=error.code,
                column=key_column,
            ) from None
        op, written = self._operator()
        if op in _SINGLE_VALUE_OPS:
            value = self._value()
            if value is None:
                raise self._error(f"expected a value after {_show(written)}")
            return Condition(key, op, (value,))
        if op in _LIST_OPS:
            return Condition(key, op, self._list(op))
        return Condition(key, op)

    def _in_audience(self) -> InAudience:
        """Read `IN AUDIENCE` and the audience: its name (bare or quoted), or `#` and its id."""
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self._error("too many conditions", f"; the limit is {MAX_CONDITIONS}")
        self._accept_keyword("IN")
        self._skip_space()
        match = _WORD.match(self.text, self.pos)
        if match is None or not (match.group().isascii() and match.group().upper() == "AUDIENCE"):
            raise self._error("expected AUDIENCE after IN")
        self.pos = match.end()
        self._skip_space()
        start = self.pos
        if (number := _AUDIENCE_ID.match(self.text, self.pos)) is not None:
            self.pos = number.end()
            audience_id = int(number.group(1))
            if not 0 < audience_id <= MAX_AUDIENCE_ID:
                raise ConditionError(f"not an audience id at column {start + 1}", column=start + 1)
            return InAudience(audience_id)
        if self._peek('"') or self._peek("'"):
            name = self._quoted()
        elif (bare := _BARE_VALUE.match(self.text, self.pos)) is not None:
            name = bare.group()
            self.pos = bare.end()
        else:
            raise self._error("expected an audience name after IN AUDIENCE")
        name = name.strip()
        if not 0 < len(name) <= MAX_AUDIENCE_NAME:
            raise ConditionError(
                f"an audience name has 1 to {MAX_AUDIENCE_NAME} characters (column {start + 1})",
                column=start + 1,
            )
        return InAudience(name)

    def _operator(self) -> tuple[Op, str]:
        """Read an operator; also return it as written, for messages about what follows it."""
        self._skip_space()
        for written, op in (("!=", Op.NE), ("==", Op.EQ), ("=", Op.EQ)):
            if self._peek(written):
                self.pos += len(written)
                return op, written
        for op in (Op.IN, Op.EXISTS):
            if self._accept_keyword(op):
                return op, op
        if self._accept_keyword("NOT"):
            for op in (Op.IN, Op.EXISTS):
                if self._accept_keyword(op):
                    return Op("NOT " + op), f"NOT {op}"
            raise self._error("expected IN or EXISTS after NOT")
        raise self._error("expected an operator (=, !=, IN, NOT IN, EXISTS or NOT EXISTS)")

    def _list(self, op: Op) -> tuple[str, ...]:
        self._skip_space()
        if not self._peek("["):
            raise self._error(f"expected '[' after {op}")
        self.pos += 1
        values: list[str] = []
        while True:
            self._skip_space()
            if len(values) == MAX_LIST_VALUES:
                raise self._error(
                    "too many values in the list", f"; the limit is {MAX_LIST_VALUES}"
                )
            value = self._value()
            if value is None:
                raise self._error("expected a value")
            values.append(value)
            self._skip_space()
            if self._peek(","):
                self.pos += 1
            elif self._peek("]"):
                self.pos += 1
                return tuple(dict.fromkeys(values))
            else:
                raise self._error("expected ',' or ']'")

    def _value(self) -> str | None:
        """Read a bare or quoted value and validate it; None when there is no value here."""
        self._skip_space()
        start = self.pos
        if self._peek('"') or self._peek("'"):
            raw = self._quoted()
        else:
            match = _BARE_VALUE.match(self.text, self.pos)
            if match is None:
                return None
            raw = match.group()
            self.pos = match.end()
        try:
            return clean_value(raw)
        except ValidationError as error:
            raise ConditionError(
                f"invalid label value at column {start + 1}: {_reason(error)}",
                code=error.code,
                column=start + 1,
            ) from None

    def _quoted(self) -> str:
        quote = self.text[self.pos]
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                escaped = self.text[self.pos + 1 : self.pos + 2]
                if not escaped:
                    break
                if escaped not in _ESCAPABLE:
                    shown = f" '\\{escaped}'" if escaped.isprintable() else ""
                    raise self._error(f"invalid escape{shown}", f" (use {_ESCAPES})")
                chars.append(escaped)
                self.pos += 2
                continue
            chars.append(char)
            self.pos += 1
        raise ConditionError(
            f"unterminated string starting at column {start + 1}", column=start + 1
        )

    # Scanning helpers.

    def _skip_space(self) -> None:
        self.pos = _SPACE.match(self.text, self.pos).end()

    def _at_end(self) -> bool:
        return self.pos >= len(self.text)

    def _peek(self, literal: str) -> bool:
        return self.text.startswith(literal, self.pos)

    def _keyword(self) -> str | None:
        """The keyword (upper case) starting at the current position, if there is one."""
        match = _WORD.match(self.text, self.pos)
        if match is not None and _is_keyword(match.group()):
            return match.group().upper()
        return None

    def _accept_keyword(self, keyword: str) -> bool:
        self._skip_space()
        if self._keyword() == keyword:
            self.pos += len(keyword)
            return True
        return False

    def _token(self) -> str:
        """The piece of text at the current position, for an error message."""
        match = _BARE_VALUE.match(self.text, self.pos)
        return match.group() if match is not None else self.text[self.pos]

    def _error(self, message: str, note: str = "") -> ConditionError:
        """An error at the current position; `note` follows the column."""
        column = self.pos + 1
        return ConditionError(f"{message} at column {column}{note}", column=column)


# ---------------------------------------------------------------------------------------------
# Tree -> text
# ---------------------------------------------------------------------------------------------

# Characters that end a bare value or would make it read differently (`=`, `!`) to a person.
_QUOTE_TRIGGERS = frozenset(",[]()\"'\\=!")


def to_text(node: Node | None) -> str:
    """Print `node` in canonical form: `label:` prefixes, upper-case keywords, minimal quotes
    and parentheses. `parse(to_text(node)) == node` for every tree `parse` or `from_json` returns.
    """
    if node is None:
        return ""
    return _text(node)


def _text(node: Node) -> str:
    match node:
        case Condition(key=key, op=op, values=values):
            if op in _SINGLE_VALUE_OPS:
                return f"{_LABEL_PREFIX}{key} {op} {quote_value(values[0])}"
            if op in _LIST_OPS:
                return f"{_LABEL_PREFIX}{key} {op} [{', '.join(map(quote_value, values))}]"
            return f"{_LABEL_PREFIX}{key} {op}"
        case InAudience(audience=audience):
            return f"IN AUDIENCE {audience_text(audience)}"
        case And(children=children):
            # OR binds looser than AND, so an OR inside an AND needs parentheses.
            return " AND ".join(
                f"({_text(child)})" if isinstance(child, Or) else _text(child) for child in children
            )
        case Or(children=children):
            return " OR ".join(_text(child) for child in children)
        case Not(child=child):
            if isinstance(child, And | Or):
                return f"NOT ({_text(child)})"
            return f"NOT {_text(child)}"
    raise TypeError(f"not a condition node: {node!r}")


def audience_text(audience: int | str) -> str:
    """An audience in condition text: `#12` for an id, its name always in double quotes (so that
    a name such as `#12` or `AND` reads back as a name)."""
    if isinstance(audience, int):
        return f"#{audience}"
    return '"' + audience.replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_value(value: str) -> str:
    """Return `value` as written in canonical text: bare when it reads back unchanged and cannot
    be mistaken for syntax, otherwise in double quotes with `\\` and `"` escaped.

    Quoted: the empty string, anything with white space or one of `, [ ] ( ) " ' \\ = !`, and
    the keywords AND, OR, NOT, IN, EXISTS in any case.
    """
    if (
        value
        and not any(char.isspace() or char in _QUOTE_TRIGGERS for char in value)
        and not _is_keyword(value)
    ):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# Tree <-> JSON
# ---------------------------------------------------------------------------------------------


def to_json(node: Node | None) -> JsonTree | None:
    """Return the JSON tree for `node`: `{"key", "op", "value"}` for `=`/`!=`, `{"key", "op",
    "values"}` for IN/NOT IN, `{"key", "op"}` for EXISTS/NOT EXISTS, `{"and": [...]}`,
    `{"or": [...]}`, `{"not": {...}}`; None for no conditions."""
    match node:
        case None:
            return None
        case Condition(key=key, op=op, values=values):
            if op in _SINGLE_VALUE_OPS:
                return {"key": key, "op": str(op), "value": values[0]}
            if op in _LIST_OPS:
                return {"key": key, "op": str(op), "values": list(values)}
            return {"key": key, "op": str(op)}
        case InAudience(audience=int() as audience_id):
            return {"op": IN_AUDIENCE, "audience_id": audience_id}
        case InAudience(audience=str() as name):
            return {"op": IN_AUDIENCE, "audience": name}
        case And(children=children):
            return {"and": [to_json(child) for child in children]}
        case Or(children=children):
            return {"or": [to_json(child) for child in children]}
        case Not(child=child):
            return {"not": to_json(child)}
    raise TypeError(f"not a condition node: {node!r}")


_GROUP_FIELDS = ("and", "or", "not")
_CONDITION_FIELDS = frozenset({"key", "op", "value", "values"})
IN_AUDIENCE = "IN AUDIENCE"
# `{"op": "IN AUDIENCE", "audience_id": 12}`, or `"audience": "VIP Winback"` by name.
_AUDIENCE_FIELDS = frozenset({"op", "audience_id", "audience"})
_OPS_BY_NAME = {str(op): op for op in Op}
_OPS_LIST = ", ".join(_OPS_BY_NAME)
# No valid tree is deeper than this many JSON objects (alternating OR/AND groups cost one
# nesting level per two objects); checked while descending so that no input can exhaust the
# stack. The exact nesting rule is checked on the finished tree.
_MAX_JSON_DEPTH = 2 * MAX_NESTING_DEPTH + 3


def from_json(data: object) -> Node | None:
    """Validate a JSON tree (see `to_json`) into a normalised tree, or raise ConditionError.

    Lenient about shape only where the meaning is clear: nested groups of the same kind are
    flattened and a group of one is that one child. Unknown fields, wrong types, unknown
    operators, bad keys or values and exceeded limits are errors naming the path.
    """
    if data is None:
        return None
    node = _JsonReader().node(data, "", 1)
    if _nesting(node) > MAX_NESTING_DEPTH:
        raise ConditionError(
            f"conditions are nested too deeply; the limit is {MAX_NESTING_DEPTH} levels"
        )
    _check_printed_length(node)
    return node


def _where(path: str) -> str:
    return f"at {path}" if path else "at the top level"


def _child_path(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


class _JsonReader:
    def __init__(self) -> None:
        self.conditions = 0

    def node(self, data: object, path: str, depth: int) -> Node:
        if not isinstance(data, dict):
            raise self._error(f"expected an object {_where(path)}", path)
        if depth > _MAX_JSON_DEPTH:
            raise self._error(
                f"conditions are nested too deeply {_where(path)}; "
                f"the limit is {MAX_NESTING_DEPTH} levels",
                path,
            )
        for name in data:
            if not isinstance(name, str):
                raise self._error(f"field names must be text {_where(path)}", path)
            if (
                name not in _GROUP_FIELDS
                and name not in _CONDITION_FIELDS
                and name not in _AUDIENCE_FIELDS
            ):
                raise self._error(f"unknown field {_show(name)} {_where(path)}", path)
        for name in _GROUP_FIELDS:
            if name in data:
                if len(data) > 1:
                    raise self._error(
                        f"{_show(name)} cannot be combined with other fields {_where(path)}", path
                    )
                if name == "not":
                    return Not(self.node(data["not"], _child_path(path, "not"), depth + 1))
                return self._group(name, data[name], path, depth)
        if data.get("op") == IN_AUDIENCE:
            return self._in_audience(data, path)
        return self._condition(data, path)

    def _in_audience(self, data: dict[str, object], path: str) -> InAudience:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self._error(
                f"too many conditions {_where(path)}; the limit is {MAX_CONDITIONS}", path
            )
        for name in data:
            if name not in _AUDIENCE_FIELDS:
                raise self._error(
                    f"unexpected field {_show(name)} for operator {_show(IN_AUDIENCE)} "
                    f"{_where(path)}",
                    path,
                )
        given = [name for name in ("audience_id", "audience") if name in data]
        if len(given) != 1:
            raise self._error(f"expected either 'audience_id' or 'audience' {_where(path)}", path)
        field_path = _child_path(path, given[0])
        value = data[given[0]]
        if given[0] == "audience_id":
            if isinstance(value, bool) or not isinstance(value, int):
                raise self._error(f"expected an audience id {_where(field_path)}", field_path)
            if not 0 < value <= MAX_AUDIENCE_ID:
                raise self._error(f"not an audience id {_where(field_path)}", field_path)
            return InAudience(value)
        if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_AUDIENCE_NAME:
            raise self._error(
                f"expected an audience name of 1 to {MAX_AUDIENCE_NAME} characters "
                f"{_where(field_path)}",
                field_path,
            )
        return InAudience(value.strip())

    def _group(self, name: str, items: object, path: str, depth: int) -> Node:
        list_path = _child_path(path, name)
        if not isinstance(items, list | tuple):
            raise self._error(f"expected a list {_where(list_path)}", list_path)
        if not items:
            raise self._error(f"expected at least one condition {_where(list_path)}", list_path)
        if len(items) > MAX_CONDITIONS:
            raise self._error(
                f"too many conditions {_where(list_path)}; the limit is {MAX_CONDITIONS}",
                list_path,
            )
        children = [
            self.node(item, f"{list_path}[{index}]", depth + 1) for index, item in enumerate(items)
        ]
        return _join(And if name == "and" else Or, children)

    def _condition(self, data: dict[str, object], path: str) -> Condition:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise self._error(
                f"too many conditions {_where(path)}; the limit is {MAX_CONDITIONS}", path
            )
        for name in ("key", "op"):
            if name not in data:
                raise self._error(f"missing field {_show(name)} {_where(path)}", path)
        key_path = _child_path(path, "key")
        try:
            key = clean_key(data["key"])
        except ValidationError as error:
            raise ConditionError(
                f"invalid label key {_where(key_path)}: {_reason(error)}",
                code=error.code,
                path=key_path,
            ) from None
        op_path = _child_path(path, "op")
        raw_op = data["op"]
        op = _OPS_BY_NAME.get(raw_op) if isinstance(raw_op, str) else None
        if op is None:
            shown = f" {_show(raw_op)}" if isinstance(raw_op, str) else ""
            raise self._error(
                f"unknown operator{shown} {_where(op_path)}; expected one of {_OPS_LIST}", op_path
            )
        expected = "value" if op in _SINGLE_VALUE_OPS else "values" if op in _LIST_OPS else None
        for name in ("value", "values"):
            if name in data and name != expected:
                raise self._error(
                    f"unexpected field {_show(name)} for operator {_show(str(op))} {_where(path)}",
                    path,
                )
        if expected is None:
            return Condition(key, op)
        if expected not in data:
            raise self._error(
                f"missing field {_show(expected)} for operator {_show(str(op))} {_where(path)}",
                path,
            )
        if expected == "value":
            return Condition(key, op, (self._value(data["value"], _child_path(path, "value")),))
        return Condition(key, op, self._values(data["values"], _child_path(path, "values")))

    def _values(self, items: object, path: str) -> tuple[str, ...]:
        if not isinstance(items, list | tuple):
            raise self._error(f"expected a list {_where(path)}", path)
        if not items:
            raise self._error(f"expected at least one value {_where(path)}", path)
        if len(items) > MAX_LIST_VALUES:
            raise self._error(
                f"too many values {_where(path)}; the limit is {MAX_LIST_VALUES}", path
            )
        values = [self._value(item, f"{path}[{index}]") for index, item in enumerate(items)]
        return tuple(dict.fromkeys(values))

    def _value(self, value: object, path: str) -> str:
        try:
            return clean_value(value)
        except ValidationError as error:
            raise ConditionError(
                f"invalid label value {_where(path)}: {_reason(error)}", code=error.code, path=path
            ) from None

    def _error(self, message: str, path: str) -> ConditionError:
        return ConditionError(message, path=path)


# ---------------------------------------------------------------------------------------------
# Limits shared by both ways in
# ---------------------------------------------------------------------------------------------


def _nesting(node: Node) -> int:
    """The nesting depth of `node`'s canonical text: NOTs plus the parentheses it prints."""
    match node:
        case Condition() | InAudience():
            return 0
        case Not(child=child):
            return 1 + (1 if isinstance(child, And | Or) else 0) + _nesting(child)
        case And(children=children):
            return max(_nesting(child) + (1 if isinstance(child, Or) else 0) for child in children)
        case Or(children=children):
            return max(_nesting(child) for child in children)
    raise TypeError(f"not a condition node: {node!r}")


def _check_printed_length(node: Node | None) -> None:
    # Printing adds `label:` prefixes, spaces and escapes, so accepted input could otherwise
    # print as text too long to parse back.
    length = len(to_text(node))
    if length > MAX_TEXT_LENGTH:
        raise ConditionError(
            f"the canonical text of these conditions is {length} characters long; "
            f"the limit is {MAX_TEXT_LENGTH}"
        )


# ---------------------------------------------------------------------------------------------
# Meaning
# ---------------------------------------------------------------------------------------------


def evaluate(
    node: Node | None,
    labels: Mapping[str, str],
    member_of: Callable[[int | str], bool] | None = None,
) -> bool:
    """Whether a contact with `labels` matches `node`: the reference semantics (docs/conditions.md,
    Meaning). `member_of(audience)` answers `IN AUDIENCE` for this contact.

    A contact without the key matches `!=`, NOT IN and NOT EXISTS; None matches every contact.
    """
    match node:
        case None:
            return True
        case Condition(key=key, op=op, values=values):
            has_key = key in labels
            match op:
                case Op.EQ:
                    return has_key and labels[key] == values[0]
                case Op.NE:
                    return not (has_key and labels[key] == values[0])
                case Op.IN:
                    return has_key and labels[key] in values
                case Op.NOT_IN:
                    return not (has_key and labels[key] in values)
                case Op.EXISTS:
                    return has_key
                case Op.NOT_EXISTS:
                    return not has_key
        case InAudience(audience=audience):
            if member_of is None:
                raise ValueError("IN AUDIENCE needs member_of to be evaluated")
            return member_of(audience)
        case And(children=children):
            return all(evaluate(child, labels, member_of) for child in children)
        case Or(children=children):
            return any(evaluate(child, labels, member_of) for child in children)
        case Not(child=child):
            return not evaluate(child, labels, member_of)
    raise TypeError(f"not a condition node: {node!r}")


# ---------------------------------------------------------------------------------------------
# Audience references
# ---------------------------------------------------------------------------------------------


def audience_refs(node: Node | None) -> list[int | str]:
    """The audiences `node` refers to with IN AUDIENCE, in order of appearance, each once."""
    found: dict[int | str, None] = {}

    def walk(node: Node) -> None:
        match node:
            case InAudience(audience=audience):
                found[audience] = None
            case And(children=children) | Or(children=children):
                for child in children:
                    walk(child)
            case Not(child=child):
                walk(child)

    if node is not None:
        walk(node)
    return list(found)


def replace_audiences(node: Node | None, replace: Callable[[InAudience], Node]) -> Node | None:
    """`node` with every `InAudience` replaced by `replace(it)`; groups of the same kind that
    this puts inside one another are flattened."""
    match node:
        case None:
            return None
        case InAudience():
            return replace(node)
        case And(children=children) | Or(children=children):
            return _join(type(node), [replace_audiences(child, replace) for child in children])
        case Not(child=child):
            return Not(replace_audiences(child, replace))
    return node
