"""The contract suite: the promises every streamloop function keeps, checked on any ``StreamFunction``.

In the spirit of river's ``check_estimator`` and scikit-learn's ``parametrize_with_checks``: a function
class declares a :class:`~streamloop.worker.checkcases.CheckCase` (``check_case()``), and every check below
runs against it on the embedded runner (:class:`~streamloop.runtime.testing.FunctionHarness`):

- ``process`` never raises on arbitrary bytes or arbitrary JSON (property-based, hypothesis);
- each bad input gives exactly one dead letter carrying ``error``, ``function``, ``input_topic`` and
  ``message_id``, and its input is acked only once that dead letter is confirmed;
- nothing is acked while an output send fails, and a failed send never produces a dead letter;
- a crash at every k-th message (restart from state, unacked inputs redelivered) gives the same distinct
  outputs and the same final state as no crash;
- a duplicate of every input changes nothing downstream;
- state and unacked inputs stay bounded on the case's adversarial streams.

In your own tests::

    from streamloop.runtime.checks import parametrize_with_checks

    @parametrize_with_checks([MyFunction])
    def test_contract(check):
        check()

``STREAMLOOP_CHECK_EXAMPLES`` sets how many generated inputs the property check tries per function
(default :data:`DEFAULT_EXAMPLES`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

import onnx
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamloop.runtime.testing import FunctionHarness
from streamloop.worker.checkcases import CheckCase, CheckInput
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY

DEFAULT_EXAMPLES = 10_000
DEAD_LETTER_PROPERTIES = ("error", "function", "input_topic", "message_id")
CRASH_EVERY = (1, 3, 7)
STREAM_LENGTH = 60
VOLATILE_FIELDS = frozenset({"at", "created_at"})  # wall-clock times, different in every run
# A model's signature covers its ONNX bytes, created_at included: it differs whenever created_at does.
# What is compared is the model with created_at taken out; the signature itself is verified by the scorer.
DERIVED_PROPERTIES = frozenset({SIGNATURE_PROPERTY})

Check = Callable[[type, CheckCase], None]


# -- running a case ------------------------------------------------------------------------------------
def harness_for(function_class: type, case: CheckCase) -> FunctionHarness:
    """A fresh harness running ``function_class`` with the case's configuration, prelude sent."""
    harness = FunctionHarness(
        function_class,
        user_config=case.user_config,
        secrets=case.secrets,
        inputs=case.inputs,
        **case.function_config,
    )
    for item in case.prelude:
        send(harness, item)
    return harness


def send(harness: FunctionHarness, item: CheckInput) -> Any:
    """Send one input and process it (and whatever it unblocks)."""
    return harness.send(
        item.payload, topic=CheckCase.topic(item.topic), key=item.key, properties=item.properties
    )


def raised(log_lines: Sequence[str]) -> list[str]:
    """The runtime's log lines for ``process`` calls that raised (Pulsar nacks those)."""
    return [line for line in log_lines if "exception while executing user method" in line]


def configured(function_class: type, case: CheckCase) -> Any:
    """The function's validated ``userConfig`` for ``case`` (its topics, before any message arrives)."""
    return function_class.Config.model_validate(dict(case.user_config))


def output_topics(harness: FunctionHarness, case: CheckCase) -> list[str]:
    """Every topic the function published to, but its inputs."""
    inputs = {CheckCase.topic(t) for t in case.inputs}
    return sorted(t for t in harness.client.topics() if t not in inputs and harness.client.messages(t))


def distinct_outputs(harness: FunctionHarness, case: CheckCase) -> dict[str, Any]:
    """Per output topic (metrics and dead letters aside): the first record per id (or per key and model
    version), or on a compacted topic the newest message per key."""
    config = configured(type(harness.function), case)
    skip = {config.metrics_topic, config.dead_letter_topic}
    out: dict[str, Any] = {}
    for name in output_topics(harness, case):
        if name in skip:
            continue
        records: dict[str, Any] = {}
        if harness.client.topic(name).compacted:  # what a compacted topic keeps: the newest per key
            for message in harness.messages(name):
                records[message.key] = _identity(message)[1]
        else:
            for message in harness.messages(name):
                identity, record = _identity(message)
                records.setdefault(identity, record)
        out[name] = records
    return out


def _identity(message: Any) -> tuple[str, Any]:
    try:
        record = orjson.loads(message.payload)
    except orjson.JSONDecodeError:
        record = None
    if isinstance(record, dict) and "id" in record:
        return str(record["id"]), {k: v for k, v in record.items() if k not in VOLATILE_FIELDS}
    properties = {
        k: v for k, v in message.properties.items() if k not in VOLATILE_FIELDS | DERIVED_PROPERTIES
    }
    payload = message.payload
    if "feature_names" in properties:  # a model message: ONNX whose metadata repeats the properties
        model = onnx.load_from_string(payload)
        kept = [(p.key, p.value) for p in model.metadata_props if p.key not in VOLATILE_FIELDS]
        del model.metadata_props[:]
        for key, value in kept:
            model.metadata_props.add(key=key, value=value)
        payload = model.SerializeToString()
    return f"{message.key}:{properties.get('version', '')}", (payload, properties)


