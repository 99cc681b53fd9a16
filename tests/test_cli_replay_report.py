"""``streamloop dataset``, ``replay`` and ``report`` on the embedded runner, run as a user runs them."""

from __future__ import annotations

import base64
import re

import orjson
from cli_run import CONFIG_DIR, ok, streamloop

from streamloop.tools.demo import drifting_stream

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_replay_then_report_draws_the_run(tmp_path):
    ok(streamloop("dataset", "--events", 4000, "--out", "data", cwd=tmp_path))
    replayed = ok(
        streamloop(
            "replay",
            "data/events.jsonl",
            "--labels",
            "data/labels.jsonl",
            "--label-delay",
            100,
            "--config-dir",
            CONFIG_DIR,
            "--out",
            "out/run",
            cwd=tmp_path,
        )
    )
    assert "replayed 4000 events and 4000 labels to the embedded runner" in replayed.stdout
    assert "→ 4000 predictions, 4000 examples, 0 dead letters" in replayed.stdout
    assert "4000/4000 events" in replayed.stderr and "events/s" in replayed.stderr  # the progress bar
    predictions = (tmp_path / "out/run/predictions.jsonl").read_bytes().splitlines()
    assert len({orjson.loads(line)["id"] for line in predictions}) == 4000

    reported = ok(streamloop("report", "--run", "out/run", "--out", "out/report", cwd=tmp_path))
    png = (tmp_path / "out/report/report.png").read_bytes()
    assert png.startswith(PNG_SIGNATURE) and len(png) > 10_000
    page = (tmp_path / "out/report/report.html").read_text()
    assert f"data:image/png;base64,{base64.b64encode(png).decode()}" in page  # self-contained
    promotions = int(re.search(r"(\d+) promotions", reported.stdout).group(1))
    drifts = int(re.search(r"(\d+) drifts", reported.stdout).group(1))
    assert promotions >= 2 and drifts >= 1  # the concept flips half way: the learner notices and adapts
    assert f"<td>promotions</td><td>{promotions}</td>" in page
    assert f"<td>drifts</td><td>{drifts}</td>" in page
    assert "<td>event → prediction</td><td>4000</td>" in page  # a latency sample per event
    accuracy = re.search(r"latest window: (\S+) at ([\d.]+)% accuracy", reported.stdout)
    assert accuracy and float(accuracy.group(2)) > 80  # recovered after the drift
    assert f"{accuracy.group(2)}% accuracy" in page


def test_replay_csv_with_a_label_column_at_a_capped_rate(tmp_path):
    ok(streamloop("dataset", "--events", 300, "--format", "csv", "--out", "data", cwd=tmp_path))
    result = ok(
        streamloop(
            "replay",
            "data/events.csv",
            "--label-field",
            "label",
            "--rate",
            400,
            "--quiet",
            "--config-dir",
            CONFIG_DIR,
            "--out",
            "run",
            cwd=tmp_path,
        )
    )
    seconds = float(re.search(r"in ([\d.]+) s", result.stdout).group(1))
    assert seconds >= 300 / 400 - 0.05  # --rate holds the pace
    assert "replayed 300 events and 300 labels" in result.stdout
    assert "→ 300 predictions, 300 examples, 0 dead letters" in result.stdout
    assert result.stderr == ""  # --quiet: no progress bar


def test_replay_scores_a_users_files_with_half_of_them_labelled(tmp_path):
    pairs = list(drifting_stream(300, 150, seed=3))
    (tmp_path / "events.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e, _ in pairs))
    (tmp_path / "labels.jsonl").write_bytes(b"".join(orjson.dumps(lbl) + b"\n" for _, lbl in pairs[::2]))
    result = ok(
        streamloop(
            *("replay", "events.jsonl", "--labels", "labels.jsonl", "--label-delay", 20, "--quiet"),
            *("--config-dir", CONFIG_DIR, "--out", "run"),
            cwd=tmp_path,
        )
    )
    predictions = [
        orjson.loads(line) for line in (tmp_path / "run/predictions.jsonl").read_bytes().splitlines()
    ]
    assert sorted(p["id"] for p in predictions) == sorted(e["id"] for e, _ in pairs)
    assert "replayed 300 events and 150 labels" in result.stdout
    assert "→ 300 predictions, 150 examples, 0 dead letters" in result.stdout


def test_replay_names_the_bad_line(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"id": "e1", "key": "k"}\n{"id": "e2",\n')
    result = streamloop("replay", "events.jsonl", "--config-dir", CONFIG_DIR, cwd=tmp_path)
    assert result.returncode == 1
    assert "events.jsonl:2: invalid JSON" in result.stderr


def test_every_command_shows_real_examples():
    commands = [
        "validate",
        "run",
        "demo",
        "dataset",
        "replay",
        "train",
        "deploy",
        "undeploy",
        "status",
        "report",
    ]
    top = ok(streamloop("--help"))
    for command in commands:
        assert command in top.stdout
        text = ok(streamloop(command, "--help")).stdout
        assert "usage: streamloop " + command in text
        assert "examples:" in text and f"streamloop {command}" in text.split("examples:")[1]
