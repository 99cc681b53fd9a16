"""Model messages: ONNX bytes that carry their own metadata (``metadata_props``).

A TableView hands the scorer message values only, so everything the scorer needs travels inside the ONNX
file; the message properties repeat it for people and tools (``pulsar-admin topics examine-message``).

>>> import onnx
>>> proto = onnx.ModelProto()
>>> meta = {"version": "3", "feature_names": ["a", "b"], "task": "classification", "classes": [False, True]}
>>> payload = attach_metadata(proto, meta)
>>> read_metadata(payload)["feature_names"]
'["a","b"]'
>>> message_properties(meta)["classes"]
'[false,true]'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import onnx
import orjson


def _text(value: Any) -> str:
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def message_properties(metadata: Mapping[str, Any]) -> dict[str, str]:
    """Metadata as Pulsar message properties (strings; lists and numbers as JSON)."""
    return {key: _text(value) for key, value in metadata.items() if value is not None}


def attach_metadata(model: onnx.ModelProto, metadata: Mapping[str, Any]) -> bytes:
    """Set ``metadata_props`` (replacing keys that exist) and return the serialized model."""
    props = message_properties(metadata)
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model.SerializeToString()


def read_metadata(payload: bytes) -> dict[str, str]:
    """The ``metadata_props`` of serialized ONNX bytes."""
    model = onnx.load_from_string(payload)
    return {p.key: p.value for p in model.metadata_props}
