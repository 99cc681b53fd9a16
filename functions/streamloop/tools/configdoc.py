"""The configuration reference (``docs/configuration.md``), generated from the pydantic config schemas.

Every key, type, default, constraint and description comes from the classes the functions validate their
``userConfig`` with, so the page cannot drift from the code: ``make docs`` rewrites it and a test fails
when the committed page differs from :func:`render`.

>>> print(field_rows(__import__("streamloop.worker.joiner").worker.joiner.JoinerConfig)[-1])
| `remember_joined` | int | `100000` | ≥ 0 | Ids of recent joins kept to recognise redelivered duplicates. |

Usage: ``python -m streamloop.tools.configdoc docs/configuration.md`` (``--check``: exit 1 if it is stale).
"""

from __future__ import annotations

import ast
import inspect
import itertools
import json
import sys
import textwrap
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

_BOUNDS = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤", "min_length": "length ≥", "max_length": "length ≤"}


def attribute_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The string literal right below each field in the class bodies of ``model`` and its bases."""
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError):
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                docs[node.target.id] = " ".join(after.value.value.split())
    return docs


def type_name(annotation: Any) -> str:
    """A readable type: ``str``, ``list[str]``, ``float | None``, ``'error' | 'ignore'``.

    >>> from typing import Annotated, Literal, Optional
    >>> type_name(Optional[Annotated[str, "meta"]]), type_name(Literal["a", "b"]), type_name(dict[str, int])
    ('str | None', "'a' | 'b'", 'dict[str, int]')
    """
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return type_name(args[0])
    if origin in (Union, UnionType):
        return " | ".join(type_name(a) for a in args)
    if origin is Literal:
        return " | ".join(repr(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        return "see below" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"
    if field.default is PydanticUndefined:
        return "**required**"
    value = field.default.model_dump(by_alias=True) if isinstance(field.default, BaseModel) else field.default
    return f"`{json.dumps(value)}`"


def _bounds(field: Any) -> str:
    parts = []
    for item in field.metadata:
        for attribute, symbol in _BOUNDS.items():
            value = getattr(item, attribute, None)
            if value is not None and isinstance(item, annotated_types.BaseMetadata):
                parts.append(f"{symbol} {value}")
    return ", ".join(parts)


def field_rows(model: type[BaseModel]) -> list[str]:
    """One Markdown table row per field of ``model`` (the key as written in YAML)."""
    docs = attribute_docstrings(model)
    rows = []
    for name, field in model.model_fields.items():
        key = field.alias or name
        text = field.description or docs.get(name, "")
        kind = type_name(field.annotation).replace("|", "\\|")
        rows.append(f"| `{key}` | {kind} | {_default(field)} | {_bounds(field)} | {text} |")
    return rows


def table(model: type[BaseModel], skip: tuple[str, ...] = ()) -> str:
    """A Markdown table of ``model``'s fields, leaving out ``skip`` (e.g. the common keys)."""
    rows = [r for r in field_rows(model) if not any(r.startswith(f"| `{k}` |") for k in skip)]
    return "\n".join(["| key | type | default | constraints | description |", "|---|---|---|---|---|", *rows])


def _doc(obj: Any) -> str:
    return inspect.cleandoc(obj.__doc__ or "").split("\n>>>")[0].strip()


def render() -> str:
    """The whole page."""
    from streamloop.worker.config import FUNCTION_CONFIG_KEYS, UserConfig
    from streamloop.worker.features.config import FeaturesConfig
    from streamloop.worker.features.spec import SPEC_KINDS
    from streamloop.worker.joiner import JoinerConfig
    from streamloop.worker.learner.models import ALLOWED, ModelSpec, RiverObject
    from streamloop.worker.learner.promotion import PromotionConfig
    from streamloop.worker.learner.settings import DEFAULT_METRIC, DEFAULT_MODEL, LearnerConfig
    from streamloop.worker.scorer.function import ScorerConfig

    common = tuple(UserConfig.model_fields)
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m streamloop.tools.configdoc docs/configuration.md` (`make docs`) from",
        "     pydantic schemas the functions validate with. Do not edit: a test fails when it is stale. -->",
        "",
        "Each function reads its settings from `userConfig` in its FunctionConfig YAML (`pulsar-config/`).",
        "They are validated when the function starts and by `streamloop validate`: an unknown key, a wrong",
        'type (no coercion: `"5"` is not a number) or a value out of range fails, naming the file (or',
        "function) and the key.",
        "",
        "## Keys every function takes",
        "",
        table(UserConfig),
        "",
        "## features",
        "",
        table(FeaturesConfig, common),
        "",
        "Each entry of `features` is a spec chosen by its `kind`:",
        "",
    ]
    for kind, spec in SPEC_KINDS.items():
        out += [f"### kind: {kind}", "", _doc(spec), "", table(spec, ("kind",)), ""]
    out += [
        "## scorer",
        "",
        table(ScorerConfig, common),
        "",
        "## joiner",
        "",
        table(JoinerConfig, common),
        "",
    ]
    out += ["## learner", "", table(LearnerConfig, common), ""]
    out += [
        "Default `model`:",
        "",
        "```json",
        json.dumps(DEFAULT_MODEL),
        "```",
        "",
        f"Default `metric`: `{DEFAULT_METRIC['classification']}` (classification), "
        f"`{DEFAULT_METRIC['regression']}` (regression).",
        "",
        "### promotion",
        "",
        _doc(PromotionConfig),
        "",
        table(PromotionConfig),
        "",
        "### model, metric and drift: river objects",
        "",
        _doc(ModelSpec),
        "",
        table(ModelSpec),
        "",
        _doc(RiverObject),
        "",
        table(RiverObject),
        "",
        "Allowed river classes (nothing else is ever imported; no `eval`):",
        "",
        "| kind | classes |",
        "|---|---|",
    ]
    by_kind: dict[str, list[str]] = {}
    for name, (_, kind) in ALLOWED.items():
        by_kind.setdefault(str(kind), []).append(f"`{name}`")
    out += [f"| {kind} | {', '.join(names)} |" for kind, names in by_kind.items()]
    out += [
        "",
        "## FunctionConfig keys",
        "",
        "`pulsar-admin` silently ignores keys it does not know; `streamloop validate` reports them.",
        "Known keys:",
        "",
        ", ".join(f"`{k}`" for k in sorted(FUNCTION_CONFIG_KEYS)) + ".",
        "",
    ]
    return "\n".join(out)


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    target = Path(paths[0] if paths else "docs/configuration.md")
    text = render()
    if check:
        if not target.exists() or target.read_text() != text:
            print(f"{target} is stale: run `make docs`", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
