"""Find the JSON in a reply: fences, prose around it, several values, wrapper objects.

Every ``{`` or ``[`` outside a value already read starts a candidate, read
by the tolerant parser of :mod:`promptkit.output.repair`; so code fences with any
language tag (or none, or nested), prose before and after, and XML-like tags
need no special case. Among several candidates the one that fits the output
shape best is chosen (most expected keys, fewest unknown keys, not cut off,
fewest repairs, the first on a tie). A wrapper object around the expected
one (``{"result": {...}}``) or a list holding it is unwrapped; several values
that are items of the one list a one-field object holds (one per line, as
NDJSON) are that list. For batch replies, the items are collected: from an
array, an ``{"items": [...]}`` wrapper, or one object per line.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from promptkit.errors import ReplyReadError
from promptkit.output import markup
from promptkit.output.actions import Action
from promptkit.output.fit import fits
from promptkit.output.repair import Repaired, Spans, repair_json
from promptkit.output.scanner import CLOSING_QUOTES, LITERAL_WORDS, NEXT_KEY, QUOTES
from promptkit.schema import Shape

MAX_CANDIDATES = 64
"""How many places a reply is read from before giving up on the rest."""

_OPEN = re.compile(r"[{\[]")
_TUPLE = re.compile(r"\(")
_ESCAPED = re.compile(r"[{\[]\s*\\\"")
_FENCED = re.compile(r"```[^\n`]*\n(.*?)```", re.S)
_JSON_SCALAR = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?|true|false|null")
_UNWRAP_DEPTH = 3
_STRING_START = frozenset(QUOTES + "\\")
_WRAPPED = re.compile(r"(?:[A-Za-z_$][\w$.]*)?\s*\((.*)\)\s*;?", re.S)
_ESCAPE = re.compile(r'\\(["\\])')
_ESCAPED_QUOTE = re.compile(r'\\"')


class Extracted(NamedTuple):
    """The JSON value chosen from a reply, with what was done to find and repair it."""

    value: Any
    actions: tuple[Action, ...]
    truncated: bool
    cut_ids: frozenset[int] = frozenset()
    spans: Spans | None = None


def find_values(text: str, opening: re.Pattern[str] = _OPEN) -> list[Repaired]:
    """Read every top-level JSON-like value in ``text``, left to right.

    At most :data:`MAX_CANDIDATES` starts are tried; a failed read resumes
    where it gave up (after a value that nests too deep, never inside it),
    so the work stays linear in the text.

    Raises:
        ReplyReadError: values start in the text but none could be read (why the first failed).
    """
    found: list[Repaired] = []
    failures: list[ReplyReadError] = []
    position = 0
    for _ in range(MAX_CANDIDATES):
        match = opening.search(text, position)
        if match is None:
            break
        try:
            repaired = repair_json(text, match.start())
        except ReplyReadError as error:
            failures.append(error)
            position = max(error.offset or 0, match.start() + 1)
            continue
        found.append(repaired)
        position = max(repaired.end, match.start() + 1)
    if not found and failures:
        raise ReplyReadError(str(failures[0]))
    return found


def extract_object(text: str, shape: Shape) -> Extracted:
    """Choose the value in ``text`` that best fits the object ``shape``.

    The first candidate among equals wins. A reply with no JSON container
    may still be the value of a one-field object (``1214`` for ``{foo: int}``,
    ``The answer is TWO`` for an enum field; a string field takes only a
    quoted string, not prose). A reply with no JSON object may be XML or
    TOON (:func:`promptkit.output.markup.read_markup`).

    Raises:
        ReplyReadError: no JSON value was found.
    """
    candidates = find_values(text)
    if not any(c.value.__class__ is dict and c.value for c in candidates):
        # "a": 1}: an object that lost its opening brace, before any stray {"} inside it
        candidates = [*_braceless(text), *candidates] or find_values(text, _TUPLE)
    opening = text.lstrip()
    # JSON valid as written is no escaped JSON, though its strings hold some ("{\"k\": 1}").
    escaped = [] if _escapes_written_inside(text, candidates) else _escaped_values(text)
    # A reply that opens as escaped JSON ([\"a\"]) is read unescaped first.
    if escaped and _ESCAPED.match(opening) is not None:
        candidates = [*escaped, *candidates]
    else:
        candidates += escaped
    names = _names(shape)
    if (
        opening[:1] in _STRING_START
        and not any(
            isinstance(c.value, dict) and _fit(c.value, shape, names)[1] for c in candidates
        )
        and whole_string(opening.rstrip()) is not None
    ):
        bare = bare_value(text, shape)  # one quoted string: what looks like JSON is inside it
        if bare is not None:
            return bare
    if len(candidates) == 1 and candidates[0].value.__class__ is dict and candidates[0].value:
        # The common case, one JSON object: nothing else to consider.
        value, unwrapping = _unwrap(candidates[0].value, shape, names, _UNWRAP_DEPTH)
        return _chosen(text, candidates, candidates[0], value, unwrapping)
    if not any(isinstance(c.value, dict) and c.value for c in candidates):
        # No JSON object with members: the reply may be XML or TOON (its "tags[2]{a,b}:"
        # reads as JSON too).
        marked_up = markup.read_markup(text, shape)
        if marked_up is not None:
            return marked_up
    if not candidates or not any(_is_object_like(c.value, shape) for c in candidates):
        bare = bare_value(text, shape)
        if bare is not None:
            return bare
    if not candidates:
        raise ReplyReadError(_nothing_found(text))
    collected = _collected(text, candidates, shape)
    if collected is not None:
        return collected
    best: tuple[tuple[Any, ...], Any, list[Action], Repaired] | None = None
    for order, candidate in enumerate(candidates):
        value, unwrapping = _unwrap(candidate.value, shape, names, _UNWRAP_DEPTH)
        if len(candidates) == 1:
            best = ((), value, unwrapping, candidate)
            break
        fit = _fit(value, shape, names)
        rank = (*fit, not candidate.truncated, -len(unwrapping), -len(candidate.actions), -order)
        if best is None or rank > best[0]:
            best = (rank, value, unwrapping, candidate)
    assert best is not None
    _, value, unwrapping, chosen = best
    return _chosen(text, candidates, chosen, value, unwrapping)


def _chosen(
    text: str, candidates: list[Repaired], chosen: Repaired, value: Any, unwrapping: list[Action]
) -> Extracted:
    """The value of the chosen candidate, with what was done to find, repair and unwrap it."""
    actions = _located(text, chosen)
    if len(candidates) > 1:
        actions.append(
            Action(
                "warning",
                (),
                f"the reply holds {len(candidates)} JSON values; used the one at "
                f"character {chosen.start}, which fits the output best",
            )
        )
    actions.extend(chosen.actions)
    actions.extend(unwrapping)
    return Extracted(value, tuple(actions), chosen.truncated, chosen.cut_ids, chosen.spans)


def _braceless(text: str) -> list[Repaired]:
    """``"a": 1}``: the members of an object that lost its opening brace, as that object."""
    first_key = NEXT_KEY.search(text) if text.rstrip().endswith("}") else None
    if first_key is None:
        return []
    start = first_key.start()
    try:
        found = repair_json("{" + text[start:])
    except ReplyReadError:
        return []
    note = Action("repair", (), "added a missing { before the first key", None, "{")
    end = start + found.end - 1  # where it ends in the reply, without the added brace
    return [found._replace(start=start, end=end, actions=(note, *found.actions))]


def _escapes_written_inside(text: str, candidates: list[Repaired]) -> bool:
    """Say whether every escaped quote of ``text`` is inside an object valid as written."""
    spans = [(c.start, c.end) for c in candidates if c.value.__class__ is dict and not c.actions]
    return bool(spans) and all(
        any(start < escape.start() < end for start, end in spans)
        for escape in _ESCAPED_QUOTE.finditer(text)
    )


def _escaped_values(text: str) -> list[Repaired]:
    """Values of a reply written as an escaped JSON string (``{\\"key\\": 1}``), unescaped."""
    if '\\"' not in text or _ESCAPED.search(text) is None:
        return []
    inner = text.strip()
    if len(inner) > 1 and inner[0] == inner[-1] == '"':
        inner = inner[1:-1]
    try:
        unescaped = json.loads(f'"{inner}"')
    except ValueError:
        unescaped = inner.replace('\\"', '"')
    try:
        found = find_values(unescaped)
    except ReplyReadError:
        return []
    note = Action("extract", (), "read the JSON written as an escaped string", None, None)
    return [f._replace(actions=(note, *f.actions)) for f in found]


def whole_string(text: str) -> str | None:
    """The string ``text`` is, written in any quotes (or escaped: ``\\"hello\\"``), or None."""
    if text.startswith('\\"'):
        text = _ESCAPE.sub(r"\1", text)
    try:
        found = repair_json(text)
    except ReplyReadError:
        return None
    whole = found.end == len(text) and not found.truncated
    return found.value if whole and isinstance(found.value, str) else None


def bare_value(text: str, shape: Shape) -> Extracted | None:
    """The whole reply (or its fenced block) as the value of a one-field object, if it can be."""
    if shape.kind != "object" or len(shape.fields) != 1:
        return None
    spec = shape.fields[0]
    fenced = _FENCED.search(text)
    content = (fenced.group(1) if fenced else text).strip()
    wrapped = _WRAPPED.fullmatch(content)
    inside = wrapped.group(1).strip() if wrapped is not None else ""
    if _is_one_value(inside):
        content = inside  # callback_123(2); ("foo"): JSONP, a call, parentheses
    content = content.rstrip(",;").rstrip()  # 4, -- a separator after the one value
    if not content:
        return None
    plain_string = spec.shape.kind == "string" and not spec.shape.format
    quoted = whole_string(content) if content[0] in _STRING_START else None
    value: Any
    if quoted is not None:
        value = quoted
    elif _is_scalar(content):
        value = LITERAL_WORDS[content] if content in LITERAL_WORDS else json.loads(content)
        if plain_string and value is not None:
            return None
    elif spec.shape.kind == "array" and (lines := _scalar_lines(content)) is not None:
        value = lines  # one value per line, for a list
    elif plain_string or (_holds_containers(spec.shape) and not _of_booleans(spec.shape)):
        return None  # prose is no string value (any reply would be one), nor an object
    elif _opens_a_string(content):
        return None  # nor a cut-off string
    else:
        value = content
    note = Action("extract", (), f"read the whole reply as the value of {spec.key!r}", text, value)
    return Extracted({spec.key: value}, (note,), False)


def _is_one_value(content: str) -> bool:
    """Say whether ``content`` is one scalar (a number, a literal word, a string in quotes)."""
    if not content:
        return False
    return _is_scalar(content) or (
        content[0] in _STRING_START and whole_string(content) is not None
    )


def _is_scalar(content: str) -> bool:
    """A JSON number or literal, or a literal word of Python or JavaScript (``True``, ``None``)."""
    return content in LITERAL_WORDS or _JSON_SCALAR.fullmatch(content) is not None


def _scalar_lines(content: str) -> list[Any] | None:
    """``1\\n2\\n3``: the JSON scalars written one per line (a comma after each or not), or None."""
    lines = [line.strip().removesuffix(",").rstrip() for line in content.splitlines()]
    lines = [line for line in lines if line]
    if len(lines) < 2 or not all(_JSON_SCALAR.fullmatch(line) for line in lines):
        return None
    return [json.loads(line) for line in lines]


def _holds_containers(shape: Shape) -> bool:
    """An object, array, map or tuple, or a union with one among its alternatives."""
    if shape.kind == "union":
        return any(_holds_containers(option) for option in shape.options)
    return shape.kind in ("object", "array", "map", "tuple")


def _of_booleans(shape: Shape) -> bool:
    """A list of booleans: prose may name its one item (``The answer is true``)."""
    item = shape.item
    return shape.kind == "array" and item is not None and item.kind == "boolean"


def _opens_a_string(content: str) -> bool:
    """``"pay`` at the end of a reply: a quote no quote closes, a string cut off."""
    closing = CLOSING_QUOTES.get(content[0])
    return closing is not None and not any(quote in content[1:] for quote in closing)


