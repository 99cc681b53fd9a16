"""How output producers batch: per key unless told otherwise (scaled Key_Shared readers need key batches)."""

from __future__ import annotations

from typing import Any

import pulsar
import pytest
from cli_run import CONFIG_DIR

from streamloop.runtime.definition import define
from streamloop.worker.config import FunctionFile, UserConfig, parse_user_config
from streamloop.worker.function import StreamFunction


class RecordingClient:
    def __init__(self) -> None:
        self.producers: dict[str, dict[str, Any]] = {}

    def create_producer(self, topic: str, **options: Any) -> object:
        self.producers[topic] = options
        return object()


class Context:
    def __init__(self) -> None:
        self.client = RecordingClient()

    def get_pulsar_client(self) -> RecordingClient:
        return self.client


@pytest.mark.parametrize(
    ("user_config", "batching_type", "delay"),
    [
        ({}, pulsar.BatchingType.KeyBased, 1),
        ({"batch_by_key": False, "max_publish_delay_ms": 10}, pulsar.BatchingType.Default, 10),
    ],
)
def test_outputs_batch_per_key_unless_batch_by_key_is_false(
    user_config: dict[str, Any], batching_type: pulsar.BatchingType, delay: int
) -> None:
    function: StreamFunction[UserConfig] = StreamFunction()
    function.config = parse_user_config(UserConfig, user_config, source="test")
    function.context = Context()
    function._producer("persistent://public/default/out")
    options = function.context.client.producers["persistent://public/default/out"]
    assert options["batching_type"] == batching_type
    assert options["batching_enabled"] and options["batching_max_publish_delay_ms"] == delay


def test_a_zero_delay_sends_each_message_on_its_own() -> None:
    function: StreamFunction[UserConfig] = StreamFunction()
    function.config = parse_user_config(UserConfig, {"max_publish_delay_ms": 0}, source="test")
    function.context = Context()
    function._producer("out")
    assert function.context.client.producers["out"]["batching_enabled"] is False


def test_the_shipped_scorer_batches_predictions_across_keys_for_10_ms() -> None:
    """Keyed by event id, key batches would hold one prediction each; the joiner is one instance."""
    function: StreamFunction[UserConfig] = StreamFunction()
    function.config = define(FunctionFile.load(CONFIG_DIR / "scorer.yaml")).config
    function.context = Context()
    function._producer("persistent://public/default/predictions")
    options = function.context.client.producers["persistent://public/default/predictions"]
    assert options["batching_type"] == pulsar.BatchingType.Default
    assert options["batching_enabled"] and options["batching_max_publish_delay_ms"] == 10
