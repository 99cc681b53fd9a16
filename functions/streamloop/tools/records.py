"""Datasets on disk: JSON Lines or CSV files of records, read the same way by ``replay`` and ``train``.

CSV cells that look like numbers become numbers (``true``/``false`` become booleans) and empty cells are
left out, so a CSV export and its JSONL twin give the same records.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> _ = (folder / "events.csv").write_text("id,key,amount,fraud\\ne1,u1,12.5,false\\ne2,u2,,true\\n")
>>> read_records(folder / "events.csv")
[{'id': 'e1', 'key': 'u1', 'amount': 12.5, 'fraud': False}, {'id': 'e2', 'key': 'u2', 'fraud': True}]
>>> write_jsonl(folder / "events.jsonl", read_records(folder / "events.csv"))
2
>>> read_records(folder / "events.jsonl")[1]
{'id': 'e2', 'key': 'u2', 'fraud': True}
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

_BOOLEANS = {"true": True, "false": False}


def cell(text: str) -> Any:
    """A CSV cell as a number, a boolean or the text itself.

    >>> cell("3"), cell("2.5"), cell("True"), cell("web"), cell("007")
    (3, 2.5, True, 'web', '007')
    """
    lowered = text.strip().lower()
    if lowered in _BOOLEANS:
        return _BOOLEANS[lowered]
    if not (len(text) > 1 and text.startswith("0") and text[1].isdigit()):  # keep ids like "007" text
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
    return text


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """Every record of a ``.csv`` file (header row first) or a JSON Lines file (any other name).

    Raises ``ValueError`` naming the file and line of the first malformed record.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            return [
                {k: cell(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(handle)
            ]
    records = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: invalid JSON ({error})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            records.append(record)
    return records


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write records as JSON Lines (creating parent folders); returns how many."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with path.open("wb") as handle:
        for record in records:
            handle.write(orjson.dumps(record) + b"\n")
            count += 1
    return count
