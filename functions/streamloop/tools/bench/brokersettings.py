"""Broker settings changed for one measurement and put back: Pulsar's dynamic configuration.

A dynamic setting (``pulsar-admin brokers list-dynamic-config``) set through the admin API overrides every
broker's configuration file, is kept in the cluster's metadata (it outlives a restart), and is put back here
to the override that was there before, or removed. Used by the bench's loop variants that measure a broker
lever (``dispatcherMaxReadBatchSize``) against the settings the brokers run with.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping

from streamloop.tools.admin import Admin

APPLY_SECONDS = 15.0  # each broker applies a change when its metadata watch fires


@contextlib.contextmanager
def dynamic_settings(admin: Admin, settings: Mapping[str, str]) -> Iterator[None]:
    """Run the block with ``settings`` in force on the brokers, then put back what was there."""
    if not settings:
        yield
        return
    before = admin.dynamic_config()
    try:
        for name, value in settings.items():
            admin.set_dynamic_config(name, value)
        _wait_applied(admin, settings)
        yield
    finally:
        for name in settings:
            if name in before:
                admin.set_dynamic_config(name, before[name])
            else:
                admin.delete_dynamic_config(name)


def _wait_applied(admin: Admin, settings: Mapping[str, str]) -> None:
    """Until the broker answering reports ``settings`` in its runtime configuration (bounded)."""
    deadline = time.monotonic() + APPLY_SECONDS
    while time.monotonic() < deadline:
        runtime = admin.request("GET", "/admin/v2/brokers/configuration/runtime", timeout=10) or {}
        if all(str(runtime.get(name)) == value for name, value in settings.items()):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the broker did not apply {dict(settings)} within {APPLY_SECONDS:.0f}s")
