"""Scoring with ONNX Runtime and atomic model hot swap."""

from streamloop.scorer.function import ScorerConfig, ScorerFunction
from streamloop.scorer.model import ModelRejected, OnnxModel, Prediction

__all__ = ["ModelRejected", "OnnxModel", "Prediction", "ScorerConfig", "ScorerFunction"]
