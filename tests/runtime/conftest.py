"""A tiny StreamFunction for runtime tests, importable as ``streamloop.test_relay.Relay``."""

from __future__ import annotations

import sys
import types

import pytest
from pydantic import Field

from streamloop.worker.codec import decode_object, encode
from streamloop.worker.config import UserConfig
from streamloop.worker.function import StreamFunction


class RelayConfig(UserConfig):
    out: str = "out"
    factor: float = Field(1.0, gt=0)


class Relay(StreamFunction[RelayConfig]):
    """Forwards each record to ``out`` (key kept); ``{"hold": true}`` records stay unacked."""

    Config = RelayConfig

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, int]] = []  # (id, redelivery count)
        self.held = []

    def on_message(self, delivery, context) -> None:
        record = decode_object(delivery.payload)
        self.seen.append((record["id"], context.message.redelivery_count()))
        if record.get("hold"):
            delivery.hold()
            self.held.append(delivery)
        context.incr_counter("processed", 1)
        self.record("factor", self.config.factor)
        self.publish(self.config.out, encode(record), key=delivery.key, acks=[delivery])


@pytest.fixture
def relay(monkeypatch) -> type[Relay]:
    """The ``Relay`` class, also importable as ``streamloop.test_relay.Relay`` (runner YAML tests)."""
    module = types.ModuleType("streamloop.test_relay")
    module.Relay = Relay
    monkeypatch.setitem(sys.modules, "streamloop.test_relay", module)
    return Relay
