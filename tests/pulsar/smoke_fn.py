"""A tiny Pulsar Function used only by the real-Pulsar smoke test (never part of the product package).

For each input it bumps a per-key counter kept in function state, publishes ``<input>|<count>`` to the
output topic with the input's key, and acks the input (``processingGuarantees: MANUAL``) once that publish
is confirmed.
"""

from __future__ import annotations

from typing import Any

import pulsar


class KeyedEcho:
    """``process(input, context)``: keyed publish with a confirmed-publish ack, plus a state counter."""

    def process(self, input: bytes, context: Any) -> None:
        key = context.get_message_key() or ""
        message_id = context.get_message_id()
        topic = context.get_current_message_topic_name()
        previous = context.get_state(f"count.{key}")
        count = int(previous.decode()) + 1 if previous else 1
        context.put_state(f"count.{key}", str(count))

        def confirmed(result: Any, _published_id: Any) -> None:
            if result == pulsar.Result.Ok:
                context.ack(message_id, topic)

        payload = bytes(input) + b"|" + str(count).encode()
        context.publish(
            context.get_output_topic(),
            payload,
            serde_class_name="streamloop.worker.codec.RawBytes",
            message_conf={"partition_key": key},
            callback=confirmed,
        )
