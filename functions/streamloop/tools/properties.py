"""Java ``.properties`` files, read as ``java.util.Properties.load`` reads them (Pulsar's ``client.conf``).

No maintained parser (``javaproperties``, ``jproperties``) is among the tools' dependencies, and the format
is small: a logical line continues on the next natural line after an odd number of trailing backslashes
(the next line's leading white space dropped); a line whose first non-blank character is ``#`` or ``!``
is a comment (a trailing backslash does not continue it); the key ends at the first unescaped ``=``,
``:`` or white space, then white space and one ``=`` or ``:`` are skipped; ``\\t \\n \\r \\f \\uXXXX``
are escapes and a backslash before any other character stands for that character. Later keys win.

>>> parse("# a comment\\nwebServiceUrl=https://pulsar:8443/\\nauthPlugin : org.Token\\n")
{'webServiceUrl': 'https://pulsar:8443/', 'authPlugin': 'org.Token'}
>>> parse("list = a,\\\\\\n       b\\nempty\\nspaced\\\\ key value\\n")
{'list': 'a,b', 'empty': '', 'spaced key': 'value'}
"""

from __future__ import annotations

import re
from pathlib import Path

BLANK = " \t\f"
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_NATURAL_LINE = re.compile(r"\r\n|\r|\n")


def parse(text: str) -> dict[str, str]:
    """The key → value pairs of a ``.properties`` text; a malformed escape is a ``ValueError`` naming the
    key (never the value: it may be a secret)."""
    pairs: dict[str, str] = {}
    for line in _logical_lines(text):
        key, value = _split(line)
        try:
            pairs[_unescape(key)] = _unescape(value)
        except ValueError as error:
            raise ValueError(f"{key}: {error}") from None
    return pairs


def load(path: str | Path) -> dict[str, str]:
    """The pairs of a ``.properties`` file (UTF-8, which is ASCII for every Pulsar key)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return parse(text)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    pending: str | None = None  # a logical line continued on the next natural line
    for natural in _NATURAL_LINE.split(text):
        stripped = natural.lstrip(BLANK)
        if pending is None and (not stripped or stripped[0] in "#!"):
            continue
        trailing = len(stripped) - len(stripped.rstrip("\\"))
        continued = trailing % 2 == 1
        part = stripped[:-1] if continued else stripped
        pending = part if pending is None else pending + part
        if not continued:
            lines.append(pending)
            pending = None
    if pending is not None:  # a continuation at the end of the file
        lines.append(pending)
    return lines


def _split(line: str) -> tuple[str, str]:
    """The raw (still escaped) key and value of a logical line."""
    index = 0
    while index < len(line) and line[index] not in "=:" + BLANK:
        index += 2 if line[index] == "\\" else 1
    key, rest = line[:index], line[index:].lstrip(BLANK)
    if rest[:1] in ("=", ":"):
        rest = rest[1:].lstrip(BLANK)
    return key, rest


def _unescape(raw: str) -> str:
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\" or index + 1 == len(raw):
            out.append(char)
            index += 1
            continue
        escaped = raw[index + 1]
        if escaped == "u":
            digits = raw[index + 2 : index + 6]
            if not re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                raise ValueError("malformed \\uXXXX escape")
            out.append(chr(int(digits, 16)))
            index += 6
        else:
            out.append(ESCAPES.get(escaped, escaped))
            index += 2
    return "".join(out)
