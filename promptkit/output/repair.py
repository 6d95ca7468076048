"""Syntactic repair of JSON-like text: a tolerant parser that reports every repair.

:func:`repair_json` reads one JSON value starting at an offset and returns
it with the list of repairs it made (the classes are listed in
docs/repair.md): objects and arrays here, the structure models get wrong
(wrong closers, keyless values, sets, strings joined with ``+``) in
:mod:`promptkit.output.salvage`, quoted strings in
:mod:`promptkit.output.strings`, numbers, words and comments in
:mod:`promptkit.output.scanner`.

Truncation: when the text ends inside a value, open strings, arrays and
objects are closed and the member that was being written is dropped, never
completed: a number, a word or a string cut at the end may be a prefix of
what the model meant, so it is missing rather than invented. So is a member
with no value (``{"key": }``). ``Repaired.truncated`` says so.

The parser is linear in the text, nests at most :data:`MAX_DEPTH` levels
(a value that nests deeper is refused whole, with an error, not a
``RecursionError``) and has no state outside one call.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from promptkit.errors import ReplyReadError
from promptkit.output.actions import Action
from promptkit.output.salvage import Salvage
from promptkit.output.scanner import (
    CUT,
    ELLIPSIS,
    KEY,
    MISSING,
    NEXT_KEY,
    NOT_PLAIN,
    QUOTES,
    nesting_depth,
    skip_quietly,
    value_end,
)

MAX_DEPTH = 100
"""The deepest nesting of arrays and objects the parser reads."""

_PLAIN_READINGS = 4
_FAILED_READING = 64
"""The C scanner reads a text at most _PLAIN_READINGS times over in readings that fail,
each counted _FAILED_READING characters longer than it is (raising costs too)."""
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abAB]")
_CLOSERS = {"{": "}", "[": "]", "(": ")"}
_JOINING = frozenset("+ \t\r\n/")


class Repaired(NamedTuple):
    """A value read from JSON-like text, with the repairs made and where it ended.

    A named tuple, not a dataclass: one is made for every value a reply holds,
    and a tuple is made several times faster.
    """

    value: Any
    start: int
    end: int
    actions: tuple[Action, ...]
    truncated: bool
    cut_ids: frozenset[int] = frozenset()
    """``id()`` of each array or object the end of the text left open (still alive in value)."""
    spans: Spans | None = None


Spans = dict[int, tuple[Any, str, int, int]]
"""Where each object of a reading was written: its ``id()`` to the object, the text, start, end.

