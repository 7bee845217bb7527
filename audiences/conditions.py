"""The one condition parser: audience conditions as text, as a JSON tree, and as a Python tree.

The language (grammar, reading rules, meaning, canonical text, JSON tree, limits and errors) is
documented in docs/conditions.md; this module is its definition, and the two must agree.

Every way in (`parse`, `from_json`) enforces the same limits, so that whatever it accepts prints
(`to_text`) as text that parses back to the same tree. Every rejection is a `ConditionError`.
"""

import dataclasses
import datetime
import enum
import re
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from contacts.labels import clean_key, clean_value, date_value, fold_case, number_value

MAX_TEXT_LENGTH = 10_000
# Each NOT and each pair of parentheses is one level; `NOT (a OR b)` is two.
MAX_NESTING_DEPTH = 20
MAX_CONDITIONS = 100
MAX_LIST_VALUES = 100
# `WITHIN LAST n DAYS` and `MORE THAN n DAYS AGO`: n is 0 to this (about a hundred years).
MAX_DAYS = 36_500
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
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    BETWEEN = "BETWEEN"
    WITHIN_LAST_DAYS = "WITHIN LAST DAYS"
    MORE_THAN_DAYS_AGO = "MORE THAN DAYS AGO"
    CONTAINS = "CONTAINS"
    STARTS_WITH = "STARTS WITH"
    ENDS_WITH = "ENDS WITH"

    @property
    def negated(self) -> "Op | None":
        """The operator meaning NOT this one (`k != v` is exactly `NOT k = v`, and so on), or
        None when the language has none: `NOT k > 5` is not `k <= 5`, since a contact whose `k`
        is no number matches neither `k > 5` nor `k <= 5`, and so matches `NOT k > 5`."""
        return _NEGATIONS.get(self)


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
# Compare the value, as a number or a date (the literal decides), with one literal.
COMPARISON_OPS = frozenset({Op.LT, Op.LE, Op.GT, Op.GE})
# Count days back from today; the value is the number of days.
DAYS_OPS = frozenset({Op.WITHIN_LAST_DAYS, Op.MORE_THAN_DAYS_AGO})
# Case-insensitive text matching (ASCII letters fold; see `contacts.labels.fold_case`).
TEXT_OPS = frozenset({Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH})
_ONE_VALUE_OPS = _SINGLE_VALUE_OPS | COMPARISON_OPS | TEXT_OPS


class Literal(enum.StrEnum):
    NUMBER = "number"
    DATE = "date"


def literal_kind(text: str) -> Literal | None:
    """Whether a comparison literal is a number (`-?digits[.digits]`), a date (`YYYY-MM-DD`, a
    real day), or neither (None)."""
    if number_value(text) is not None and text == text.strip():
        return Literal.NUMBER
    if date_value(text) is not None and text == text.strip():
        return Literal.DATE
    return None


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
        if self.op in _ONE_VALUE_OPS:
            valid = len(self.values) == 1
        elif self.op in _LIST_OPS:
            valid = len(self.values) >= 1 and len(set(self.values)) == len(self.values)
        elif self.op is Op.BETWEEN:
            valid = len(self.values) == 2
        elif self.op in DAYS_OPS:
            valid = (
                len(self.values) == 1
                and self.values[0].isascii()
                and self.values[0].isdigit()
                and str(int(self.values[0][:6])) == self.values[0]
                and int(self.values[0]) <= MAX_DAYS
            )
        else:
            valid = not self.values
        if valid and (self.op in COMPARISON_OPS or self.op is Op.BETWEEN):
            kinds = {literal_kind(value) for value in self.values}
            valid = len(kinds) == 1 and None not in kinds
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
_WORD = re.compile(r"""[^\s,\[\]()"'=!<>]+""")
_DAYS = re.compile(r"[0-9]+")
_BARE_LITERAL = re.compile(r"""[^\s()\[\]"']+""")
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


