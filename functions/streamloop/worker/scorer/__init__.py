"""Scoring with ONNX Runtime and atomic model hot swap."""

from streamloop.worker.modelcontract import ModelRejected
from streamloop.worker.scorer.function import ScorerConfig, ScorerFunction
from streamloop.worker.scorer.model import OnnxModel, Prediction

__all__ = ["ModelRejected", "OnnxModel", "Prediction", "ScorerConfig", "ScorerFunction"]
