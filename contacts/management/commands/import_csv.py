"""Import a CSV file into a sending list: the dashboard's import, from the command line."""

import csv
import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from contacts.cells import neutralise_cell
from contacts.importing import (
    IGNORED,
    LABEL,
    REJECTED,
    clean_mapping,
    clean_region,
    ignored_summary,
    import_file,
    rejected_rows_csv,
)
from contacts.models import SendingList

COUNTS = ("rows", "created", "updated", "unchanged", "skipped", REJECTED)
# Rejected rows printed; all of them go to the file given with --rejected.
REJECTED_PRINTED = 20


class Command(BaseCommand):
    help = (
        "Import contacts and labels from a CSV file into a sending list (columns phone_number, "
        "label_<key>, ...), or with --dry-run only report what the import would do."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="The CSV file.")
        parser.add_argument("--account", required=True, help="The account's slug.")
        parser.add_argument("--list", required=True, type=int, help="The sending list's id.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; change nothing."
        )
        parser.add_argument(
            "--rejected", type=Path, help="Write the rejected rows to this CSV file."
        )
        parser.add_argument(
            "--mapping",
            help="What the columns become, as JSON, as the API takes it: "
            '\'{"phone": "Mobile", "labels": {"Company Type": "Company_Type"}}\' '
            "(fields phone, fallback, country, labels, unnamed_labels, ignore; see "
            "docs/import.md).",
        )
        parser.add_argument(
            "--region",
            help="The region numbers without a country code are read with (GB, US, ...); "
            "default: the account's.",
        )

    def handle(
        self,
        *args,
        file: Path,
        account: str,
        list: int,
        dry_run: bool,
        rejected: Path | None,
        mapping: str | None = None,
        region: str | None = None,
        **options,
    ) -> None:
        sending_list = (
            SendingList.objects.select_related("account")
            .filter(account__slug=account, pk=list)
            .first()
        )
        if sending_list is None:
            raise CommandError(f"Account {account!r} has no sending list {list}.")
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")

        try:
            given = clean_mapping(json.loads(mapping) if mapping else None)
            region = clean_region(region) if region else None
        except ValueError as error:
            raise CommandError(f"--mapping is not JSON: {error}") from None
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None

        def progress(done: int, total: int) -> None:
            if self.stderr.isatty():
                sys.stderr.write(f"\r{done:,} of {total:,} rows")

        try:
            result = import_file(
                file,
                sending_list=sending_list,
                dry_run=dry_run,
                progress=progress,
                mapping=given,
                region=region,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if self.stderr.isatty():
            sys.stderr.write("\n")

        title = "Dry run: nothing was changed." if dry_run else "Imported."
        self.stdout.write(f"{title} {sending_list.name} ({sending_list.account.slug})")
        self.stdout.write(f"region: {result.region}")
        for column in result.columns:
            if column["use"] != IGNORED:
                key = f" {column['key']}" if column["use"] == LABEL else ""
                name = (
                    repr(column["column"]) if column["column"] else f"{column['number']} (no name)"
                )
                self.stdout.write(f"column {name}: {column['use']}{key}")
        for name in COUNTS:
            self.stdout.write(f"{name}: {getattr(result, name)}")
        summary = ignored_summary(result.as_dict())
        if summary:
            self.stdout.write(summary)
        if result.other_regions:
            found = ", ".join(
                sorted(
                    result.other_regions_found, key=result.other_regions_found.get, reverse=True
                )[:3]
            )
            self.stdout.write(
                f"{result.other_regions} numbers without a country code look like numbers of "
                f"another region than {result.region} (valid in {found}); for example:"
            )
            for example in result.other_regions_examples:
                self.stdout.write(
                    f"  row {example['row']}: {example['phone']} valid in "
                    f"{', '.join(example['valid_in'])}"
                )
        for row in result.rejected_rows[:REJECTED_PRINTED]:
            self.stdout.write(f"row {row['row']}: {row['reason']}")
        if result.rejected > REJECTED_PRINTED:
            self.stdout.write(f"... and {result.rejected - REJECTED_PRINTED} more rejected rows")
        if rejected is not None:
            with rejected.open("w", newline="", encoding="utf-8") as out:
                writer = csv.writer(out)
                for row in rejected_rows_csv(result.as_dict()):
                    writer.writerow([neutralise_cell(cell) for cell in row])
