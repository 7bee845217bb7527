"""The one audience-to-SQL compiler: a condition tree (audiences.conditions) to a filter on
Contact, through the ORM so that the same code runs on SQLite and PostgreSQL.

The tree is first put in negation normal form: every NOT is pushed down to the conditions with
De Morgan's laws and absorbed into the operator (`NOT k = v` is `k != v`, `NOT k IN [...]` is
`k NOT IN [...]`, `NOT k EXISTS` is `k NOT EXISTS`), so the compiled filter only ever sees six
kinds of leaves under AND and OR. Each leaf then becomes one of two SQL shapes:

- A positive leaf (`=`, IN, EXISTS) is `contact.id IN (SELECT contact_id FROM label WHERE
  account_id = ... AND key = ... [AND value ...])`: an uncorrelated subquery read as one range
  of the (account_id, key, value, contact_id) index, index-only. PostgreSQL turns it into a
  (hash) semi-join; SQLite builds the subquery's result once and probes it per contact.
- A negative leaf (`!=`, NOT IN, NOT EXISTS) is `NOT EXISTS (SELECT 1 FROM label WHERE
  contact_id = contact.id AND key = ... [AND value ...])`: a correlated subquery, which
  PostgreSQL turns into an anti-join and SQLite answers with one probe of the unique
  (contact_id, key) index per contact. A contact without the key has no such row, so it
  matches, as SPEC §6 requires. `NOT IN (subquery)` is never used: PostgreSQL cannot make it an
  anti-join (NULL semantics), and its hashed subplan turns into a per-row scan once the
  subquery's result outgrows work_mem.

Every shape filters Contact by subquery, never by joining labels, so no contact is counted twice
and no DISTINCT is needed.
"""

from collections.abc import Sequence

from django.db.models import Exists, OuterRef, Q, QuerySet

from audiences.conditions import And, Condition, Node, Not, Op, Or
from contacts.models import Contact, Label
from trackly.models import Account

# Each operator's negation; NOT of a condition is the condition with the opposite operator.
_NEGATED = {
    Op.EQ: Op.NE,
    Op.NE: Op.EQ,
    Op.IN: Op.NOT_IN,
    Op.NOT_IN: Op.IN,
    Op.EXISTS: Op.NOT_EXISTS,
    Op.NOT_EXISTS: Op.EXISTS,
}
_POSITIVE = frozenset({Op.EQ, Op.IN, Op.EXISTS})


def negation_normal_form(node: Node, *, negate: bool = False) -> Node:
    """Return `node` (negated when `negate`) with no Not left: every NOT pushed into the
    operators of the conditions, groups flattened. The result means the same for every contact.
    """
    match node:
        case Condition(key=key, op=op, values=values):
            return Condition(key, _NEGATED[op], values) if negate else node
        case Not(child=child):
            return negation_normal_form(child, negate=not negate)
        case And(children=children) | Or(children=children):
            # De Morgan: NOT (a AND b) is NOT a OR NOT b, and the other way round.
            group = (Or if isinstance(node, And) else And) if negate else type(node)
            flat: list[Node] = []
            for child in children:
                child = negation_normal_form(child, negate=negate)
                flat.extend(child.children if isinstance(child, group) else (child,))
            return group(tuple(flat))
    raise TypeError(f"not a condition node: {node!r}")


def compile_conditions(node: Node | None, *, account_id: int) -> Q:
    """A Q over Contact matching exactly the contacts whose labels match `node` (see
    `conditions.evaluate`); `Q()` (everything) for no conditions. It does not scope by account
    or subscription: `members` does."""
    if node is None:
        return Q()
    return _compile(negation_normal_form(node), account_id)


def _compile(node: Node, account_id: int) -> Q:
    match node:
        case Condition(key=key, op=op, values=values):
            if op in _POSITIVE:
                labels = Label.objects.filter(account_id=account_id, key=key)
                return Q(pk__in=_with_values(labels, op, values).values("contact_id"))
            labels = Label.objects.filter(contact_id=OuterRef("pk"), key=key)
            return ~Q(Exists(_with_values(labels, _NEGATED[op], values)))
        case And(children=children):
            q = Q()
            for child in children:
                q &= _compile(child, account_id)
            return q
        case Or(children=children):
            q = _compile(children[0], account_id)
            for child in children[1:]:
                q |= _compile(child, account_id)
            return q
    raise TypeError(f"not a condition node in negation normal form: {node!r}")


def _with_values(labels: QuerySet[Label], op: Op, values: tuple[str, ...]) -> QuerySet[Label]:
    """Restrict `labels` (already one key) to the values a positive `op` looks for."""
    if op == Op.EQ:
        return labels.filter(value=values[0])
    if op == Op.IN:
        return labels.filter(value__in=values)
    return labels


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
    return scope(account, list_ids).filter(compile_conditions(node, account_id=account.pk))


def count_members(account: Account, node: Node | None, list_ids: Sequence[int] | None) -> int:
    """The number of `members`, in one query."""
    return members(account, node, list_ids).count()
