"""parse(): a reply becomes a validated output, or an OutputError with the raw text and every error.

The steps, each reported (:class:`Report`), so nothing changes silently::

    text --extract--> JSON-like span --repair--> value --coerce--> value
         --validate (pydantic, strict)--> instance --checks--> instance | OutputError

A reply that already is exactly valid JSON for the model (no unknown keys,
no coercion needed) takes a fast path through pydantic's JSON validator and
has an empty report. Truncation (the reply ended inside its JSON, as at a
token limit) is never hidden: ``Report.truncated`` and
``OutputError.truncated`` say so, so a caller can raise the budget or split
the batch instead of asking again blindly. :func:`promptkit.output.reask.reask_messages` writes the
correction request a run layer sends back to the model.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from typing_extensions import TypeVar

from promptkit._types import ReplyFormat
from promptkit.checks import Check
from promptkit.errors import ErrorDetail, OutputError, ReplyReadError, UnsupportedType
from promptkit.output.actions import Action, Report
from promptkit.output.coerce import (
    NULL_WORDS,
    coerce,
    has_null_words,
    null_word_fields,
    rewrites_valid_values,
)
from promptkit.output.extract import Extracted, bare_value, extract_items, extract_object
from promptkit.output.repair import Spans
from promptkit.output.table import read_table
from promptkit.schema import FieldSpec, Shape, shape_of
from promptkit.task import Task

M = TypeVar("M", bound=BaseModel, default=BaseModel)

MAX_REPLY_CHARS = 1_000_000
"""Longer replies are refused with an OutputError before any parsing (no model writes that much)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Parsed(Generic[M]):
    """A parsed reply: the validated output and the report of how it was obtained."""

    value: M
    report: Report


_CLEAN = Report()


@dataclass(frozen=True, slots=True)
class _Target:
    label: str
    model: type[BaseModel]
    shape: Shape | None
    checks: tuple[Check, ...]
    drop_unknown: bool
    null_fields: tuple[str, ...] | None = ()
    """Top-level fields where a null-word may hide; ``None``: look everywhere (nested shapes)."""
    valid_is_final: bool = False
    """A value that validates strictly needs no coercion (nothing in the shape is rewritten)."""

    @property
    def fit_shape(self) -> Shape:
        if self.shape is not None:
            return self.shape
        fields = tuple(FieldSpec(name, Shape("string")) for name in self.model.model_fields)
        return Shape("object", fields=fields, title=self.model.__name__)


def parse(text: str | bytes, into: Task[Any, M] | type[M], *, source: BaseModel | None = None) -> M:
    """Turn a reply into an instance of the output model, or raise :class:`OutputError`.

    Args:
        text: the reply (``bytes`` must be UTF-8).
        into: a :class:`~promptkit.Task` (its output model and checks) or a pydantic model class.
        source: the validated input the reply answers; checks that need it
            (``grounded``) are skipped with a warning when it is ``None``.

    Raises:
        OutputError: with ``.raw``, ``.errors`` (path, message, offending value) and ``.truncated``.
    """
    target = _target(into)
    raw = _text(text)
    value = _exact(raw, target)
    if value is not None and not _holds_null_words(value, target):
        if not target.checks:
            return value  # type: ignore[return-value]  # target.model is into's output model
        return _checked(value, target, source, [], False, raw).value  # type: ignore[return-value]
    return _parse(raw, target, source, value).value  # type: ignore[return-value]


def parse_with_report(
    text: str | bytes, into: Task[Any, M] | type[M], *, source: BaseModel | None = None
) -> Parsed[M]:
    """Like :func:`parse`, and return the :class:`Report` of what was done with the value."""
    target = _target(into)
    raw = _text(text)
    return _parse(raw, target, source, _exact(raw, target))  # type: ignore[return-value]


def _exact(raw: str, target: _Target) -> BaseModel | None:
    """Return the output when the reply is exactly valid JSON for it (the fast path).

    pydantic's JSON validator in strict mode, with no unknown keys. Only an
    object can be valid, so replies that start otherwise (a fence, prose)
    skip the attempt.
    """
    if raw[:1] != "{" and raw.lstrip()[:1] != "{":
        return None
    return _strictly_valid(raw, target)


