"""The functions' secret keys: HMAC keys from their secrets, refused unless they are real keys.

- ``checkpoint_hmac_key`` (the learner): checkpoints are pickles, so whoever knows the key can make the
  learner unpickle anything they write into its function state.
- ``model_signing_key`` (the learner signs, every scorer verifies): whoever knows it decides what the
  scorers serve (:mod:`~streamloop.worker.modelsigning`).

A key therefore never comes from the repository: ``pulsar-config/*.yaml`` hold the placeholder
``generate``, which ``streamloop deploy`` and ``make deploy`` replace with the namespace's random key of
that secret name (the learner and the scorers of one namespace get the same one), and ``streamloop run``
and the test harness with their own. A function given no key, a placeholder, or fewer than
:data:`MIN_KEY_BYTES` bytes refuses to start, naming the secret.

>>> len(secret_key(CHECKPOINT_KEY, "x" * 32))
32
>>> secret_key(MODEL_SIGNING_KEY, None)
Traceback (most recent call last):
...
ValueError: required: the HMAC key that signs model messages (the learner) and that scorers verify
>>> secret_key(MODEL_SIGNING_KEY, "generate")
Traceback (most recent call last):
...
ValueError: is the placeholder 'generate', not a key: deploy with `streamloop deploy` or `make deploy` ...
>>> secret_key(CHECKPOINT_KEY, "short")
Traceback (most recent call last):
...
ValueError: is 5 bytes long; a key needs at least 32 random bytes (e.g. `openssl rand -base64 32`)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from streamloop.worker.config import ConfigError, Problem

GENERATE = "generate"
"""A secret's value that ``streamloop deploy``, ``make deploy`` and the runner replace with a random key."""
CHECKPOINT_KEY = "checkpoint_hmac_key"
MODEL_SIGNING_KEY = "model_signing_key"
PURPOSES = {
    CHECKPOINT_KEY: "the HMAC key that signs the learner's checkpoints",
    MODEL_SIGNING_KEY: "the HMAC key that signs model messages (the learner) and that scorers verify",
}
MIN_KEY_BYTES = 32  # HMAC-SHA256: a key as long as the digest
# Values that were never keys: the placeholder, and the demo value that shipped in learner.yaml before.
PLACEHOLDERS = frozenset({GENERATE, "streamloop-demo-checkpoint-key-change-me"})


def secret_key(name: str, secret: Any) -> bytes:
    """The HMAC key in ``secret``, the value of the secret ``name``; ``ValueError`` says why it is not."""
    if secret is None or secret == "" or secret == b"":
        raise ValueError(f"required: {PURPOSES[name]}")
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


def read_keys(context: Any, names: Sequence[str], source: str) -> dict[str, bytes]:
    """The key of each secret in ``names`` (``context.get_secret``), or a :class:`ConfigError` naming
    every secret that is not one (``secrets.<name>``)."""
    keys, problems = {}, []
    for name in names:
        try:
            keys[name] = secret_key(name, context.get_secret(name))
        except ValueError as error:
            problems.append(Problem(source, f"secrets.{name}", str(error)))
    if problems:
        raise ConfigError(problems)
    return keys
