"""Config machinery shared by ``jaxreg run`` and ``jaxreg sweep``: YAML loading, pydantic
validation, ``--set`` overrides and grid expansion.

Every failure (a missing file, malformed YAML, a key that does not validate) becomes one
:class:`jaxreg.errors.UsageError` line naming the key path, the value and what is allowed,
with a did-you-mean for mistyped keys and choices; the CLI prints it with exit code 2.
"""

from __future__ import annotations

import difflib
import itertools
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from jaxreg.errors import UsageError

__all__ = [
    "StrictModel",
    "MAX_COUNT",
    "MAX_SEED",
    "ConfigLoader",
    "load_yaml",
    "parse_scalar",
    "apply_overrides",
    "validate",
    "expand_grid",
    "format_path",
    "did_you_mean",
    "add_config_arguments",
]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors, instances are immutable, and
    numbers are finite (``.inf`` and ``.nan`` are refused where a float is expected)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class ConfigLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """SafeLoader (libyaml's parser where PyYAML has it) that reads ``1e-3``, ``1E6`` and
    ``.5`` as floats.

    PyYAML follows YAML 1.1, whose float pattern needs a dot (``1.0e-3``), so ``1e-3`` is
    read as the string "1e-3". The extra resolver is the YAML 1.2 core-schema float; it is
    tried after the int resolver, so ``1`` stays an int.
    """


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?
            |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
            |[-+]?\.(?:inf|Inf|INF)
            |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


# the largest count (samples, features, iterations) and seed a config may give: counts are
# int32 in the compiled loops, seeds numpy's 32-bit legacy range
MAX_COUNT = 2**31 - 1
MAX_SEED = 2**32 - 1

# a config is a few KB; a bigger file is a mistake (a data file given as the config, say)
MAX_CONFIG_BYTES = 16 * 2**20