def _strictly_valid(data: str | bytes, target: _Target) -> BaseModel | None:
    """Validate JSON with pydantic in strict mode and no unknown keys, or return ``None``."""
    try:
        return target.model.__pydantic_validator__.validate_json(  # type: ignore[no-any-return]
            data, strict=True, extra="forbid"
        )
    except (ValidationError, ValueError):
        return None  # not exactly valid: extract, repair and coerce


def _holds_null_words(value: BaseModel, target: _Target) -> bool:
    """Say whether a valid output still holds a null-word, to be coerced to null."""
    if target.shape is None:
        return False
    if target.null_fields is None:
        return has_null_words(value, target.shape)
    members = value.__dict__
    for name in target.null_fields:
        member = members.get(name)
        if isinstance(member, str) and member.strip().casefold().rstrip(".") in NULL_WORDS:
            return has_null_words(value, target.shape)  # exact: an enum may allow the word
    return False


def _parse(raw: str, target: _Target, source: BaseModel | None, exact: BaseModel | None) -> Parsed:
    if exact is not None:
        if _holds_null_words(exact, target):
            data = exact.model_dump(mode="json")
            return _finish(data, target, source, [], False, raw)
        if not target.checks:
            return Parsed(exact, _CLEAN)
        return _checked(exact, target, source, [], False, raw)
    _screen(raw, target)
    try:
        extracted = extract_object(raw, target.fit_shape)
    except ReplyReadError as error:
        raise _no_json(str(error), raw, target) from None
    # A reply that is its JSON as it stands (nothing extracted or repaired)
    # was refused by the fast path already: it needs coercion.
    refused = not extracted.actions and raw.lstrip()[:1] == "{"
    try:
        actions = list(extracted.actions)
        return _finish(
            extracted.value,
            target,
            source,
            actions,
            extracted.truncated,
            raw,
            refused,
            extracted.spans,
        )
    except OutputError:
        # A one-field object may be the whole reply (prose naming an enum value)
        # though braces in it looked like JSON: that reading, if it is valid.
        bare = None if raw.lstrip()[:1] in ("{", "[") else bare_value(raw, target.fit_shape)
        if bare is not None and bare.value != extracted.value:
            try:
                return _finish(bare.value, target, source, list(bare.actions), False, raw)
            except OutputError:
                pass
        raise


def parse_batch(
    text: str | bytes,
    into: Task,
    sources: Sequence[BaseModel],
    *,
    ids: Sequence[int] | None = None,
    reply_format: ReplyFormat = "json",
    cut: bool = False,
) -> list[Parsed | OutputError]:
    """Parse a batch reply into one result per input, matched back by id.

    The reply is a JSON array of objects each with an ``id`` (also accepted:
    ``{"items": [...]}``, or one object per line), or with ``reply_format``
    ``table`` rows under a header (:mod:`promptkit.output.table`; a JSON
    reply is read too). ``ids`` are the items' ids in order (1, 2, ... when
    unset: :attr:`promptkit.Prompt.item_ids`). An item that is missing,
    duplicated, cut off or invalid becomes an :class:`OutputError` for that
    input only (its ``raw`` is the whole reply), so only those need asking
    again. ``cut``: the reply was cut off by the token limit (a table's last
    row is then incomplete).
    """
    target = _target(into)
    numbers = tuple(ids) if ids is not None else tuple(range(1, len(sources) + 1))
    faults: dict[int, ErrorDetail] = {}
    try:
        raw = _text(text)
        _screen(raw, target)
        table = read_table(raw, target.fit_shape, cut=cut) if reply_format == "table" else None
        if table is not None:
            extracted, faults = table.extracted, table.faults
        else:
            extracted = extract_items(raw, target.fit_shape)
    except OutputError as error:
        return [error for _ in numbers]
    except ReplyReadError as error:
        failure = _no_json(str(error), _text(text), target)
        return [failure for _ in numbers]
    shared = list(extracted.actions)
    groups = _group(extracted, numbers, shared)
    results: list[Parsed | OutputError] = []
    for number, source in zip(numbers, sources, strict=True):
        found = groups.get(number, [])
        label = f"{target.label}, item {number}"
        if not found:
            message = f"{label} is missing from the reply"
            if extracted.truncated:
                message += ", which was cut off (raise the token limit or split the batch)"
            detail = ErrorDetail(("id",), f"no item with id {number}", None)
            results.append(
                OutputError(message, raw=raw, errors=[detail], truncated=extracted.truncated)
            )
        elif len(found) > 1:
            detail = ErrorDetail(("id",), f"{len(found)} items have id {number}", found)
            results.append(OutputError(f"{label} appears more than once", raw=raw, errors=[detail]))
        elif id(found[0]) in extracted.cut_ids:
            detail = ErrorDetail((), "the reply was cut off inside this item", found[0])
            results.append(
                OutputError(f"{label} was cut off", raw=raw, errors=[detail], truncated=True)
            )
        elif id(found[0]) in faults:
            results.append(OutputError(f"{label}'s row cannot be read", raw=raw,
                                       errors=[faults[id(found[0])]]))  # fmt: skip
        else:
            item = {key: value for key, value in found[0].items() if key != "id"}
            try:
                item_target = dataclasses.replace(target, label=label)
                finished = _finish(
                    item, item_target, source, list(shared), False, raw, spans=extracted.spans
                )
                results.append(finished)
            except OutputError as error:
                results.append(error)
    return results


