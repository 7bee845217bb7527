"""Why a contact is or is not in an audience: the conditions as a tree, each node marked true or
false for the contact with the reason, beside the audience's other two tests (subscribed, on a
list in scope).

Every verdict comes from the reference evaluator (`conditions.evaluate`), called once per node,
so the tree can never disagree with the language's meaning; this module only adds the words. A
new operator needs only its reason texts in `CONDITION_REASONS`; a node kind this module does
not know still gets its verdict, with a generic reason.

Also here: `funnel`, the audience's contacts counted condition by condition, which says which
condition removed everyone from an empty audience.
"""

import dataclasses
import datetime
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString

from audiences import compiler
from audiences.conditions import (
    COMPARISON_OPS,
    DAYS_OPS,
    TEXT_OPS,
    And,
    Condition,
    InAudience,
    Literal,
    Node,
    Not,
    Op,
    Or,
    audience_refs,
    evaluate,
    literal_kind,
    replace_audiences,
    to_json,
    to_text,
)
from audiences.models import Audience, conditions_q, named_audiences
from contacts.labels import date_value, number_value
from contacts.models import Contact, SendingList
from trackly.models import Account
from trackly.phones import normalize_phone

type Term = str | tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Reason:
    """A sentence with named terms (keys, values, list names) shown as code: `template` names
    each term as `{name}`."""

    template: str
    terms: Mapping[str, Term] = dataclasses.field(default_factory=dict)

    def text(self) -> str:
        """Plain text, each term in backticks: "`ltv_tier` is `standard`, not `vip`"."""
        return self.template.format_map(
            {name: _join(term, lambda item: f"`{item}`") for name, term in self.terms.items()}
        )

    def html(self) -> SafeString:
        """The same sentence as HTML, each term in a <code> element."""
        if not self.terms:
            return escape(self.template)
        return format_html(
            escape(self.template),
            **{
                name: _join_html(term if isinstance(term, tuple) else (term,))
                for name, term in self.terms.items()
            },
        )


def _join(term: Term, show: Callable[[str], str]) -> str:
    if isinstance(term, str):
        return show(term)
    return ", ".join(show(item) for item in term)


def _join_html(items: tuple[str, ...]) -> SafeString:
    return format_html_join(", ", "<code>{}</code>", ((item,) for item in items))


@dataclasses.dataclass(frozen=True, slots=True)
class Step:
    """One node of the conditions: whether the contact passes it, why, and its children."""

    kind: str
    text: str
    matched: bool
    reason: Reason
    children: tuple["Step", ...] = ()
    node: Node | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "text": self.text,
            "matched": self.matched,
            "reason": self.reason.text(),
            "condition": _node_json(self.node),
            "children": [child.as_json() for child in self.children],
        }


@dataclasses.dataclass(frozen=True, slots=True)
class Check:
    """One of the audience's tests besides its conditions: subscribed, or on a list in scope."""

    name: str
    passed: bool
    reason: Reason

    def as_json(self) -> dict[str, Any]:
        return {"check": self.name, "passed": self.passed, "reason": self.reason.text()}


@dataclasses.dataclass(frozen=True, slots=True)
class Explanation:
    """Whether a contact is a member, and why: the checks, then the conditions (None for none)."""

    member: bool
    checks: tuple[Check, ...]
    conditions: Step | None

    @property
    def conditions_matched(self) -> bool:
        return self.conditions is None or self.conditions.matched

    def as_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "checks": [check.as_json() for check in self.checks],
            "conditions_matched": self.conditions_matched,
            "conditions": self.conditions.as_json() if self.conditions else None,
        }


def _node_json(node: Node | None) -> Any:
    try:
        return to_json(node)
    except TypeError:
        return None


# ---------------------------------------------------------------------------------------------
# Reasons for one condition
# ---------------------------------------------------------------------------------------------

# For each operator: the reason when the condition is true and when it is false, given the
# condition and the contact's value for its key (None when the contact has no such label).
type ConditionReason = Callable[[Condition, str | None], Reason]


def _has_no(condition: Condition, _value: str | None) -> Reason:
    return Reason("has no {key} label", {"key": condition.key})


def _is(condition: Condition, value: str | None) -> Reason:
    return Reason("{key} is {value}", {"key": condition.key, "value": value or ""})


def _is_not(condition: Condition, value: str | None) -> Reason:
    if value is None:
        return _has_no(condition, value)
    return Reason(
        "{key} is {value}, not {expected}",
        {"key": condition.key, "value": value, "expected": condition.values[0]},
    )


def _in(condition: Condition, value: str | None) -> Reason:
    return Reason(
        "{key} is {value}, one of {expected}",
        {"key": condition.key, "value": value or "", "expected": condition.values},
    )


def _not_in(condition: Condition, value: str | None) -> Reason:
    if value is None:
        return _has_no(condition, value)
    return Reason(
        "{key} is {value}, not one of {expected}",
        {"key": condition.key, "value": value, "expected": condition.values},
    )