def _collected(text: str, candidates: list[Repaired], shape: Shape) -> Extracted | None:
    """Several values where a one-field object holds a list of them (``{...}\\n{...}``): the list.

    The values that fit the list's item are gathered (for an item that is an
    object, those naming one of its fields), provided none is the object
    itself (its key, or a list that fits its field).
    """
    if shape.kind != "object" or len(shape.fields) != 1 or len(candidates) < 2:
        return None
    spec = shape.fields[0]
    item = spec.shape.item
    if spec.shape.kind != "array" or item is None:
        return None
    names = _names(shape)
    if any(_fit(c.value, shape, names)[1] for c in candidates):
        return None
    if item.kind == "object":
        item_names = _names(item)
        gathered = [c for c in candidates if _fit(c.value, item, item_names)[1] > 0]
    else:
        gathered = [c for c in candidates if fits(c.value, item)]
    if len(gathered) < 2:
        return None
    note = Action("extract", (), f"collected {len(gathered)} JSON values as {spec.key!r}")
    return _joined({spec.key: [c.value for c in gathered]}, note, gathered)


def _joined(value: Any, note: Action, parts: list[Repaired]) -> Extracted:
    """A value made of several candidates' values, with what was done to each."""
    actions = [note]
    spans: Spans = {}
    for part in parts:
        actions.extend(part.actions)
        spans.update(part.spans or {})
    truncated = any(part.truncated for part in parts)
    cut = frozenset().union(*(part.cut_ids for part in parts))
    return Extracted(value, tuple(actions), truncated, cut, spans)


