"""The declarative feature specs: what a features record holds, known from the config alone.

Each spec is a pydantic model selected by its ``kind``; its :attr:`feature_names` are the output columns
it emits for **every** record (dense, in this order), so a downstream ONNX model has a fixed input.

>>> spec = parse_spec({"name": "channel", "kind": "onehot", "field": "channel", "values": ["web", "app"]})
>>> spec.feature_names
['channel=web', 'channel=app']
>>> parse_spec({"name": "n", "kind": "window", "agg": "count", "window": 3600}).feature_names
['n']
>>> try:
...     parse_spec({"name": "n", "kind": "window", "agg": "mean", "window": 3600})
... except ValidationError as error:
...     print(error.errors()[0]["loc"], error.errors()[0]["msg"])
('field',) required for agg 'mean'
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

Name = Annotated[str, Field(min_length=1)]
TIME_TRANSFORMS = frozenset({"hour_of_day", "day_of_week"})


def invalid(model: str, loc: str | tuple[str | int, ...], message: str, value: Any) -> ValidationError:
    """A validation error located at ``loc`` in the model being validated (so messages name the key)."""
    error = PydanticCustomError("value_error", message)
    loc = (loc,) if isinstance(loc, str) else loc
    return ValidationError.from_exception_data(model, [{"type": error, "loc": loc, "input": value}])


class Spec(BaseModel):
    """Fields every feature spec has."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)

    name: Name
    """Output name (the prefix of the output names for ``onehot`` and ``hashed``)."""

    @property
    def feature_names(self) -> list[str]:
        return [self.name]


class NumericFeature(Spec):
    """A number from the event, optionally transformed.

    ``hour_of_day`` and ``day_of_week`` (Monday = 0) read a timestamp (epoch seconds or ISO-8601) in UTC;
    without ``field`` they use the event time. ``default`` is the feature value when the field is missing
    or null; without it a missing field is a bad message.

    >>> NumericFeature(name="amount", field="amount", transform="clip", min=0, max=100).feature_names
    ['amount']
    """

    kind: Literal["numeric"] = "numeric"
    """Selects this spec."""
    field: Name | None = None
    """The event field to read; required except for ``hour_of_day`` and ``day_of_week`` (event time)."""
    transform: Literal["none", "log1p", "clip", "hour_of_day", "day_of_week"] = "none"
    """What to do with the value: keep it, ``log1p`` it, clip it, or take the hour or weekday of a time."""
    min: float | None = None
    """Lower bound of ``clip`` (only used by ``clip``)."""
    max: float | None = None
    """Upper bound of ``clip``, greater than ``min`` (only used by ``clip``)."""
    default: float | None = None
    """The feature value when the field is missing or null; without it such an event is a bad message."""

    @model_validator(mode="after")
    def _check(self) -> NumericFeature:
        title = type(self).__name__
        if self.field is None and self.transform not in TIME_TRANSFORMS:
            raise invalid(title, "field", f"required for transform '{self.transform}'", None)
        if self.transform == "clip":
            if self.min is None and self.max is None:
                raise invalid(title, "min", "clip needs min, max or both", None)
            if self.min is not None and self.max is not None and self.min >= self.max:
                raise invalid(title, "max", f"must be greater than min ({self.min})", self.max)
        else:
            for key in ("min", "max"):
                if getattr(self, key) is not None:
                    raise invalid(title, key, "only used by transform 'clip'", getattr(self, key))
        if self.default is not None and not math.isfinite(self.default):
            raise invalid(title, "default", "must be a finite number", self.default)
        return self


