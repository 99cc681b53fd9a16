"""The runner: the same function classes and YAML files, in one process, on either transport.

Embedded (the default, a :class:`MemoryClient`): :meth:`Runner.pump` drives every instance in file
order, one message at a time, running the client's callbacks and the functions' background jobs (state
writes, the model feed: :mod:`streamloop.runtime.seam`) after each ``process``, until nothing is left —
deterministic and single-threaded. Broker mode (a ``pulsar.Client``): :meth:`Runner.run` gives each
instance a thread doing receive → process, and the functions run their background jobs on threads, as on a
Pulsar worker. Both use the same instances. Which transport it is, is decided once, here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from streamloop.runtime.context import UserMetrics, clear_text_secret
from streamloop.runtime.definition import FunctionDefinition, check_function_files, define
from streamloop.runtime.instance import FunctionInstance
from streamloop.runtime.keys import KeyStore, fill_generated, generated
from streamloop.runtime.memory import MemoryClient
from streamloop.runtime.state import DirectoryStateStore, MemoryStateStore, StateStore
from streamloop.worker.config import ConfigError, FunctionFile, UserConfig

__all__ = ["Runner"]

COMPACTED_TOPICS = ("models",)
POLL_MILLIS = 100


class Runner:
    """Instances of every function, their state stores and metrics, on one client.

    ``state_dir`` keeps state in files (``<dir>/<tenant>_<namespace>/<name>/``) so it survives the
    process; ``compacted_topics`` are marked compacted on the in-memory client. A secret set to
    ``generate`` gets a random key from ``keys`` (default: new per run, or kept in ``<state_dir>/keys``
    next to the state it signs).
    """

    def __init__(
        self,
        definitions: Sequence[FunctionDefinition],
        client: Any = None,
        *,
        state_dir: str | Path | None = None,
        compacted_topics: Iterable[str] = COMPACTED_TOPICS,
        secrets_provider: Any = clear_text_secret,
        keep_metric_values: bool = False,
        keys: KeyStore | None = None,
    ) -> None:
        self.client = client if client is not None else MemoryClient()
        self.embedded = isinstance(self.client, MemoryClient)
        if self.embedded:
            for name in compacted_topics:
                self.client.set_compacted(name)
        if keys is None:
            keys = KeyStore(None if state_dir is None else Path(state_dir) / "keys")
        self.definitions = {d.name: _with_keys(d, keys) for d in definitions}
        if len(self.definitions) != len(definitions):
            raise ValueError(f"two functions with the same name in {[d.source for d in definitions]}")
        self.state: dict[str, StateStore] = {
            d.name: DirectoryStateStore(Path(state_dir) / f"{d.spec.tenant}_{d.spec.namespace}" / d.name)
            if state_dir is not None
            else MemoryStateStore()
            for d in definitions
        }
        self.metrics = {d.name: UserMetrics(keep_values=keep_metric_values) for d in definitions}
        self._secrets_provider = secrets_provider
        self.instances: list[FunctionInstance] = []
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | Path],
        client: Any = None,
        user_config: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> Runner:
        """Load and check every FunctionConfig YAML (``user_config`` overrides values per function name).

        Raises :class:`ConfigError` with every problem of every file, each naming the file and the key.
        """
        overrides = dict(user_config or {})
        files, problems = [], []
        for path in paths:
            try:
                files.append(FunctionFile.load(path))
            except ConfigError as error:
                problems += error.problems
        unknown = set(overrides) - {f.name for f in files}
        if unknown:
            raise ValueError(f"user_config overrides for unknown functions: {sorted(unknown)}")
        problems += check_function_files(files, overrides)
        if problems:
            raise ConfigError(problems)
        return cls([define(file, overrides.get(file.name)) for file in files], client, **options)

    @classmethod
    def from_directory(cls, config_dir: str | Path, client: Any = None, **options: Any) -> Runner:
        """:meth:`from_files` on every ``*.yaml`` of ``config_dir``, in name order."""
        return cls.from_files(sorted(Path(config_dir).glob("*.yaml")), client, **options)

    @property
    def function_names(self) -> list[str]:
        return list(self.definitions)

    def user_config(self, function_name: str) -> UserConfig | None:
        """The validated ``userConfig`` of a function (overrides applied)."""
        return self.definitions[function_name].config

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Create every instance (each subscribes to its inputs); does nothing if already started."""
        if not self.instances:
            self._stopping.clear()
            self.instances = [
                self._start(d, i) for d in self.definitions.values() for i in range(d.parallelism)
            ]

    def _start(self, definition: FunctionDefinition, instance_id: int) -> FunctionInstance:
        return FunctionInstance(
            definition,
            instance_id,
            self.client,
            self.state[definition.name],
            self.metrics[definition.name],
            self._secrets_provider,
            embedded=self.embedded,
        )

    def restart(self, function_name: str, instance: int | None = None) -> None:
        """Crash instance(s) of a function (nothing acked) and start new ones on the same state."""
        definition = self.definitions[function_name]
        for position, old in enumerate(self.instances):
            if old.definition is definition and instance in (None, old.instance_id):
                old.crash()
                self.instances[position] = self._start(definition, old.instance_id)

    def stop(self) -> None:
        """Stop the threads (if running) and close every consumer; unacked inputs wait for the next run."""
        self._stopping.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join()
        self._threads = []
        for instance in self.instances:
            instance.crash()
        self.instances = []

    # -- embedded: one deterministic thread ----------------------------------------------------------
    def pump(self) -> int:
        """Process every available message, instance by instance in file order; return how many.

        After each message, the client's callbacks and every function's background jobs run until idle.
        """
        if not self.embedded:
            raise TypeError("pump() drives the embedded transport; on a broker use run()")
        self.start()
        self._settle()  # what was sent from outside (confirmations, a model for a feed) comes first
        total = 0
        while True:
            done = 0
            for instance in self.instances:
                while instance.process_waiting():
                    done += 1
                    self._settle()
            if not done:  # nothing ran since the last settle, which left everything idle
                return total
            total += done

    def _settle(self) -> None:
        """Run the client's callbacks and every instance's background jobs until none is left.

        ``run_callbacks`` runs every callback, and the ones they cause, so a pass whose background jobs
        had nothing to do leaves nothing behind: no second pass is needed to find that out.
        """
        run_callbacks, instances = self.client.run_callbacks, self.instances
        while True:
            run_callbacks()
            worked = False
            for instance in instances:
                if instance.run_background():
                    worked = True
            if not worked:
                return

    # -- broker mode: a thread per instance ----------------------------------------------------------
    def run(self, stop: threading.Event | None = None) -> None:
        """Run every instance on its own thread until ``stop`` is set or :meth:`stop` is called."""
        if self.embedded:
            raise TypeError("run() serves a broker; the embedded transport is driven by pump()")
        self.start()
        stop = stop or self._stopping
        self._threads = [
            threading.Thread(
                target=self._serve, args=(instance, stop), name=f"{instance.definition.name}-{i}"
            )
            for i, instance in enumerate(self.instances)
        ]
        for thread in self._threads:
            thread.start()
        while not (stop.wait(POLL_MILLIS / 1000) or self._stopping.is_set()):
            pass
        self.stop()

    def _serve(self, instance: FunctionInstance, stop: threading.Event) -> None:
        while not (stop.is_set() or self._stopping.is_set()):
            instance.process_next(POLL_MILLIS)

    def instance(self, function_name: str, instance_id: int = 0) -> FunctionInstance:
        """The running instance ``instance_id`` of a function."""
        for candidate in self.instances:
            if candidate.definition.name == function_name and candidate.instance_id == instance_id:
                return candidate
        raise KeyError(f"{function_name}/{instance_id}")


def _with_keys(definition: FunctionDefinition, keys: KeyStore) -> FunctionDefinition:
    """``definition`` with its ``generate`` secrets replaced by its namespace's keys."""
    spec = definition.spec
    if not generated(spec.secrets):
        return definition
    secrets = fill_generated(spec.secrets, f"{spec.tenant}/{spec.namespace}", keys)
    return replace(definition, spec=replace(spec, secrets=secrets))
