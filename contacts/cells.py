"""Values in spreadsheet cells, safe from formula injection.

A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return
(OWASP's CSV injection guidance), so every file Trackly writes quotes such a cell with a leading
`'`: reports (`neutralise_cell`) and label values in exports (`label_cell`). The import undoes
the second (`restore_cell`), so an export imports back unchanged: `-5` is written `'-5` and read
as `-5`. For that, a label value that starts with quotes and then a formula character gets one
quote more (`'-5` is written `''-5`); no other value starts like that once written.
"""

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def neutralise_cell(text: str) -> str:
    """A cell of a report: quoted if it starts with a formula character."""
    return _QUOTE + text if text.startswith(_FORMULA_STARTS) else text


def label_cell(value: str) -> str:
    """A label value as an export writes it: quoted if, past any quotes it starts with, it
    starts with a formula character (`restore_cell` reads it back)."""
    return _QUOTE + value if value.lstrip(_QUOTE).startswith(_FORMULA_STARTS) else value


def restore_cell(cell: str) -> str:
    """The label value in an imported cell: the value `label_cell` wrote as `cell`."""
    if cell.startswith(_QUOTE) and cell[1:].lstrip(_QUOTE).startswith(_FORMULA_STARTS):
        return cell[1:]
    return cell
