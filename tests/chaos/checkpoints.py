"""Read the deployed learner's checkpoint through the admin state API and verify it like the learner does."""

from __future__ import annotations

from typing import Any

from stage import TENANT, Stage

from streamloop.runtime.keys import KeyStore, default_key_dir
from streamloop.worker.learner.checkpoint import CheckpointError, CheckpointStore
from streamloop.worker.learner.state import LearnerState
from streamloop.worker.secretkeys import CHECKPOINT_KEY as SECRET

CHECKPOINT_KEY = "learner-checkpoint"


def hmac_key(stage: Stage) -> bytes:
    """The key the stage's deploy generated for its namespace (ClearTextSecretsProvider: the value is it)."""
    return KeyStore(default_key_dir()).key(f"{TENANT}/{stage.namespace}", SECRET).value.encode()


class AdminState:
    """Pulsar's ``get_state``/``put_state`` for one deployed function, over the admin REST API."""

    def __init__(self, stage: Stage, function: str = "learner") -> None:
        self.stage, self.function = stage, function

    def get_state(self, key: str) -> bytes | None:
        return self.stage.get_state(self.function, key)

    def put_state(self, key: str, value: str) -> None:
        self.stage.put_state(self.function, key, value)

    def delete_state(self, key: str) -> None:
        self.put_state(key, "")  # as the function does: Pulsar's Python Context has no deletion


def load_checkpoint(stage: Stage, key: bytes | None = None, attempts: int = 10) -> Any:
    """The deployed learner's :class:`LearnerState`, HMAC-checked by the learner's own code first.

    The running learner may replace its checkpoint while this reads it key by key (a new manifest, the old
    chunks deleted): the read is tried again only when the manifest moved on meanwhile; a checkpoint that
    fails to load with its manifest unchanged is broken, and its error is raised.
    """
    store = CheckpointStore(AdminState(stage), CHECKPOINT_KEY, key or hmac_key(stage))
    for _ in range(attempts - 1):
        manifest = stage.get_state("learner", CHECKPOINT_KEY)
        try:
            return store.load()
        except CheckpointError:
            if stage.get_state("learner", CHECKPOINT_KEY) == manifest:
                raise
    return store.load()


def weights(state: LearnerState) -> dict[str, Any]:
    """The learned numbers of the default pipeline (scaler statistics and the linear model's weights)."""
    scaler, linear = state.model["StandardScaler"], state.model["LogisticRegression"]
    return {
        "means": dict(scaler.means),
        "vars": dict(scaler.vars),
        "weights": dict(linear.weights),
        "intercept": linear.intercept,
    }


def learned(stage: Stage) -> int:
    """Examples the deployed learner's stored checkpoint has learned (0 before the first)."""
    state = load_checkpoint(stage)
    return 0 if state is None else state.n_learned
