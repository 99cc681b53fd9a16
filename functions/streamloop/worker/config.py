"""Configuration: the functions' ``userConfig`` schemas and the FunctionConfig YAML files around them.

Every function declares its settings as a pydantic model (constructor = configuration, as in river and
scikit-learn). A mistake fails when the function starts, naming the key and what was expected; the
``validate`` command and the runner also name the file.

>>> from pydantic import Field
>>> class Demo(UserConfig):
...     window: float = Field(3600.0, gt=0)
>>> parse_user_config(Demo, {"window": -5, "colour": "red"}, source="demo.yaml")
Traceback (most recent call last):
...
streamloop.worker.config.ConfigError: demo.yaml: userConfig.window: Input should be greater than 0 (got -5)
demo.yaml: userConfig.colour: unknown key
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streamloop.worker.codec import RawBytes

DEFAULT_NAMESPACE = "persistent://public/default"


def topic(name: str) -> str:
    """Fully qualified name of a topic in the default namespace.

    >>> topic("events")
    'persistent://public/default/events'
    """
    return name if "://" in name else f"{DEFAULT_NAMESPACE}/{name}"


_PARTITION = re.compile(r"(.+)-partition-\d+")


def base_topic(name: str) -> str:
    """The topic a partition belongs to: what a function configures, where Pulsar names the partition.

    A message of a partitioned topic reports its partition's name (``...-partition-N``) as its topic.

    >>> base_topic("persistent://public/default/labels-partition-3")
    'persistent://public/default/labels'
    >>> base_topic("persistent://public/default/labels")
    'persistent://public/default/labels'
    """
    match = _PARTITION.fullmatch(name)
    return match.group(1) if match else name


@dataclass(frozen=True)
class Problem:
    """One configuration mistake: where it is and what was expected."""

    source: str
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}: {self.key}: {self.message}"


class ConfigError(ValueError):
    """One or more configuration mistakes, each naming the file (or function) and the key."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UserConfig(BaseModel):
    """Settings shared by every function; each function's own model extends this one."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    dead_letter_topic: str = topic("dead-letters")
    """Where a message that can never be processed goes, with the reason in its ``error`` property."""
    metrics_topic: str = topic("metrics")
    """Where drift, promotion, rejection, expiry, checkpoint and window records go."""
    max_publish_delay_ms: int = Field(1, ge=0, le=1000)
    """Producer batching delay; 0 sends every message on its own."""
    batch_by_key: bool = True
    """Batch outputs per key; false lets a batch mix keys, so the broker stores and dispatches fewer,
    larger entries (a unique key per message, as event ids, makes one-message key batches). False suits
    outputs read on Shared or Failover, or on Key_Shared by one instance; a Key_Shared reader with
    parallelism > 1 needs key batches (a batch reaches one consumer whole), and ``validate`` says so."""
    max_record_bytes: int = Field(1_048_576, gt=0)
    """The largest input payload processed (bytes); a larger one goes to the dead-letter topic. Bounds the
    memory a message can take (the joiner holds up to ``2 × max_pending`` of them); Pulsar's own limit
    (``maxMessageSize``) is 5 MB."""


Config = TypeVar("Config", bound=UserConfig)


def _key_path(location: tuple[Any, ...]) -> str:
    path = "userConfig"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def whole_floats_as_ints(value: Any) -> Any:
    """``value`` with every float that is a whole number made an int, at any depth.

    Pulsar's ``functions update`` (``--parallelism`` too) hands a function's userConfig back through Gson,
    which makes every number a double: ``10`` comes back as ``10.0``. A float setting still takes an int.

    >>> whole_floats_as_ints({"every": 100.0, "rates": [0.5, 2.0], "on": True, "name": "f"})
    {'every': 100, 'rates': [0.5, 2], 'on': True, 'name': 'f'}
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: whole_floats_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_floats_as_ints(item) for item in value]
    return value


