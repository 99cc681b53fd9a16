"""Config mistakes on real Pulsar: each kind of invalid ``userConfig`` deployed with ``functions create``.

Pulsar 4.0's Python runtime has no start hook with a context, so a function validates its ``userConfig``
on its first message: the error is raised as a user exception, visible in ``pulsar-admin functions
status`` (``latestUserExceptions``), and the message is nacked, not lost: it stays in the backlog and is
redelivered until the config is fixed. The deployed function knows no file name, so the error names the
function (``function <name>: userConfig.<key>: <expected>``); ``streamloop validate`` names the file.
"""

from __future__ import annotations

import time

import pytest
from stage import TENANT, Stage, wait_for

pytestmark = [pytest.mark.pulsar, pytest.mark.chaos]

WINDOWED = [
    {"name": "x0", "kind": "numeric", "field": "x0"},
    {"name": "n_1h", "kind": "window", "agg": "count", "window": -60},
]
# (function, base YAML, userConfig overrides, what functions status must show)
MISTAKES = [
    ("unknown-key", "features", {"colour": "red"}, "userConfig.colour: unknown key"),
    ("wrong-type", "scorer", {"max_model_bytes": "big"}, "userConfig.max_model_bytes: Input should be"),
    (
        "unknown-class",
        "learner",
        {"model": {"steps": [{"class": "linear_model.NoSuchModel"}]}},
        "userConfig.model.steps[0].class",
    ),
    (
        "bad-window",
        "features",
        {"features": WINDOWED},
        "userConfig.features[1].window: Input should be greater",
    ),
]


def test_config_mistakes_show_in_functions_status(stage: Stage, report) -> None:
    started = time.monotonic()
    paths = [stage.write_yaml(base, overrides, name=name) for name, base, overrides, _ in MISTAKES]
    for path in paths:  # one at a time: concurrent creates race in the worker's package store
        stage.deployed.append(stage.pulsar.deploy(path, stage.package))
    for name, *_ in MISTAKES:
        stage.pulsar.wait_for_status(name, running=1, timeout=240)
    # The config is read at the first message, so a restart before it (a slow start on a loaded machine)
    # is the worker's, not the mistake's: what counts is that none follows the mistake.
    restarts_before = {name: health["restarts"] for name, health in stage.instances_ok().items()}
    for topic in ("events", "features", "examples"):
        stage.producer(topic).send(b'{"id": "first"}', partition_key="first")
    seen = {}
    for name, _, _, expected in MISTAKES:
        errors = wait_for(
            lambda name=name, expected=expected: [e for e in stage.errors(name) if expected in e],
            120,
            f"{name}: {expected!r} in functions status",
        )
        line = next(line for line in errors[0].splitlines() if expected in line)
        assert f"function {name}:" in line, line
        seen[name] = line.strip()
    health = stage.instances_ok()
    for name, base, _, expected in MISTAKES:
        assert health[name]["running"] == 1 and health[name]["restarts"] == restarts_before[name], (
            name,
            restarts_before[name],
            health[name],
            stage.pulsar.log_tail(name),
        )
        # Still shown by the same process: an instance that crashed on the mistake would have lost it.
        assert any(expected in e for e in stage.errors(name)), name
        sub = f"{TENANT}/{stage.namespace}/{name}"
        topic = {"features": "events", "scorer": "features", "learner": "examples"}[base]
        stats = stage.admin.topic_stats(stage.topic(topic))
        assert stats["subscriptions"][sub]["msgBacklog"] == 1, f"{name}: the message must stay unacked"
    report.add(
        "config_mistakes",
        {
            "status_errors": seen,
            "restarts_before_the_first_message": restarts_before,
            "instances": health,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