def _has(condition: Condition, value: str | None) -> Reason:
    return Reason("has {key} (it is {value})", {"key": condition.key, "value": value or ""})


def _meets(condition: Condition, value: str | None) -> Reason:
    if value is None:
        return _has_no(condition, value)
    return Reason("{key} is {value}", {"key": condition.key, "value": value})


def _misses(condition: Condition, value: str | None) -> Reason:
    if value is None:
        return _has_no(condition, value)
    terms = {"key": condition.key, "value": value}
    if condition.op in TEXT_OPS:
        return Reason("{key} is {value}", terms)
    dates = condition.op in DAYS_OPS or literal_kind(condition.values[0]) is Literal.DATE
    if dates and date_value(value) is None:
        return Reason("{key} is {value}, not a date", terms)
    if not dates and number_value(value) is None:
        return Reason("{key} is {value}, not a number", terms)
    return Reason("{key} is {value}", terms)


_TYPED_REASONS = (_meets, _misses)


# (reason when true, reason when false) for each operator.
CONDITION_REASONS: dict[Op, tuple[ConditionReason, ConditionReason]] = {
    Op.EQ: (_is, _is_not),
    Op.NE: (_is_not, _is),
    Op.IN: (_in, _not_in),
    Op.NOT_IN: (_not_in, _in),
    Op.EXISTS: (_has, _has_no),
    Op.NOT_EXISTS: (_has_no, _has),
    **{op: _TYPED_REASONS for op in (*COMPARISON_OPS, Op.BETWEEN, *DAYS_OPS, *TEXT_OPS)},
}


def _generic(node: Node, matched: bool) -> Reason:
    return Reason("this condition is true" if matched else "this condition is false")


def _condition_reason(condition: Condition, labels: Mapping[str, str], matched: bool) -> Reason:
    reasons = CONDITION_REASONS.get(condition.op)
    if reasons is None:
        return _generic(condition, matched)
    return reasons[0 if matched else 1](condition, labels.get(condition.key))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


# ---------------------------------------------------------------------------------------------
# The tree
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Facts:
    """What conditions need beyond a contact's labels: `today` in the account's time zone, and
    for IN AUDIENCE whether the contact is a member of an audience (by id) and its name."""

    today: datetime.date | None = None
    member_of: Callable[[int | str], bool] | None = None
    names: Mapping[int, str] = dataclasses.field(default_factory=dict)

    def shown(self, node: Node) -> Node:
        """`node` with audiences by name, as a person reads it."""
        return replace_audiences(
            node, lambda ref: InAudience(self.names.get(ref.audience, ref.audience))
        )


def explain_conditions(node: Node, labels: Mapping[str, str], facts: Facts | None = None) -> Step:
    """The step for `node` and a contact with `labels`: its verdict is `evaluate(node, labels)`."""
    facts = facts or Facts()
    matched = evaluate(node, labels, facts.member_of, today=facts.today)
    text = _node_text(facts.shown(node))
    match node:
        case Condition():
            reason = _condition_reason(node, labels, matched)
            return Step("condition", text, matched, reason, (), node)
        case InAudience(audience=audience):
            name = (
                facts.names.get(audience, str(audience)) if isinstance(audience, int) else audience
            )
            template = "a member of {audience}" if matched else "not a member of {audience}"
            return Step("audience", text, matched, Reason(template, {"audience": name}), (), node)
        case And(children=children) | Or(children=children):
            steps = tuple(explain_conditions(child, labels, facts) for child in children)
            true = sum(step.matched for step in steps)
            total = len(steps)
            if isinstance(node, And):
                kind = "and"
                reason = (
                    f"all {total} conditions are true"
                    if matched
                    else f"{_count(total - true, 'condition')} of {total} false"
                )
            else:
                kind = "or"
                reason = (
                    f"{_count(true, 'condition')} of {total} true"
                    if matched
                    else f"none of the {total} conditions is true"
                )
            return Step(kind, text, matched, Reason(reason), steps, node)
        case Not(child=child):
            inner = explain_conditions(child, labels, facts)
            reason = "the condition inside is false" if matched else "the condition inside is true"
            return Step("not", text, matched, Reason(reason), (inner,), node)
    return Step(type(node).__name__.lower(), text, matched, _generic(node, matched), (), node)


def _node_text(node: Node) -> str:
    try:
        return to_text(node)
    except TypeError:
        return repr(node)


