"""What to run: a FunctionConfig YAML turned into a checked :class:`FunctionDefinition`.

Subscription rules are python_instance.py's: the name is ``tenant/namespace/name`` unless ``subName``;
Shared by default, Failover with ``retainOrdering``, Key_Shared with ``retainKeyOrdering``; Latest unless
``subscriptionPosition: Earliest``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulsar

from streamloop.runtime.context import FunctionSpec
from streamloop.worker.config import ConfigError, FunctionFile, Problem, UserConfig, parse_user_config
from streamloop.worker.config import topic as qualify

DEFAULT_SERDE = "serde.IdentitySerDe"


@dataclass(frozen=True)
class FunctionDefinition:
    """One function to run: its class, what its Context exposes, and how its instances subscribe."""

    function_class: type
    spec: FunctionSpec
    source: str
    subscription: str = ""
    consumer_type: pulsar.ConsumerType = pulsar.ConsumerType.Shared
    initial_position: pulsar.InitialPosition = pulsar.InitialPosition.Latest
    input_serdes: Mapping[str, str] = field(default_factory=dict)  # fully qualified topic -> SerDe
    consumer_options: Mapping[str, Any] = field(default_factory=dict)
    config: UserConfig | None = None  # the validated userConfig, when the class declares ``Config``

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def parallelism(self) -> int:
        return self.spec.parallelism


def worker_class_paths(name: str) -> list[str]:
    """The import paths of the ``streamloop.worker`` classes called ``name``, the shortest for each class
    (where a stale ``className`` has moved to).

    >>> worker_class_paths("FeaturesFunction"), worker_class_paths("NoSuchClass")
    (['streamloop.worker.features.FeaturesFunction'], [])
    """
    import streamloop.worker

    paths: dict[type, str] = {}
    for module in pkgutil.walk_packages(streamloop.worker.__path__, "streamloop.worker."):
        value = getattr(importlib.import_module(module.name), name, None)
        path = f"{module.name}.{name}"
        if isinstance(value, type) and len(path) < len(paths.get(value, path + ".")):
            paths[value] = path
    return sorted(paths.values())


def resolve_class(class_name: str, source: str) -> type:
    """Import ``className``; only classes of the ``streamloop`` package are run."""
    module_name, _, attr = class_name.rpartition(".")
    if not module_name.startswith("streamloop."):
        raise ConfigError(
            [Problem(source, "className", f"{class_name!r} is not a class of the streamloop package")]
        )
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as error:
        expected = " or ".join(worker_class_paths(attr)) or "a function class of streamloop.worker"
        message = f"cannot import {class_name!r} ({error}); expected {expected}"
        raise ConfigError([Problem(source, "className", message)]) from None
    if not isinstance(value, type) or not callable(getattr(value, "process", None)):
        raise ConfigError([Problem(source, "className", f"{class_name!r} is not a class with process()")])
    return value


def check_function_files(
    files: Sequence[FunctionFile], user_config: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Problem]:
    """Every problem of each file (FunctionConfig keys, ``className``, ``userConfig`` with the overrides
    of ``user_config`` by function name), then those between files (:func:`check_key_batches`)."""
    overrides = user_config or {}
    checked = [(file, *_check(file, overrides.get(file.name), None)) for file in files]
    problems = [problem for _, file_problems, _, _ in checked for problem in file_problems]
    return problems + check_key_batches([(file, config) for file, _, _, config in checked])


KEY_BATCHES = (
    "false lets one batch hold several keys, but {reader} reads {topic} on Key_Shared with parallelism "
    "{parallelism}: a batch reaches one instance whole, so a key's messages could reach an instance other "
    "than the one its hash range names (producers feeding Key_Shared must use key-based batching or none); "
    "set batch_by_key: true, or max_publish_delay_ms: 0"
)


def check_key_batches(functions: Sequence[tuple[FunctionFile, UserConfig | None]]) -> list[Problem]:
    """A function batching mixed keys into a topic that another reads on Key_Shared with several instances.

    Its producers (:meth:`StreamFunction._producer`) batch every topic it publishes to alike: the output,
    the dead-letter and the metrics topics. ``None`` is a ``userConfig`` that did not validate (already a
    problem of its own).
    """
    readers = [
        (reader, {qualify(name) for name in reader.inputs})
        for reader, _ in functions
        if reader.key_shared and reader.parallelism > 1
    ]
    problems = []
    for file, config in functions:
        if config is None or config.batch_by_key or config.max_publish_delay_ms == 0:
            continue
        published = [str(file.config.get("output") or ""), config.dead_letter_topic, config.metrics_topic]
        for name in sorted({qualify(name) for name in published if name}):
            problems += [
                Problem(
                    str(file.path),
                    "userConfig.batch_by_key",
                    KEY_BATCHES.format(reader=reader.path, topic=name, parallelism=reader.parallelism),
                )
                for reader, inputs in readers
                if name in inputs
            ]
    return problems


def _check(
    file: FunctionFile, user_config: Mapping[str, Any] | None, function_class: type | None
) -> tuple[list[Problem], type | None, UserConfig | None]:
    source = str(file.path)
    problems = file.check()
    if function_class is None and file.config.get("className"):
        try:
            function_class = resolve_class(str(file.config["className"]), source)
        except ConfigError as error:
            problems += error.problems
    config = None
    schema = getattr(function_class, "Config", None)
    if isinstance(schema, type) and issubclass(schema, UserConfig):
        try:
            config = parse_user_config(schema, {**file.user_config, **(user_config or {})}, source=source)
        except ConfigError as error:
            problems += error.problems
    return problems, function_class, config


def define(
    file: FunctionFile,
    user_config: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
    function_class: type | None = None,
) -> FunctionDefinition:
    """Check ``file`` and build its definition; ``user_config``/``secrets`` override the file's values.

    ``function_class`` skips resolving ``className`` (the test harness passes the class itself).
    Raises :class:`ConfigError` listing every problem, each naming the file and the key.
    """
    problems, function_class, config = _check(file, user_config, function_class)
    if problems:
        raise ConfigError(problems)
    assert function_class is not None
    merged = {**file.user_config, **(user_config or {})}

    c = file.config
    spec = FunctionSpec(
        name=file.name,
        tenant=str(c.get("tenant") or "public"),
        namespace=str(c.get("namespace") or "default"),
        inputs=tuple(file.inputs),
        output=str(c.get("output") or ""),
        output_serde=str(c.get("outputSerdeClassName") or ""),
        user_config=merged,
        secrets={**file.secrets, **(secrets or {})},
        parallelism=file.parallelism,
    )
    if c.get("retainOrdering"):
        consumer_type = pulsar.ConsumerType.Failover
    elif file.key_shared:
        consumer_type = pulsar.ConsumerType.KeyShared
    else:
        consumer_type = pulsar.ConsumerType.Shared
    earliest = str(c.get("subscriptionPosition") or "").lower() == "earliest"
    options = {"unacked_messages_timeout_ms": int(c["timeoutMs"])} if c.get("timeoutMs") else {}
    return FunctionDefinition(
        function_class=function_class,
        spec=spec,
        source=str(file.path),
        subscription=str(c.get("subName") or "").strip() or spec.fqfn,
        consumer_type=consumer_type,
        initial_position=pulsar.InitialPosition.Earliest if earliest else pulsar.InitialPosition.Latest,
        input_serdes={qualify(t): file.input_serde(t) or DEFAULT_SERDE for t in file.inputs},
        consumer_options=options,
        config=config,
    )
