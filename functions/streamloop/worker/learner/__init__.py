"""The learner: river learning from ``examples``, ONNX models published to ``models`` by a promotion policy.

| module | one job |
|---|---|
| ``models`` | allow-listed river objects from config, the pipeline, pure inference |
| ``export`` | river linear pipelines → ONNX |
| ``checkpoint`` | HMAC-signed, chunked checkpoints in function state |
| ``promotion`` | champion vs challenger, drift, schedule |
| ``windows`` | per-version prequential metric windows |
| ``settings`` | the ``userConfig`` schema |
| ``state`` | what a checkpoint holds |
| ``function`` | ``LearnerFunction`` |
"""

from streamloop.worker.learner.checkpoint import CheckpointError, CheckpointStore
from streamloop.worker.learner.export import UnsupportedModel, check_exportable, model_to_onnx
from streamloop.worker.learner.function import LearnerFunction
from streamloop.worker.learner.models import ModelSpec, RiverObject, build_model, pure_inference_mode
from streamloop.worker.learner.promotion import PromotionConfig, PromotionPolicy
from streamloop.worker.learner.settings import LearnerConfig

__all__ = [
    "CheckpointError",
    "CheckpointStore",
    "LearnerConfig",
    "LearnerFunction",
    "ModelSpec",
    "PromotionConfig",
    "PromotionPolicy",
    "RiverObject",
    "UnsupportedModel",
    "build_model",
    "check_exportable",
    "model_to_onnx",
    "pure_inference_mode",
]
