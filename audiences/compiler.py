"""The one audience-to-SQL compiler: a condition tree (audiences.conditions) to a filter on
Contact, through the ORM so that the same code runs on SQLite and PostgreSQL.

The tree is first put in negation normal form: every NOT is pushed down to the conditions with
De Morgan's laws and absorbed into the operator (`NOT k = v` is `k != v`, `NOT k IN [...]` is
`k NOT IN [...]`, `NOT k EXISTS` is `k NOT EXISTS`), so only six kinds of conditions under AND
and OR remain. Then (docs/performance.md, section 8, has the plans behind each choice):

- A positive condition (`=`, IN, EXISTS) is `contact.id IN (SELECT contact_id FROM label WHERE
  account_id = ... AND key = ... [AND value ...])`: an uncorrelated subquery read as one range
  of the (account_id, key, value, contact_id) index, index-only. PostgreSQL turns it into a
  semi-join; SQLite builds the subquery's result once and probes it per contact.
- A negative condition (`!=`, NOT IN, NOT EXISTS) is `NOT EXISTS (SELECT 1 FROM label WHERE
  contact_id = contact.id AND account_id = ... AND key = ... [AND value ...])`: correlated, so
  PostgreSQL makes it an anti-join (hashing the same index range) and SQLite answers it with one
  probe of the unique (contact_id, key) index per contact. A contact without the key has no
  such row, so it matches (docs/conditions.md, Meaning). `NOT IN (subquery)` is never used:
  PostgreSQL cannot make it an anti-join (NULL semantics), and once the subquery's result no
  longer fits in work_mem it rescans that result for every contact.
- Under an OR, PostgreSQL cannot turn subqueries into joins, and an `IN (subquery)` there has
  the same cliff as NOT IN: hashed while the planner thinks it fits in work_mem, a rescan per
  contact beyond. So below an OR a positive condition is a correlated EXISTS instead, which
  PostgreSQL either hashes or answers with one index probe per contact. The positive conditions
  of one OR share a single subquery (a label matching any of them), so an OR of only positive
  conditions is still one semi-join.
- `account_id` is in every label subquery: it is the leading column of the label index, and it
  makes a label count for a condition only in its own account, whichever shape is used.

Every shape filters Contact by subquery, never by joining labels, so no contact is counted twice
and no DISTINCT is needed.

The typed and text operators (`<`, BETWEEN, WITHIN LAST, CONTAINS, ...) are positive tests on
one label. They have no negated operator: `NOT k > 5` is "no label `k` greater than 5", which a
contact whose `k` is not a number matches, unlike `k <= 5`. So negation normal form keeps a NOT
directly above such a condition, and it compiles like the other negative conditions: NOT EXISTS
of its positive test. Comparisons read the typed columns `value_number` and `value_date` through
their (account_id, key, value_number/value_date, contact_id) indexes; text operators read the key's
range of the label index and test each value with LIKE.

Counts (`count_members`) take shortcuts where the general shape costs more: one condition over
every list is counted from the labels less the unsubscribed contacts among them, and on
PostgreSQL a tree of label conditions with an OR is counted by grouping its labels by contact
(one pass over index-only ranges) instead of one subquery per OR.
"""

import dataclasses
import datetime
from collections.abc import Sequence

from django.db import connection
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Exists,
    Func,
    Model,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)

from audiences.conditions import (
    COMPARISON_OPS,
    DAYS_OPS,
    TEXT_OPS,
    And,
    Condition,
    Literal,
    Node,
    Not,
    Op,
    Or,
    days_range,
    literal_kind,
)
from contacts.labels import date_value, fold_case, number_value
from contacts.models import Contact, Label, LabelKeyCount, LabelValueCount
from trackly.models import Account

_POSITIVE = frozenset({Op.EQ, Op.IN, Op.EXISTS, *COMPARISON_OPS, Op.BETWEEN, *DAYS_OPS, *TEXT_OPS})


# IN AUDIENCE, as `audiences.models` expands it for this compiler: a dynamic audience becomes
# its own conditions and, for its list scope, an `InLists`; a static one an `InStatic`.