def extract_items(text: str, shape: Shape) -> Extracted:
    """Collect the items of a batch reply: an array, an ``{"items": [...]}``, or loose objects.

    Each item is returned as found (a mapping with an ``id``, or whatever the
    model wrote); matching items to inputs is left to the caller.

    Raises:
        ReplyReadError: no JSON value was found.
    """
    candidates = find_values(text)
    if not candidates:
        raise ReplyReadError(_nothing_found(text))
    best: tuple[tuple[int, int], list[Any], Repaired] | None = None
    for order, candidate in enumerate(candidates):
        items = _as_items(candidate.value)
        if items is None:
            continue
        rank = (sum(isinstance(item, Mapping) and "id" in item for item in items), order)
        if best is None or rank > best[0]:
            best = (rank, items, candidate)
    loose = [c for c in candidates if isinstance(c.value, Mapping) and "id" in c.value]
    if len(loose) > 1 and (best is None or len(loose) > best[0][0]):
        note = Action("extract", (), f"collected {len(loose)} separate JSON objects as the items")
        return _joined([c.value for c in loose], note, loose)
    if best is None:
        single = extract_object(text, shape)
        note = Action("warning", (), "the reply is one object, not an array of items")
        return single._replace(value=[single.value], actions=(*single.actions, note))
    _, items, chosen = best
    actions = _located(text, chosen)
    if not isinstance(chosen.value, list):
        actions.append(Action("extract", (), "took the items out of the object around them"))
    actions.extend(chosen.actions)
    return Extracted(items, tuple(actions), chosen.truncated, chosen.cut_ids, chosen.spans)


