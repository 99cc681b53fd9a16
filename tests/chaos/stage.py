"""A stage for one chaos scenario: the functions deployed into their own namespace on the real standalone.

Each scenario gets ``public/chaos<id>`` (no dash, as function state lives in a BookKeeper namespace named
``<tenant>_<namespace>``): copies of ``pulsar-config/*.yaml`` with the namespace and every topic rewritten
(and ``userConfig`` overrides applied), its own topics, subscriptions and function state, so counts never
mix between scenarios. Everything talks to the standalone on 127.0.0.1, and every wait is
bounded in time.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulsar as pulsar_client
import yaml
from books import Books, DeadLetter
from cluster import REPO, TENANT, Pulsar, wait_for
from corpus import Item

from streamloop.runtime.keys import KeyStore, default_key_dir
from streamloop.tools.admin import Admin, AdminError
from streamloop.tools.deployment import creation_steps, in_namespace
from streamloop.tools.provisioning import TopicPolicies, provision
from streamloop.worker.modelsigning import SIGNATURE_PROPERTY, sign
from streamloop.worker.secretkeys import MODEL_SIGNING_KEY

CONFIG_DIR = REPO / "pulsar-config"
FUNCTIONS = ("features", "scorer", "joiner", "learner")


class Stage:
    """Functions, topics and a client in the namespace ``public/<namespace>``."""

    def __init__(
        self, cluster: Pulsar, package: Path, workdir: Path, namespace: str, partitions: int = 0
    ) -> None:
        self.pulsar = replace(cluster, namespace=namespace)
        self.package = package
        self.workdir = workdir
        self.namespace = namespace
        self.partitions = partitions
        self.deployed: list[str] = []
        self.admin = Admin(cluster.admin_url, timeout=30.0, functions_url=cluster.functions)
        self.admin.ensure_namespace(f"{TENANT}/{namespace}")
        # Keep acked messages: the books are counted by reading every topic from the start, and without
        # retention the broker deletes fully acked ledgers (at a ledger roll-over, or a broker restart).
        self.admin.set_namespace_retention(f"{TENANT}/{namespace}", -1, -1)
        if partitions:  # the loop's topics as `streamloop provision --partitions` makes them
            provision(self.admin, f"{TENANT}/{namespace}", TopicPolicies(), partitions=partitions)
        self.client = pulsar_client.Client(
            cluster.service_url,
            operation_timeout_seconds=30,
            logger=pulsar_client.ConsoleLogger(pulsar_client.LoggerLevel.Error),
        )
        self._producers: dict[str, Any] = {}

    # -- admin ---------------------------------------------------------------------------------------
    def topic(self, name: str) -> str:
        return f"persistent://{TENANT}/{self.namespace}/{name}"

    def config_of(
        self, base: str, user_config: Mapping[str, Any] | None = None, **function_config: Any
    ) -> dict[str, Any]:
        """``pulsar-config/<base>.yaml`` moved to this namespace, with overrides."""
        config = yaml.safe_load((CONFIG_DIR / f"{base}.yaml").read_text())
        config = in_namespace(config, f"{TENANT}/{self.namespace}")
        config["userConfig"] = {**config.get("userConfig", {}), **(user_config or {})}
        config.update(function_config)
        return config

    def write_yaml(
        self, base: str, user_config: Mapping[str, Any] | None = None, **function_config: Any
    ) -> Path:
        """A copy of ``pulsar-config/<base>.yaml`` in this namespace, with overrides; returns its path."""
        return self._written(self.config_of(base, user_config, **function_config))

    def _written(self, config: Mapping[str, Any]) -> Path:
        path = self.workdir / f"{self.namespace}-{config['name']}.yaml"
        path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
        return path

    def deploy(
        self,
        names: Iterable[str] = FUNCTIONS,
        user_config: Mapping[str, Mapping[str, Any]] | None = None,
        function_config: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """``functions create`` each function, then wait until every instance runs.

        One at a time: concurrent creates race in the worker's package store ("Someone just created log");
        each with one instance first, scaled once it runs, as ``streamloop deploy`` does (two instances
        creating a state table at once crash: ``deployment.creation_steps``).
        """
        user_config, function_config = user_config or {}, function_config or {}
        configs = [self.config_of(n, user_config.get(n), **function_config.get(n, {})) for n in names]
        for config, scale_to in creation_steps(configs):
            name = self.pulsar.deploy(self._written(config), self.package)
            self.deployed.append(name)
            if scale_to is not None:
                self.pulsar.wait_for_status(name, running=1, timeout=240)
            if scale_to is not None and scale_to > 1:
                self.admin.scale_function(f"{TENANT}/{self.namespace}", name, scale_to)
        for config in configs:
            parallelism = int(config.get("parallelism") or 1)
            self.pulsar.wait_for_status(config["name"], running=parallelism, timeout=240)

    def delete_functions(self) -> None:
        """Delete the deployed functions and wait (up to 60 s) until their instances have left the topics."""
        with ThreadPoolExecutor(max(1, len(self.deployed))) as pool:
            list(pool.map(self.pulsar.delete, self.deployed))
        namespace = f"{TENANT}/{self.namespace}"
        left = self.admin.wait_instances_gone(namespace, [f"{namespace}/{name}" for name in self.deployed])
        if left:
            print(f"chaos: instances still connected 60 s after their functions were deleted: {left}")
        self.deployed = []

    def close(self) -> None:
        """Delete the functions, the topics and the namespace (best effort: leftovers are harmless)."""
        for producer in self._producers.values():
            producer.close()
        self.client.close()
        self.delete_functions()
        failed = self.admin.delete_namespace(f"{TENANT}/{self.namespace}", timeout=10)
        if failed:
            print(f"chaos: leaving namespace {self.namespace} behind: {failed}")

    def instances_ok(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """Each function's restarts and exceptions, summed over instances; the status docs ride along."""
        out: dict[str, Any] = {}
        for name in names or self.deployed:
            status = self.pulsar.status(name)
            instances = [i["status"] for i in status.get("instances", [])]
            out[name] = {
                "running": status.get("numRunning"),
                "restarts": sum(i.get("numRestarts", 0) for i in instances),
                "system_exceptions": sum(i.get("numSystemExceptions", 0) for i in instances),
                "user_exceptions": sum(i.get("numUserExceptions", 0) for i in instances),
            }
        return out

    def progress(self) -> dict[str, Any]:
        """What each instance received and processed, and each topic's subscription backlogs: printed when
        a wait times out, to show where the stream stopped."""
        out: dict[str, Any] = {}
        for name in self.deployed:
            out[name] = [
                (
                    i["instanceId"],
                    i["status"].get("workerId"),
                    i["status"].get("numReceived"),
                    i["status"].get("numSuccessfullyProcessed"),
                    i["status"].get("running"),
                )
                for i in self.pulsar.status(name).get("instances", [])
            ]
        parts = [f"-partition-{i}" for i in range(self.partitions)] or [""]
        for name in ("events", "features", "predictions", "labels", "examples"):
            for part in parts:
                try:
                    stats = self.admin.topic_stats(self.topic(name) + part)
                except AdminError as error:
                    out[name + part] = str(error)
                    continue
                out[name + part] = {
                    sub: (s.get("msgBacklog"), s.get("unackedMessages"), len(s.get("consumers", [])))
                    for sub, s in stats.get("subscriptions", {}).items()
                }
        return out

    def errors(self, name: str) -> list[str]:
        """The exception texts ``pulsar-admin functions status`` shows for the instances of ``name``."""
        texts = []
        for instance in self.pulsar.status(name).get("instances", []):
            status = instance["status"]
            for kind in ("latestUserExceptions", "latestSystemExceptions"):
                texts += [e.get("exceptionString", "") for e in status.get(kind) or []]
            if status.get("error"):
                texts.append(status["error"])
        return texts

    # -- state ---------------------------------------------------------------------------------------
    def get_state(self, function: str, key: str) -> bytes | None:
        """A function state value through the admin REST API (``functions querystate``)."""
        text = self.admin.get_state(f"{TENANT}/{self.namespace}", function, key)
        return None if text is None else text.encode()

    def put_state(self, function: str, key: str, value: str) -> None:
        """``functions putstate`` through the admin REST API (a multipart form field ``state``)."""
        self.admin.put_state(f"{TENANT}/{self.namespace}", function, key, value)

    # -- messages ------------------------------------------------------------------------------------
    def producer(self, name: str) -> Any:
        producer = self._producers.get(name)
        if producer is None:
            producer = self.client.create_producer(
                self.topic(name),
                batching_type=pulsar_client.BatchingType.KeyBased,  # Key_Shared inputs need key batches
                block_if_queue_full=True,
                send_timeout_millis=30_000,
            )
            self._producers[name] = producer
        return producer

    def publish_model(self, payload: bytes, signed: bool = True, name: str = "default") -> None:
        """Send a model to ``models``, signed (unless ``signed`` is false) with the namespace's
        ``model_signing_key``: the key this stage's deploys gave the scorer."""
        properties = {}
        if signed:
            key = KeyStore(default_key_dir()).key(f"{TENANT}/{self.namespace}", MODEL_SIGNING_KEY).value
            properties[SIGNATURE_PROPERTY] = sign(key.encode(), name, payload)
        self.producer("models").send(payload, partition_key=name, properties=properties)

    def send_items(self, items: Iterable[Item], pace: Callable[[int], None] | None = None) -> None:
        """Send corpus items to ``events``/``labels`` in order; ``pace(i)`` runs after the i-th send."""
        failures: list[Any] = []

        def confirmed(result: Any, _msg_id: Any) -> None:
            if result != pulsar_client.Result.Ok:
                failures.append(result)

        for i, item in enumerate(items):
            self.producer(f"{item.kind}s").send_async(item.payload, confirmed, partition_key=item.key or None)
            if pace is not None:
                pace(i)
        for producer in self._producers.values():
            producer.flush()
        assert not failures, f"{len(failures)} sends failed: {failures[:3]}"

    def read(self, name: str) -> list[Any]:
        """Every message on a topic of this namespace, oldest first (bounded: 2 s without a message)."""
        reader = self.client.create_reader(self.topic(name), pulsar_client.MessageId.earliest)
        messages = []
        try:
            while reader.has_message_available():
                messages.append(reader.read_next(timeout_millis=2000))
        finally:
            reader.close()
        return messages

    def payloads(self, name: str) -> list[bytes]:
        return [m.data() for m in self.read(name)]

    def dead_letters(self) -> list[DeadLetter]:
        return [DeadLetter(m.data(), m.properties()) for m in self.read("dead-letters")]

    def books(self, learned: int | None, **sent: int) -> Books:
        """Count this namespace's topics; ``sent`` gives events_in, labels_in and the duplicates."""
        return Books.from_topics(
            **sent,
            predictions=self.payloads("predictions"),
            examples=self.payloads("examples"),
            dead_letters=self.dead_letters(),
            metrics=self.payloads("metrics"),
            learned=learned,
        )

    # -- processes -----------------------------------------------------------------------------------
    def instance_pids(self, name: str) -> list[int]:
        """Process ids of the function's ``python_instance_main.py`` processes (a local Linux standalone)."""
        marker = f'"namespace":"{self.namespace}","name":"{name}"'.encode()
        pids = []
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                args = cmdline.read_bytes().split(b"\0")
            except OSError:  # the process is gone
                continue
            if len(args) > 1 and args[1].endswith(b"python_instance_main.py") and marker in b" ".join(args):
                pids.append(int(cmdline.parent.name))
        return pids

    def kill(self, name: str) -> int:
        """``kill -9`` the function's one instance process; returns its pid."""
        pids = self.instance_pids(name)
        assert len(pids) == 1, f"{name}: expected one instance process, found {pids}"
        os.kill(pids[0], signal.SIGKILL)
        return pids[0]

    def wait_restarted(self, name: str, killed: int, timeout: float = 180.0) -> None:
        """Until the worker has started a new instance process and reports it running."""
        wait_for(
            lambda: (
                [p for p in self.instance_pids(name) if p != killed]
                and self.pulsar.status(name).get("numRunning") == 1
            ),
            timeout,
            f"{name} to be restarted after kill -9 of {killed}",
        )