def _expected_literal(kind: Literal | None) -> str:
    if kind is Literal.NUMBER:
        return "a number (like 90 or -2.5)"
    if kind is Literal.DATE:
        return "a date (like 2024-03-20)"
    return "a number or a date (like 90, -2.5 or 2024-03-20)"


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
        if op in _SINGLE_VALUE_OPS or op in TEXT_OPS:
            value = self._value()
            if value is None:
                raise self._error(f"expected a value after {_show(written)}")
            return Condition(key, op, (value,))
        if op in _LIST_OPS:
            return Condition(key, op, self._list(op))
        if op in COMPARISON_OPS:
            return Condition(key, op, (self._literal(written, None),))
        if op is Op.BETWEEN:
            low = self._literal(written, None)
            if not self._accept_keyword("AND"):
                raise self._error(f"expected AND after {_show(f'BETWEEN {low}')}")
            return Condition(key, op, (low, self._literal("AND", literal_kind(low))))
        if op in DAYS_OPS:
            return Condition(key, op, (self._days(op),))
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
        """Read an operator; also return it as written, for messages about what follows it.
        `WITHIN LAST n DAYS` and `MORE THAN n DAYS AGO` come back as their first words: `_days`
        reads the rest."""
        self._skip_space()
        for written, op in (
            ("!=", Op.NE),
            ("==", Op.EQ),
            ("=", Op.EQ),
            ("<=", Op.LE),
            (">=", Op.GE),
            ("<", Op.LT),
            (">", Op.GT),
        ):
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
        # These words are keywords only here, after a key, so keys and values may still be
        # `contains` or `last`.
        for words, op in (
            (("BETWEEN",), Op.BETWEEN),
            (("CONTAINS",), Op.CONTAINS),
            (("STARTS", "WITH"), Op.STARTS_WITH),
            (("ENDS", "WITH"), Op.ENDS_WITH),
            (("WITHIN", "LAST"), Op.WITHIN_LAST_DAYS),
            (("MORE", "THAN"), Op.MORE_THAN_DAYS_AGO),
        ):
            if self._accept_word(words[0]):
                for word in words[1:]:
                    if not self._accept_word(word):
                        raise self._error(f"expected {word} after {words[0]}")
                return op, " ".join(words)
        raise self._error(
            "expected an operator (=, !=, IN, EXISTS, <, >, BETWEEN, WITHIN LAST, CONTAINS, ...)"
        )

    def _literal(self, written: str, kind: "Literal | None") -> str:
        """Read a comparison literal: a number, or a date; of `kind` when one is given."""
        self._skip_space()
        start = self.pos
        # A bare literal is read up to white space or a parenthesis, so that `1,000` is shown
        # whole in the error.
        bare = _BARE_LITERAL.match(self.text, self.pos)
        if bare is not None and not (self._peek('"') or self._peek("'")):
            self.pos = bare.end()
            value = bare.group()
        else:
            value = self._value()
        what = _expected_literal(kind)
        if value is None:
            raise self._error(f"expected {what.split(' (')[0]} after {_show(written)}")
        found = literal_kind(value)
        if found is None or (kind is not None and found != kind):
            raise ConditionError(
                f"expected {what} at column {start + 1}, not {_show(value)}",
                column=start + 1,
            )
        return value

    def _days(self, op: Op) -> str:
        """Read `n DAYS` (WITHIN LAST) or `n DAYS AGO` (MORE THAN); return n in canonical form."""
        self._skip_space()
        start = self.pos
        match = _DAYS.match(self.text, self.pos)
        if match is None or _WORD.match(self.text, self.pos).end() != match.end():
            raise self._error(f"expected a number of days after {_show(_op_words(op)[0])}")
        digits = match.group().lstrip("0") or "0"
        if len(digits) > len(str(MAX_DAYS)) or int(digits) > MAX_DAYS:
            raise ConditionError(
                f"too many days at column {start + 1}; the limit is {MAX_DAYS}", column=start + 1
            )
        self.pos = match.end()
        for word in _op_words(op)[1].split():
            if not self._accept_word(word):
                raise self._error(f"expected {word}")
        return digits

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

    def _accept_word(self, word: str) -> bool:
        """Read `word` (case-insensitive, ASCII) if it is the next word: a word that is a
        keyword only where an operator is expected."""
        self._skip_space()
        match = _WORD.match(self.text, self.pos)
        if match is not None and match.group().isascii() and match.group().upper() == word:
            self.pos = match.end()
            return True
        return False

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


def _op_words(op: Op) -> tuple[str, str]:
    """The words of a days operator before and after its number of days."""
    if op is Op.WITHIN_LAST_DAYS:
        return "WITHIN LAST", "DAYS"
    return "MORE THAN", "DAYS AGO"


