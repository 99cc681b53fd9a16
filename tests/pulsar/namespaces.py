"""Removing a test's own namespace once its functions and topics are gone."""

from __future__ import annotations

from cluster import ADMIN


def delete_namespace(namespace: str, timeout: float = 10.0) -> bool:
    """DELETE ``tenant/ns``, retrying every 3 s for ``timeout`` s; ``False`` if the broker still refuses.

    Right after an undeploy the standalone refuses for minutes (the deleted functions' subscriptions and
    system topics are still being cleaned up; forced deletes are off), so an empty namespace may linger.
    """
    return ADMIN.delete_namespace(namespace, topics=False, within=timeout, every=3, timeout=60) is None
