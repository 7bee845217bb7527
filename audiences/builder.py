"""The audience builder's rows: conditions as groups of rows, to and from the condition tree.

The builder shows conditions as groups joined by one operator (AND or OR), each group being
rows joined by the other. That covers every tree with at most one level of groups; any other
tree (a NOT around a group, deeper nesting) is edited as text only. A NOT around a single
condition becomes the condition with the opposite operator, which means the same; the typed and
text operators have no opposite (`NOT k > 5` is not `k <= 5`), so a NOT around one of them is
edited as text only.
"""

from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.http import QueryDict

from audiences.conditions import (
    COMPARISON_OPS,
    DAYS_OPS,
    INVALID_CONDITIONS,
    MAX_AUDIENCE_ID,
    MAX_DAYS,
    TEXT_OPS,
    And,
    Condition,
    InAudience,
    Node,
    Not,
    Op,
    Or,
    literal_kind,
)
from contacts.labels import VALUE_MAX_LENGTH, clean_key, clean_value

OPERATORS = [Op.EQ, Op.NE, Op.IN, Op.NOT_IN, Op.EXISTS, Op.NOT_EXISTS]
# Offered for a key with values that are numbers or dates; the days operators only for dates.
TYPED_OPERATORS = [Op.LT, Op.LE, Op.GT, Op.GE, Op.BETWEEN]
DATE_OPERATORS = [Op.WITHIN_LAST_DAYS, Op.MORE_THAN_DAYS_AGO]
TEXT_OPERATORS = [Op.CONTAINS, Op.STARTS_WITH, Op.ENDS_WITH]
# How the builder names the operators whose text form has a number in the middle.
OPERATOR_NAMES = {
    Op.WITHIN_LAST_DAYS: "within the last … days",
    Op.MORE_THAN_DAYS_AGO: "more than … days ago",
    Op.BETWEEN: "between",
    Op.CONTAINS: "contains",
    Op.STARTS_WITH: "starts with",
    Op.ENDS_WITH: "ends with",
}
_CHOICE_OPS = frozenset({Op.EQ, Op.NE, Op.IN, Op.NOT_IN})
# Rows and groups a builder form may post; the text form has its own, larger limits.
MAX_GROUPS = 20
MAX_ROWS = 20


