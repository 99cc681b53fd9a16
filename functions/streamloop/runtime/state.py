"""Function state stores: the key/value table behind ``put_state``, ``get_state`` and the counters.

They mirror Pulsar's BookKeeper table (``state_context.py``): values go in as ``str`` and come out as
``bytes``; a counter is an int64 stored big-endian under its key, so ``get_state`` on a counter returns
its 8 bytes. Keys are shared by every instance of a function.

>>> store = MemoryStateStore()
>>> store.put("model", "abc")
>>> store.get_value("model")
b'abc'
>>> store.incr("seen", 2); store.incr("seen", 3); store.get_amount("seen")
5
>>> store.put("model", b"abc")
Traceback (most recent call last):
...
TypeError: put_state takes a str value (Pulsar encodes it as UTF-8), got bytes

Like the table service, a store refuses a key and value longer than :data:`MAX_ENTRY_BYTES` together:

>>> store.put("big", "x" * MAX_ENTRY_BYTES)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
streamloop.runtime.state.ValueTooLarge: put_state('big'): 1040387 bytes of key and value, ...
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import quote

# BookKeeper's table service journals each put as one DistributedLog record, of at most
# LogRecord.MAX_LOGRECORD_SIZE = 1 MiB - 8 KiB (distributedlog-core LogRecord.java); a bigger put fails.
MAX_ENTRY_BYTES = 1024 * 1024 - 8 * 1024


class ValueTooLarge(ValueError):
    """A ``put_state`` the table service would refuse: key and value over :data:`MAX_ENTRY_BYTES`."""


class StateStore:
    """Pulsar's ``StateContext`` operations over raw ``_read``/``_write``/``_delete`` of one table."""

    def _read(self, key: str) -> bytes | None:
        raise NotImplementedError

    def _write(self, key: str, value: bytes) -> None:
        raise NotImplementedError

    def _delete(self, key: str) -> None:
        raise NotImplementedError

    def put(self, key: str, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(
                f"put_state takes a str value (Pulsar encodes it as UTF-8), got {type(value).__name__}"
            )
        data = value.encode("utf-8")
        size = len(key.encode("utf-8")) + len(data)
        if size > MAX_ENTRY_BYTES:
            raise ValueTooLarge(
                f"put_state({key!r}): {size} bytes of key and value, "
                f"the table service takes at most {MAX_ENTRY_BYTES}"
            )
        self._write(key, data)

    def get_value(self, key: str) -> bytes | None:
        return self._read(key)

    def incr(self, key: str, amount: int) -> None:
        self._write(key, ((self.get_amount(key) or 0) + int(amount)).to_bytes(8, "big", signed=True))

    def get_amount(self, key: str) -> int | None:
        value = self._read(key)
        return None if value is None else int.from_bytes(value, "big", signed=True)

    def delete_key(self, key: str) -> None:
        self._delete(key)


class MemoryStateStore(StateStore):
    """State in a dict: survives an instance restart, not the process."""

    def __init__(self) -> None:
        self.table: dict[str, bytes] = {}

    def _read(self, key: str) -> bytes | None:
        return self.table.get(key)

    def _write(self, key: str, value: bytes) -> None:
        self.table[key] = value

    def _delete(self, key: str) -> None:
        self.table.pop(key, None)


class DirectoryStateStore(StateStore):
    """State in files, one per key, replaced atomically: survives process restarts (``--state-dir``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def _file(self, key: str) -> Path:
        return self.path / ("k-" + quote(key, safe=""))  # never "", "." or ".."; never a temp file

    def _read(self, key: str) -> bytes | None:
        try:
            return self._file(key).read_bytes()
        except FileNotFoundError:
            return None

    def _write(self, key: str, value: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(value)
        os.replace(tmp, self._file(key))

    def _delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)