# -- steps -----------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _target(into: Task | type[BaseModel]) -> _Target:
    if isinstance(into, Task):
        model, label, checks = into.output_model, f"reply to task {into.name!r}", tuple(into.checks)
    elif isinstance(into, type) and issubclass(into, BaseModel):
        model, label, checks = into, "reply", ()
    else:
        raise TypeError(f"parse() needs a Task or a pydantic model class, not {into!r}")
    try:
        shape: Shape | None = shape_of(model)
    except (UnsupportedType, ValueError):
        shape = None
    drop = model.model_config.get("extra") != "allow"
    final = shape is not None and not rewrites_valid_values(shape)
    return _Target(label, model, shape, checks, drop, null_word_fields(shape), final)


def _text(text: str | bytes) -> str:
    if isinstance(text, str):
        return text
    try:
        return bytes(text).decode("utf-8")
    except UnicodeDecodeError as error:
        raw = bytes(text).decode("utf-8", errors="replace")
        byte = bytes(text)[error.start]
        message = (
            f"the reply is not valid UTF-8: byte 0x{byte:02x} at position {error.start} "
            "cannot be decoded"
        )
        raise OutputError(message, raw=raw, errors=[ErrorDetail((), message, None)]) from None


def _screen(raw: str, target: _Target) -> None:
    """Refuse replies no parser should read: too long, or not valid Unicode."""
    if len(raw) > MAX_REPLY_CHARS:
        message = (
            f"the {target.label} is {len(raw):,} characters long, more than the "
            f"{MAX_REPLY_CHARS:,} a reply may have; it was not read"
        )
        raise OutputError(message, raw=raw, errors=[ErrorDetail((), message, None)])
    found = _SURROGATE.search(raw)
    if found is not None:
        message = (
            f"the {target.label} holds a lone surrogate U+{ord(found.group()):04X} at character "
            f"{found.start()}: it is not valid Unicode text"
        )
        raise OutputError(message, raw=raw, errors=[ErrorDetail((), message, None)])


def _no_json(message: str, raw: str, target: _Target) -> OutputError:
    text = f"the {target.label} holds no usable JSON: {message}"
    return OutputError(text, raw=raw, errors=[ErrorDetail((), message, raw[:200] or None)])


def _group(
    extracted: Extracted, numbers: tuple[int, ...], shared: list[Action]
) -> dict[int, list[Any]]:
    """Sort batch items by id; items without ids are taken in order when all lack one."""
    items = extracted.value
    groups: dict[int, list[Any]] = {}
    mappings = [item for item in items if isinstance(item, Mapping)]
    if len(mappings) < len(items):
        shared.append(
            Action("warning", (), f"ignored {len(items) - len(mappings)} non-object items")
        )
    if mappings and not any("id" in item for item in mappings) and len(mappings) == len(numbers):
        shared.append(Action("warning", (), "the items carry no ids; matched them by position"))
        return {number: [item] for number, item in zip(numbers, mappings, strict=True)}
    known = set(numbers)
    for item in mappings:
        number = _item_id(item.get("id"))
        if number not in known:
            expected = f"{numbers[0]}..{numbers[-1]}" if len(numbers) > 1 else str(numbers[0])
            message = f"ignored an item with id {item.get('id')!r} (expected {expected})"
            shared.append(Action("warning", (), message))
            continue
        groups.setdefault(number, []).append(item)
    return groups