class OneHotFeature(Spec):
    """A categorical field as one 0/1 feature per known value, named ``name=value``.

    A value outside ``values`` (or a missing one) is a bad message with ``on_unknown: error`` and all
    zeros with ``on_unknown: ignore``.
    """

    kind: Literal["onehot"] = "onehot"
    """Selects this spec."""
    field: Name
    """The event field holding the category."""
    values: list[Name] = Field(min_length=1)
    """The known categories, one output column each (unique)."""
    on_unknown: Literal["error", "ignore"] = "error"
    """An unknown or missing value is a bad message (``error``) or all zeros (``ignore``)."""

    @field_validator("values")
    @classmethod
    def _unique(cls, values: list[str]) -> list[str]:
        if len(set(values)) != len(values):
            raise ValueError("values must be unique")
        return values

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.name}={value}" for value in self.values]


class HashedFeature(Spec):
    """A categorical field (a string, or a list of them) as counts in ``buckets`` hashed columns.

    The hash is CRC-32 of the UTF-8 text, stable across processes and Python versions. A missing field
    counts nothing.

    >>> HashedFeature(name="city", field="city", buckets=3).feature_names
    ['city[0]', 'city[1]', 'city[2]']
    """

    kind: Literal["hashed"] = "hashed"
    """Selects this spec."""
    field: Name
    """The event field holding a string or a list of strings."""
    buckets: int = Field(ge=1, le=1 << 16)
    """The number of hashed output columns."""

    @property
    def feature_names(self) -> list[str]:
        return [f"{self.name}[{i}]" for i in range(self.buckets)]


class WindowFeature(Spec):
    """A per-key aggregate over the last ``window`` seconds of event time, the current event included.

    ``count``, ``sum``, ``mean``, ``std`` (population), ``min`` and ``max`` aggregate ``field`` over the
    key's events with a time in ``(latest - window, latest]``, where ``latest`` is the newest event time
    seen for the key. ``time_since_last`` is the seconds from the key's newest earlier event to this one,
    capped at ``window`` (also the value of a key's first event, and 0 for an event older than that).
    """

    kind: Literal["window"] = "window"
    """Selects this spec."""
    agg: Literal["count", "sum", "mean", "std", "min", "max", "time_since_last"]
    """The aggregate over the key's events in the window."""
    field: Name | None = None
    """The event field aggregated; required by every ``agg`` but ``count`` and ``time_since_last``."""
    window: float = Field(gt=0, allow_inf_nan=False)
    """The window's length in seconds of event time."""

    @model_validator(mode="after")
    def _check(self) -> WindowFeature:
        takes_field = self.agg not in ("count", "time_since_last")
        if takes_field and self.field is None:
            raise invalid(type(self).__name__, "field", f"required for agg '{self.agg}'", None)
        if not takes_field and self.field is not None:
            raise invalid(type(self).__name__, "field", f"not used by agg '{self.agg}'", self.field)
        return self


SPEC_KINDS: dict[str, type[Spec]] = {
    "numeric": NumericFeature,
    "onehot": OneHotFeature,
    "hashed": HashedFeature,
    "window": WindowFeature,
}


def _by_kind(value: Any, handler: ValidatorFunctionWrapHandler) -> Spec:
    """Pick the model by ``kind`` so errors are located at ``features[i].<key>`` (no union tag in between)."""
    if isinstance(value, Spec):
        return value
    if not isinstance(value, dict):
        return handler(value)
    kind = value.get("kind")
    if kind not in SPEC_KINDS:
        expected = ", ".join(SPEC_KINDS)
        message = "missing" if kind is None else "unknown kind"
        raise invalid("FeatureSpec", "kind", f"{message}; expected one of {expected}", kind)
    return SPEC_KINDS[kind].model_validate(value)


FeatureSpec = Annotated[
    NumericFeature | OneHotFeature | HashedFeature | WindowFeature,
    WrapValidator(_by_kind),
]
"""Any feature spec, chosen by its ``kind`` key."""

_ADAPTER: TypeAdapter[Spec] = TypeAdapter(FeatureSpec)


def parse_spec(value: dict[str, Any]) -> Spec:
    """Validate one spec mapping (as found in ``userConfig.features``)."""
    return _ADAPTER.validate_python(value)
