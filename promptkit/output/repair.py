"""Syntactic repair of JSON-like text: a tolerant parser that reports every repair.

:func:`repair_json` reads one JSON value starting at an offset and returns
it with the list of repairs it made. It accepts what models write instead of
JSON: trailing and missing commas, single-quoted, backtick and triple-quoted
strings, unquoted keys and string values, ``//``, ``/* */`` and ``# ``
comments, Python literals (``True``, ``False``, ``None``), ``NaN`` and
``Infinity`` (read as null), unescaped inner quotes, raw newlines in strings.

Truncation: when the text ends inside a value, open strings, arrays and
objects are closed and the member that was being written is dropped, never
completed: a number, an unquoted word or a string cut at the end may be a
prefix of what the model meant, so it is missing rather than invented.
``Repaired.truncated`` says so.

The parser is linear in the text, nests at most :data:`MAX_DEPTH` levels
(deeper input is an error, not a ``RecursionError``) and has no state
outside one call.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any, Literal

from promptkit.errors import ReplyReadError

MAX_DEPTH = 100
"""The deepest nesting of arrays and objects the parser reads."""

ActionKind = Literal["extract", "repair", "coerce", "check", "warning"]


@dataclass(frozen=True, slots=True)
class Action:
    """One thing done to a reply on its way to an output, so nothing changes silently.

    Attributes:
        kind: ``extract``, ``repair``, ``coerce``, ``check`` or ``warning``.
        path: the field path it applies to (empty for the whole reply).
        message: what was done, in words.
        before: the text or value before (``None`` when not applicable).
        after: the text or value after.
    """

    kind: ActionKind
    path: tuple[str | int, ...]
    message: str
    before: Any = None
    after: Any = None


@dataclass(frozen=True, slots=True)
class Repaired:
    """A value read from JSON-like text, with the repairs made and where it ended."""

    value: Any
    start: int
    end: int
    actions: tuple[Action, ...]
    truncated: bool
    cut_ids: frozenset[int] = frozenset()
    """``id()`` of each array or object the end of the text left open (still alive in value)."""


class _Cut:
    """Marks a value the end of the text cut off."""


class _Missing:
    """Marks a value position holding nothing (``{"a": }``)."""


_CUT = _Cut()
_MISSING = _Missing()

_WS = re.compile(r"[ \t\r\n\f\v\ufeff\u00a0]*")
_SKIPPED = frozenset(" \t\r\n\f\v\ufeff\u00a0/#")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_KEY = re.compile(r"[^:\s{}\[\],\"'`/]+(?:[ \t]+[^:\s{}\[\],\"'`/]+)*")
_UNQUOTED = re.compile(r"[^,}\]\n\r]*")
LITERAL_WORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
    "undefined": None,
    "NaN": None,
    "nan": None,
    "Infinity": None,
    "inf": None,
}
"""Bare words the repairer reads as values (Python's and JavaScript's literals among them)."""
_JSON_LITERALS = frozenset({"true", "false", "null"})
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_CLOSERS = frozenset(",}]:")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LOOKAHEAD = 200
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abAB]")


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
            :data:`MAX_DEPTH`, or the end of the text cut the whole value off.
    """
    if start < len(text) and text[start] in "{[":
        plain = _read_plain(text, start)
        if plain is not None:
            return plain
    parser = _Parser(text)
    parser.i = start
    value = parser.value()
    if value is _CUT:
        raise ReplyReadError("the reply ends before its JSON value does", parser.i)
    if value is _MISSING:
        raise ReplyReadError("no JSON value here", start)
    if parser.truncated:
        parser.actions.append(
            Action(
                "repair",
                (),
                "the reply ends inside its JSON: closed what was open and dropped the value "
                "being written when it was cut off",
                text[max(start, parser.n - 40) :],
                None,
            )
        )
    return Repaired(
        value,
        start,
        parser.i,
        tuple(parser.actions),
        parser.truncated,
        frozenset(parser.cut_ids),
    )


def _read_plain(text: str, start: int) -> Repaired | None:
    """Read a container that is already valid JSON with the C scanner, or return ``None``.

    Most replies hold valid JSON (inside a fence or prose, or only needing
    coercion); reading those in C is many times faster than the repairing
    parser, which gives the same value for them with no actions. What valid
    JSON can hold that the repairing parser reports (``NaN``, a duplicate key,
    an escaped lone surrogate) or refuses (nesting deeper than
    :data:`MAX_DEPTH`) is sent to the repairing parser instead.
    """
    try:
        value, end = _SCAN(text, start)
    except (StopIteration, ValueError, RecursionError):
        return None
    if text.count("{", start, end) + text.count("[", start, end) > MAX_DEPTH and (
        _depth(value) > MAX_DEPTH
    ):
        return None  # the repairing parser refuses it with its message
    if _ESCAPED_SURROGATE.search(text, start, end) is not None:
        return None
    return Repaired(value, start, end, (), False)


