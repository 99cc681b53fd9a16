"""One converter per river class, registered by the module that writes it.

A pipeline is zero or more *transformers* (preprocessing steps: float64 ``[N, F]`` in, ``[N, F]`` out)
followed by one *predictor* (the model: a :class:`Head`). Each converter first ``check``\\ s its river
object and raises :class:`UnsupportedModel` naming the step and the parameter it cannot write exactly; the
learner's config validation calls the checks, so a model that cannot be exported is refused at load.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from streamloop.worker.learner.export.graph import Graph


class UnsupportedModel(ValueError):
    """The exporter cannot write this model exactly; ``step`` (and ``param``) say which part."""

    def __init__(self, message: str, step: int, param: str | None = None) -> None:
        super().__init__(message)
        self.step = step
        self.param = param


class Head(NamedTuple):
    """A predictor's result: ``proba`` (float64 ``[N, K]`` in ``classes`` order) or ``value`` (``[N, 1]``).

    ``ties``: the column indices in the order river breaks ties between equal probabilities (its dict
    order, for ``predict_one``), when that is not ``classes`` order.
    """

    kind: Literal["proba", "value"]
    tensor: str
    ties: Sequence[int] | None = None


Check = Callable[[Any, int], None]


@dataclass(frozen=True)
class Transformer:
    check: Check
    emit: Callable[[Any, Graph, str], str]


@dataclass(frozen=True)
class Predictor:
    check: Check
    emit: Callable[[Any, Graph, str, Sequence[Any]], Head]


TRANSFORMERS: dict[type, Transformer] = {}
PREDICTORS: dict[type, Predictor] = {}


def no_check(step: Any, index: int) -> None:
    """For converters that write every configuration of their class exactly."""


def transformer(river_class: type, check: Check = no_check) -> Callable[[Callable], Callable]:
    """Register ``emit(step, graph, x) -> x'`` for ``river_class`` (a preprocessing step)."""

    def register(emit: Callable) -> Callable:
        TRANSFORMERS[river_class] = Transformer(check, emit)
        return emit

    return register


def predictor(river_class: type, check: Check = no_check) -> Callable[[Callable], Callable]:
    """Register ``emit(model, graph, x, classes) -> Head`` for ``river_class`` (the pipeline's last step)."""

    def register(emit: Callable) -> Callable:
        PREDICTORS[river_class] = Predictor(check, emit)
        return emit

    return register


def supported() -> str:
    """The supported classes, for error messages."""
    steps = ", ".join(sorted(c.__name__ for c in TRANSFORMERS))
    models = ", ".join(sorted(c.__name__ for c in PREDICTORS))
    return f"the ONNX exporter supports preprocessing steps {steps} followed by one of {models}"
