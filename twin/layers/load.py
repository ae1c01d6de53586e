"""Read a layer YAML file into a validated :class:`~twin.models.layers.LayerFile`.

Every problem — YAML syntax, a wrong type, an unknown key, an unknown reference, a
malformed EDTF date — becomes one :class:`~twin.errors.SpecError` whose message starts
with the file and names the place inside it and the line::

    layers.yaml: elements[2].region.box.min (line 31): Tuple should have at most 3 items ...

The YAML is read with two departures from PyYAML's defaults that matter for layer files:
dates are never turned into ``datetime.date`` (``1805-03-12`` stays the EDTF string it is),
integers remember how they were written (``date: 0805`` stays ``0805``), and a key given
twice in one mapping is an error instead of silently keeping the last value.
"""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from twin.errors import SpecError
from twin.models.layers import REGION_KINDS, LayerFile, LayerReferenceError, format_loc

MAX_PROBLEMS = 8


class _YamlInt(int):
    """An int from YAML that remembers its source text (for EDTF years)."""

    yaml_source: str


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {key!r} appears twice (first on line {seen[key] + 1})",
                            key_node.start_mark,
                        )
                    seen[key] = key_node.start_mark.line
                except TypeError:
                    pass  # unhashable key: let PyYAML report it
        return super().construct_mapping(node, deep)

    def construct_yaml_int(self, node):
        value = _YamlInt(super().construct_yaml_int(node))
        value.yaml_source = node.value
        return value


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_layers(path: Path | str) -> LayerFile:
    """Read and validate a layer file; :class:`SpecError` naming the file, place and reason."""
    path = Path(path)
    return parse_layers(read_text(path), source=str(path))


