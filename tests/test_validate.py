"""``streamloop validate``: every mistake in a FunctionConfig file, with the file and the key."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from streamloop.runtime.definition import check_function_files
from streamloop.worker.config import FunctionFile

CONFIG_DIR = Path(__file__).resolve().parents[1] / "pulsar-config"


def validate(*paths: Path | str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "streamloop", "validate", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_shipped_configs_are_valid():
    result = validate(CONFIG_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 file(s) OK" in result.stdout


def test_each_mistake_is_reported_with_file_and_key(tmp_path):
    config = yaml.safe_load((CONFIG_DIR / "learner.yaml").read_text())
    config["procesingGuarantees"] = "MANUAL"  # a typo pulsar-admin would silently ignore
    config["userConfig"]["model"]["steps"][1]["class"] = "os.system"
    config["userConfig"]["checkpoint_every"] = "often"
    config["userConfig"]["colour"] = "red"
    bad = tmp_path / "learner.yaml"
    bad.write_text(yaml.safe_dump(config))
    features = yaml.safe_load((CONFIG_DIR / "features.yaml").read_text())
    features["userConfig"]["features"][3]["window"] = -5
    features["inputs"] = ["events"]
    bad_features = tmp_path / "features.yaml"
    bad_features.write_text(yaml.safe_dump(features))

    result = validate(bad, bad_features)
    assert result.returncode == 1
    lines = result.stdout.splitlines()

    def reported(file: Path, key: str) -> bool:
        return any(line.startswith(f"{file}: {key}:") for line in lines)

    assert reported(bad, "procesingGuarantees"), lines
    assert reported(bad, "userConfig.model.steps[1].class"), lines
    assert reported(bad, "userConfig.checkpoint_every"), lines
    assert reported(bad, "userConfig.colour"), lines
    assert reported(bad_features, "userConfig.features[3].window"), lines
    assert reported(bad_features, "inputs[events]"), lines
    assert "problem(s) in 2 file(s)" in result.stderr


def test_stale_class_names_are_reported_with_the_name_expected(tmp_path):
    """Names from before the worker package moved (streamloop.joiner..., streamloop.codec...)."""
    config = yaml.safe_load((CONFIG_DIR / "joiner.yaml").read_text())
    config["className"] = "streamloop.joiner.JoinerFunction"
    labels = "persistent://public/default/labels"
    config["inputSpecs"][labels]["serdeClassName"] = "streamloop.codec.RawBytes"
    stale = tmp_path / "joiner.yaml"
    stale.write_text(yaml.safe_dump(config))

    result = validate(stale)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert f"{stale}: className: cannot import 'streamloop.joiner.JoinerFunction'" in result.stdout, lines
    assert any(
        line.startswith(f"{stale}: className:")
        and line.endswith("expected streamloop.worker.joiner.JoinerFunction")
        for line in lines
    ), lines
    assert (
        f"{stale}: inputSpecs.{labels}.serdeClassName: expected streamloop.worker.codec.RawBytes, "
        "got 'streamloop.codec.RawBytes'"
    ) in result.stdout, lines
    assert len(lines) == 2, lines  # one problem per stale name, and the other input is fine


def test_a_file_that_is_not_yaml_is_a_clear_error(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    result = validate(broken)
    assert result.returncode == 1
    assert result.stdout.startswith(f"{broken}: (file):")


def test_a_topic_naming_one_partition_is_reported_with_its_key(tmp_path):
    config = yaml.safe_load((CONFIG_DIR / "scorer.yaml").read_text())
    config["userConfig"]["models_topic"] = "persistent://public/default/models-partition-0"
    config["output"] = "persistent://public/default/predictions-partition-3"
    scorer = tmp_path / "scorer.yaml"
    scorer.write_text(yaml.safe_dump(config))
    result = validate(scorer)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        f"{scorer}: output: names one partition (persistent://public/default/predictions-partition-3): "
        "expected the topic, persistent://public/default/predictions",
        f"{scorer}: userConfig.models_topic: names one partition (persistent://public/default/models-partition-0):"
        " expected the topic, persistent://public/default/models",
    ]


def test_a_keyed_function_with_two_inputs_at_parallelism_2_is_refused(tmp_path):
    config = yaml.safe_load((CONFIG_DIR / "joiner.yaml").read_text())
    config["parallelism"] = 2  # its predictions and labels of one event id would reach two instances
    joiner = tmp_path / "joiner.yaml"
    joiner.write_text(yaml.safe_dump(config))
    scaled = yaml.safe_load((CONFIG_DIR / "features.yaml").read_text())
    scaled["parallelism"] = 2  # one input: Key_Shared keeps each key on one instance
    features = tmp_path / "features.yaml"
    features.write_text(yaml.safe_dump(scaled))
    result = validate(joiner, features)
    assert result.returncode == 1
    assert [line.split(": ", 2)[:2] for line in result.stdout.splitlines()] == [[str(joiner), "parallelism"]]
    assert "random consumer name" in result.stdout and "keep parallelism: 1" in result.stdout


def scaled_copy(tmp_path: Path, reader: str, parallelism: int, **scorer: object) -> Path:
    """pulsar-config in ``tmp_path``, ``reader`` on Key_Shared at ``parallelism``, the scorer's userConfig
    updated with ``scorer``."""
    for file in CONFIG_DIR.glob("*.yaml"):
        config = yaml.safe_load(file.read_text())
        if file.stem == reader:
            config.pop("retainOrdering", None)
            config.update(retainKeyOrdering=True, parallelism=parallelism)
        if file.stem == "scorer":
            config["userConfig"].update(scorer)
        (tmp_path / file.name).write_text(yaml.safe_dump(config))
    return tmp_path


def test_a_scaled_joiner_is_told_to_keep_one_instance_and_the_scorer_to_batch_by_key(tmp_path):
    directory = scaled_copy(tmp_path, "joiner", 2)
    result = validate(directory)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [line.split(": ", 2)[:2] for line in lines] == [
        [str(directory / "joiner.yaml"), "parallelism"],
        [str(directory / "scorer.yaml"), "userConfig.batch_by_key"],
    ], lines
    assert (
        f"but {directory / 'joiner.yaml'} reads persistent://public/default/predictions on Key_Shared with "
        "parallelism 2"
    ) in lines[1]
    assert lines[1].endswith("set batch_by_key: true, or max_publish_delay_ms: 0")


@pytest.mark.parametrize("scorer", [{"batch_by_key": True}, {"max_publish_delay_ms": 0}])
def test_a_scaled_joiner_fed_key_batches_or_no_batches_is_only_told_to_keep_one_instance(tmp_path, scorer):
    result = validate(scaled_copy(tmp_path, "joiner", 2, **scorer))
    assert [line.split(": ", 2)[1] for line in result.stdout.splitlines()] == ["parallelism"]


@pytest.mark.parametrize(
    ("publisher", "reader"), [("scorer", "joiner"), ("features", "scorer"), ("joiner", "learner")]
)
def test_mixed_key_batches_are_refused_only_into_a_key_shared_reader_with_several_instances(
    tmp_path, publisher, reader
):
    def problems(parallelism: int) -> list[tuple[str, str]]:
        directory = scaled_copy(tmp_path, reader, parallelism)
        files = [FunctionFile.load(path) for path in sorted(directory.glob("*.yaml"))]
        return [(p.source, p.key) for p in check_function_files(files) if p.key != "parallelism"]

    assert problems(1) == []
    assert problems(2) == [(str(tmp_path / f"{publisher}.yaml"), "userConfig.batch_by_key")]


class Namespace(BaseHTTPRequestHandler):
    """A namespace whose stream topics have 4 partitions, and whose ``metrics`` topic has 2."""

    def do_GET(self) -> None:
        name = self.path.removeprefix("/admin/v2/persistent/public/fraud/").removesuffix("/partitions")
        count = {"metrics": 2, "models": 0, "dead-letters": 0}.get(name, 4)
        body = json.dumps({"partitions": count}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_the_live_namespace_shows_each_topics_partitions_and_refuses_partitioned_metrics():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Namespace)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        result = validate(CONFIG_DIR, "--admin-url", url, "--namespace", "public/fraud")
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "persistent://public/fraud/events: 4 partitions" in lines, lines
    assert "persistent://public/fraud/models: not partitioned" in lines, lines
    assert (
        "persistent://public/fraud/metrics: has 2 partitions, but it must not be partitioned (low rate, read "
        "back in order by `streamloop report`): delete the loop's topics (`streamloop undeploy --topics`, "
        "their messages are lost)"
    ) in lines, lines
    assert "1 problem(s) in 4 file(s)" in result.stderr
