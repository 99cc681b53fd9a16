"""River objects from configuration, through an allow-list of classes (never ``eval``, never import by name).

A configured object is ``{"class": "<dotted name under river>", "params": {...}}``; parameters are plain
scalars or nested configured objects. The model is a list of ``steps`` chained into a pipeline, checked at
config load: every class allowed in its slot, every parameter a constructor argument, the pipeline able to
learn a probe example and exportable to ONNX. Every mistake names its key.

>>> spec = ModelSpec.model_validate({"steps": [
...     {"class": "preprocessing.StandardScaler"},
...     {"class": "linear_model.LogisticRegression", "params": {"optimizer": {"class": "optim.SGD",
...                                                                         "params": {"lr": 0.05}}}},
... ]})
>>> model = build_model(spec)
>>> model
Pipeline (
  StandardScaler (
    with_std=True
    window_size=None
  ),
  LogisticRegression (
    optimizer=SGD (
      lr=Constant (
        learning_rate=0.05
      )
    )
    loss=Log (
      weight_pos=1.
      weight_neg=1.
    )
    l2=0.
    l1=0.
    intercept_init=0.
    intercept_lr=Constant (
      learning_rate=0.01
    )
    clip_gradient=1e+12
    initializer=Zeros ()
  )
)
>>> model_task(model)
'classification'
>>> RiverObject.model_validate({"class": "os.system"})
Traceback (most recent call last):
...
pydantic_core._pydantic_core.ValidationError: 1 validation error for RiverObject
class
  Value error, unknown river class 'os.system'; allowed: ...
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from river import base, compose, drift, forest, linear_model, metrics, naive_bayes, optim, preprocessing, tree

Kind = Literal["step", "component", "drift", "metric"]
Task = Literal["classification", "regression"]


def _entries(kind: Kind, prefix: str, module: Any, names: str) -> dict[str, tuple[type, Kind]]:
    return {f"{prefix}.{name}": (getattr(module, name), kind) for name in names.split()}


#: Every river class a configuration may name, by dotted name under ``river``, with the slot it fits.
ALLOWED: dict[str, tuple[type, Kind]] = {
    **_entries("step", "preprocessing", preprocessing, "StandardScaler"),
    **_entries("step", "preprocessing", preprocessing, "MinMaxScaler MaxAbsScaler Binarizer"),
    **_entries("step", "linear_model", linear_model, "LogisticRegression LinearRegression"),
    **_entries("step", "linear_model", linear_model, "SoftmaxRegression"),
    **_entries("step", "naive_bayes", naive_bayes, "GaussianNB"),
    **_entries(
        "step",
        "linear_model",
        linear_model,
        "PAClassifier PARegressor Perceptron ALMAClassifier BayesianLinearRegression",
    ),
    **_entries(
        "step",
        "tree",
        tree,
        "HoeffdingTreeClassifier HoeffdingAdaptiveTreeClassifier HoeffdingTreeRegressor",
    ),
    **_entries("step", "forest", forest, "ARFClassifier ARFRegressor"),
    **_entries(
        "component",
        "optim",
        optim,
        "SGD Adam AdaGrad AdaDelta AdaMax AMSGrad Momentum Nadam NesterovMomentum RMSProp FTRLProximal",
    ),
    **_entries("component", "optim.schedulers", optim.schedulers, "Constant InverseScaling Optimal"),
    **_entries("component", "optim.initializers", optim.initializers, "Zeros Constant Normal"),
    **_entries(
        "component",
        "optim.losses",
        optim.losses,
        "Log Hinge BinaryFocalLoss Squared Absolute Huber Cauchy EpsilonInsensitiveHinge Quantile Poisson",
    ),
    **_entries("component", "optim.losses", optim.losses, "CrossEntropy"),
    **_entries(
        "component",
        "tree.splitter",
        tree.splitter,
        "GaussianSplitter HistogramSplitter ExhaustiveSplitter EBSTSplitter TEBSTSplitter QOSplitter",
    ),
    **_entries("drift", "drift", drift, "ADWIN KSWIN PageHinkley NoDrift"),
    **_entries("drift", "drift.binary", drift.binary, "DDM EDDM FHDDM HDDMA HDDMW"),
    **_entries("metric", "metrics", metrics, "Accuracy BalancedAccuracy F1 Precision Recall MCC CohenKappa"),
    **_entries("metric", "metrics", metrics, "MacroF1 MicroF1 WeightedF1 MacroPrecision MacroRecall"),
    **_entries("metric", "metrics", metrics, "GeometricMean MacroJaccard MicroJaccard"),
    **_entries("metric", "metrics", metrics, "MAE MSE RMSE R2"),
}


def config_error(loc: tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    """A validation error at ``loc`` (relative to the model being validated)."""
    detail = InitErrorDetails(type=PydanticCustomError("river", message), loc=loc, input=value)
    return ValidationError.from_exception_data("river", [detail])


def _param_value(value: Any) -> Any:
    """A constructor argument: a plain scalar, or a nested configured object."""
    if isinstance(value, dict):
        return RiverObject.model_validate(value)
    if value is None or isinstance(value, (bool, int, float, str, RiverObject)):
        return value
    raise ValueError(
        f"expected a number, string, boolean, null or {{class, params}}, got {type(value).__name__}"
    )


class RiverObject(BaseModel):
    """One allow-listed river object: ``{"class": "optim.SGD", "params": {"lr": 0.05}}``.

    >>> RiverObject.model_validate({"class": "optim.SGD", "params": {"lr": 0.1}}).build()
    SGD({'lr': Constant({'learning_rate': 0.1}), 'n_iterations': 0})
    >>> RiverObject.model_validate({"class": "optim.SGD", "params": {"learning_rate": 0.1}})
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: 1 validation error for RiverObject
    params.learning_rate
      unknown parameter of optim.SGD; expected one of: lr ...
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    class_: str = Field(alias="class")
    """The river class, ``module.Class`` (one of the allowed classes below)."""
    params: dict[str, Annotated[Any, AfterValidator(_param_value)]] = Field(default_factory=dict)
    """Its constructor arguments: numbers, strings, booleans, null or river objects."""

    @property
    def kind(self) -> Kind:
        return ALLOWED[self.class_][1]

    @field_validator("class_")
    @classmethod
    def _allowed(cls, name: str) -> str:
        if name not in ALLOWED:
            raise ValueError(f"unknown river class {name!r}; allowed: {', '.join(ALLOWED)}")
        return name

    @model_validator(mode="after")
    def _buildable(self) -> RiverObject:
        river_class = ALLOWED[self.class_][0]
        accepted = [
            p for p in inspect.signature(river_class).parameters if p not in ("self", "args", "kwargs")
        ]
        for name, value in self.params.items():
            if name not in accepted:
                expected = ", ".join(accepted) or "(none)"
                raise config_error(
                    ("params", name),
                    f"unknown parameter of {self.class_}; expected one of: {expected}",
                    value,
                )
            if isinstance(value, RiverObject) and value.kind not in ("component", "drift"):
                raise config_error(
                    ("params", name, "class"),
                    f"{value.class_} cannot be a parameter (optim.*, optim.schedulers.*,"
                    " optim.initializers.*, optim.losses.*, tree.splitter.* or drift.* expected)",
                    value.class_,
                )
        try:
            self.build()
        except Exception as error:  # river's own argument checks
            raise config_error(
                ("params",), f"{self.class_} rejected its parameters: {error}", self.params
            ) from None
        return self

    def build(self) -> Any:
        """A fresh river object with these parameters."""
        params = {k: v.build() if isinstance(v, RiverObject) else v for k, v in self.params.items()}
        return ALLOWED[self.class_][0](**params)

    def require(self, kind: Kind, loc: tuple[str | int, ...]) -> None:
        """Raise a validation error at ``loc`` unless this object fits a slot of ``kind``."""
        if self.kind != kind:
            allowed = ", ".join(name for name, (_, k) in ALLOWED.items() if k == kind)
            raise config_error(
                (*loc, "class"), f"{self.class_} does not fit here; expected one of: {allowed}", self.class_
            )