def read_text(path: Path) -> str:
    if not path.is_file():
        raise SpecError(f"{path}: no such layer file" if not path.exists() else f"{path}: not a file")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(f"{path}: not UTF-8 text (byte {exc.start}); save the layer file as UTF-8") from exc
    except OSError as exc:
        raise SpecError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def parse_layers(text: str, source: str = "<layers>") -> LayerFile:
    """Validate layer YAML given as text; ``source`` names it in error messages."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{source}: {where}not valid YAML ({problem})") from exc
    finally:
        loader.dispose()
    if data is None:
        raise SpecError(f"{source}: the layer file is empty; it needs at least metadata: {{title: ...}}")
    if not isinstance(data, dict):
        raise SpecError(
            f"{source}: a layer file is a mapping with metadata, elements, phases and materials, "
            f"not a {_type_name(data)}"
        )
    try:
        return LayerFile.model_validate(data)
    except ValidationError as exc:
        problems = describe_errors(exc, node)
        raise _spec_error(source, problems) from exc


def _spec_error(source: str, problems: list[tuple[str, str]]) -> SpecError:
    shown = [f"{where}: {why}" if where else why for where, why in problems[:MAX_PROBLEMS]]
    more = f" (and {len(problems) - MAX_PROBLEMS} more)" if len(problems) > MAX_PROBLEMS else ""
    error = SpecError(f"{source}: " + "; ".join(shown) + more)
    error.details = [{"location": where, "reason": why} for where, why in problems]
    return error


def describe_errors(exc: ValidationError, root_node=None) -> list[tuple[str, str]]:
    """Each pydantic error as (``place (line N)``, reason)."""
    out: list[tuple[str, str]] = []
    for error in exc.errors():
        ctx_error = (error.get("ctx") or {}).get("error")
        if isinstance(ctx_error, LayerReferenceError):
            for loc, message in ctx_error.problems:
                out.append((_where(tuple(loc), root_node), message))
            continue
        raw_loc = tuple(error["loc"])
        loc = _strip_tags(raw_loc)
        kind = error["type"]
        value = error.get("input")
        if kind == "extra_forbidden":
            allowed = _keys_at(raw_loc[:-1])
            hint = f" (allowed here: {', '.join(allowed)})" if allowed else ""
            out.append((_where(loc, root_node), f"unknown key {raw_loc[-1]!r}{hint}"))
            continue
        if kind == "missing" and loc and isinstance(loc[-1], int):  # a short tuple
            out.append((_where(loc[:-1], root_node), f"too few values: expected at least {loc[-1] + 1}"))
            continue
        if kind == "missing":
            out.append((_where(loc, root_node), "required but missing"))
            continue
        if kind == "region_kind":
            keys = f" (got keys: {', '.join(map(str, value))})" if isinstance(value, dict) else ""
            out.append((_where(loc, root_node), error["msg"] + keys))
            continue
        if kind in ("model_type", "model_attributes_type", "dict_type"):
            out.append((_where(loc, root_node), f"expected a mapping (key: value), got {_type_name(value)}"))
            continue
        if kind in ("list_type", "tuple_type"):
            out.append((_where(loc, root_node), f"expected a list, got {_type_name(value)}"))
            continue
        message = error["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        elif kind not in ("too_short", "too_long") and not isinstance(value, dict | list):
            message += f" (got {_short(value)})"
        out.append((_where(loc, root_node), message))
    return out


def _strip_tags(loc: tuple) -> tuple:
    """Drop the union tag pydantic puts after ``region`` (``region.box.box.min`` → ``region.box.min``)."""
    out = []
    for i, part in enumerate(loc):
        if i > 0 and loc[i - 1] == "region" and part in REGION_KINDS:
            continue
        out.append(part)
    return tuple(out)


def _where(loc: tuple, root_node) -> str:
    text = format_loc(loc)
    line = line_of(root_node, loc)
    if line is None:
        return text
    return f"{text} (line {line})" if text else f"line {line}"


def line_of(node, loc: tuple) -> int | None:
    """The 1-based line of the deepest YAML node the path reaches (None without a node)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.value == part:
                    line, node = key_node.start_mark.line + 1, value_node
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _keys_at(raw_loc: tuple) -> list[str] | None:
    """The keys the model at ``raw_loc`` accepts (for 'unknown key' hints)."""
    ann: Any = LayerFile
    for part in raw_loc:
        ann = _step(ann, part)
        if ann is None:
            return None
    model = _model_of(ann)
    if model is None:
        return None
    return [field.alias or name for name, field in model.model_fields.items()]


def _unwrap(ann: Any) -> Any:
    while typing.get_origin(ann) is typing.Annotated:
        ann = typing.get_args(ann)[0]
    return ann


def _model_of(ann: Any) -> type[BaseModel] | None:
    ann = _unwrap(ann)
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return ann
    for arg in typing.get_args(ann):  # Optional[Model]
        model = _model_of(arg) if arg is not type(None) else None
        if model is not None:
            return model
    return None


def _step(ann: Any, part) -> Any:
    model = _model_of(ann)
    if model is not None and isinstance(part, str):
        for name, field in model.model_fields.items():
            if part in (name, field.alias):
                return _rebuild(field)
        return None
    inner = _unwrap(ann)
    args = typing.get_args(inner)
    if isinstance(part, str):  # a tagged union member
        for arg in args:
            meta = typing.get_args(arg)[1:] if typing.get_origin(arg) is typing.Annotated else ()
            if any(getattr(m, "tag", None) == part for m in meta):
                return arg
        return None
    if isinstance(part, int) and args:
        origin = typing.get_origin(inner)
        if origin is list:
            return args[0]
        if origin is tuple:
            return args[min(part, len(args) - 1)]
    return None


def _rebuild(field) -> Any:
    if field.metadata:
        return typing.Annotated[(field.annotation, *field.metadata)]
    return field.annotation


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "nothing (null)"
    return {"str": "text", "int": "number", "_YamlInt": "number", "float": "number", "bool": "true/false"}.get(
        type(value).__name__, type(value).__name__
    )


def _short(value: Any) -> str:
    if isinstance(value, _YamlInt):
        return value.yaml_source
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
