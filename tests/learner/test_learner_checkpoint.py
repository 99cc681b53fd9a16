"""Checkpoints: signed, chunked, atomic; a checkpoint that fails its HMAC is refused and never unpickled."""

from __future__ import annotations

import base64
import json
import pickle

import pytest

from streamloop.worker.learner.checkpoint import MAGIC, CheckpointError, CheckpointStore, seal
from streamloop.worker.learner.dedup import IdWindow

EXPLODED: list[str] = []


def explode(reason: str) -> None:
    EXPLODED.append(reason)


class Bomb:
    """Unpickling this calls :func:`explode`: a stand-in for ``os.system``."""

    def __reduce__(self):
        return (explode, ("unpickled!",))


class State(dict):
    """Pulsar's state API: ``put_state(key, str)``, ``get_state(key) -> bytes``; deleting stores ``""``."""

    def put_state(self, key: str, value: str) -> None:
        assert isinstance(value, str)
        self[key] = value.encode()

    def delete_state(self, key: str) -> None:
        self.put_state(key, "")

    def get_state(self, key: str) -> bytes | None:
        return self.get(key)


@pytest.fixture(autouse=True)
def no_explosions():
    EXPLODED.clear()
    yield
    assert EXPLODED == []


def test_round_trip_and_chunks():
    state = State()
    store = CheckpointStore(state, "ck", b"key", chunk_chars=1000)
    value = {"ids": [f"e{i}" for i in range(2000)]}
    size = store.save(value)
    assert size > 1000
    assert all(len(v) <= 1000 for v in state.values())
    assert json.loads(state["ck"])["chunks"] == -(-size // 1000)
    assert CheckpointStore(state, "ck", b"key", chunk_chars=1000).load() == value


def test_nothing_stored_yet():
    assert CheckpointStore(State(), "ck", b"key").load() is None


def test_a_new_slot_each_save_so_a_crash_mid_save_keeps_the_previous_checkpoint():
    state = State()
    store = CheckpointStore(state, "ck", b"key")
    store.save("first")
    manifest = state["ck"]

    class Crash(State):
        def put_state(self, key, value):
            if key == "ck":
                raise RuntimeError("crashed before the manifest")
            super().put_state(key, value)

    crashing = Crash(state)
    with pytest.raises(RuntimeError):
        CheckpointStore(crashing, "ck", b"key").save("second")
    assert crashing["ck"] == manifest
    assert CheckpointStore(crashing, "ck", b"key").load() == "first"


def signed_blob(state: State) -> bytes:
    return base64.b64decode(state["ck/0/0"])


def put_blob(state: State, blob: bytes) -> None:
    state.put_state("ck/0/0", base64.b64encode(blob).decode())
    state.put_state("ck", json.dumps({"format": 1, "slot": 0, "chunks": 1}))


@pytest.mark.parametrize("position", [len(MAGIC) + 3, -1, -20])
def test_a_tampered_checkpoint_is_refused(position):
    state = State()
    CheckpointStore(state, "ck", b"key").save({"weights": {"a": 1.0}})
    blob = bytearray(signed_blob(state))
    blob[position] ^= 0x01
    put_blob(state, bytes(blob))
    with pytest.raises(CheckpointError, match="HMAC mismatch"):
        CheckpointStore(state, "ck", b"key").load()


def test_a_pickle_bomb_without_the_key_is_never_unpickled():
    state = State()
    payload = pickle.dumps(Bomb())
    # signed with another key, unsigned, and with a forged (zero) MAC
    for blob in (seal(Bomb(), b"attacker"), payload, MAGIC + bytes(32) + payload):
        put_blob(state, blob)
        with pytest.raises(CheckpointError):
            CheckpointStore(state, "ck", b"key").load()
    assert EXPLODED == []


def test_the_right_key_does_load_what_it_signed():
    state = State()
    put_blob(state, seal(Bomb(), b"key"))
    CheckpointStore(state, "ck", b"key").load()
    assert EXPLODED == ["unpickled!"]  # so the test above proves the HMAC, not a broken payload
    EXPLODED.clear()


@pytest.mark.parametrize(
    ("manifest", "chunk", "message"),
    [
        ("not json", None, "malformed manifest"),
        (json.dumps({"format": 1, "slot": 0}), None, "malformed manifest"),
        (json.dumps({"format": 2, "slot": 0, "chunks": 1}), None, "unsupported manifest"),
        (json.dumps({"format": 1, "slot": -1, "chunks": 1}), None, "unsupported manifest"),
        (json.dumps({"format": 1, "slot": 0, "chunks": 2}), "QUJD", "chunk 1 of 2 is missing"),
        (json.dumps({"format": 1, "slot": 0, "chunks": 1}), "!!not base64!!", "not valid base64"),
        (json.dumps({"format": 1, "slot": 0, "chunks": 1}), "QUJD", "bad header"),
    ],
)
def test_malformed_checkpoints_are_refused(manifest, chunk, message):
    state = State()
    state.put_state("ck", manifest)
    if chunk is not None:
        state.put_state("ck/0/0", chunk)
    with pytest.raises(CheckpointError, match=message):
        CheckpointStore(state, "ck", b"key").load()


def window_of(ids: list[str], limit: int, every: int) -> IdWindow:
    window = IdWindow()
    for i, example_id in enumerate(ids, 1):
        window.add(example_id, limit)
        if i % every == 0:
            window.close_segment()
    return window


def test_id_segments_are_written_once_and_restore_the_same_window():
    state = State()
    store = CheckpointStore(state, "ck", b"key")
    ids = [f"é{i}" for i in range(50)]
    window = IdWindow()
    writes: list[str] = []
    for i, example_id in enumerate(ids, 1):
        window.add(example_id, 12)
        if i % 5 == 0:
            window.close_segment()
            before = set(state)
            store.save({"ids": window})
            writes += [k for k in set(state) - before if "/segment/" in k]
    live = [k for k, v in state.items() if "/segment/" in k and v]
    assert len(writes) == len(set(writes)) and len(live) == 3  # 12 ids need 3 segments of 5
    loaded = CheckpointStore(state, "ck", b"key").load()["ids"]
    assert list(loaded) == list(window) == ids[-12:]


def test_checkpoint_cost_does_not_grow_with_the_window():
    sizes = []
    for n in (1000, 20000):
        store = CheckpointStore(State(), "ck", b"key")
        window = window_of([f"e{i}" for i in range(n)], limit=100_000, every=100)
        store.save({"ids": window})
        window.add("last", 100_000)
        window.close_segment()
        sizes.append(store.save({"ids": window}))
    assert sizes[1] < 20 * sizes[0]  # references only, not the 20x more ids


@pytest.mark.parametrize("change", ["tamper", "delete"])
def test_a_changed_or_missing_segment_is_refused(change):
    state = State()
    CheckpointStore(state, "ck", b"key").save({"ids": window_of(["a", "b", "c"], 10, 3)})
    (segment,) = [k for k in state if "/segment/" in k]
    if change == "tamper":
        state.put_state(segment, '["a","b","x"]')
    else:
        del state[segment]
    with pytest.raises(CheckpointError, match=r"does not match|missing"):
        CheckpointStore(state, "ck", b"key").load()
