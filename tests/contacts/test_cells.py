"""Spreadsheet cells: formula characters are quoted in every file written, and label values read
back from an export exactly as they were."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contacts.cells import label_cell, neutralise_cell, restore_cell

FORMULA_STARTS = "=+-@\t\r"
# Text that is likely to start with quotes and formula characters, as well as anything else.
tricky_text = st.text(alphabet=st.sampled_from("'=+-@\t\rab ,\"")) | st.text()


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("+1", "'+1"),
        ("-5", "'-5"),
        ("@SUM", "'@SUM"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("'=1+2' is not a valid phone number.", "'=1+2' is not a valid phone number."),
        ("gold", "gold"),
        ("", ""),
    ],
)
def test_report_cells_are_neutralised_against_formulas(cell, safe):
    assert neutralise_cell(cell) == safe


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("-5", "'-5"),
        ("=HYPERLINK(1)", "'=HYPERLINK(1)"),
        ("'-5", "''-5"),
        ("''@x", "'''@x"),
        ("'hello", "'hello"),
        ("''", "''"),
        ("gold", "gold"),
        ("", ""),
    ],
)
def test_label_cells_are_neutralised_and_read_back(value, cell):
    assert label_cell(value) == cell
    assert restore_cell(cell) == value


@pytest.mark.parametrize(
    ("cell", "value"),
    [("'+1", "+1"), ("'hello", "'hello"), ("it's", "it's"), ("'", "'")],
)
def test_cells_of_files_from_elsewhere_lose_a_quote_only_before_a_formula(cell, value):
    assert restore_cell(cell) == value


@given(tricky_text)
def test_every_label_value_reads_back_as_it_was_written(value):
    assert restore_cell(label_cell(value)) == value


@given(tricky_text)
def test_no_written_cell_starts_with_a_formula_character(value):
    assert not label_cell(value).startswith(tuple(FORMULA_STARTS))
    assert not neutralise_cell(value).startswith(tuple(FORMULA_STARTS))
