"""The configuration reference (``docs/configuration.md``), generated from the pydantic config schemas.

Every key, type, default, constraint and description comes from the JSON schema of the classes the
functions validate their ``userConfig`` with (``model_json_schema``; descriptions are the fields' attribute
docstrings, ``use_attribute_docstrings``), so the page cannot drift from the code: ``make docs`` rewrites
it and a test fails when the committed page differs from :func:`render`.

>>> print(field_rows(__import__("streamloop.worker.joiner").worker.joiner.JoinerConfig)[-1])
| `remember_joined` | int | `100000` | ≥ 0 | Ids of recent joins kept to recognise redelivered duplicates. |

Usage: ``python -m streamloop.tools.configdoc docs/configuration.md`` (``--check``: exit 1 if it is stale).
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

_TYPES = {"integer": "int", "number": "float", "string": "str", "boolean": "bool", "null": "None"}
_BOUNDS = {
    "exclusiveMinimum": ">",
    "minimum": "≥",
    "exclusiveMaximum": "<",
    "maximum": "≤",
    "minLength": "length ≥",
    "maxLength": "length ≤",
    "minItems": "length ≥",
    "maxItems": "length ≤",
}


def type_name(schema: Any) -> str:
    """A readable type of a JSON schema: ``str``, ``list[str]``, ``float | None``, ``'error' | 'ignore'``.

    >>> type_name({"anyOf": [{"type": "number"}, {"type": "null"}]}), type_name({"enum": ["a", "b"]})
    ('float | None', "'a' | 'b'")
    >>> type_name({"type": "array", "items": {"$ref": "#/$defs/RiverObject"}})
    'list[RiverObject]'
    """
    if not isinstance(schema, dict):  # ``additionalProperties: true``
        return "Any"
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(type_name(option) for option in schema["anyOf"])
    if "const" in schema:
        return repr(schema["const"])
    if "enum" in schema:
        return " | ".join(repr(value) for value in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        return f"list[{type_name(schema.get('items', {}))}]"
    if kind == "object":
        return f"dict[str, {type_name(schema.get('additionalProperties', {}))}]"
    return _TYPES.get(kind, "Any")


def _bounds(schema: dict[str, Any]) -> str:
    """The constraints of a field's schema (and of its ``anyOf`` options), e.g. ``≥ 0, ≤ 1000``."""
    parts = [schema, *schema.get("anyOf", [])]
    return ", ".join(
        f"{symbol} {part[key]}" for part in parts for key, symbol in _BOUNDS.items() if key in part
    )


def _default(model: type[BaseModel], key: str, schema: dict[str, Any], required: set[str]) -> str:
    if "default" in schema:
        return f"`{json.dumps(schema['default'])}`"
    if key in required:
        return "**required**"
    field = next(f for name, f in model.model_fields.items() if (f.alias or name) == key)
    value = field.get_default(call_default_factory=True)  # a factory's value is not in the schema
    return "see below" if isinstance(value, BaseModel) else f"`{json.dumps(value)}`"


def _cell(text: str) -> str:
    """One line of Markdown table cell: whitespace folded, ``code`` as `code`, pipes escaped."""
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


def field_rows(model: type[BaseModel]) -> list[str]:
    """One Markdown table row per field of ``model`` (the key as written in YAML)."""
    schema = model.model_json_schema(by_alias=True)
    required = set(schema.get("required", []))
    rows = []
    for key, field in schema["properties"].items():
        cells = (type_name(field), _default(model, key, field, required), _bounds(field))
        kind, default, bounds = (_cell(c) for c in cells)
        rows.append(f"| `{key}` | {kind} | {default} | {bounds} | {_cell(field.get('description', ''))} |")
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
    from streamloop.worker.fused import FeaturesScorerConfig
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
        "## features-scorer (optional)",
        "",
        "`streamloop.worker.fused.FeaturesScorerFunction`, the features function and the scorer in one",
        "(docs/architecture.md): every key of both, above, unchanged, and",
        "",
        table(FeaturesScorerConfig, (*FeaturesConfig.model_fields, *ScorerConfig.model_fields)),
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
