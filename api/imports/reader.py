"""An uploaded list as rows: CSV (UTF-8, with or without BOM) or XLSX (its first sheet).

The first row names the columns (`domain.imports.LAYOUTS`); wholly empty rows are skipped.
Each row comes with the line it starts on, which the report of rejected rows names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from domain.imports import LAYOUTS, unknown_columns

if TYPE_CHECKING:
    from collections.abc import Iterator

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_ZIP_MAGIC = b"PK\x03\x04"


class ImportFileError(ValueError):
    """The file as a whole cannot be imported; the message says what to change."""


@dataclass(frozen=True)
class ImportFile:
    """A checked file of one source: its digest, header and number of rows."""

    source: str
    data: bytes
    xlsx: bool
    digest: str
    header: tuple[str, ...]
    total_rows: int

    def rows(self, skip: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
        """(line, cells by column) of every row after the first `skip` rows."""
        rows = _xlsx_rows(self.data) if self.xlsx else _csv_rows(self.data)
        next(rows, None)  # the header
        index = 0
        for line, cells in rows:
            if not any(cells):
                continue
            index += 1
            if index > skip:
                yield line, dict(zip(self.header, cells, strict=False))


def open_import(data: bytes, source: str, *, xlsx: bool | None = None) -> ImportFile:
    """The file checked as a whole (format, header). `xlsx` None: told by its first bytes."""
    if source not in LAYOUTS:
        raise ImportFileError(f"unknown source {source!r}; one of {', '.join(LAYOUTS)}")
    if not data.strip():
        raise ImportFileError("the file is empty; send a header row and at least one row")
    is_xlsx = data.startswith(_ZIP_MAGIC) if xlsx is None else xlsx
    rows = _xlsx_rows(data) if is_xlsx else _csv_rows(data)
    first = next(rows, None)
    header = tuple(c.strip().lower() for c in first[1]) if first else ()
    unknown, missing = unknown_columns(source, list(header))
    if unknown or missing or len(set(header)) != len(header):
        raise ImportFileError(
            f"the header must name columns among {','.join(LAYOUTS[source].columns)} once "
            f"each, with {', '.join(c for c in ('id_number', 'name', 'division_code'))} "
            f"(unknown: {','.join(unknown) or 'none'}; missing: {','.join(missing) or 'none'})")
    total = sum(1 for _, cells in rows if any(cells))
    return ImportFile(source, data, is_xlsx, hashlib.sha256(data).hexdigest(), header, total)


def _csv_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportFileError("the file is not UTF-8 text (nor an XLSX workbook); save it as "
                              "'CSV UTF-8' or XLSX") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    try:
        for cells in reader:
            yield line, [c.strip() for c in cells]
            line = reader.line_num + 1
    except csv.Error as error:
        raise ImportFileError(f"line {line}: not valid CSV ({error})") from None


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise ImportFileError("the file is not an XLSX workbook; send XLSX or CSV") from None
    try:
        sheet = book.worksheets[0]
        for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield line, [_cell(v) for v in values]
    finally:
        book.close()


def _cell(value: Any) -> str:
    """A cell as the text it shows: whole numbers without '.0', dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