def _text(node: Node) -> str:
    match node:
        case Condition(key=key, op=op, values=values):
            if op in _ONE_VALUE_OPS:
                # Literals (numbers and dates) never need quotes.
                return f"{_LABEL_PREFIX}{key} {op} {quote_value(values[0])}"
            if op in _LIST_OPS:
                return f"{_LABEL_PREFIX}{key} {op} [{', '.join(map(quote_value, values))}]"
            if op is Op.BETWEEN:
                return f"{_LABEL_PREFIX}{key} BETWEEN {values[0]} AND {values[1]}"
            if op in DAYS_OPS:
                before, after = _op_words(op)
                return f"{_LABEL_PREFIX}{key} {before} {values[0]} {after}"
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
    "values"}` for IN/NOT IN, `{"key", "op"}` for EXISTS/NOT EXISTS; the same `value` for
    comparisons and text operators, `values` (two) for BETWEEN, `days` (an integer) for
    WITHIN LAST DAYS and MORE THAN DAYS AGO; `{"and": [...]}`,
    `{"or": [...]}`, `{"not": {...}}`; None for no conditions."""
    match node:
        case None:
            return None
        case Condition(key=key, op=op, values=values):
            if op in _ONE_VALUE_OPS:
                return {"key": key, "op": str(op), "value": values[0]}
            if op in _LIST_OPS or op is Op.BETWEEN:
                return {"key": key, "op": str(op), "values": list(values)}
            if op in DAYS_OPS:
                return {"key": key, "op": str(op), "days": int(values[0])}
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
_CONDITION_FIELDS = frozenset({"key", "op", "value", "values", "days"})
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
        if op in _ONE_VALUE_OPS:
            expected = "value"
        elif op in _LIST_OPS or op is Op.BETWEEN:
            expected = "values"
        elif op in DAYS_OPS:
            expected = "days"
        else:
            expected = None
        for name in ("value", "values", "days"):
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
        field_path = _child_path(path, expected)
        if op in COMPARISON_OPS:
            return Condition(key, op, (self._literal(data["value"], field_path, None),))
        if expected == "value":
            return Condition(key, op, (self._value(data["value"], field_path),))
        if op is Op.BETWEEN:
            return Condition(key, op, self._between(data["values"], field_path))
        if op in DAYS_OPS:
            return Condition(key, op, (self._days(data["days"], field_path),))
        return Condition(key, op, self._values(data["values"], field_path))

    def _literal(self, value: object, path: str, kind: Literal | None) -> str:
        literal = self._value(value, path)
        found = literal_kind(literal)
        if found is None or (kind is not None and found != kind):
            what = _expected_literal(kind)
            raise self._error(
                f"expected {what} {_where(path)}, not {_show(literal)}",
                path,
            )
        return literal

    def _between(self, items: object, path: str) -> tuple[str, str]:
        if not isinstance(items, list | tuple) or len(items) != 2:
            raise self._error(f"expected a list of two values {_where(path)}", path)
        low = self._literal(items[0], f"{path}[0]", None)
        return low, self._literal(items[1], f"{path}[1]", literal_kind(low))

    def _days(self, days: object, path: str) -> str:
        # bool is an int in Python, but `true` is not a number of days.
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_DAYS:
            raise self._error(
                f"expected a whole number of days from 0 to {MAX_DAYS} {_where(path)}", path
            )
        return str(days)

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
    *,
    today: datetime.date | None = None,
) -> bool:
    """Whether a contact with `labels` matches `node`: the reference semantics (docs/conditions.md,
    Meaning). `member_of(audience)` answers `IN AUDIENCE` for this contact; `today` (the date in
    the account's time zone) is needed by the days operators.

    A contact without the key matches `!=`, NOT IN and NOT EXISTS; None matches every contact.
    A value not in the form a typed or text operator needs does not match it.
    """
    match node:
        case None:
            return True
        case Condition(key=key, op=op, values=values):
            has_key = key in labels
            if op not in _NEGATIONS:
                return has_key and _value_matches(labels[key], op, values, today)
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
            return all(evaluate(child, labels, member_of, today=today) for child in children)
        case Or(children=children):
            return any(evaluate(child, labels, member_of, today=today) for child in children)
        case Not(child=child):
            return not evaluate(child, labels, member_of, today=today)
    raise TypeError(f"not a condition node: {node!r}")


def days_range(
    op: Op, days: int, today: datetime.date
) -> tuple[datetime.date | None, datetime.date]:
    """The dates a days operator accepts: `(first, last)` inclusive for WITHIN LAST (`first` is
    today less `days`), `(None, last)` for MORE THAN ... AGO (`last` the day before today less
    `days`)."""
    start = today - datetime.timedelta(days=days)
    if op is Op.WITHIN_LAST_DAYS:
        return start, today
    return None, start - datetime.timedelta(days=1)


def _value_matches(
    value: str, op: Op, literals: tuple[str, ...], today: datetime.date | None
) -> bool:
    if op in TEXT_OPS:
        text, part = fold_case(value), fold_case(literals[0])
        if op is Op.CONTAINS:
            return part in text
        return text.startswith(part) if op is Op.STARTS_WITH else text.endswith(part)
    if op in DAYS_OPS:
        if today is None:
            raise ValueError(f"{op} needs today's date")
        first, last = days_range(op, int(literals[0]), today)
        day = date_value(value)
        return day is not None and (first is None or first <= day) and day <= last
    read = number_value if literal_kind(literals[0]) is Literal.NUMBER else date_value
    typed, bounds = read(value), [read(literal) for literal in literals]
    if typed is None:
        return False
    match op:
        case Op.LT:
            return typed < bounds[0]
        case Op.LE:
            return typed <= bounds[0]
        case Op.GT:
            return typed > bounds[0]
        case Op.GE:
            return typed >= bounds[0]
        case Op.BETWEEN:
            return bounds[0] <= typed <= bounds[1]
    raise ValueError(f"not a typed operator: {op}")


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