def parse_user_config(model: type[Config], values: Mapping[str, Any] | None, source: str) -> Config:
    """Validate a ``userConfig`` mapping against ``model``; ``source`` names the file or function.

    Strict, but a whole-number float is the int it spells (:func:`whole_floats_as_ints`).
    """
    try:
        return model.model_validate(whole_floats_as_ints(dict(values or {})))
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = tuple(p for p in item["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            if item["type"] == "extra_forbidden":
                message = "unknown key"
            else:
                message = f"{item['msg']} (got {item['input']!r})" if "input" in item else item["msg"]
            problems.append(Problem(source, _key_path(location), message))
        raise ConfigError(problems) from None


# The SerDe of every input, named where the worker package defines it.
RAW_BYTES = f"{RawBytes.__module__}.{RawBytes.__qualname__}"
# Every key of Pulsar 4.0's FunctionConfig (pulsar-admin ignores the ones it does not know).
FUNCTION_CONFIG_KEYS = frozenset(
    [
        "tenant",
        "namespace",
        "name",
        "className",
        "classname",
        "py",
        "jar",
        "go",
        "runtime",
        "inputs",
        "topicsPattern",
        "customSerdeInputs",
        "customSchemaInputs",
        "customSchemaOutputs",
        "inputSpecs",
        "inputTypeClassName",
        "output",
        "outputSerdeClassName",
        "outputSchemaType",
        "outputTypeClassName",
        "producerConfig",
        "batchBuilder",
        "logTopic",
        "processingGuarantees",
        "autoAck",
        "retainOrdering",
        "retainKeyOrdering",
        "subName",
        "subscriptionPosition",
        "skipToLatest",
        "cleanupSubscription",
        "timeoutMs",
        "maxMessageRetries",
        "deadLetterTopic",
        "parallelism",
        "resources",
        "runtimeFlags",
        "customRuntimeOptions",
        "userConfig",
        "secrets",
        "forwardSourceMessageProperty",
        "windowConfig",
        "fqfn",
        "functionType",
        "maxPendingAsyncRequests",
        "exposePulsarAdminClientEnabled",
    ]
) - {"classname"}


SPLIT_KEYS = (
    "{parallelism} instances of a function with several inputs on Key_Shared would split a key's messages: "
    "Pulsar's Python runtime subscribes to each input on its own, under a random consumer name, and "
    "Key_Shared gives each topic's key ranges to consumers by name, so a key's messages on two inputs "
    "reach different instances; keep parallelism: 1 (docs/production.md)"
)


@dataclass
class FunctionFile:
    """A Pulsar FunctionConfig YAML file, as ``pulsar-admin functions create`` reads it."""

    path: Path
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> FunctionFile:
        path = Path(path)
        try:
            config = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as error:
            raise ConfigError([Problem(str(path), "(file)", str(error))]) from None
        if not isinstance(config, dict):
            raise ConfigError([Problem(str(path), "(file)", "expected a mapping of FunctionConfig keys")])
        return cls(path, config)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or str(self.config.get("className", "")).rsplit(".", 1)[-1])

    @property
    def inputs(self) -> list[str]:
        return list(self.config.get("inputs") or []) + [
            t for t in (self.config.get("inputSpecs") or {}) if t not in (self.config.get("inputs") or [])
        ]

    def input_serde(self, topic_name: str) -> str | None:
        spec = (self.config.get("inputSpecs") or {}).get(topic_name) or {}
        return spec.get("serdeClassName") or (self.config.get("customSerdeInputs") or {}).get(topic_name)

    @property
    def parallelism(self) -> int:
        return int(self.config.get("parallelism") or 1)

    @property
    def key_shared(self) -> bool:
        """Whether its instances subscribe Key_Shared: ``retainKeyOrdering``, unless ``retainOrdering``."""
        return bool(self.config.get("retainKeyOrdering")) and not self.config.get("retainOrdering")

    @property
    def user_config(self) -> dict[str, Any]:
        return dict(self.config.get("userConfig") or {})

    @property
    def secrets(self) -> dict[str, Any]:
        return dict(self.config.get("secrets") or {})

    def check(self) -> list[Problem]:
        """Problems that Pulsar would silently accept but that break streamloop's guarantees."""
        src = str(self.path)
        problems = [
            Problem(src, key, "unknown FunctionConfig key (pulsar-admin would silently ignore it)")
            for key in self.config
            if key not in FUNCTION_CONFIG_KEYS
        ]
        if not self.config.get("className"):
            problems.append(Problem(src, "className", "required"))
        if self.config.get("processingGuarantees") != "MANUAL":
            problems.append(
                Problem(src, "processingGuarantees", "expected MANUAL (streamloop acks after publishing)")
            )
        if not self.inputs:
            problems.append(Problem(src, "inputs", "expected at least one input topic"))
        for name in self.inputs:
            if not name.startswith(("persistent://", "non-persistent://")):
                problems.append(
                    Problem(
                        src, f"inputs[{name}]", "expected a fully qualified topic (needed by context.ack)"
                    )
                )
            serde = self.input_serde(name)
            if serde != RAW_BYTES:
                problems.append(
                    Problem(
                        src,
                        f"inputSpecs.{name}.serdeClassName",
                        f"expected {RAW_BYTES}, got {serde!r} (the default SerDe rewrites payloads)",
                    )
                )
        topics = [(f"inputs[{name}]", name) for name in self.inputs]
        topics.append(("output", str(self.config.get("output") or "")))
        topics += [(f"userConfig.{k}", str(v)) for k, v in self.user_config.items() if k.endswith("_topic")]
        for key, name in topics:
            if base_topic(name) != name:
                problems.append(
                    Problem(src, key, f"names one partition ({name}): expected the topic, {base_topic(name)}")
                )
        if self.config.get("skipToLatest"):
            problems.append(Problem(src, "skipToLatest", "crashes Pulsar 4.0's Python instance; remove it"))
        parallelism = self.config.get("parallelism") or 1
        if len(self.inputs) > 1 and self.config.get("retainKeyOrdering") and int(parallelism) > 1:
            problems.append(Problem(src, "parallelism", SPLIT_KEYS.format(parallelism=parallelism)))
        return problems
