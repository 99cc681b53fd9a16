"""The learner's checkpoint key: the ``checkpoint_hmac_key`` secret, refused unless it is a real key.

Checkpoints are pickles, so whoever knows the key can make the learner unpickle anything they write into
its function state. The key therefore never comes from the repository: ``pulsar-config/learner.yaml``
holds the placeholder ``generate``, which ``streamloop deploy`` and ``make deploy`` replace with the
namespace's random key and ``streamloop run`` and the test harness with their own. A learner given no
key, a placeholder, or fewer than :data:`MIN_KEY_BYTES` bytes refuses to start.

>>> len(signing_key("x" * 32))
32
>>> signing_key("generate")
Traceback (most recent call last):
...
ValueError: is the placeholder 'generate', not a key: deploy with `streamloop deploy` or `make deploy` ...
>>> signing_key("short")
Traceback (most recent call last):
...
ValueError: is 5 bytes long; a key needs at least 32 random bytes (e.g. `openssl rand -base64 32`)
"""

from __future__ import annotations

from typing import Any

from streamloop.worker.function import GENERATE

SECRET = "checkpoint_hmac_key"
MIN_KEY_BYTES = 32  # HMAC-SHA256: a key as long as the digest
# Values that were never keys: the placeholder, and the demo value that shipped in learner.yaml before.
PLACEHOLDERS = frozenset({GENERATE, "streamloop-demo-checkpoint-key-change-me"})


def signing_key(secret: Any) -> bytes:
    """The HMAC key of ``context.get_secret(SECRET)``; ``ValueError`` says why a value is not one."""
    if secret is None or secret == "" or secret == b"":
        raise ValueError("required: the HMAC key that signs the learner's checkpoints")
    if isinstance(secret, str) and secret.strip() in PLACEHOLDERS:
        raise ValueError(
            f"is the placeholder {secret.strip()!r}, not a key: deploy with `streamloop deploy` or "
            f"`make deploy` (they generate one per namespace), or set a random key of at least "
            f"{MIN_KEY_BYTES} bytes"
        )
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(
            f"is {len(key)} bytes long; a key needs at least {MIN_KEY_BYTES} random bytes "
            "(e.g. `openssl rand -base64 32`)"
        )
    return key
