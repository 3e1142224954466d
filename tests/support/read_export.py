"""Reads a copyhound export back with independent parsers and prints it as JSON.

usage: python3 read_export.py csv FILE    (Python's csv module)
       python3 read_export.py xlsx FILE   (openpyxl)

Prints {"bom": bool, "header": [...], "rows": [[...], ...], "freeze_panes": ...,
"types": [[...], ...]}: every cell as text (dates in ISO 8601, as openpyxl reads real
date cells back as datetimes), and for XLSX each cell's openpyxl data type ("s" string,
"n" number, "b" boolean, "d" date) so the test can check what Excel will see.
"""

import csv
import datetime
import json
import sys


def text(value):
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_csv(path):
    with open(path, "rb") as f:
        bom = f.read(3) == b"\xef\xbb\xbf"
    # newline="" is what the csv module asks for: quoted line breaks stay in their cell.
    with open(path, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, strict=True))
    return {"bom": bom, "header": rows[0], "rows": rows[1:]}


def read_xlsx(path):
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows())
    return {
        "bom": False,
        "sheet": sheet.title,
        "freeze_panes": sheet.freeze_panes,
        "header": [c.value for c in rows[0]],
        "rows": [[text(c.value) for c in r] for r in rows[1:]],
        "types": [[c.data_type if c.value is not None else None for c in r] for r in rows[1:]],
        "widths": {k: v.width for k, v in sheet.column_dimensions.items()},
    }


def main():
    kind, path = sys.argv[1], sys.argv[2]
    result = read_csv(path) if kind == "csv" else read_xlsx(path)
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
