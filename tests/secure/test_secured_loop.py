"""The loop on the secured standalone (TLS only, token authentication, authorization on), as users run it
on a production cluster (docs/security.md).

The superuser ``admin`` provisions a namespace and grants the role ``streamloop`` produce, consume and
functions on it; that role deploys the four functions, publishes a first model, replays a stream and reads
``status`` and ``report``, every command from its client.conf. The books are read back from the topics.
Then what must be refused is refused, each with one line: no credentials, a token of another key, an
expired token, an untrusted certificate, a role publishing to ``models`` without the permission, and a
model signed with another key (while the scorers keep serving the old one).
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path

import orjson
import pytest
from cli_run import CONFIG_DIR, ok, streamloop
from cluster import FUNCTIONS, wait_for
from conftest import Secured

pytestmark = pytest.mark.secure
EVENTS = 600  # the learner writes a metrics window every 500 examples


def _read_all(secured: Secured, topic: str, at_least: int, timeout: float = 180.0) -> list[dict]:
    """Every record of ``topic`` from the earliest, as the superuser, once it holds ``at_least``."""
    import pulsar

    records: list[dict] = []
    with secured.connection().connected(logger=pulsar.ConsoleLogger(pulsar.LoggerLevel.Error)) as client:
        reader = client.create_reader(topic, pulsar.MessageId.earliest)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                records.append(orjson.loads(reader.read_next(timeout_millis=2000).data()))
            except pulsar.Timeout:
                if len(records) >= at_least:
                    break
    assert len(records) >= at_least, f"{topic}: {len(records)} records of {at_least} after {timeout}s"
    return records


def _one_line_refusal(result: subprocess.CompletedProcess, *words: str) -> str:
    """The refusal of a command: exit 1, one line on stderr naming ``words``, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]


def test_the_loop_deployed_and_fed_by_its_own_role_over_tls(secured: Secured, package: Path, tmp_path):
    namespace = f"public/sec{uuid.uuid4().hex[:8]}"  # no dash: function state lives in BookKeeper namespaces
    as_admin = ("--client-conf", secured.conf("admin"))
    as_loop = ("--client-conf", secured.conf("streamloop"))
    broker = ("--service-url", secured.service_url, "--namespace", namespace)
    cluster = ("--namespace", namespace, "--config-dir", CONFIG_DIR)
    outputs: list[str] = []

    def run(*args: object, timeout: float = 300) -> subprocess.CompletedProcess:
        result = streamloop(*args, cwd=tmp_path, timeout=timeout)
        outputs.append(result.stdout + result.stderr)
        return result

    try:
        refused = run("deploy", *as_loop, *cluster, "--package", package, "--wait", 0)
        # The loop's role cannot create a namespace or set topic policies: told who may.
        _one_line_refusal(refused, "not authorized", "CREATE_NAMESPACE", "streamloop provision")
        provisioned = ok(run("provision", *as_admin, "--namespace", namespace, "--grant", "streamloop"))
        assert "role streamloop: produce, consume, functions" in provisioned.stdout, provisioned.stdout
        deploy = ("deploy", *as_loop, *cluster, "--no-provision", "--package", package, "--wait", 240)
        deployed = ok(run(*deploy, timeout=400))
        for name in FUNCTIONS:
            assert re.search(rf"^{name}\s+0\s+\S+\s+yes\b", deployed.stdout, re.M), deployed.stdout
        # The instances run with the worker's credentials, given as a token file: no token in `ps`.
        instances = [
            a for a in _process_args() if "python_instance_main" in a and namespace.split("/")[1] in a
        ]
        assert len(instances) == len(FUNCTIONS), instances
        admin_token = f"file://{secured.secrets / 'admin.token'}"
        assert all(f"--client_auth_params {admin_token}" in a and "--use_tls true" in a for a in instances)
        outputs.extend(instances)

        ok(run("dataset", "--events", EVENTS, "--drift-at", 10_000, "--out", "data"))
        history = ("data/events.jsonl", "--labels", "data/labels.jsonl")
        features = ("--features-config", CONFIG_DIR / "features.yaml")
        trained = ok(run("train", *history, *features, "--version", "boot-1", *broker, *as_loop))
        assert "published model default:boot-1" in trained.stdout, trained.stdout
        replayed = ok(run("replay", *history, "--label-delay", 50, "--rate", 300, *broker, *as_loop))
        assert f"replayed {EVENTS} events and {EVENTS} labels" in replayed.stdout, replayed.stdout

        # The books, read back from the topics.
        topic = f"persistent://{namespace}/%s"
        predictions = _read_all(secured, topic % "predictions", EVENTS)
        assert sorted(p["id"] for p in predictions) == sorted(e["id"] for e in _events(tmp_path))
        assert "default:boot-1" in {p["model"] for p in predictions}  # the signed model `train` published
        examples = _read_all(secured, topic % "examples", EVENTS)
        assert len({e["id"] for e in examples}) == EVENTS
        status = wait_for(
            lambda: (
                (s := run("status", *as_loop, *cluster)).returncode == 0
                and re.search(rf"^learner\s+0\s+\S+\s+yes\s+{EVENTS}\s+{EVENTS}\s+0\b", s.stdout, re.M)
                and s.stdout
            ),
            180,
            "the learner to process every example",
            every=2.0,
        )
        assert re.search(rf"^features\s+0\s+\S+\s+yes\s+{EVENTS}\s+{EVENTS}\s+0\b", status, re.M), status
        reported = ok(run("report", *broker, *as_loop, "--out", "report"))
        assert "latest window: default:boot-1 at" in reported.stdout, reported.stdout
        dead = _read_all(secured, topic % "dead-letters", 0, timeout=5)
        assert dead == []

        # A model signed with another key (train keeps a key of its own in another key dir): rejected
        # with the reason on metrics, while the scorer keeps serving boot-1. (The scorer looks at a new
        # model between two messages: the same events again bring it there.)
        forged = run(
            "train", *history, *features, "--version", "forged-1", *broker, *as_admin,
            "--key-dir", tmp_path / "other-keys",
        )  # fmt: skip
        ok(forged)
        ok(run("replay", "data/events.jsonl", "--rate", 300, *broker, *as_loop))
        served = {p["model"] for p in _read_all(secured, topic % "predictions", 2 * EVENTS)[EVENTS:]}
        assert served == {"default:boot-1"}, served
        rejections = [m for m in _read_all(secured, topic % "metrics", 1, timeout=5) if _is_rejection(m)]
        assert len(rejections) == 1, rejections
        assert rejections[0]["reason"].startswith("signature: does not match (signed with another key")
        assert rejections[0]["serving"] == "default:boot-1"
    finally:
        undeployed = run("undeploy", *as_admin, *cluster, "--topics")
    assert undeployed.returncode == 0, undeployed.stderr
    _no_secret_in(secured, outputs)