def snapshot(harness: FunctionHarness, case: CheckCase) -> Any:
    """The case's view of the function's state (default: the stored state table)."""
    return case.snapshot(harness.state) if case.snapshot else harness.state


def run_stream(
    function_class: type, case: CheckCase, stream: Sequence[CheckInput], crash_every: int = 0
) -> FunctionHarness:
    """``stream`` through a fresh harness, crashing and restarting after every ``crash_every``-th input."""
    harness = harness_for(function_class, case)
    for i, item in enumerate(stream, start=1):
        send(harness, item)
        if crash_every and i % crash_every == 0:
            harness.restart()
    harness.pump()
    return harness


# -- the checks ------------------------------------------------------------------------------------------
def check_arbitrary_input_never_raises(
    function_class: type, case: CheckCase, examples: int | None = None
) -> None:
    """``process`` returns normally for any bytes and any JSON shaped like a good input, on every input."""
    examples = examples or int(os.environ.get("STREAMLOOP_CHECK_EXAMPLES", DEFAULT_EXAMPLES))
    harness = harness_for(function_class, case)
    sample = case.good(STREAM_LENGTH)
    topics = sorted({item.topic for item in sample} | set(case.inputs))
    payloads = st.one_of(st.binary(max_size=256), _mutations(sample).map(orjson.dumps))
    keys = st.one_of(st.none(), st.text(max_size=8))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(topic=st.sampled_from(topics), payload=payloads, key=keys)
    def never_raises(topic: str, payload: bytes, key: str | None) -> None:
        seen = len(harness.logs)
        send(harness, CheckInput(topic, payload, key))
        new_lines = harness.logs[seen:]
        del harness.logs[:]  # only this input's lines matter
        assert not raised(new_lines), f"process raised on {payload[:200]!r}:\n{new_lines[-5:]}"

    never_raises()


