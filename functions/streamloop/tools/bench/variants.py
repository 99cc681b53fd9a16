"""The loop variants the bench deploys side by side: a name and a transform of the four function configs.

Each variant runs the same phases with the same load generator
(:func:`~streamloop.tools.bench.loop.run_loop_on_pulsar`) on topics of its own, so their rates, latencies
and CPU per event compare within one run. :data:`VARIANTS` is the list; add one there (a fused function,
another batching) and it is measured and reported beside the others.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from streamloop.tools.bench import hops
from streamloop.worker.config import UserConfig
from streamloop.worker.function import StreamFunction

Configs = dict[str, dict[str, Any]]  # function name -> its FunctionConfig


@dataclass(frozen=True)
class Variant:
    """``section``: its key in the bench document; ``prefix``: of its topics and function names (the
    function's own name stays last, as the CPU lines read it); ``what``: one line for the table;
    ``broker_settings``: dynamic broker settings in force while it runs (put back after)."""

    section: str
    prefix: str
    what: str
    transform: Callable[[Configs], Configs]
    broker_settings: Mapping[str, str] = field(default_factory=dict)


def shipped(configs: Configs) -> Configs:
    """The demo's functions as they are."""
    return configs


HOPS: Mapping[str, type[StreamFunction[Any]]] = {
    "features": hops.FeaturesHop,
    "scorer": hops.ScorerHop,
    "joiner": hops.JoinerHop,
    "learner": hops.LearnerHop,
}


def as_hop(config: dict[str, Any], hop: type[StreamFunction[Any]]) -> dict[str, Any]:
    """``config`` running ``hop``: same inputs, output, subscription, acks and parallelism; ``userConfig``
    reduced to the keys ``hop`` reads (the batching, the topics), no secrets.

    >>> hopped = as_hop({"className": "x.Scorer", "secrets": {"k": "v"},
    ...                  "userConfig": {"model_name": "m", "max_publish_delay_ms": 10}}, hops.ScorerHop)
    >>> hopped
    {'className': 'streamloop.tools.bench.hops.ScorerHop', 'userConfig': {'max_publish_delay_ms': 10}}
    """
    out = copy.deepcopy(config)
    out.pop("secrets", None)
    out["className"] = f"{hop.__module__}.{hop.__qualname__}"
    fields = hop.Config.model_fields
    out["userConfig"] = {k: v for k, v in (config.get("userConfig") or {}).items() if k in fields}
    return out


def identity(configs: Configs) -> Configs:
    """Every function replaced by its identity hop (:mod:`~streamloop.tools.bench.hops`)."""
    return {name: as_hop(config, HOPS[name]) for name, config in configs.items()}


def key_batched_predictions(configs: Configs) -> Configs:
    """The scorer with the batching it shipped with before issue 17: ``UserConfig``'s defaults, per key
    with a 1 ms delay, so predictions keyed by event id go one per broker entry."""
    out = copy.deepcopy(configs)
    settings = out["scorer"].setdefault("userConfig", {})
    for name in ("batch_by_key", "max_publish_delay_ms"):
        settings[name] = UserConfig.model_fields[name].default
    return out


def state_flushed_every_1000(configs: Configs) -> Configs:
    """The features function writing its window state every 1000 inputs instead of features.yaml's 100:
    each key's log is put once per 1000 events where keys repeat, and up to 999 inputs wait unacked."""
    out = copy.deepcopy(configs)
    out["features"].setdefault("userConfig", {})["state_flush_every"] = 1000
    return out


FUSED_CLASS = "streamloop.worker.fused.FeaturesScorerFunction"


def fused(configs: Configs) -> Configs:
    """Features and scorer as one function (examples/fused/features-scorer.yaml): the features function's
    input and Key_Shared subscription, the scorer's output and signing key, both userConfigs (the batching
    keys are the scorer's: they are the predictions'); joiner and learner unchanged."""
    features, scorer = configs["features"], configs["scorer"]
    one = copy.deepcopy(features)
    one.update(
        name=f"{features['name']}-scorer",
        className=FUSED_CLASS,
        output=scorer["output"],
        secrets=copy.deepcopy(scorer.get("secrets", {})),
        userConfig={**features.get("userConfig", {}), **scorer.get("userConfig", {})},
    )
    rest = {name: copy.deepcopy(c) for name, c in configs.items() if name not in ("features", "scorer")}
    return {"features-scorer": one, **rest}


SHIPPED = Variant("loop_latency", "loop", "the shipped loop", shipped)
VARIANTS = (
    SHIPPED,
    Variant("identity_loop", "idloop", "the identity loop", identity),
    Variant("loop_key_batched", "kbloop", "predictions batched per key", key_batched_predictions),
    Variant("loop_fused", "fsloop", "features and scorer fused", fused),
    Variant("loop_state_1000", "s1loop", "window state flushed every 1000", state_flushed_every_1000),
    Variant(
        "loop_dispatch_500",
        "d5loop",
        "dispatcherMaxReadBatchSize 500",
        shipped,
        {"dispatcherMaxReadBatchSize": "500"},
    ),
)
LEVERS = tuple(v for v in VARIANTS[2:])  # compared with the shipped loop: each lever's before/after