def test_what_is_refused_is_refused_in_one_line(secured: Secured, tmp_path):
    namespace = f"public/ref{uuid.uuid4().hex[:8]}"
    ok(streamloop("provision", "--client-conf", secured.conf("admin"), "--namespace", namespace))
    status = ("status", "--namespace", namespace, "--config-dir", CONFIG_DIR)
    outputs = []

    def refused(conf: Path, *words: str) -> None:
        result = streamloop(*status, "--client-conf", conf, cwd=tmp_path, timeout=120)
        outputs.append(result.stdout + result.stderr)
        _one_line_refusal(result, *words)

    anonymous = secured.client_conf(tmp_path / "anonymous.conf", authPlugin="", authParams="")
    refused(anonymous, "401")
    other_key = secured.secret_key(tmp_path / "other.key")
    forged = tmp_path / "forged.token"
    forged.write_text(secured.token("streamloop", secret_key=other_key))
    refused(secured.client_conf(tmp_path / "forged.conf", authParams=f"file://{forged}"), "401")
    expired = tmp_path / "expired.token"
    expired.write_text(secured.token("streamloop", expiry="1s"))
    time.sleep(2)
    refused(secured.client_conf(tmp_path / "expired.conf", authParams=f"file://{expired}"), "401")
    stranger = tmp_path / "stranger-ca.crt"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=stranger",
         "-keyout", str(tmp_path / "stranger.key"), "-out", str(stranger)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    untrusted = secured.client_conf(tmp_path / "untrusted.conf", tlsTrustCertsFilePath=str(stranger))
    refused(untrusted, "certificate")

    # A role that may publish events and labels only (an upstream producer): they go through, its model
    # does not.
    admin = secured.connection().admin(timeout=30)
    for name in ("events", "labels"):
        path = f"/admin/v2/persistent/{namespace}/{name}/permissions/feeder"
        admin.request("POST", path, orjson.dumps(["produce"]))
    token = tmp_path / "feeder.token"
    token.write_text(secured.token("feeder"))
    feeder = secured.client_conf(tmp_path / "feeder.conf", authParams=f"file://{token}")
    ok(streamloop("dataset", "--events", 50, "--out", "data", cwd=tmp_path))
    broker = ("--service-url", secured.service_url, "--namespace", namespace, "--client-conf", feeder)
    fed = streamloop("replay", "data/events.jsonl", *broker, "--quiet", cwd=tmp_path, timeout=120)
    outputs.append(fed.stdout + fed.stderr)
    assert fed.returncode == 0 and "replayed 50 events" in fed.stdout, fed.stderr
    published = streamloop(
        "train", "data/events.jsonl", "--labels", "data/labels.jsonl", "--features-config",
        CONFIG_DIR / "features.yaml", *broker, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    outputs.append(published.stdout + published.stderr)
    _one_line_refusal(published, "not authorized")
    admin.delete_namespace(namespace, within=30, timeout=30)
    _no_secret_in(secured, outputs)


def _process_args() -> list[str]:
    return subprocess.run(
        ["ps", "-ww", "-eo", "args", "--no-headers"], capture_output=True, text=True
    ).stdout.splitlines()


def _is_rejection(metric: dict) -> bool:
    return metric.get("event") == "rejection"


def _events(workdir: Path) -> list[dict]:
    return [orjson.loads(line) for line in (workdir / "data/events.jsonl").read_text().splitlines()]


def _no_secret_in(secured: Secured, outputs: list[str]) -> None:
    """No token of the cluster's roles appears in anything a command printed."""
    tokens = [(secured.secrets / f"{role}.token").read_text().strip() for role in ("admin", "streamloop")]
    for output in outputs:
        for token in tokens:
            assert token not in output and token[-20:] not in output