def _as_items(value: Any) -> list[Any] | None:
    if isinstance(value, list):
        return value
    if isinstance(value, Mapping):
        lists = [member for member in value.values() if isinstance(member, list)]
        if "items" in value and isinstance(value["items"], list):
            return list(value["items"])
        if len(lists) == 1 and "id" not in value:
            return lists[0]
    return None


def _located(text: str, chosen: Repaired) -> list[Action]:
    before, after = text[: chosen.start], text[chosen.end :]
    if not before.strip() and not after.strip():
        return []
    return [
        Action(
            "extract",
            (),
            f"took the JSON at characters {chosen.start}-{chosen.end} out of the reply",
            _clip(before) + "…" + _clip(after, tail=False),
            None,
        )
    ]


def _clip(text: str, *, tail: bool = True, size: int = 40) -> str:
    text = text.strip()
    if len(text) <= size:
        return text
    return text[-size:] if tail else text[:size]


def _nothing_found(text: str) -> str:
    if not text.strip():
        return "the reply is empty (only whitespace)"
    return "the reply holds no JSON object or array"


@functools.lru_cache(maxsize=256)
def _names(shape: Shape) -> frozenset[str]:
    return frozenset(_key(name) for spec in shape.fields for name in spec.names)


@functools.lru_cache(maxsize=4096)
def _key(name: str) -> str:
    return name.strip().casefold().replace(" ", "_").replace("-", "_")