def _item_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _finish(
    value: Any,
    target: _Target,
    source: BaseModel | None,
    actions: list[Action],
    truncated: bool,
    raw: str,
    refused: bool = False,
    spans: Spans | None = None,
) -> Parsed:
    instance = _already_valid(value, target) if target.valid_is_final and not refused else None
    if instance is None:
        if target.shape is not None:
            value, coerced = coerce(
                value, target.shape, drop_unknown=target.drop_unknown, spans=spans
            )
            actions.extend(coerced)
        instance = _validate(value, target, truncated, raw)
    if truncated:
        given = instance.model_fields_set
        lost = [name for name in target.model.model_fields if name not in given]
        actions.append(
            Action(
                "warning",
                (),
                "the reply was cut off; missing (defaulted) fields: " + (", ".join(lost) or "none"),
                None,
                lost,
            )
        )
    return _checked(instance, target, source, actions, truncated, raw)


def _already_valid(value: Any, target: _Target) -> BaseModel | None:
    """Return the output when the value is exactly valid for it, as on the fast path.

    Coercion would give it back unchanged with nothing to report
    (``target.valid_is_final``); only a null-word still needs it.
    """
    try:
        data = to_json(value, inf_nan_mode="constants")
    except ValueError:
        return None
    instance = _strictly_valid(data, target)
    if instance is None or _holds_null_words(instance, target):
        return None
    return instance


def _validate(value: Any, target: _Target, truncated: bool, raw: str) -> BaseModel:
    try:
        if target.shape is None:
            return target.model.model_validate(value)
        # Strict JSON mode, as on the fast path: in strict Python mode an enum
        # field would refuse its own value as a string. pydantic_core writes the
        # JSON many times faster than json.dumps; non-finite floats are written
        # as NaN/Infinity and judged by the model, like on the fast path.
        # Coercion keys fields by name, whatever spelling the reply used.
        data = to_json(value, inf_nan_mode="constants")
        validator = target.model.__pydantic_validator__
        return validator.validate_json(data, strict=True, by_alias=False, by_name=True)  # type: ignore[no-any-return]
    except ValidationError as error:
        details = [_detail(item, truncated) for item in error.errors(include_url=False)]
    except ValueError as error:  # the value could not be written as JSON
        details = [ErrorDetail((), str(error), None)]
    message = f"the {target.label} is not a valid {target.model.__name__}"
    if truncated:
        message += "; it was cut off before its JSON ended (raise the token limit or split)"
    raise OutputError(message, raw=raw, errors=details, truncated=truncated)


def _detail(item: Mapping[str, Any], truncated: bool) -> ErrorDetail:
    path = tuple(part for part in item["loc"] if isinstance(part, str | int))
    if item["type"] == "missing":
        message = "required field is missing"
        if truncated:
            message += " (lost when the reply was cut off)"
        return ErrorDetail(path, message, None)
    value = item.get("input")
    return ErrorDetail(path, str(item["msg"]), value if not isinstance(value, BaseModel) else None)


def _checked(
    instance: BaseModel,
    target: _Target,
    source: BaseModel | None,
    actions: list[Action],
    truncated: bool,
    raw: str,
) -> Parsed:
    errors: list[ErrorDetail] = []
    nulls: list[tuple[str | int, ...]] = []
    for check in target.checks:
        for finding in check(instance, source):
            if finding.action == "error":
                errors.append(ErrorDetail(finding.path, finding.message, finding.value))
            elif finding.action == "null":
                nulls.append(finding.path)
                actions.append(
                    Action("check", finding.path, f"set to null: {finding.message}", finding.value)
                )
            else:
                actions.append(Action("warning", finding.path, finding.message, finding.value))
    if errors:
        message = f"the {target.label} fails its checks"
        raise OutputError(message, raw=raw, errors=errors, truncated=truncated)
    if nulls:
        data = instance.model_dump(mode="json")
        for path in nulls:
            _set_null(data, path)
        instance = _validate(data, target, truncated, raw)
    return Parsed(instance, Report(tuple(actions), truncated))


def _set_null(data: Any, path: tuple[str | int, ...]) -> None:
    for part in path[:-1]:
        data = data[part]
    if path:
        data[path[-1]] = None