@dataclasses.dataclass(frozen=True, slots=True)
class InLists:
    """The contact is on one of the lists `list_ids` (on any list when there are none)."""

    list_ids: tuple[int, ...]
    negated: bool = False


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class InStatic:
    """The contact is one of `rows` (a static audience's rows, with a `contact_id`)."""

    rows: QuerySet[Model]
    negated: bool = False


# Up to this many labels, a probe of each label's contact costs less than building the list of
# the account's unsubscribed contacts (SQLite's one-condition count, `_labels_at_most`).
_FEW_LABELS = 5_000
# With this many labels or more per unsubscribed contact, a probe of (contact_id, key) per
# unsubscribed contact costs less than a look-up in their list per label (the same).
_LABELS_PER_UNSUBSCRIBED = 5
# In an AND counted from its rarest condition's labels (`_count_all_of_sqlite`), another
# condition with up to this many labels per label of the rarest is a list SQLite builds once;
# with more, a probe per label of the rarest costs less.
_IN_LIST_PER_LABEL = 3


def negation_normal_form(node: Node, *, negate: bool = False) -> Node:
    """Return `node` (negated when `negate`) with no Not left: every NOT pushed into the
    operators of the conditions, groups flattened. The result means the same for every contact.
    """
    match node:
        case Condition(key=key, op=op, values=values):
            if not negate:
                return node
            return Not(node) if op.negated is None else Condition(key, op.negated, values)
        case InLists() | InStatic():
            return dataclasses.replace(node, negated=node.negated != negate) if negate else node
        case Not(child=child):
            return negation_normal_form(child, negate=not negate)
        case And(children=children) | Or(children=children):
            # De Morgan: NOT (a AND b) is NOT a OR NOT b, and the other way round.
            group = (Or if isinstance(node, And) else And) if negate else type(node)
            flat: list[Node] = []
            for child in children:
                normal = negation_normal_form(child, negate=negate)
                flat.extend(normal.children if isinstance(normal, group) else (normal,))
            return group(tuple(flat))
    raise TypeError(f"not a condition node: {node!r}")


def compile_conditions(node: Node | None, *, account_id: int, today: datetime.date) -> Q:
    """A Q over Contact matching exactly the contacts whose labels match `node` (see
    `conditions.evaluate`), with `today` the date in the account's time zone; `Q()`
    (everything) for no conditions. It does not scope by account or subscription: `members`
    does."""
    if node is None:
        return Q()
    return _compile(negation_normal_form(node), account_id, today, correlated=False)


def _compile(node: Node, account_id: int, today: datetime.date, *, correlated: bool) -> Q:
    """Compile a tree in negation normal form. `correlated` is set below an OR, where every
    positive test must be a correlated EXISTS (see the module docstring)."""
    match node:
        case Condition() if _is_positive(node):
            return _has_label(_label_test(node, today), account_id, correlated=correlated)
        case Condition() | Not():
            return ~_has_label(_positive_test(node, today), account_id, correlated=True)
        case InLists(list_ids=list_ids, negated=negated):
            on_lists = Q(sending_list_id__in=list_ids) if list_ids else Q()
            if not list_ids and negated:
                return Q(pk__in=[])
            return ~on_lists if negated else on_lists
        case InStatic(rows=rows, negated=negated):
            # Like a label condition: a semi-join unless negated or below an OR, where a
            # correlated EXISTS probes the (audience, contact) index once per contact.
            if negated or correlated:
                exists = Q(Exists(rows.filter(contact_id=OuterRef("pk"))))
                return ~exists if negated else exists
            return Q(pk__in=rows.values("contact_id"))
        case And(children=children):
            q = Q()
            for child in children:
                q &= _compile(child, account_id, today, correlated=correlated)
            return q
        case Or(children=children):
            # The positive conditions of an OR are one test on one label row (a label matching
            # any of them), so they share one subquery; it is a semi-join when nothing else is
            # ORed with it.
            positives = [child for child in children if _is_positive(child)]
            others = [child for child in children if not _is_positive(child)]
            q = Q()
            if positives:
                any_test = Q()
                for condition in positives:
                    any_test |= _label_test(condition, today)
                q = _has_label(any_test, account_id, correlated=correlated or bool(others))
            for child in others:
                q |= _compile(child, account_id, today, correlated=True)
            return q
    raise TypeError(f"not a condition node in negation normal form: {node!r}")