def _json_values() -> st.SearchStrategy[Any]:
    """Any JSON value one level deep (deeper nesting costs generation time and reaches no new code)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=12),
    )
    return st.one_of(
        scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=6), scalars, max_size=3)
    )


def _mutations(sample: Sequence[CheckInput]) -> st.SearchStrategy[dict[str, Any]]:
    """Good records with some fields dropped or replaced by arbitrary JSON: inputs that reach deep."""
    records = [r for r in (_record(item.payload) for item in sample) if isinstance(r, dict)]
    if not records:
        return st.dictionaries(st.text(max_size=8), _json_values(), max_size=6)

    @st.composite
    def mutated(draw: Any) -> dict[str, Any]:
        record = dict(draw(st.sampled_from(records)))
        for name in draw(st.lists(st.sampled_from(sorted(record)), max_size=3, unique=True)):
            if draw(st.booleans()):
                del record[name]
            else:
                record[name] = draw(_json_values())
        return record

    return mutated()


def _record(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return None


def check_bad_inputs_are_dead_lettered_once(function_class: type, case: CheckCase) -> None:
    """One dead letter per bad input, with its four properties; acked only once it is confirmed."""
    for item in case.bad:
        harness = harness_for(function_class, case)
        before = len(harness.dead_letters)
        harness.fail_sends(configured(function_class, case).dead_letter_topic, 1)
        message_id = send(harness, item)
        assert message_id in harness.unacked, f"{item}: acked though its dead letter was not confirmed"
        assert not raised(harness.logs), harness.logs[-5:]

        harness = harness_for(function_class, case)
        message_id = send(harness, item)
        letters = harness.dead_letters[before:]
        assert len(letters) == 1, f"{item}: {len(letters)} dead letters"
        missing = [p for p in DEAD_LETTER_PROPERTIES if not letters[0].properties.get(p)]
        assert not missing, f"{item}: dead letter without {missing}"
        assert letters[0].payload == item.payload
        assert letters[0].properties["input_topic"] == CheckCase.topic(item.topic)
        assert message_id in harness.acked, f"{item}: not acked after its dead letter was confirmed"


def check_failed_sends_ack_nothing(function_class: type, case: CheckCase) -> None:
    """While every send to an output fails, no input that caused a send is acked and nothing is
    dead-lettered; after a restart the redelivered inputs give an output for every id a run without
    failures gave (so no input was acked before what it caused was stored)."""
    stream = case.good(STREAM_LENGTH)
    probe = harness_for(function_class, case)
    caused_sends = []  # per input: whether processing it published anything (in the run without failures)
    for item in stream:
        before = _published(probe, case)
        send(probe, item)
        caused_sends.append(_published(probe, case) > before)
    dead_letter_topic = configured(function_class, case).dead_letter_topic
    outputs = [t for t in output_topics(probe, case) if t != dead_letter_topic]
    assert outputs, "the good stream published nothing: the case cannot show what a failed send does"
    harness = harness_for(function_class, case)
    for name in outputs:  # more failures than the run without failures made sends
        harness.fail_sends(name, 2 * len(probe.messages(name)) + len(stream))
    sent = [send(harness, item) for item in stream]
    acked = set(harness.acked)
    early = [
        i
        for i, (msg_id, caused) in enumerate(zip(sent, caused_sends, strict=True))
        if caused and msg_id in acked
    ]
    assert not early, f"inputs {early} acked while the sends they caused to {outputs} failed"
    assert harness.dead_letters == [], "a failed send became a dead letter"
    harness.client.stop_failing_sends()
    harness.restart()
    recovered = {name: set(records) for name, records in distinct_outputs(harness, case).items()}
    expected = {name: set(records) for name, records in distinct_outputs(probe, case).items()}
    assert recovered == expected, "outputs lost after the failures"
    assert len(harness.unacked) == len(probe.unacked), "inputs left unacked after the failures"


def _published(harness: FunctionHarness, case: CheckCase) -> int:
    return sum(len(harness.client.messages(name)) for name in output_topics(harness, case))


def check_crash_every_k_changes_nothing(function_class: type, case: CheckCase) -> None:
    """Crash and restart after every k-th input: same distinct outputs, same final state as no crash."""
    stream = case.good(STREAM_LENGTH)
    reference = run_stream(function_class, case, stream)
    expected_outputs, expected_state = distinct_outputs(reference, case), snapshot(reference, case)
    for k in CRASH_EVERY:
        crashed = run_stream(function_class, case, stream, crash_every=k)
        assert distinct_outputs(crashed, case) == expected_outputs, f"outputs differ with a crash every {k}"
        assert snapshot(crashed, case) == expected_state, f"state differs with a crash every {k}"


def check_duplicates_change_nothing(function_class: type, case: CheckCase) -> None:
    """Every input sent twice: the same distinct outputs and the same final state as once."""
    stream = case.good(STREAM_LENGTH)
    reference = run_stream(function_class, case, stream)
    twice = run_stream(function_class, case, [item for item in stream for _ in (0, 1)])
    assert distinct_outputs(twice, case) == distinct_outputs(reference, case)
    assert snapshot(twice, case) == snapshot(reference, case)


def check_bounded_on_adversarial_streams(
    function_class: type, case: CheckCase, short: int = 500, factor: int = 4
) -> None:
    """Stored state, unacked inputs and the case's in-memory footprint grow by at most 25 % (plus a little
    slack) when an adversarial stream runs ``factor`` times longer: bounded, not proportional to it."""
    for name, stream in case.adversarial.items():
        sizes = []
        for n in (short, short * factor):
            harness = run_stream(function_class, case, stream(n))
            stored = sum(len(value) for value in harness.state.values())
            footprint = case.footprint(harness.function) if case.footprint else 0
            sizes.append({"stored bytes": stored, "unacked": len(harness.unacked), "in memory": footprint})
        short_run, long_run = sizes
        for what, before in short_run.items():
            after = long_run[what]
            assert after <= 1.25 * before + 16, f"{name}: {what} {before} after {short}, {after} after {n}"


CHECKS: tuple[Check, ...] = (
    check_arbitrary_input_never_raises,
    check_bad_inputs_are_dead_lettered_once,
    check_failed_sends_ack_nothing,
    check_crash_every_k_changes_nothing,
    check_duplicates_change_nothing,
    check_bounded_on_adversarial_streams,
)


# -- running them --------------------------------------------------------------------------------------
def yield_checks(function_class: type) -> Iterator[tuple[str, Callable[[], None]]]:
    """``(name, check)`` for every check of :data:`CHECKS`, bound to ``function_class``'s case."""
    case = function_class.check_case()
    for check in CHECKS:
        yield check.__name__, partial(check, function_class, case)


def check_function(function_class: type) -> None:
    """Run every check against ``function_class``; the first broken promise raises ``AssertionError``."""
    for _, check in yield_checks(function_class):
        check()


def parametrize_with_checks(function_classes: Iterable[type]) -> Any:
    """A ``pytest.mark.parametrize`` over every (function class, check) pair, with readable ids."""
    import pytest

    params = [
        pytest.param(check, id=f"{cls.__name__}-{name}")
        for cls in function_classes
        for name, check in yield_checks(cls)
    ]
    return pytest.mark.parametrize("check", params)