def load_yaml(path) -> dict:
    """The mapping in a YAML file, read with :class:`ConfigLoader`.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    dict

    Raises
    ------
    UsageError
        The file is missing, the YAML is malformed (line and column named), or the top
        level is not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "is not a regular file" if path.exists() else "does not exist"
        raise UsageError(f"config file {str(path)!r} {what}; give the path of a YAML file")
    with open(path, "rb") as f:
        raw = f.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise UsageError(f"config file {str(path)!r} is larger than {MAX_CONFIG_BYTES // 2**20} MiB; is it a config?")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"config file {str(path)!r} is not UTF-8 text (byte {exc.start}: {raw[exc.start : exc.start + 1]!r}); "
            "give a YAML file"
        ) from None
    try:
        data = yaml.load(text, Loader=ConfigLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise UsageError(f"{path}: malformed YAML{where}: {problem}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: the top level must be a mapping of keys to values, not {type(data).__name__}")
    return data


def parse_scalar(text: str):
    """A value written on the command line, read as YAML (a string if it is not YAML).

    Examples
    --------
    >>> parse_scalar("1e-3"), parse_scalar("[1, 2]"), parse_scalar("fista")
    (0.001, [1, 2], 'fista')
    """
    try:
        return yaml.load(text, Loader=ConfigLoader)  # noqa: S506
    except yaml.YAMLError:
        return text


def apply_overrides(raw: dict, assignments, where="--set") -> dict:
    """A copy of ``raw`` with ``key.path=value`` assignments applied (values read as YAML).

    Integer path parts index lists (``problems.0.n_features=[500, 1000]``). Keys that do
    not exist are added, so validation reports them with a did-you-mean.

    Parameters
    ----------
    raw : dict
        The config as read from YAML (not modified).
    assignments : iterable of str
        ``"key.path=value"`` items, applied in order.
    where : str
        The start of error messages.

    Returns
    -------
    dict

    Examples
    --------
    >>> apply_overrides({"a": {"b": 1}, "l": [{"x": 0}]}, ["a.b=1e-3", "l.0.x=[1, 2]"])
    {'a': {'b': 0.001}, 'l': [{'x': [1, 2]}]}
    """
    import copy

    out = copy.deepcopy(raw)
    for item in assignments or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{where} {item!r} is not allowed; write key.path=value (e.g. repetitions=1)")
        parts = [int(p) if p.isdigit() else p for p in key.strip().split(".")]
        node = out
        for i, part in enumerate(parts[:-1]):
            node = _child(node, part, parts[: i + 1], where)
        last = parts[-1]
        if isinstance(node, list):
            if not isinstance(last, int) or last >= len(node):
                raise UsageError(f"{where} {key}: index {last!r} is out of range for a list of {len(node)}")
            node[last] = parse_scalar(value)
        elif isinstance(node, dict):
            node[last] = parse_scalar(value)
        else:
            raise UsageError(f"{where} {key}: {format_path(parts[:-1])} is a value, not a mapping")
    return out


def _child(node, part, path, where):
    if isinstance(node, list):
        if not isinstance(part, int) or part >= len(node):
            raise UsageError(f"{where} {format_path(path)}: index {part!r} is out of range for a list of {len(node)}")
        return node[part]
    if isinstance(node, dict):
        if part not in node or node[part] is None:
            node[part] = {}
        return node[part]
    raise UsageError(f"{where} {format_path(path)}: {format_path(path[:-1])} is a value, not a mapping")


# ----------------------------------------------------------------------------- validation


def validate(schema, data, source="config", prefix=(), axes=None):
    """``data`` validated against ``schema`` (a model class or any type pydantic takes).

    Parameters
    ----------
    source : str
        What is being validated (a file name), the start of the error line.
    prefix : tuple
        The key path of ``data`` inside the whole config, for error messages.
    axes : dict, optional
        ``{key path: index}`` of grid values picked from lists, so an error names the item.

    Raises
    ------
    UsageError
        One line: ``source: key.path = value: what is allowed``.
    """
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate(data)
        return TypeAdapter(schema).validate_python(data)
    except ValidationError as exc:
        raise UsageError(f"{source}: {describe_error(exc, schema, prefix, axes)}") from None


def describe_error(exc: ValidationError, schema, prefix=(), axes=None) -> str:
    """The first error of ``exc`` as one line (the count of the others appended)."""
    errors = exc.errors(include_url=False)
    # a mistyped key is both an unknown key and a missing one: name the typo (did-you-mean)
    errors.sort(key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc, allowed, tag_key = _walk(schema, err["loc"])
    path = [*prefix, *loc]
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        key = path[-1]
        text = f"{format_path(path)}: unknown key {key!r}; allowed keys: {', '.join(allowed)}"
        text += did_you_mean(str(key), allowed)
    elif kind == "missing":
        text = f"{format_path(path)}: required key is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = err.get("ctx", {}).get("discriminator", "'kind'").strip("'")
        choices = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected_tags", ""))
        if kind == "union_tag_not_found":
            text = f"{format_path([*path, tag])}: required key is missing"
            text += f"; allowed: {', '.join(choices)}" if choices else ""
        else:
            given = err["ctx"]["tag"]
            text = f"{format_path([*path, tag])} = {given!r} is not allowed; allowed: {', '.join(choices)}"
            text += did_you_mean(given, choices)
    else:
        shown = format_path(path)
        index = (axes or {}).get(tuple(loc))
        if index is not None:
            shown += f"[{index}]"
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        # a check on a whole mapping (a model validator) names no single value
        text = f"{shown}: {msg}" if isinstance(value, dict) else f"{shown} = {_show(value)}: {msg}"
        if kind == "literal_error" and isinstance(value, str):
            text += did_you_mean(value, re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", "")))
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return text


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def did_you_mean(word: str, choices) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def format_path(parts) -> str:
    """``('problems', 0, 'rho')`` -> ``problems[0].rho``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _unwrap(tp):
    """Strip Annotated and Optional."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
            continue
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) == 1:
                tp = args[0]
                continue
        return tp


def _union_members(tp):
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return [_unwrap(a) for a in typing.get_args(tp)]
    return None


def _tagged_member(tp, tag):
    """The member of a union marked ``Annotated[member, Tag(tag)]``, or None."""
    from pydantic import Tag

    for arg in typing.get_args(tp) if typing.get_origin(tp) in (typing.Union, types.UnionType) else ():
        if typing.get_origin(arg) is typing.Annotated:
            member, *meta = typing.get_args(arg)
            if any(isinstance(m, Tag) and m.tag == tag for m in meta):
                return _unwrap(member)
    return None


def _tag_of(model) -> str | None:
    field = model.model_fields.get("kind")
    return field.default if field is not None and isinstance(field.default, str) else None


def _walk(schema, loc):
    """Follow ``loc`` through the schema's types: the display path (discriminator tags
    dropped), the allowed keys of the model holding the last part, and the tag key."""
    tp = _unwrap(schema)
    shown, allowed, tag_key = [], [], None
    for part in loc:
        members = _union_members(tp)
        if members is not None:  # a discriminated union: pydantic puts the tag in loc
            match = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel) and _tag_of(m) == part]
            if match:
                tp, tag_key = match[0], "kind"
                continue
            tagged = _tagged_member(tp, part)  # a callable discriminator's Tag("...")
            if tagged is not None:
                tp = tagged
                continue
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            allowed = list(tp.model_fields)
            tp = _unwrap(tp.model_fields[part].annotation) if part in tp.model_fields else Any
        elif typing.get_origin(tp) in (list, tuple) and typing.get_args(tp):
            tp = _unwrap(typing.get_args(tp)[0])
        elif typing.get_origin(tp) is dict and typing.get_args(tp):
            tp = _unwrap(typing.get_args(tp)[1])
        else:
            tp = Any
        shown.append(part)
    return shown, allowed, tag_key


# ----------------------------------------------------------------------------- grids


def expand_grid(raw: dict, source="config", prefix=()):
    """The cartesian product of the list-valued leaves of a (nested) mapping.

    Returns a list of ``(point, axes)``: ``point`` has one value per list (the first key
    varies slowest, as written), ``axes`` maps each list's key path to the index picked.
    A mapping without lists gives one point; an empty list is a UsageError naming
    ``source`` and the key path (``prefix`` + the key).

    Examples
    --------
    >>> [p for p, _ in expand_grid({"solver": ["ista", "fista"], "options": {"step": ["lipschitz"]}})]
    [{'solver': 'ista', 'options': {'step': 'lipschitz'}}, {'solver': 'fista', 'options': {'step': 'lipschitz'}}]
    """
    if not isinstance(raw, dict):
        return [(raw, {})]  # not a mapping: validation reports it
    leaves = list(_leaves(raw, ()))
    axes = [(path, value) for path, value in leaves if isinstance(value, list)]
    if any(len(v) == 0 for _, v in axes):
        empty = next(format_path([*prefix, *p]) for p, v in axes if len(v) == 0)
        raise UsageError(f"{source}: {empty} = []: an empty list gives no grid points; give at least one value")
    out = []
    for combo in itertools.product(*(range(len(v)) for _, v in axes)):
        point = _copy_tree(raw)
        for (path, values), i in zip(axes, combo, strict=True):
            _set(point, path, values[i])
        out.append((point, {path: i for (path, _), i in zip(axes, combo, strict=True)}))
    return out


def _leaves(node, path):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*path, k))
    else:
        yield path, node


def _copy_tree(node):
    return {k: _copy_tree(v) for k, v in node.items()} if isinstance(node, dict) else node


def _set(node, path, value):
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value


# ----------------------------------------------------------------------------- CLI


def add_config_arguments(parser, metavar, what, out_default, example):
    """The arguments ``jaxreg run`` and ``jaxreg sweep`` share: the config file, ``--out``,
    ``--set KEY=VALUE`` (repeatable) and ``--no-progress``."""
    parser.add_argument("config", metavar=metavar, help=f"{what} (see configs/)")
    parser.add_argument("--out", metavar="DIR", help=f"results folder (default: {out_default})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config value, e.g. {example}",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
