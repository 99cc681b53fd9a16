"""The runtime's own ceiling on a real worker: a Pulsar Function that returns its input unchanged.

No streamloop code on the message path: Pulsar's instance deserializes (``RawBytes``), calls ``process``,
sends the return value and acks the input on confirmation (``ATLEAST_ONCE``).
"""

from __future__ import annotations

from typing import Any


class PlainIdentity:
    """``process`` returns the input bytes."""

    def process(self, input: Any, context: Any) -> Any:
        return input