class ModelSpec(BaseModel):
    """The learner's model: ``steps`` chained into a river pipeline that the ONNX exporter supports."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    steps: list[RiverObject] = Field(min_length=1)
    """The pipeline's steps, chained in this order; the last one is the model (it sets the task)."""

    @model_validator(mode="after")
    def _exportable(self) -> ModelSpec:
        from streamloop.worker.learner.export import UnsupportedModel, check_exportable

        for i, step in enumerate(self.steps):
            step.require("step", ("steps", i))
        model = build_model(self)
        try:
            check_exportable(model)
        except UnsupportedModel as error:
            loc: tuple[str | int, ...] = ("steps", error.step, "class")
            if error.param:
                loc = ("steps", error.step, "params", error.param)
            raise config_error(loc, str(error), self.steps[error.step].class_) from None
        try:  # a probe example catches parameters river accepts but cannot learn with
            probe = {"probe": 1.0}
            model.learn_one(probe, True if model_task(model) == "classification" else 1.0)
            model.predict_one(probe)
        except Exception as error:
            raise config_error(
                ("steps",),
                f"the pipeline fails on a probe example: {error!r}",
                [s.class_ for s in self.steps],
            ) from None
        return self


def build_model(spec: ModelSpec) -> compose.Pipeline:
    """A fresh, untrained pipeline of ``spec``'s steps."""
    return compose.Pipeline(*(step.build() for step in spec.steps))


def model_task(model: Any) -> Task:
    """``classification`` or ``regression``, from the pipeline's last step.

    >>> model_task(linear_model.LinearRegression())
    'regression'
    """
    last = list(model.steps.values())[-1] if isinstance(model, compose.Pipeline) else model
    return "classification" if isinstance(last, base.Classifier) else "regression"


def learns_labels(model: Any) -> bool:
    """Whether a classifier learns the label values themselves (multiclass) rather than ``False``/``True``.

    >>> learns_labels(linear_model.SoftmaxRegression()), learns_labels(linear_model.LogisticRegression())
    (True, False)
    """
    return bool(getattr(model, "_multiclass", False))


@contextlib.contextmanager
def pure_inference_mode() -> Iterator[None]:
    """Predict without side effects: unsupervised pipeline steps do not learn during ``predict_*``.

    River 0.26 lists ``compose.pure_inference_mode`` in ``__all__`` but no longer defines it: prediction
    is pure by default unless ``compose.learn_during_predict()`` is active. This guard enforces it.

    >>> model = build_model(ModelSpec.model_validate({"steps": [{"class": "preprocessing.StandardScaler"},
    ...                                                         {"class": "linear_model.LinearRegression"}]}))
    >>> model.learn_one({"a": 2.0}, 1.0)
    >>> with pure_inference_mode():
    ...     _ = model.predict_one({"a": 5.0})
    >>> model["StandardScaler"].counts["a"]
    1
    """
    saved = compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT
    compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT = False
    try:
        yield
    finally:
        compose.Pipeline._LEARN_UNSUPERVISED_DURING_PREDICT = saved
