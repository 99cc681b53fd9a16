"""Write-behind state: nothing released before it is stored, newest value read back, order kept, retries."""

from __future__ import annotations

import threading
import time

import pytest

from streamloop.runtime.context import FunctionContext
from streamloop.runtime.state import MemoryStateStore
from streamloop.worker import writebehind
from streamloop.worker.writebehind import WriteBehindState, writes_behind


class SlowState:
    """A remote-like store: each ``put_state`` waits for ``gate``; can fail its first ``failures`` puts."""

    def __init__(self, failures: int = 0) -> None:
        self.values: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.failures = failures

    def put_state(self, key: str, value: str) -> None:
        assert self.gate.wait(10)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("table service unavailable")
        self.values[key] = value
        self.log.append((key, value))

    def get_state(self, key: str) -> bytes | None:
        value = self.values.get(key)
        return None if value is None else value.encode()


class Input:
    def __init__(self) -> None:
        self.released = threading.Event()

    def release(self) -> None:
        self.released.set()


def test_inputs_are_released_only_after_their_batch_is_stored() -> None:
    store = SlowState()
    state = WriteBehindState(store, background=True)
    first = Input()
    state.put_state("window:a", "1")
    state.commit([first])
    assert not first.released.wait(0.2)
    assert state.get_state("window:a") == b"1"  # read back while it is being written
    store.gate.set()
    assert first.released.wait(5)
    assert store.values == {"window:a": "1"}


def test_batches_queued_meanwhile_are_merged_newest_value_last_put_last() -> None:
    store = SlowState()
    state = WriteBehindState(store, background=True)
    inputs = [Input() for _ in range(3)]
    state.put_state("held", "0")
    state.commit([inputs[0]])  # the writer takes it and blocks on the gate
    deadline = time.monotonic() + 5
    while not state._writing and time.monotonic() < deadline:  # the writer has taken it
        time.sleep(0.01)
    state.put_state("ck/1/0", "old chunk")
    state.put_state("ck", "manifest slot 1")
    state.commit([inputs[1]])
    state.put_state("ck/0/0", "new chunk")
    state.put_state("ck", "manifest slot 0")
    state.commit([inputs[2]])
    assert state.get_state("ck") == b"manifest slot 0"
    store.gate.set()
    assert all(i.released.wait(5) for i in inputs)
    assert store.log == [
        ("held", "0"),
        ("ck/1/0", "old chunk"),
        ("ck/0/0", "new chunk"),
        ("ck", "manifest slot 0"),  # the manifest once, after both chunks
    ]


def test_a_failed_store_is_retried_and_only_then_released(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writebehind, "RETRY_SECONDS", (0.05,))
    store = SlowState(failures=2)
    store.gate.set()
    state = WriteBehindState(store, background=True)
    done = Input()
    state.put_state("k", "v")
    state.commit([done])
    assert done.released.wait(5)
    assert store.values == {"k": "v"} and store.failures == 0


def test_inline_commit_raises_and_keeps_the_rest_open() -> None:
    store = SlowState(failures=1)
    store.gate.set()
    state = WriteBehindState(store, background=False)
    done = Input()
    state.put_state("k", "v")
    with pytest.raises(ConnectionError):
        state.commit([done])
    assert not done.released.is_set() and state.get_state("k") == b"v"
    state.commit([done])
    assert done.released.is_set() and store.values == {"k": "v"}


def test_only_remote_state_is_written_behind() -> None:
    assert writes_behind(object())  # Pulsar's own ContextImpl: BookKeeper's table service
    embedded = FunctionContext.__new__(FunctionContext)
    embedded.state = MemoryStateStore()
    assert not writes_behind(embedded)
