"""Write-behind state: released only once stored, newest value read back, crash-safe order, retries."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamloop.runtime.seam import Driven
from streamloop.worker import seam
from streamloop.worker.learner.checkpoint import CheckpointStore
from streamloop.worker.learner.dedup import IdWindow
from streamloop.worker.seam import Threads
from streamloop.worker.writebehind import WriteBehindState


class Recording:
    """Logs every ``put_state`` in order; ``gate`` holds puts back; the first ``failures`` puts fail."""

    def __init__(self, failures: int = 0, failing: frozenset[int] = frozenset()) -> None:
        self.values: dict[str, str] = {}
        self.log: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.failures = failures
        self.failing = failing  # which put attempts (counted from 0) fail
        self.attempts = 0

    def put_state(self, key: str, value: str) -> None:
        assert self.gate.wait(10)
        self.attempts += 1
        if self.failures or self.attempts - 1 in self.failing:
            self.failures = max(self.failures - 1, 0)
            raise ConnectionError("table service unavailable")
        self.values[key] = value
        self.log.append((key, value))

    def get_state(self, key: str) -> bytes | None:
        value = self.values.get(key)
        return None if value is None else value.encode()


class Input:
    def __init__(self) -> None:
        self.holds = 0
        self.released = threading.Event()

    def hold(self) -> None:
        self.holds += 1

    def release(self) -> None:
        self.holds -= 1
        if self.holds == 0:
            self.released.set()


def test_inputs_are_released_only_after_their_batch_is_stored_by_the_writer_thread() -> None:
    store = Recording()
    store.gate.clear()
    state = WriteBehindState(store, Threads())
    first = Input()
    state.put_state("window:a", "1")
    state.hold(first)
    state.commit()  # returns at once: the thread stores it
    assert not first.released.wait(0.2)
    assert state.get_state("window:a") == b"1"  # read back while it is being written
    store.gate.set()
    assert first.released.wait(5)
    assert store.values == {"window:a": "1"}


def test_the_embedded_seam_stores_between_messages() -> None:
    store, driven = Recording(), Driven()
    state = WriteBehindState(store, driven)
    held = Input()
    state.put_state("k", "v")
    state.hold(held)
    state.commit()
    assert store.values == {} and not held.released.is_set()  # nothing is written inside process()
    assert driven.run() == 1
    assert store.values == {"k": "v"} and held.released.is_set()
    assert driven.run() == 0


def test_batches_committed_meanwhile_are_merged_puts_first_deletions_last() -> None:
    store = Recording()
    state = WriteBehindState(store)
    state.put_state("ck/1/0", "A chunk")
    state.put_state("ck", "manifest slot 1")
    state.delete_state("ck/segment/0")  # A's checkpoint stops referring to segment 0
    state.commit()
    state.put_state("ck/segment/2", "B segment")
    state.put_state("ck/2/0", "B chunk")
    state.put_state("ck", "manifest slot 2")
    state.delete_state("ck/1/0")
    state.commit()
    assert state.get_state("ck") == b"manifest slot 2" and state.get_state("ck/1/0") is None
    assert state.step(timeout=0)
    assert store.log == [
        ("ck/segment/2", "B segment"),
        ("ck/2/0", "B chunk"),
        ("ck", "manifest slot 2"),  # the manifest once, after everything it refers to
        ("ck/segment/0", ""),  # deletions only after it: a crash anywhere leaves a loadable checkpoint
        ("ck/1/0", ""),
    ]


def test_a_failed_store_is_retried_by_the_thread_and_only_then_released(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(seam, "RETRY_SECONDS", (0.05,))
    failures: list[int] = []
    store = Recording(failures=2)
    state = WriteBehindState(store, Threads(), on_failure=lambda: failures.append(1))
    done = Input()
    state.put_state("k", "v")
    state.hold(done)
    state.commit()
    assert done.released.wait(5)
    assert store.values == {"k": "v"} and failures == [1, 1]


def test_a_failed_embedded_store_keeps_its_inputs_held_until_a_later_run_stores_it() -> None:
    store, driven = Recording(failures=1), Driven()
    state = WriteBehindState(store, driven)
    done = Input()
    state.put_state("k", "v")
    state.hold(done)
    state.commit()
    assert driven.run() == 0  # failed (logged), nothing released
    assert not done.released.is_set() and state.get_state("k") == b"v"
    assert driven.run() == 1
    assert done.released.is_set() and store.values == {"k": "v"}


# -- a crash after any prefix of any write sequence leaves a loadable checkpoint -------------------------

KEY, SECRET = "ck", b"secret"
# One step of a learner: learn some ids, then maybe checkpoint (commit), then maybe let the writer store
# everything committed so far (one merged write). Chunks of 40 chars make checkpoints of varying chunk counts.
# Some put attempts fail: the write stops there and is retried whole by the next one.
Step = tuple[int, bool, bool]
steps = st.lists(st.tuples(st.integers(0, 6), st.booleans(), st.booleans()), min_size=1, max_size=12)
failing = st.frozensets(st.integers(0, 80), max_size=4)


def write(state: WriteBehindState) -> bool:
    """One write of everything committed; whether there was something to write (stored or failed)."""
    try:
        return state.step(timeout=0)
    except ConnectionError:
        return True


def run_learner(
    plan: list[Step], fail: frozenset[int] = frozenset()
) -> tuple[list[tuple[str, str]], list[tuple[int, list[str]]]]:
    """Every ``put_state`` the store saw, in order, and every checkpoint saved (ids learned, id window)."""
    store = Recording(failing=fail)
    state = WriteBehindState(store)
    checkpoints = CheckpointStore(state, KEY, SECRET, chunk_chars=40)
    window = IdWindow()
    saved: list[tuple[int, list[str]]] = []
    n = 0
    for learned, checkpoint, flush in plan:
        for _ in range(learned):
            window.add(f"e{n}", limit=5)
            n += 1
        if checkpoint:
            window.close_segment()
            checkpoints.save({"ids": window, "n": n})
            saved.append((n, list(window)))
            state.commit()
        if flush:
            write(state)
    while write(state):  # the rest, however many retries it takes
        pass
    return store.log, saved


class Crashed(dict):
    """The state a crash left: what the prefix stored (``""`` reads as absent, as on Pulsar)."""

    def get_state(self, key: str) -> bytes | None:
        value = self.get(key)
        return value.encode() if value else None


@settings(max_examples=80, deadline=None)
@given(steps, failing)
def test_every_prefix_of_the_stored_writes_leaves_a_loadable_checkpoint(
    plan: list[Step], fail: frozenset[int]
) -> None:
    log, saved = run_learner(plan, fail)
    learned_before = -1
    for end in range(len(log) + 1):
        loaded = CheckpointStore(Crashed(log[:end]), KEY, SECRET).load()  # CheckpointError: not loadable
        if loaded is None:
            assert learned_before == -1  # nothing was stored yet
            continue
        checkpoint = (loaded["n"], list(loaded["ids"]))
        assert checkpoint in saved  # one of the checkpoints saved, whole
        assert checkpoint[0] >= learned_before  # never an older one than a shorter prefix left
        learned_before = checkpoint[0]
    if saved:
        final = CheckpointStore(Crashed(log), KEY, SECRET).load()
        assert (final["n"], list(final["ids"])) == saved[-1]


def test_the_merge_that_lost_a_segment_now_keeps_every_prefix_loadable() -> None:
    """Issue 12, defect 1: checkpoints P, Q stored, then A (drops segment 0) and B merged into one write."""
    plan = [(3, True, True), (3, True, True), (3, True, False), (3, True, True)]
    log, saved = run_learner(plan)
    for end in range(len(log) + 1):
        loaded = CheckpointStore(Crashed(log[:end]), KEY, SECRET).load()
        assert loaded is None or (loaded["n"], list(loaded["ids"])) in saved
    assert ("ck/segment/0", "") in log


def test_an_input_is_released_by_the_commit_after_its_window_is_flushed_not_by_an_earlier_one() -> None:
    from streamloop.worker.features import FeaturesConfig, Featurizer
    from streamloop.worker.features.store import StateCache

    store = Recording()
    state = WriteBehindState(store)
    spec = {"features": [{"name": "n", "kind": "window", "agg": "count", "window": 60}]}
    layout = Featurizer(FeaturesConfig.model_validate(spec).features).windows
    cache = StateCache(
        state, layout, flush_every=2, flush_seconds=60, cache_seconds=60, max_keys=10, now=0.0, shared=False
    )
    event = Input()
    event.hold()  # the one process() holds
    cache.updated("a", cache.get("a", 0.0), event)  # its window, in memory only
    event.release()
    state.put_state("serving/default/0", "model")  # other state of the same function, committed first
    state.commit()
    assert state.step(timeout=0) and not event.released.is_set()
    cache.flush(0.0)
    state.commit()
    assert state.step(timeout=0) and event.released.is_set()
    assert "window:a" in store.values