def _is_positive(node: Node) -> bool:
    return isinstance(node, Condition) and node.op in _POSITIVE


def _positive_test(negative: Node, today: datetime.date) -> Q:
    """A Q over Label: the label whose absence a negative leaf of negation normal form (`k !=
    v`, NOT IN, NOT EXISTS, or NOT above a typed or text condition) asks for."""
    match negative:
        case Not(child=Condition() as condition):
            return _label_test(condition, today)
        case Condition(key=key, op=op, values=values) if op.negated is not None:
            return _label_test(Condition(key, op.negated, values), today)
    raise ValueError(f"not a negative condition: {negative!r}")


# Comparisons as lookups on the typed column.
_LOOKUPS = {Op.LT: "lt", Op.LE: "lte", Op.GT: "gt", Op.GE: "gte", Op.BETWEEN: "range"}


def _label_test(condition: Condition, today: datetime.date) -> Q:
    """A Q over Label: the label a positive `condition` looks for."""
    key, op, values = condition.key, condition.op, condition.values
    match op:
        case Op.EQ:
            return Q(key=key, value=values[0])
        case Op.IN:
            return Q(key=key, value__in=values)
        case Op.EXISTS:
            return Q(key=key)
    if op in _LOOKUPS:
        if literal_kind(values[0]) is Literal.NUMBER:
            column, bounds = "value_number", [number_value(value) for value in values]
        else:
            column, bounds = "value_date", [date_value(value) for value in values]
        operand = tuple(bounds) if op is Op.BETWEEN else bounds[0]
        return Q(key=key, **{f"{column}__{_LOOKUPS[op]}": operand})
    if op in DAYS_OPS:
        first, last = days_range(op, int(values[0]), today)
        if first is None:
            return Q(key=key, value_date__lte=last)
        return Q(key=key, value_date__range=(first, last))
    if op in TEXT_OPS:
        return Q(key=key) & Q(_FoldedLike("value", Value(_like_pattern(op, values[0]))))
    raise ValueError(f"not a positive condition: {condition!r}")


