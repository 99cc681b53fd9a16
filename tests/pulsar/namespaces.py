"""Removing a test's own namespace once its functions and topics are gone."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from cluster import ADMIN_URL


def delete_namespace(namespace: str, timeout: float = 10.0) -> bool:
    """DELETE ``tenant/ns``, retrying for ``timeout`` s; ``False`` if the broker still refuses.

    Right after an undeploy the standalone refuses for minutes (the deleted functions' subscriptions and
    system topics are still being cleaned up; forced deletes are off), so an empty namespace may linger.
    """
    deadline = time.monotonic() + timeout
    while True:
        request = urllib.request.Request(f"{ADMIN_URL}/admin/v2/namespaces/{namespace}", method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=60).close()
            return True
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return True
        except OSError:
            pass
        if time.monotonic() >= deadline:
            return False
        time.sleep(3)
