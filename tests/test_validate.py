"""``streamloop validate``: every mistake in a FunctionConfig file, with the file and the key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

CONFIG_DIR = Path(__file__).resolve().parents[1] / "pulsar-config"


def validate(*paths: Path) -> subprocess.CompletedProcess:
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