@dataclass
class Row:
    key: str = ""
    op: Op = Op.EQ
    values: list[str] = field(default_factory=list)
    # The value choices as (value, contacts or None, selected), set by the view.
    options: list[tuple[str, int | None, bool]] = field(default_factory=list, compare=False)
    # What the user typed to search the key's values; the choices are the values that match.
    search: str = field(default="", compare=False)
    # Whether the key has more values than the choices show.
    more: bool = field(default=False, compare=False)
    # Set by the view from the key's value types: the operators to offer, the input a typed
    # operator gets (`number` or `date`), and how many of the key's values are not in that form.
    operators: list[Op] = field(default_factory=lambda: list(OPERATORS), compare=False)
    value_kind: str = field(default="number", compare=False)
    not_in_form: int = field(default=0, compare=False)
    # An "Audience" row (IN AUDIENCE, or NOT IN AUDIENCE when `negated`) instead of a label:
    # the chosen audience's id, None until one is chosen.
    is_audience: bool = False
    audience: int | None = None
    negated: bool = False

    @property
    def takes_values(self) -> bool:
        return self.op not in (Op.EXISTS, Op.NOT_EXISTS)

    @property
    def input(self) -> str:
        """The value input the row's operator needs: `choice` (the key's values to pick from),
        `literal` (a number or date), `between` (two of them), `days` or `text`."""
        if self.op in _CHOICE_OPS:
            return "choice"
        if self.op in COMPARISON_OPS:
            return "literal"
        if self.op is Op.BETWEEN:
            return "between"
        if self.op in DAYS_OPS:
            return "days"
        if self.op in TEXT_OPS:
            return "text"
        return ""

    @property
    def typed(self) -> bool:
        """Whether the operator compares numbers or dates (and so skips other values)."""
        return self.input in ("literal", "between", "days")

    @property
    def operator_choices(self) -> list[tuple[str, str]]:
        """The operators to offer, as (value, name) pairs."""
        return [(op.value, OPERATOR_NAMES.get(op, op.value)) for op in self.operators]

    @property
    def value(self) -> str:
        return self.values[0] if self.values else ""

    @property
    def second_value(self) -> str:
        return self.values[1] if len(self.values) > 1 else ""

    @property
    def takes_many(self) -> bool:
        return self.op in (Op.IN, Op.NOT_IN)

    def condition(self) -> Node | None:
        """The row as a condition, or None while it is incomplete; its key and values go
        through the one label validator, whose `ValidationError` it raises."""
        if self.is_audience:
            if self.audience is None:
                return None
            return Not(InAudience(self.audience)) if self.negated else InAudience(self.audience)
        if not self.key.strip():
            return None
        key = clean_key(self.key)
        if not self.takes_values:
            return Condition(key, self.op)
        if self.input not in ("choice", "text"):
            return self._typed_condition(key)
        values = list(dict.fromkeys(clean_value(value) for value in self.values if value.strip()))
        if not values:
            return None
        if not self.takes_many:
            values = values[:1]
        return Condition(key, self.op, tuple(values))

    def _typed_condition(self, key: str) -> Condition | None:
        values = [value.strip() for value in self.values]
        needed = 2 if self.op is Op.BETWEEN else 1
        if len(values) < needed or not all(values[:needed]):
            return None
        values = values[:needed]
        if self.op in DAYS_OPS:
            days = values[0]
            if not (days.isascii() and days.isdigit() and len(days) <= 6) or int(days) > MAX_DAYS:
                raise ValidationError(
                    f"The number of days must be a whole number from 0 to {MAX_DAYS}.",
                    code=INVALID_CONDITIONS,
                )
            return Condition(key, self.op, (str(int(days)),))
        kinds = [literal_kind(value) for value in values]
        for value, kind in zip(values, kinds, strict=True):
            if kind is None:
                raise ValidationError(
                    f"{value!r} is not a number (like 90 or -2.5) or a date (like 2024-03-20).",
                    code=INVALID_CONDITIONS,
                )
        if len(set(kinds)) > 1:
            raise ValidationError(
                "Both ends of BETWEEN must be numbers, or both dates.", code=INVALID_CONDITIONS
            )
        return Condition(key, self.op, tuple(values))


@dataclass
class Group:
    rows: list[Row] = field(default_factory=list)
    join: str = "OR"


@dataclass
class Builder:
    groups: list[Group] = field(default_factory=list)
    join: str = "AND"

    def tree(self) -> Node | None:
        """The conditions the complete rows describe (incomplete rows are left out); raise the
        label validator's `ValidationError` for the first row whose key or value it refuses.

        Each group's rows are joined by the group's own operator; a group joined by the same
        operator as the groups means the same as its rows standing alone.
        """
        outer = And if self.join == "AND" else Or
        outer_parts: list[Node] = []
        for group in self.groups:
            leaves = [leaf for row in group.rows if (leaf := row.condition()) is not None]
            if len(leaves) == 1:
                outer_parts.append(leaves[0])
            elif leaves:
                group_type = And if group.join == "AND" else Or
                outer_parts.append(group_type(tuple(leaves)))
        if not outer_parts:
            return None
        if len(outer_parts) == 1:
            return outer_parts[0]
        flat: list[Node] = []
        for part in outer_parts:
            flat.extend(part.children if isinstance(part, outer) else (part,))
        return outer(tuple(flat))

    def toggle_join(self) -> None:
        """Switch the operator between the groups only: a group of several rows keeps the
        operator inside it, so `(A OR B) AND C` becomes `(A OR B) OR C`. A one-row group takes
        the other operator, for the rows added to it next."""
        self.join = _other(self.join)
        for group in self.groups:
            if len(group.rows) < 2:
                group.join = _other(self.join)

    def toggle_group_join(self, group_index: int) -> None:
        """Switch the operator between the rows of one group, and of no other."""
        if 0 <= group_index < len(self.groups):
            group = self.groups[group_index]
            group.join = _other(group.join)

    def add_group(self) -> None:
        if len(self.groups) < MAX_GROUPS:
            self.groups.append(Group(rows=[Row()], join="OR" if self.join == "AND" else "AND"))

    def add_audience_group(self) -> None:
        if len(self.groups) < MAX_GROUPS:
            row = Row(is_audience=True)
            self.groups.append(Group(rows=[row], join="OR" if self.join == "AND" else "AND"))

    def add_row(self, group_index: int) -> None:
        if 0 <= group_index < len(self.groups) and len(self.groups[group_index].rows) < MAX_ROWS:
            self.groups[group_index].rows.append(Row())

    def remove_row(self, group_index: int, row_index: int) -> None:
        if 0 <= group_index < len(self.groups):
            rows = self.groups[group_index].rows
            if 0 <= row_index < len(rows):
                del rows[row_index]
            if not rows:
                del self.groups[group_index]


