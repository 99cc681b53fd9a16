"""The runner: YAML files in, checked, instances subscribed by Pulsar's rules, pumped or threaded."""

from __future__ import annotations

from pathlib import Path

import orjson
import pulsar
import pytest
import yaml
from cli_run import CONFIG_DIR

from streamloop.runtime.definition import check_function_files, define
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.runner import Runner
from streamloop.worker.config import ConfigError, FunctionFile

NS = "persistent://public/default/"


def function_yaml(tmp_path: Path, name: str, source: str, sink: str, **extra) -> Path:
    config = {
        "name": name,
        "className": "streamloop.test_relay.Relay",
        "inputs": [NS + source],
        "inputSpecs": {NS + source: {"serdeClassName": "streamloop.worker.codec.RawBytes"}},
        "processingGuarantees": "MANUAL",
        "userConfig": {"out": NS + sink},
        **extra,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def send(client: MemoryClient, topic: str, *ids: str) -> None:
    producer = client.create_producer(NS + topic)
    for i in ids:
        producer.send(orjson.dumps({"id": i}), partition_key=f"key-{i}")


def test_config_errors_name_the_file_and_the_key(tmp_path, relay):
    typo = function_yaml(tmp_path, "a", "in", "mid", parallelsim=2)
    foreign = function_yaml(tmp_path, "b", "mid", "out", className="os.path.join")
    bad_value = function_yaml(tmp_path, "c", "mid", "out", userConfig={"factor": -1, "colour": "red"})
    with pytest.raises(ConfigError) as caught:
        Runner.from_files([typo, foreign, bad_value])
    found = {(p.source, p.key) for p in caught.value.problems}
    assert found == {
        (str(typo), "parallelsim"),
        (str(foreign), "className"),
        (str(bad_value), "userConfig.factor"),
        (str(bad_value), "userConfig.colour"),
    }
    assert f"{bad_value}: userConfig.factor" in str(caught.value)


def test_overrides_are_validated_too(tmp_path, relay):
    path = function_yaml(tmp_path, "a", "in", "out")
    with pytest.raises(ConfigError, match=r"a\.yaml: userConfig\.factor"):
        Runner.from_files([path], user_config={"a": {"factor": 0}})
    runner = Runner.from_files([path], user_config={"a": {"factor": 3.0}})
    assert runner.user_config("a").factor == 3.0
    [problem] = check_function_files([FunctionFile.load(path)], {"a": {"factor": "x"}})
    assert problem.key == "userConfig.factor"
    with pytest.raises(ValueError, match="unknown functions"):
        Runner.from_files([path], user_config={"nope": {}})


def test_mixed_key_batches_into_a_scaled_key_shared_reader_are_refused_unless_overridden(tmp_path):
    for file in CONFIG_DIR.glob("*.yaml"):
        config = yaml.safe_load(file.read_text())
        if file.stem == "scorer":
            config.update(retainKeyOrdering=True, parallelism=2)  # features batch mixed keys into it
        (tmp_path / file.name).write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as caught:
        Runner.from_directory(tmp_path)
    assert [(p.source, p.key) for p in caught.value.problems] == [
        (str(tmp_path / "features.yaml"), "userConfig.batch_by_key")
    ]
    runner = Runner.from_directory(tmp_path, user_config={"features": {"batch_by_key": True}})
    assert runner.definitions["scorer"].consumer_type == pulsar.ConsumerType.KeyShared


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, pulsar.ConsumerType.Shared),
        ({"retainOrdering": True}, pulsar.ConsumerType.Failover),
        ({"retainKeyOrdering": True}, pulsar.ConsumerType.KeyShared),
    ],
)
def test_subscription_follows_python_instance_rules(tmp_path, relay, extra, expected):
    definition = define(FunctionFile.load(function_yaml(tmp_path, "a", "in", "out", **extra)))
    assert definition.consumer_type == expected
    assert definition.subscription == "public/default/a"
    assert definition.initial_position == pulsar.InitialPosition.Latest
    named = define(
        FunctionFile.load(
            function_yaml(tmp_path, "b", "in", "out", subName="mine", subscriptionPosition="Earliest")
        )
    )
    assert (named.subscription, named.initial_position) == ("mine", pulsar.InitialPosition.Earliest)


def test_pump_runs_a_chain_in_file_order(tmp_path, relay):
    files = [function_yaml(tmp_path, "first", "in", "mid"), function_yaml(tmp_path, "second", "mid", "out")]
    runner = Runner.from_files(files, keep_metric_values=True)
    runner.start()
    send(runner.client, "in", "1", "2", "3")
    assert runner.pump() == 6
    out = runner.client.messages(NS + "out")
    assert [(orjson.loads(m.data())["id"], m.partition_key()) for m in out] == [
        ("1", "key-1"),
        ("2", "key-2"),
        ("3", "key-3"),
    ]
    assert runner.client.unacked(NS + "in", "public/default/first") == []
    assert runner.metrics["second"].count["factor"] == 3
    assert runner.pump() == 0


def test_parallelism_two_gives_each_instance_messages(tmp_path, relay):
    runner = Runner.from_files([function_yaml(tmp_path, "a", "in", "out", parallelism=2)])
    runner.start()
    send(runner.client, "in", *map(str, range(10)))
    runner.pump()
    assert [len(runner.instance("a", i).function.seen) for i in (0, 1)] == [5, 5]


def test_restart_redelivers_to_a_new_instance_on_the_same_state(tmp_path, relay):
    runner = Runner.from_files([function_yaml(tmp_path, "a", "in", "out")], state_dir=tmp_path / "state")
    runner.start()
    producer = runner.client.create_producer(NS + "in")
    producer.send(b'{"id": "held", "hold": true}')
    producer.send(b'{"id": "done"}')
    runner.pump()
    old = runner.instance("a").function
    runner.restart("a")
    runner.pump()
    assert runner.instance("a").function is not old
    assert runner.instance("a").function.seen == [("held", 1)]
    assert runner.state["a"].get_amount("processed") == 3

    runner.stop()  # a new process on the same --state-dir sees the state
    again = Runner.from_files([function_yaml(tmp_path, "a", "in", "out")], state_dir=tmp_path / "state")
    assert again.state["a"].get_amount("processed") == 3


def test_compacted_models_topic_by_default():
    runner = Runner([])
    assert runner.client.topic("models").compacted
    assert not runner.client.topic("events").compacted


def test_each_transport_has_its_own_driver():
    with pytest.raises(TypeError, match="pump"):
        Runner([]).run()  # the embedded transport is driven deterministically
    with pytest.raises(TypeError, match="run"):
        Runner([], client=object()).pump()  # a broker's client is served by threads
