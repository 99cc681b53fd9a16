"""Signed model messages: only a holder of the namespace's ``model_signing_key`` decides what scorers serve.

The learner (and ``streamloop train``) sign each model; the scorer verifies the signature before it even
parses the model, and refuses an unsigned or wrongly signed one like any other bad model. The HMAC-SHA256
covers a domain-separation prefix, the model name (the message key: a model signed for one name cannot
be replayed under another) and the ONNX bytes, whose ``metadata_props`` carry ``version``,
``feature_names``, ``task`` and ``classes``. The signature travels in the message property
:data:`SIGNATURE_PROPERTY` as ``hmac-sha256:<key id>:<hex>``; the key id (the first 8 hex digits of
``sha256(key)``, nothing an attacker can use) lets a rejection say which key signed a model.

A shared key means every scorer could sign too; Ed25519 would give scorers only a verify key, but needs
the ``cryptography`` wheel on every worker and a second kind of key, so this uses the stdlib and the
deploy's one key mechanism (:mod:`~streamloop.worker.secretkeys`).

>>> key = b"k" * 32
>>> signature = sign(key, "default", b"onnx bytes")
>>> signature.split(":")[:2] == ["hmac-sha256", key_id(key)]
True
>>> verify(key, "default", b"onnx bytes", signature)
>>> verify(key, "default", b"onnx bytez", signature)
Traceback (most recent call last):
...
streamloop.worker.modelcontract.ModelRejected: signature: does not match (the model or its name was ...
>>> verify(key, "other", b"onnx bytes", signature)
Traceback (most recent call last):
...
streamloop.worker.modelcontract.ModelRejected: signature: does not match (the model or its name was ...
>>> verify(b"o" * 32, "default", b"onnx bytes", signature)
Traceback (most recent call last):
...
streamloop.worker.modelcontract.ModelRejected: signature: does not match (signed with another key: ...
>>> verify(key, "default", b"onnx bytes", None)
Traceback (most recent call last):
...
streamloop.worker.modelcontract.ModelRejected: signature: unsigned (no streamloop-signature property); ...
"""

from __future__ import annotations

import hashlib
import hmac

from streamloop.worker.modelcontract import ModelRejected

SIGNATURE_PROPERTY = "streamloop-signature"
SCHEME = "hmac-sha256"
DOMAIN = b"streamloop model v1\0"


def key_id(key: bytes) -> str:
    """The first 8 hex digits of ``sha256(key)``: names a key without revealing it."""
    return hashlib.sha256(key).hexdigest()[:8]


def _mac(key: bytes, model_name: str, payload: bytes) -> str:
    name = model_name.encode()
    message = DOMAIN + len(name).to_bytes(4, "big") + name + payload
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def sign(key: bytes, model_name: str, payload: bytes) -> str:
    """The signature of ``payload`` published under the key ``model_name``."""
    return f"{SCHEME}:{key_id(key)}:{_mac(key, model_name, payload)}"


def verify(key: bytes, model_name: str, payload: bytes, signature: str | None) -> None:
    """Return if ``signature`` is ``key``'s for ``payload`` under ``model_name``, else raise
    :class:`ModelRejected` saying whether it is unsigned, malformed, or does not match."""
    if not signature:
        raise ModelRejected(
            f"signature: unsigned (no {SIGNATURE_PROPERTY} property); "
            "models must be signed with the namespace's model_signing_key"
        )
    scheme, _, rest = signature.partition(":")
    signer, _, mac = rest.partition(":")
    if scheme != SCHEME or not signer or not mac:
        expected = f"{SCHEME}:<key id>:<hex>"
        raise ModelRejected(f"signature: malformed (expected {expected}, got {signature[:80]!r})")
    if hmac.compare_digest(mac, _mac(key, model_name, payload)):
        return
    expected = key_id(key)
    if signer != expected:
        raise ModelRejected(
            f"signature: does not match (signed with another key: key {signer[:16]} signed it, "
            f"this scorer verifies with key {expected} of its model_signing_key)"
        )
    raise ModelRejected(
        "signature: does not match (the model or its name was changed after signing, "
        "or another key signed it)"
    )