def _row_from(node: Node) -> Row | None:
    match node:
        case Condition(key=key, op=op, values=values):
            return Row(key=key, op=op, values=list(values))
        case Not(child=Condition(key=key, op=op, values=values)) if op.negated is not None:
            return Row(key=key, op=op.negated, values=list(values))
        case InAudience(audience=int() as audience):
            return Row(is_audience=True, audience=audience)
        case Not(child=InAudience(audience=int() as audience)):
            return Row(is_audience=True, audience=audience, negated=True)
    return None


def builder_from_tree(node: Node | None) -> Builder | None:
    """The builder rows for `node`, or None when the tree has more than one level of groups."""
    if node is None:
        return Builder()
    if (row := _row_from(node)) is not None:
        return Builder(groups=[Group(rows=[row])])
    if not isinstance(node, And | Or):
        return None
    join = "AND" if isinstance(node, And) else "OR"
    inner = Or if join == "AND" else And
    groups = []
    for child in node.children:
        if (row := _row_from(child)) is not None:
            groups.append(Group(rows=[row], join=_other(join)))
        elif isinstance(child, inner):
            rows = [_row_from(grandchild) for grandchild in child.children]
            if any(row is None for row in rows):
                return None
            groups.append(Group(rows=rows, join=_other(join)))
        else:
            return None
    return Builder(groups=groups, join=join)


def _other(join: str) -> str:
    return "OR" if join == "AND" else "AND"


def _index(data: QueryDict, name: str, limit: int) -> int:
    try:
        return max(0, min(int(data.get(name, "0")), limit))
    except ValueError:
        return 0


def builder_from_post(data: QueryDict) -> Builder:
    """Read the builder's rows from a posted form; anything malformed reads as empty."""
    join = "OR" if data.get("join") == "OR" else "AND"
    builder = Builder(join=join)
    for group_index in range(_index(data, "groups", MAX_GROUPS)):
        group_join = data.get(f"g{group_index}-join")
        group = Group(join=group_join if group_join in ("AND", "OR") else _other(join))
        for row_index in range(_index(data, f"g{group_index}-rows", MAX_ROWS)):
            prefix = f"g{group_index}-r{row_index}-"
            op_text = data.get(prefix + "op", Op.EQ.value)
            op = Op(op_text) if op_text in Op._value2member_map_ else Op.EQ
            if data.get(prefix + "type") == "audience":
                group.rows.append(_audience_row(data, prefix))
                continue
            group.rows.append(
                Row(
                    key=data.get(prefix + "key", ""),
                    op=op,
                    values=data.getlist(prefix + "value"),
                    search=data.get(prefix + "q", "")[:VALUE_MAX_LENGTH],
                )
            )
        if group.rows:
            builder.groups.append(group)
    return builder


def _audience_row(data: QueryDict, prefix: str) -> Row:
    raw = data.get(prefix + "audience", "")
    audience = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 19 else None
    if audience is not None and not 0 < audience <= MAX_AUDIENCE_ID:
        audience = None
    negated = data.get(prefix + "aop") == "NOT IN AUDIENCE"
    return Row(is_audience=True, audience=audience, negated=negated)
