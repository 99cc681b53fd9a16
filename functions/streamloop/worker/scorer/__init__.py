"""Scoring with ONNX Runtime and atomic model hot swap."""

from streamloop.worker.scorer.function import ScorerConfig, ScorerFunction
from streamloop.worker.scorer.model import ModelRejected, OnnxModel, Prediction

__all__ = ["ModelRejected", "OnnxModel", "Prediction", "ScorerConfig", "ScorerFunction"]
