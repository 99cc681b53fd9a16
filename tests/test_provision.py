"""``streamloop provision`` (and ``deploy``'s provisioning): which admin calls it makes, and a refusal that
says who may provision (no broker: the calls are recorded)."""

from __future__ import annotations

from typing import Any

import pytest

from streamloop.tools import cli
from streamloop.tools.admin import AdminError
from streamloop.tools.connection import Connection
from streamloop.tools.provisioning import (
    HISTORY,
    LOOP_ACTIONS,
    PARTITIONABLE,
    TOPICS,
    UNPARTITIONED,
    TopicPolicies,
    provision,
)


class RecordingAdmin:
    """Records the calls; a topic of ``existing`` (name → partitions) is there before ``create_topic``."""

    def __init__(self, refuse: int | None = None, existing: dict[str, int] | None = None) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.refuse = refuse
        self.existing = existing or {}

    def __getattr__(self, name: str) -> Any:
        def call(*args: Any, **_options: Any) -> Any:
            if self.refuse is not None:
                message = f"PUT /admin/v2/namespaces/x: HTTP {self.refuse}: not authorized: Unauthorized"
                raise AdminError(message, self.refuse, not_authorized=True)
            self.calls.append((name, *args))
            if name == "create_topic":  # what the topic has once created (or kept)
                return self.existing.get(args[1], args[2])
            if name == "function_status":  # every instance runs as soon as it is created
                return {"numInstances": 1, "numRunning": 1}
            return None

        return call

    def created(self) -> dict[str, int]:
        return {call[2]: call[3] for call in self.calls if call[0] == "create_topic"}


def test_the_history_is_kept_forever_and_offloaded_metrics_a_week_and_the_role_granted():
    admin = RecordingAdmin()
    lines = provision(admin, "public/fraud", TopicPolicies(offload_threshold_mb=256), grant="streamloop")
    retained = {call[2]: call[3:] for call in admin.calls if call[0] == "set_retention"}
    assert retained == {**{name: (-1, -1) for name in HISTORY}, "metrics": (10080, -1)}
    assert admin.created() == dict.fromkeys(TOPICS, 0)  # not partitioned by default
    assert ("set_compaction", "public/fraud", "models") in admin.calls
    assert ("set_offload_threshold", "public/fraud", 256 * 1024 * 1024) in admin.calls
    assert ("grant_permission", "public/fraud", "streamloop", LOOP_ACTIONS) in admin.calls
    assert lines[-1] == "  role streamloop: produce, consume, functions on public/fraud"


def test_never_offloading_is_minus_one_and_no_grant_grants_nothing():
    admin = RecordingAdmin()
    provision(admin, "public/fraud", TopicPolicies(offload_threshold_mb=-1))
    assert ("set_offload_threshold", "public/fraud", -1) in admin.calls
    assert not [call for call in admin.calls if call[0] == "grant_permission"]


@pytest.mark.parametrize("options", [[], ["--no-provision"]], ids=["provisions", "no-provision"])
def test_deploy_provisions_unless_told_not_to(monkeypatch, capsys, tmp_path, options):
    admin = RecordingAdmin()
    monkeypatch.setattr(Connection, "admin", lambda self, timeout=120.0: admin)
    code = cli.main(["deploy", "--wait", "0", "--key-dir", str(tmp_path), *options])
    assert code == 0, capsys.readouterr()
    provisioned = [call for call in admin.calls if call[0] in ("ensure_namespace", "create_topic")]
    assert bool(provisioned) == (not options)
    assert len([call for call in admin.calls if call[0] == "create_function"]) == 4


def test_a_role_that_may_not_provision_is_told_who_may(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(Connection, "admin", lambda self, timeout=120.0: RecordingAdmin(refuse=401))
    code = cli.main(["deploy", "--wait", "0", "--key-dir", str(tmp_path), "--namespace", "public/fraud"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.strip().splitlines()) == 1, err
    assert (
        "HTTP 401: not authorized" in err and "streamloop provision --namespace public/fraud --grant" in err
    )
    assert "--no-provision" in err


def test_partitions_split_the_stream_topics_only_and_each_line_says_how():
    admin = RecordingAdmin()
    lines = provision(admin, "public/fraud", TopicPolicies(), partitions=4)
    assert admin.created() == {**dict.fromkeys(PARTITIONABLE, 4), **dict.fromkeys(UNPARTITIONED, 0)}
    assert set(PARTITIONABLE) | set(UNPARTITIONED) == set(TOPICS)
    assert lines[0] == (
        "namespace public/fraud: topics events, labels, features, predictions, examples (4 partitions), "
        "models, metrics, dead-letters (not partitioned; models compacted)"
    )
    retained = {call[2] for call in admin.calls if call[0] == "set_retention"}
    assert retained == {*HISTORY, "metrics"}  # a topic policy on the partitioned topic's name


def test_an_existing_topic_partitioned_otherwise_is_an_error_saying_what_to_do():
    kept = RecordingAdmin(existing={"events": 4})
    provision(kept, "public/fraud", TopicPolicies(), partitions=4)  # as asked: kept
    with pytest.raises(ValueError) as failed:
        provision(RecordingAdmin(existing={"events": 4}), "public/fraud", TopicPolicies())
    assert str(failed.value) == (
        "topic persistent://public/fraud/events: has 4 partitions (asked: not partitioned): keep it with "
        "--partitions 4, or delete the loop's topics (`streamloop undeploy --topics`, "
        "their messages are lost)"
    )
    with pytest.raises(
        ValueError, match=r"/models: has 2 partitions, but it must not be partitioned \(compacted"
    ):
        provision(RecordingAdmin(existing={"models": 2}), "public/fraud", TopicPolicies(), partitions=2)
    with pytest.raises(ValueError, match="--partitions: expected 0"):
        provision(RecordingAdmin(), "public/fraud", TopicPolicies(), partitions=-1)


def test_deploy_passes_its_partitions_to_provisioning(monkeypatch, capsys, tmp_path):
    admin = RecordingAdmin()
    monkeypatch.setattr(Connection, "admin", lambda self, timeout=120.0: admin)
    code = cli.main(["deploy", "--wait", "0", "--key-dir", str(tmp_path), "--partitions", "3"])
    assert code == 0, capsys.readouterr()
    assert admin.created()["events"] == 3 and admin.created()["models"] == 0
    assert "(3 partitions)" in capsys.readouterr().out