def _like_pattern(op: Op, text: str) -> str:
    """The LIKE pattern (escape character `\\`) of a text operator, with `%`, `_` and `\\` in
    `text` taken literally and ASCII letters in lower case."""
    escaped = fold_case(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if op is Op.CONTAINS:
        return f"%{escaped}%"
    return f"{escaped}%" if op is Op.STARTS_WITH else f"%{escaped}"


class _FoldedLike(Func):
    """`value LIKE pattern`, folding only ASCII letters on both databases (docs/conditions.md):
    SQLite's LIKE folds exactly those; PostgreSQL's ILIKE would fold every letter its locale
    knows, so the value is lowered under the "C" collation, which lowers A-Z only, and matched
    with LIKE. (`translate` of A-Z does the same, more slowly: docs/performance.md.)"""

    arity = 2
    output_field = BooleanField()
    conditional = True

    def as_sql(self, compiler, connection, **extra_context):
        (value, value_params), (pattern, pattern_params) = (
            compiler.compile(expression) for expression in self.source_expressions
        )
        if connection.vendor == "postgresql":
            value = f'lower({value} COLLATE "C")'

        return f"{value} LIKE {pattern} ESCAPE %s", (*value_params, *pattern_params, "\\")


def _has_label(test: Q, account_id: int, *, correlated: bool) -> Q:
    """A Q over Contact: the contact has a label (of the account) passing `test`."""
    labels = Label.objects.filter(account_id=account_id).filter(test)
    if correlated:
        return Q(Exists(labels.filter(contact_id=OuterRef("pk"))))
    return Q(pk__in=labels.values("contact_id"))


def scope(account: Account, list_ids: Sequence[int] | None) -> QuerySet[Contact]:
    """The account's subscribed contacts, on the lists `list_ids` (a union) or on every list when
    it is empty or None. Ids of another account's lists match nothing."""
    contacts = Contact.objects.for_account(account).subscribed()
    if list_ids:
        contacts = contacts.filter(sending_list_id__in=list_ids)
    return contacts


def members(
    account: Account, node: Node | None, list_ids: Sequence[int] | None
) -> QuerySet[Contact]:
    """The audience's members now: subscribed contacts in scope whose labels match `node`."""
    return scope(account, list_ids).filter(
        compile_conditions(node, account_id=account.pk, today=account.today())
    )


def count_members(account: Account, node: Node | None, list_ids: Sequence[int] | None) -> int:
    """The number of `members`: one query on PostgreSQL; on SQLite one, and before it the
    count tables (and for some the unsubscribed contacts) to choose its shape for one
    condition, or an AND of label conditions, over all lists."""
    normal = negation_normal_form(node) if node is not None else None
    if isinstance(normal, Condition | Not) and not list_ids:
        return _count_one_condition(account, normal)
    if connection.vendor == "postgresql" and not list_ids and _counts_by_grouping(normal):
        return _count_grouped(account, normal)
    if connection.vendor == "sqlite" and not list_ids and _counts_from_the_rarest(normal):
        return _count_all_of_sqlite(account, normal)
    return members(account, node, list_ids).count()


def _count_one_condition(account: Account, condition: Condition | Not) -> int:
    """Count an audience of one condition on every list from the label index.

    A contact has at most one label per key, so the account's labels passing a positive test
    are exactly as many as the contacts that have one: counting them reads one range of the
    (account_id, key, value, contact_id) index and visits no contact. The unsubscribed contacts
    among them are then taken away, and a negative condition is the subscribed contacts less
    those that pass its positive counterpart. Counting the members through the contacts
    instead costs up to twice as much on both databases (docs/performance.md, 3. Results).
    """
    positive = _is_positive(condition)
    today = account.today()
    test = _label_test(condition, today) if positive else _positive_test(condition, today)
    labels = Label.objects.filter(account_id=account.pk).filter(test)
    if connection.vendor == "postgresql":
        return _count_one_condition_at_once(account, labels, positive)
    return _count_one_condition_sqlite(account, condition, test, labels, positive)


def _count_of(rows: QuerySet) -> Subquery:
    """`SELECT count(*)` of `rows`, as a scalar subquery."""
    counted = rows.order_by().annotate(
        rows=Func(template="count(*)", output_field=BigIntegerField())
    )
    return Subquery(counted.values("rows")[:1], output_field=BigIntegerField())


def _count_one_condition_at_once(account: Account, labels: QuerySet[Label], positive: bool) -> int:
    """`_count_one_condition` on PostgreSQL, in one statement: the labels passing the test
    whose contact is not unsubscribed (an anti-join that hashes the account's unsubscribed
    contacts from (account_id, status, id) and reads the labels once), and for a negative
    condition the subscribed contacts less those. Three statements, as on SQLite, read the
    labels twice and count the unsubscribed contacts, which PostgreSQL does not need to choose
    its plan, and were slower than the best SQL by hand on the typed and text conditions
    (docs/performance.md, 3b)."""
    gone = Contact.objects.filter(
        pk=OuterRef("contact_id"), account=account, status=Contact.Status.UNSUBSCRIBED
    )
    having = _count_of(labels.filter(~Exists(gone)))
    if not positive:
        having = _count_of(scope(account, None)) - having
    return Account.objects.filter(pk=account.pk).values_list(having, flat=True).get()


def _count_one_condition_sqlite(
    account: Account, condition: Condition | Not, test: Q, labels: QuerySet[Label], positive: bool
) -> int:
    """`_count_one_condition` on SQLite: the labels passing the test whose contact is not
    unsubscribed, and for a negative condition the subscribed contacts less those, in one
    statement that reads those labels once, after a query of the count tables that chooses it.

    SQLite has no hash join, so the unsubscribed contacts are taken away one of three ways:
    for a few labels, a probe of each label's contact by primary key (`NOT EXISTS`); for many
    more labels than unsubscribed contacts (known only when the count tables are exact, for
    `=`, IN and EXISTS), all the labels less the unsubscribed contacts that have one, found by
    a probe of (contact_id, key) per unsubscribed contact; otherwise `contact_id NOT IN` the
    account's unsubscribed contacts, a list SQLite builds once from (account_id, status, id)
    and probes in memory per label (contact ids are never NULL, so this `NOT IN` means `NOT
    EXISTS`, and SQLite has no cliff for it). Counting the labels first to choose, as before,
    read them twice: up to twice the time of the best SQL by hand for typed and text
    conditions (docs/performance.md, "SQLite one-condition counts: one pass")."""
    gone = Contact.objects.filter(account=account, status=Contact.Status.UNSUBSCRIBED)
    at_most, exact = _labels_at_most(account, condition)
    # The count tables only choose the shape: every shape counts exactly.
    if at_most <= _FEW_LABELS:
        having = _count_of(labels.filter(~Exists(gone.filter(pk=OuterRef("contact_id")))))
    elif exact and at_most >= _LABELS_PER_UNSUBSCRIBED * gone.count():
        having = _count_of(labels) - _count_of(
            gone.filter(_has_label(test, account.pk, correlated=True))
        )
    else:
        having = _count_of(labels.exclude(contact_id__in=gone.values("pk")))
    if not positive:
        having = _count_of(scope(account, None)) - having
    return Account.objects.filter(pk=account.pk).values_list(having, flat=True).get()


def _labels_at_most(account: Account, condition: Condition | Not) -> tuple[int, bool]:
    """An upper bound on the account's labels passing the positive test of `condition` (the
    condition itself, or the test whose absence a negative one asks for), read from the count
    tables that triggers keep exact, and whether it is exact: the value counts for `=` and IN
    and the key's count for EXISTS are; the key's count is only a bound for the typed and text
    operators."""
    match condition:
        case Not(child=Condition() as positive):
            pass
        case Condition(key=key, op=op, values=values) if not _is_positive(condition):
            positive = Condition(key, op.negated, values)
        case _:
            positive = condition
    if positive.op in (Op.EQ, Op.IN):
        counts = LabelValueCount.objects.filter(value__in=positive.values)
    else:
        counts = LabelKeyCount.objects.all()
    counts = counts.filter(account=account, key=positive.key)
    total = counts.aggregate(total=Sum("contacts"))["total"]
    return total or 0, positive.op in (Op.EQ, Op.IN, Op.EXISTS)


def _counts_from_the_rarest(node: Node | None) -> bool:
    """Whether `_count_all_of_sqlite` counts this tree (in negation normal form): an AND of
    label conditions, one of them positive."""
    return (
        isinstance(node, And)
        and all(isinstance(child, Condition | Not) for child in node.children)
        and any(_is_positive(child) for child in node.children)
    )


def _count_all_of_sqlite(account: Account, node: And) -> int:
    """Count an AND of label conditions on every list on SQLite from the labels of its rarest
    positive condition (by the count tables, `_labels_at_most`), one per contact, in one
    statement: each other positive condition an `IN (subquery)` when its labels are not many
    more than the rarest's, else a correlated `EXISTS` probe of (contact_id, key) per label;
    each negative one a `NOT EXISTS` probe; the unsubscribed contacts taken away as for one
    condition. No contact row is read.

    Compiled as subqueries of Contact (`members`), each condition is a list SQLite builds and
    probes, and each member's contact row is read by primary key: for New High Engagers that
    built the list of `buyer_status = never` (383,170 ids) to keep 3,289 contacts, and took
    1.3x the best SQL by hand (docs/performance.md, "SQLite one-condition counts: one pass").
    """
    today = account.today()
    bounds = [_labels_at_most(account, child)[0] for child in node.children]
    first = min(
        (index for index, child in enumerate(node.children) if _is_positive(child)),
        key=lambda index: bounds[index],
    )
    in_account = Label.objects.filter(account_id=account.pk)
    rows = in_account.filter(_label_test(node.children[first], today))
    for index, child in enumerate(node.children):
        if index == first:
            continue
        if not _is_positive(child):
            labels = in_account.filter(_positive_test(child, today))
            rows = rows.filter(~Exists(labels.filter(contact_id=OuterRef("contact_id"))))
            continue
        labels = in_account.filter(_label_test(child, today))
        if bounds[index] <= _IN_LIST_PER_LABEL * bounds[first]:
            rows = rows.filter(contact_id__in=labels.values("contact_id"))
        else:
            rows = rows.filter(Exists(labels.filter(contact_id=OuterRef("contact_id"))))
    gone = Contact.objects.filter(account=account, status=Contact.Status.UNSUBSCRIBED)
    if bounds[first] <= _FEW_LABELS:
        rows = rows.filter(~Exists(gone.filter(pk=OuterRef("contact_id"))))
    else:
        rows = rows.exclude(contact_id__in=gone.values("pk"))
    return rows.count()


# ---------------------------------------------------------------------------------------------
# Trees with an OR, counted by grouping labels by contact (PostgreSQL)
# ---------------------------------------------------------------------------------------------


def _counts_by_grouping(node: Node | None) -> bool:
    """Whether `_count_grouped` counts this tree (in negation normal form): label conditions
    only, with an OR among them, that no contact without any of their labels matches."""
    if not isinstance(node, And | Or):
        return False
    has_or = False

    def leaves_only(node: Node) -> bool:
        nonlocal has_or
        match node:
            case Condition() | Not():
                return True
            case And(children=children) | Or(children=children):
                has_or = has_or or isinstance(node, Or)
                return all(leaves_only(child) for child in children)
        return False

    return leaves_only(node) and has_or and not _matches_without_labels(node)


def _matches_without_labels(node: Node) -> bool:
    """Whether a contact with none of the tree's labels matches it: a negative condition does,
    a positive one does not."""
    match node:
        case And(children=children):
            return all(_matches_without_labels(child) for child in children)
        case Or(children=children):
            return any(_matches_without_labels(child) for child in children)
    return not _is_positive(node)


def _count_grouped(account: Account, node: And | Or) -> int:
    """Count the members of a tree of label conditions with an OR in it in one pass over the
    labels its conditions read, grouped by contact.

    Each condition's labels are one index-only range, tagged with the condition's number; the
    ranges are concatenated (UNION ALL), grouped by contact, and a contact matches when the
    tree holds with `bool_or(leaf = n)` for "has a label passing condition n" (its negation
    for a negative condition). Only contacts with at least one of these labels are in a
    group, so this is for trees that a contact without any of them does not match
    (`_counts_by_grouping`); the subscribed contacts among the groups are then counted.

    Compiled as subqueries instead, each OR's conditions share one subquery that PostgreSQL
    reads with a bitmap heap scan (not index-only), and it then probes (contact_id, key) per
    contact through the heap, well behind the grouping on the benchmark's 5-condition tree
    (docs/performance.md, 3b).
    """
    today = account.today()
    tests: list[Q] = []

    def having(node: Node) -> str:
        match node:
            case And(children=children) | Or(children=children):
                joint = " AND " if isinstance(node, And) else " OR "
                return "(" + joint.join(having(child) for child in children) + ")"
        positive = _is_positive(node)
        tests.append(_label_test(node, today) if positive else _positive_test(node, today))
        found = f"bool_or(f.leaf = {len(tests) - 1})"
        return found if positive else f"NOT {found}"

    condition = having(node)
    branches, params = [], []
    for number, test in enumerate(tests):
        labels = Label.objects.filter(account_id=account.pk).filter(test)
        sql, branch_params = labels.values_list("contact_id", Value(number)).query.sql_with_params()
        branches.append(sql)
        params += branch_params
    union = " UNION ALL ".join(branches)
    contacts = Contact._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT f.contact_id FROM ({union}) AS f(contact_id, leaf) "  # noqa: S608
            f"GROUP BY f.contact_id HAVING {condition}) AS m "
            f"JOIN {contacts} c ON c.id = m.contact_id WHERE c.account_id = %s AND c.status = %s",
            [*params, account.pk, Contact.Status.SUBSCRIBED],
        )
        return cursor.fetchone()[0]