class _Parser:
    """A recursive-descent reader over one text; one instance per call."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.depth = 0
        self.actions: list[Action] = []
        self.truncated = False
        self.cut_ids: set[int] = set()

    # -- helpers ---------------------------------------------------------------

    def note(self, message: str, before: Any = None, after: Any = None) -> None:
        self.actions.append(Action("repair", (), f"{message} at character {self.i}", before, after))

    def skip(self) -> None:
        """Skip whitespace and comments."""
        s = self.s
        if self.i < self.n and s[self.i] not in _SKIPPED:
            return  # the common case: a value or delimiter right here
        while True:
            self.i = _WS.match(s, self.i).end()  # type: ignore[union-attr]
            if self.i >= self.n or s[self.i] not in "/#":
                return
            if s.startswith("//", self.i):
                end = s.find("\n", self.i)
                end = self.n if end < 0 else end
                self.note("removed a // comment", s[self.i : end], None)
                self.i = end
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                if end < 0:
                    self.note("removed an unterminated /* comment", s[self.i : self.i + 40], None)
                    self.i = self.n
                    return
                self.note("removed a /* */ comment", s[self.i : end + 2], None)
                self.i = end + 2
            elif s.startswith("# ", self.i):
                end = s.find("\n", self.i)
                end = self.n if end < 0 else end
                self.note("removed a # comment", s[self.i : end], None)
                self.i = end
            else:
                return

    def cut(self, container: object = None) -> _Cut:
        self.truncated = True
        if container is not None:
            self.cut_ids.add(id(container))
        return _CUT

    # -- values ----------------------------------------------------------------

    def value(self) -> Any:
        self.skip()
        if self.i >= self.n:
            return self.cut()
        char = self.s[self.i]
        if char == "{":
            return self.container(self.object_body)
        if char == "[":
            return self.container(self.array_body)
        if char in "\"'`":
            return self.string(key=False)
        if char in "-+.0123456789":
            return self.number()
        if char in ",}]":
            return _MISSING
        return self.word()

    def container(self, body: Any) -> Any:
        if self.depth >= MAX_DEPTH:
            raise ReplyReadError(f"the JSON nests deeper than {MAX_DEPTH} levels", self.i)
        self.depth += 1
        self.i += 1
        result = body()
        self.depth -= 1
        return result

    def object_body(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        s = self.s
        while True:
            self.skip()
            if self.i >= self.n:
                self.cut(result)
                return result
            char = s[self.i]
            if char == "}":
                self.i += 1
                return result
            if char == ",":
                self.note("removed an extra comma", ",", "")
                self.i += 1
                continue
            if char == "]":
                self.note("replaced ] closing an object with }", "]", "}")
                self.i += 1
                return result
            if char in "{[":
                dropped = self.value()  # read it (depth-checked) to skip it whole
                self.note("dropped a value that has no key", dropped, None)
                if dropped is _CUT:
                    self.cut(result)
                    return result
                if not self.separator("}", result):
                    return result
                continue
            key = self.key()
            if key is _CUT:
                self.cut(result)
                return result
            if key is _MISSING:
                self.note("skipped a character that cannot start a key", char, "")
                self.i += 1
                continue
            self.skip()
            if self.i >= self.n:
                self.cut(result)
                return result
            if s[self.i] in ":=":
                if s[self.i] == "=":
                    self.note("replaced = after a key with :", "=", ":")
                self.i += 1
            else:
                self.note(f"added a missing colon after key {key!r}", "", ":")
            item = self.value()
            if item is _CUT:
                self.cut(result)
                return result
            if item is _MISSING:
                self.note(f"dropped key {key!r}, which has no value", key, None)
            else:
                if key in result:
                    self.note(f"key {key!r} appears twice; kept the last", result[key], item)
                result[key] = item
            if not self.separator("}", result):
                return result

    def array_body(self) -> list[Any]:
        result: list[Any] = []
        s = self.s
        while True:
            self.skip()
            if self.i >= self.n:
                self.cut(result)
                return result
            char = s[self.i]
            if char == "]":
                self.i += 1
                return result
            if char == ",":
                self.note("removed an extra comma", ",", "")
                self.i += 1
                continue
            if char == "}":
                self.note("replaced } closing an array with ]", "}", "]")
                self.i += 1
                return result
            item = self.value()
            if item is _CUT:
                self.cut(result)
                return result
            if item is _MISSING:  # pragma: no cover - value() only misses at , } ]
                continue
            result.append(item)
            if not self.separator("]", result):
                return result

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
        if char == closer:
            return True
        if char in "}]":
            self.note(f"replaced {char} with {closer}", char, closer)
            self.i += 1
            return False
        self.note("added a missing comma", "", ",")
        return True

    def key(self) -> Any:
        char = self.s[self.i]
        if char in "\"'`":
            return self.string(key=True)
        match = _KEY.match(self.s, self.i)
        if match is None or not match.group():
            return _MISSING
        self.i = match.end()
        if self.i >= self.n:
            return self.cut()
        self.note("quoted a key", match.group(), f'"{match.group()}"')
        return match.group()

    def number(self) -> Any:
        s = self.s
        match = _NUMBER.match(s, self.i)
        if match is None:
            return self.word()
        end = match.end()
        if end >= self.n:
            self.i = self.n
            return self.cut()
        follower = _WS.match(s, end).end()  # type: ignore[union-attr]
        if not _ends_value(s, follower):
            return self.word()  # "3/4 sleeve", "10yrs": an unquoted string, not a number
        token = match.group()
        digits = token.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return self.word()  # "007": keep the zeros; coercion reads it as a number if asked
        self.i = end
        if token[0] == "+" or digits[0] == "." or digits[-1] == ".":
            self.note("wrote a number the JSON way", token, None)
        if any(c in token for c in ".eE"):
            return float(token)
        return int(token)

    def word(self) -> Any:
        s = self.s
        match = _WORD.match(s, self.i)
        if match is not None:
            token = match.group()
            end = match.end()
            follower = _WS.match(s, end).end()  # type: ignore[union-attr]
            if token in LITERAL_WORDS and _ends_value(s, follower):
                self.i = end
                if token not in _JSON_LITERALS:
                    self.note(f"read {token} as {_literal_name(LITERAL_WORDS[token])}", token, None)
                return LITERAL_WORDS[token]
        match = _UNQUOTED.match(s, self.i)
        assert match is not None
        raw = match.group()
        if "//" in raw:
            raw = raw[: raw.index("//")]
        end = self.i + len(raw)
        if end >= self.n:
            self.i = self.n
            return self.cut()
        text = raw.strip()
        if not text:
            return _MISSING
        self.i = end
        self.note("quoted an unquoted string", text, f'"{text}"')
        return text

    def string(self, *, key: bool) -> Any:
        s = self.s
        quote = s[self.i]
        if quote != "`" and s.startswith(quote * 3, self.i):
            end = s.find(quote * 3, self.i + 3)
            if end < 0:
                self.i = self.n
                return self.cut()
            text = s[self.i + 3 : end]
            self.note("read a triple-quoted string", s[self.i : end + 3], text)
            self.i = end + 3
            return text
        if quote == '"':
            try:
                text, end = scanstring(s, self.i + 1, True)
                if self.closes(end - 1, quote, key) and (
                    text.isascii() or not _SURROGATE.search(text)
                ):
                    self.i = end
                    return text
            except ValueError:
                pass
        return self.slow_string(quote, key)

    def slow_string(self, quote: str, key: bool) -> Any:
        """Read a string char by char, repairing quotes, escapes and raw newlines."""
        s = self.s
        start = self.i
        i = self.i + 1
        parts: list[str] = []
        plain = re.compile(r"[^\\" + quote + r"\n\r\t\x00-\x1f]*")
        noted_inner = noted_control = False
        while True:
            m = plain.match(s, i)
            assert m is not None
            parts.append(m.group())
            i = m.end()
            if i >= self.n:
                self.i = self.n
                return self.cut()
            char = s[i]
            if char == quote:
                if self.closes(i, quote, key):
                    break
                parts.append(char)
                noted_inner = True
                i += 1
            elif char == "\\":
                if i + 1 >= self.n:
                    self.i = self.n
                    return self.cut()
                i = self.escape(i, parts)
            else:
                parts.append(char)
                noted_control = True
                i += 1
        self.i = i + 1
        text = "".join(parts)
        if quote != '"':
            self.note(f"replaced {quote} quotes with double quotes", s[start : self.i], text)
        if noted_inner:
            self.note("escaped inner quotes", s[start : self.i], text)
        if noted_control:
            self.note("escaped raw newlines or control characters in a string", None, text)
        return text

    def escape(self, i: int, parts: list[str]) -> int:
        s = self.s
        code = s[i + 1]
        if code == "u":
            digits = s[i + 2 : i + 6]
            if len(digits) == 4 and all(c in "0123456789abcdefABCDEF" for c in digits):
                point = int(digits, 16)
                if 0xD800 <= point <= 0xDBFF and s[i + 6 : i + 8] == "\\u":
                    low = s[i + 8 : i + 12]
                    if len(low) == 4 and all(c in "0123456789abcdefABCDEF" for c in low):
                        low_point = int(low, 16)
                        if 0xDC00 <= low_point <= 0xDFFF:
                            combined = 0x10000 + ((point - 0xD800) << 10) + (low_point - 0xDC00)
                            parts.append(chr(combined))
                            return i + 12
                if 0xD800 <= point <= 0xDFFF:
                    self.note(
                        "replaced a lone surrogate escape with U+FFFD", s[i : i + 6], "\ufffd"
                    )
                    parts.append("\ufffd")
                else:
                    parts.append(chr(point))
                return i + 6
        if code in _ESCAPES:
            parts.append(_ESCAPES[code])
            return i + 2
        if code in "'`":
            parts.append(code)
            return i + 2
        self.note("kept a backslash that escapes nothing", s[i : i + 2], s[i : i + 2])
        parts.append("\\")
        return i + 1

    def closes(self, at: int, quote: str, key: bool) -> bool:
        """Say whether the quote at ``at`` ends the string, or is an unescaped inner quote."""
        s = self.s
        j = at + 1
        if j < self.n and s[j] in _SKIPPED:
            j = _WS.match(s, j).end()  # type: ignore[union-attr]
        if j >= self.n:
            return True
        char = s[j]
        if char == (":" if key else "}"):
            return True  # the common case: "key": or "value"}
        if key:
            if char == ":" or char in "}],\n" or s[at + 1 : j].count("\n"):
                return True
            window = s[j : j + _LOOKAHEAD].split("\n", 1)[0]
            colon = window.find(":")
            return colon < 0 or quote not in window[:colon]
        if char in _CLOSERS or (char == "/" and s.startswith(("//", "/*"), j)):
            if char != ",":
                return True
            k = _skip_quietly(s, j + 1)
            return k >= self.n or s[k] in "\"'`{[}],\n" or _looks_like_member(s, k)
        if char in "\"'`":
            return True  # two strings in a row: a missing comma
        return "\n" in s[at + 1 : j]


def _depth(value: Any) -> int:
    """Return how deeply arrays and objects nest in a parsed value, without recursing."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, level = stack.pop()
        members = item.values() if isinstance(item, dict) else item
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            stack.extend(
                (member, level + 1) for member in members if isinstance(member, dict | list)
            )
    return deepest


