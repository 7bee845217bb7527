"""What every page may show of the label rules, read from `contacts.labels`."""

from contacts.labels import MAX_LABELS_PER_CONTACT


def label_limits(request) -> dict[str, int]:
    return {"MAX_LABELS_PER_CONTACT": MAX_LABELS_PER_CONTACT}