def explain(
    node: Node | None,
    list_ids: Sequence[int],
    lists: Mapping[int, str],
    contact: Contact,
    labels: Mapping[str, str],
    facts: Facts | None = None,
) -> Explanation:
    """Whether `contact` (with `labels`) is in an audience of `node` on the lists `list_ids`
    (empty for every list); `lists` names the account's lists by id."""
    subscribed = contact.status == Contact.Status.SUBSCRIBED
    checks = [
        Check(
            "subscribed",
            subscribed,
            Reason("subscribed" if subscribed else "unsubscribed"),
        )
    ]
    own_list = lists.get(contact.sending_list_id, "")
    in_scope = not list_ids or contact.sending_list_id in list_ids
    if not list_ids:
        scope = Reason("on {list}; the audience takes every list", {"list": own_list})
    elif in_scope:
        scope = Reason("on {list}, a list in scope", {"list": own_list})
    else:
        scope = Reason(
            "on {list}, not on a list in scope ({scope})",
            {"list": own_list, "scope": tuple(lists.get(pk, str(pk)) for pk in list_ids)},
        )
    checks.append(Check("in_scope", in_scope, scope))
    step = explain_conditions(node, labels, facts) if node is not None else None
    matched = step is None or step.matched
    return Explanation(subscribed and in_scope and matched, tuple(checks), step)


def explain_contact(audience: Audience, contact: Contact) -> Explanation:
    """Explain `contact`'s membership of `audience` now."""
    labels = dict(contact.labels.values_list("key", "value"))
    tree = audience.tree
    return explain(
        tree,
        audience.list_ids(),
        _list_names(audience),
        contact,
        labels,
        _facts(audience, tree, contact),
    )


def _facts(audience: Audience, tree: Node | None, contact: Contact) -> Facts:
    """The facts for explaining `contact`'s membership of `audience` (with conditions `tree`)."""
    account = audience.account
    ids = [ref for ref in audience_refs(tree) if isinstance(ref, int)]
    others = {other.pk: other for other in Audience.objects.for_account(account).filter(pk__in=ids)}

    def member_of(ref: int | str) -> bool:
        other = others.get(ref) if isinstance(ref, int) else None
        return other is not None and other.members().filter(pk=contact.pk).exists()

    names = {pk: other.name for pk, other in others.items()}
    return Facts(account.today(), member_of, names)


def explain_phone(audience: Audience, phone: str) -> list[tuple[Contact, Explanation]]:
    """Explain the membership of every contact of the audience's account with this phone number
    (one per sending list it is on), read in the account's region; raise ValidationError for a
    number that cannot be read. An empty list means no contact has the number."""
    number = normalize_phone(phone, audience.account.default_region)
    lists = _list_names(audience)
    # By list and phone: the (sending_list, phone_number) unique index.
    contacts = (
        Contact.objects.filter(sending_list_id__in=list(lists), phone_number=number)
        .select_related("sending_list")
        .prefetch_related("labels")
        .order_by("sending_list__name", "id")
    )
    tree, list_ids = audience.tree, audience.list_ids()
    return [
        (
            contact,
            explain(
                tree,
                list_ids,
                lists,
                contact,
                {label.key: label.value for label in contact.labels.all()},
                _facts(audience, tree, contact),
            ),
        )
        for contact in contacts
    ]


def _list_names(audience: Audience) -> dict[int, str]:
    lists = SendingList.objects.filter(account_id=audience.account_id)
    return dict(lists.values_list("pk", "name"))


# ---------------------------------------------------------------------------------------------
# Where everyone went
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class FunnelStep:
    """The contacts left after one more of the audience's tests: `kind` is `account`,
    `subscribed`, `scope` or `condition`."""

    kind: str
    label: Reason
    contacts: int


def top_level_conditions(node: Node | None) -> tuple[Node, ...]:
    """The conditions an audience's members must all pass: an AND's children, else the node."""
    if node is None:
        return ()
    if isinstance(node, And):
        return node.children
    return (node,)


def funnel(account: Account, node: Node | None, list_ids: Sequence[int]) -> list[FunnelStep]:
    """The account's contacts, then those subscribed, on the lists in scope, and passing each
    top-level condition in turn (each count includes the tests before it); it stops at the first
    step that leaves no contact. One count query per step."""
    contacts = Contact.objects.for_account(account)
    steps = [FunnelStep("account", Reason("contacts in the account"), contacts.count())]
    scoped = compiler.scope(account, None)
    chain: list[tuple[str, Reason, Any]] = [("subscribed", Reason("subscribed"), scoped)]
    if list_ids:
        names = dict(
            SendingList.objects.for_account(account)
            .filter(pk__in=list_ids)
            .values_list("pk", "name")
        )
        scoped = compiler.scope(account, list_ids)
        chain.append(
            (
                "scope",
                Reason("on a list in scope ({lists})", {"lists": tuple(names.values())}),
                scoped,
            )
        )
    for condition in top_level_conditions(node):
        scoped = scoped.filter(conditions_q(account, condition))
        reason = Reason("{condition}", {"condition": to_text(named_audiences(account, condition))})
        chain.append(("condition", reason, scoped))
    for kind, reason, queryset in chain:
        if steps[-1].contacts == 0:
            break
        steps.append(FunnelStep(kind, reason, queryset.count()))
    return steps