The object is kept with its id, so that the id can never be another's.
"""


def written_as(spans: Spans | None, value: Any) -> str | None:
    """The text ``value`` (an object of a reading) was written as, if it is known."""
    found = spans.get(id(value)) if spans else None
    return found[1][found[2] : found[3]] if found is not None else None


class _NotPlainJson(ValueError):
    """Raised inside the C scanner when valid JSON still needs a reported repair."""


def _reject_constant(name: str) -> Any:
    raise _NotPlainJson(name)  # NaN and Infinity are read as null, with a report


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) < len(pairs):
        raise _NotPlainJson("a key appears twice")  # the slow parser reports which one
    return result


# The C scanner of the json module, configured to refuse what would need a report;
# it holds no state between calls (its memo is cleared after each one).
_SCAN = json.JSONDecoder(parse_constant=_reject_constant, object_pairs_hook=_unique_keys).scan_once  # type: ignore[attr-defined]  # set in __init__, missing from typeshed


def repair_json(text: str, start: int = 0) -> Repaired:
    """Read one JSON-like value from ``text`` at ``start``, repairing what models get wrong.

    Args:
        text: the text.
        start: offset of the value's first character (a bracket, quote or literal).

    Returns:
        The value, where it started and ended, each repair made, and whether the
        text ended inside it.

    Raises:
        ReplyReadError: nothing readable starts there, it nests deeper than
            :data:`MAX_DEPTH` (the error's offset is then where the value ends),
            or the end of the text cut the whole value off.
    """
    reader = Reader(text)
    reader.i = start
    value = reader.plain() if text.startswith(("{", "["), start) else NOT_PLAIN
    if value is NOT_PLAIN:
        value = reader.value()
    elif value.__class__ is dict:
        reader.spans[id(value)] = (value, text, start, reader.i)
    if value is CUT:
        raise ReplyReadError("the reply ends before its JSON value does", reader.i)
    if value is MISSING or value is ELLIPSIS:
        raise ReplyReadError("no JSON value here", start)
    if isinstance(value, dict):
        reader.members_after(value)
    if reader.truncated:
        reader.actions.append(
            Action(
                "repair",
                (),
                "the reply ends inside its JSON: closed what was open and dropped the value "
                "being written when it was cut off",
                text[max(start, reader.n - 40) :],
                None,
            )
        )
    actions, cut_ids = tuple(reader.actions), frozenset(reader.cut_ids)
    return Repaired(value, start, reader.i, actions, reader.truncated, cut_ids, reader.spans)


class Reader(Salvage):
    """A recursive-descent reader of values, objects and arrays; one instance per call."""

    __slots__ = ("depth", "plain_blocked_before", "plain_budget", "spans")

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.spans: Spans = {}
        self.depth = 0
        self.plain_budget = _PLAIN_READINGS * (self.n + _FAILED_READING)
        """How many characters the C scanner may still read in readings that fail."""
        self.plain_blocked_before = 0
        """Containers that start before this are not given to the C scanner (they would fail)."""

    def value(self) -> Any:
        self.skip()
        if self.i >= self.n:
            return self.cut()
        char = self.s[self.i]
        if char == "{":
            return self.container("{", self.object_body)
        if char == "[":
            return self.container(char, self.array_body)
        if char == "(":
            return self.parenthesised()
        if char in QUOTES:
            text = self.string(key=False)
            following = self.s[self.i] if self.i < self.n else ""
            if following in _JOINING and isinstance(text, str):
                return self.joined(text)  # "a" + "b", perhaps: most strings end at a delimiter
            return text
        if char in "-+.0123456789":
            return self.number()
        if char in ",}])":
            return MISSING
        return self.word()

    def parenthesised(self) -> Any:
        """``(1, 2)``: a Python tuple, read as a list; in a container ``("x")`` (no comma): "x".

        A reply that is one value in brackets is read by extraction, which
        tells a call around a value from prose in brackets.
        """
        start = self.i
        value = self.container("(", self.array_body)
        one = isinstance(value, list) and len(value) == 1 and bool(self.closers)
        if one and not self.s[start + 1 : self.i - 1].rstrip().endswith(","):
            self.note("read the one value in brackets", self.s[start : self.i], value[0])
            return value[0]
        self.note("read a tuple as a list", "(", "[")
        return value

    def container(self, opener: str, body: Any) -> Any:
        if self.depth >= MAX_DEPTH:
            # Refused whole: the offset is where the outermost value ends, so that a
            # search for values resumes after it, not at a value inside it.
            raise ReplyReadError(
                f"the JSON nests deeper than {MAX_DEPTH} levels in the value that ends here",
                value_end(self.s, self.i, self.depth),
            )
        start = self.i
        value: Any = NOT_PLAIN
        if opener != "(" and start >= self.plain_blocked_before and self.plain_budget > 0:
            value = self.plain()
        if value is NOT_PLAIN:
            self.depth += 1
            self.closers.append(_CLOSERS[opener])
            self.i += 1
            try:
                value = body()
            finally:
                self.closers.pop()
                self.depth -= 1
        if value.__class__ is dict and id(value) not in self.cut_ids:
            self.spans[id(value)] = (value, self.s, start, self.i)
        return value

    def plain(self) -> Any:
        """Read the container here with the C scanner if it is valid JSON, else return NOT_PLAIN.

        Most of a reply is often valid JSON (all of it inside a fence or prose,
        or all but a few members); reading that in C is many times faster than
        the repairing parser, which gives the same value for it with no actions.
        What valid JSON can hold that the repairing parser reports (``NaN``, a
        duplicate key, an escaped lone surrogate) or refuses (nesting deeper
        than :data:`MAX_DEPTH`) is left to the repairing parser. Each container
        around an error fails there again, so readings that fail have a budget
        (a few times the text's length): the work stays linear in the text.
        """
        s, start = self.s, self.i
        if s.find(_CLOSERS[s[start]], start) < 0:
            self.plain_blocked_before = start + 1
            return NOT_PLAIN  # it never closes (cut off): the scanner would fail at the end
        try:
            value, end = _SCAN(s, start)
        except json.JSONDecodeError as error:
            self.plain_blocked_before = start + 1  # not this one again
            self.plain_budget -= error.pos - start + _FAILED_READING
            return NOT_PLAIN
        except (_NotPlainJson, RecursionError, StopIteration):
            self.plain_blocked_before = self.n  # where is unknown: no more tries
            return NOT_PLAIN
        limit = MAX_DEPTH - self.depth
        too_deep = s.count("{", start, end) + s.count("[", start, end) > limit
        if (too_deep and nesting_depth(value) > limit) or (
            s.find("\\u", start, end) >= 0 and _ESCAPED_SURROGATE.search(s, start, end)
        ):
            self.plain_blocked_before = end
            return NOT_PLAIN
        self.i = end
        return value

    # -- objects -------------------------------------------------------------------

    def object_body(self) -> Any:
        as_set = self.set_items()
        if as_set is not None:
            return as_set
        result: dict[str, Any] = {}
        left_open = self.members(result)
        if left_open and not result and self.closers[-2] in "])":
            # [{]: an item the list closed before anything was written in it,
            # dropped as the item being written at the end of the text is.
            self.note("dropped an object left open with nothing in it", "{", None)
            return MISSING
        return result

    def members(self, result: dict[str, Any]) -> bool:
        """Read members into ``result`` until the object closes (or the text ends).

        Returns True when the closer of a container around the object closed it, left open.
        """
        s = self.s
        while True:
            self.skip()
            if self.i >= self.n:
                self.cut(result)
                return False
            char = s[self.i]
            if char == "}":
                self.i += 1
                return False
            if char == "`" and self.fence_ends():
                return False
            if char == ",":
                self.note("removed an extra comma", ",", "")
                self.i += 1
                continue
            if char in "])":
                at = self.i
                if self.wrong_closer(char):
                    return self.i == at  # left open: the closer is left to its own container
                continue
            if result and self.next_item_at(self.i):
                # [{"i": 1, {"i": 2}]: the next item starts where this one's } is missing
                self.note("closed an object left open before the next one", "", "}")
                return True
            if char in "{[(":
                if not self.keyless(result):
                    return False
                continue
            if not self.member(result):
                return False

    def member(self, result: dict[str, Any]) -> bool:
        """Read one ``key: value``; return False when the object ended."""
        plain = self.plain_member()
        if plain is not None:
            self.put(result, *plain)
            return self.separator("}", result)
        s = self.s
        key = self.key()
        if key is CUT:
            self.cut(result)
            return False
        if key is MISSING:
            self.note("skipped a character that cannot start a key", s[self.i], "")
            self.i += 1
            return True
        self.skip()
        if self.i >= self.n:
            self.cut(result)
            return False
        if s[self.i] in ":=":
            if s[self.i] == "=":
                self.note("replaced = after a key with :", "=", ":")
            self.i += 1
        else:
            self.note(f"added a missing colon after key {key!r}", "", ":")
        item = self.value()
        if item is CUT:
            self.cut(result)
            return False
        if item is MISSING or item is ELLIPSIS:
            self.note(f"dropped key {key!r}, which has no value", key, None)
        else:
            self.put(result, key, item)
        return self.separator("}", result)

    def put(self, result: dict[str, Any], key: str, item: Any) -> None:
        if key in result:
            self.note(f"key {key!r} appears twice; kept the last", result[key], item)
        result[key] = item

    def key(self) -> Any:
        s = self.s
        char = s[self.i]
        if char in QUOTES:
            key = self.string(key=True)
            colon_inside = isinstance(key, str) and key.endswith(":") and self.i < self.n
            if colon_inside and s[skip_quietly(s, self.i)] not in ":=":
                self.note("moved a colon out of a key", key, key[:-1])
                return key[:-1].strip()
            return key
        match = KEY.match(s, self.i)
        if match is None or not match.group():
            return MISSING
        after = skip_quietly(s, match.end())
        if after < self.n and NEXT_KEY.match(s, after):
            self.note("dropped stray text before a key", match.group(), "")
            self.i = after
            return self.key()
        self.i = match.end()
        if self.i >= self.n:
            return self.cut()
        if (
            s[self.i] == '"'
            and s[skip_quietly(s, self.i + 1) : skip_quietly(s, self.i + 1) + 1] == ":"
        ):
            self.note("added a missing opening quote to a key", match.group(), f'"{match.group()}')
            self.i += 1
            return match.group()
        self.note("quoted a key", match.group(), f'"{match.group()}"')
        return match.group()

    # -- arrays --------------------------------------------------------------------

    def array_body(self) -> list[Any]:
        result: list[Any] = []
        self.items(result, self.closers[-1])
        return result

    def items(self, result: list[Any], closer: str) -> None:
        s = self.s
        while True:
            self.skip()
            if self.i >= self.n:
                self.cut(result)
                return
            char = s[self.i]
            if char == closer:
                self.i += 1
                return
            if char == ",":
                self.note("removed an extra comma", ",", "")
                self.i += 1
                continue
            if char in "}])":
                if self.wrong_closer(char):
                    return
                continue
            item = self.value()
            if item is CUT:
                self.cut(result)
                return
            if item is MISSING:  # an object left open with nothing in it (see object_body)
                continue
            if item is not ELLIPSIS:
                if isinstance(item, str) and self.colon_follows():
                    item = self.object_from_key(item)
                    if item is CUT:
                        self.cut(result)
                        return
                result.append(item)
            if not self.separator(closer, result):
                return

    # -- between members -------------------------------------------------------------

    def separator(self, closer: str, container: object) -> bool:
        """Consume what follows a member; return False when the container ended."""
        self.skip()
        if self.i >= self.n:
            self.cut(container)
            return False
        char = self.s[self.i]
        if char == ",":
            self.i += 1
            self.skip()
            if self.i < self.n and self.s[self.i] == closer:
                self.note("removed a trailing comma", ",", "")
            return True
        if char == "`" and self.fence_ends():
            return False
        if char in "}])" or self.next_item_at(self.i):
            return True  # the body reads its own closer, a wrong one, or the next item
        if (
            char in QUOTES
            and (k := skip_quietly(self.s, self.i + 1)) < self.n
            and self.s[k] in ",}]"
        ):
            self.note("dropped a stray quote", char, "")  # "a": "hi"\n",
            self.i = k
            return self.separator(closer, container)
        self.note("added a missing comma", "", ",")
        return True
