"""Template filters of every page."""

from django import template

from trackly.text import counted as _counted

register = template.Library()


@register.filter
def counted(number, nouns: str) -> str:
    """`{{ n|counted:"contact" }}` is "1 contact" or "60,277 contacts";
    `{{ n|counted:"entry,entries" }}` names the plural."""
    singular, _, plural = nouns.partition(",")
    return _counted(int(number or 0), singular, plural)