def _is_object_like(value: Any, shape: Shape) -> bool:
    """Say whether a candidate can be the object at all (what :func:`_fit` ranks first)."""
    return isinstance(value, dict) or _fit(value, shape, frozenset())[0] == 1


def is_list_field(shape: Shape) -> bool:
    """Say whether ``shape`` is an object of one field that holds a list (or a tuple)."""
    return len(shape.fields) == 1 and shape.fields[0].shape.kind in ("array", "tuple")


def _fit(value: Any, shape: Shape, names: frozenset[str]) -> tuple[int, int, int]:
    """Rank a value against an object shape: (is an object, fields named, -unknown keys).

    For a one-field object, a value of that field's kind (a list for a list
    field) ranks as an object with its one key.
    """
    if shape.kind != "object":
        return (0, 0, 0)
    if not isinstance(value, dict):
        if len(shape.fields) == 1 and isinstance(value, list) == is_list_field(shape):
            return (1, int(fits(value, shape.fields[0].shape)), 0)
        return (0, 0, 0)
    found = [key for key in value if isinstance(key, str) and (key in names or _key(key) in names)]
    known = len({_key(key) for key in found})  # "C" and "c" name one field
    return (1, known, len(found) - len(value))


def _unwrap(
    value: Any, shape: Shape, names: frozenset[str], depth: int
) -> tuple[Any, list[Action]]:
    """Find the object inside a wrapper (``{"result": {...}}``, ``[{...}]``) if it fits better."""
    if depth == 0 or shape.kind != "object":
        return value, []
    members: list[tuple[str | int, Any]] = []
    if isinstance(value, dict):
        members = [(k, v) for k, v in value.items() if isinstance(v, dict | list)]
    elif isinstance(value, list):
        # For a one-field list object the list is the field's value: its items
        # are the content, and only a list in it can wrap the list meant.
        kinds = list if is_list_field(shape) else dict | list
        members = [(i, v) for i, v in enumerate(value) if isinstance(v, kinds)]
    if not members or (isinstance(value, dict) and len(members) > 1):
        return value, []  # a wrapper holds one thing; an object of several is no wrapper
    own = _fit(value, shape, names)
    best: tuple[tuple[int, int, int], Any, list[Action]] | None = None
    for where, member in members:
        inner, steps = _unwrap(member, shape, names, depth - 1)
        fit = _fit(inner, shape, names)
        if fit[1] > own[1] and (best is None or fit > best[0]):
            note = Action("extract", (), f"took the output out of the wrapper at {where!r}")
            best = (fit, inner, [note, *steps])
    if best is None:
        return value, []
    if isinstance(value, list) and len(members) > 1:
        best[2].append(
            Action("warning", (), f"the reply is a list of {len(members)} values; used one")
        )
    return best[1], best[2]