def _skip_quietly(s: str, j: int) -> int:
    """Return the offset after whitespace and comments from ``j``, without reporting."""
    while True:
        j = _WS.match(s, j).end()  # type: ignore[union-attr]
        if s.startswith("//", j) or s.startswith("# ", j):
            end = s.find("\n", j)
            j = len(s) if end < 0 else end
        elif s.startswith("/*", j):
            end = s.find("*/", j + 2)
            j = len(s) if end < 0 else end + 2
        else:
            return j


def _ends_value(s: str, j: int) -> bool:
    """Say whether a scalar may end before offset ``j`` (a delimiter or comment follows)."""
    return j >= len(s) or s[j] in ",}]\n\"'`" or s.startswith(("//", "/*", "# "), j)


def _looks_like_member(s: str, k: int) -> bool:
    """Say whether what follows a comma at ``k`` starts the next member, not more string."""
    match = _KEY.match(s, k)
    if match is not None and match.group():
        rest = _WS.match(s, match.end()).end()  # type: ignore[union-attr]
        if rest >= len(s) or s[rest] == ":":
            return True
        if match.group() in LITERAL_WORDS and _ends_value(s, rest):
            return True  # an array item that is a literal: ["a", true], ["a", null]
    number = _NUMBER.match(s, k)
    if number is None:
        return False
    return _ends_value(s, _WS.match(s, number.end()).end())  # type: ignore[union-attr]


def _literal_name(value: Any) -> str:
    return "null" if value is None else str(value).lower()
