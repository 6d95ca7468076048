"""The lexical layer of the repairing parser: whitespace, comments, numbers, bare words.

:class:`Scanner` holds the position in the text and the repairs made;
:class:`promptkit.output.strings.StringScanner` adds quoted strings and
:class:`promptkit.output.repair.Reader` objects and arrays on top.

Numbers are read whole: ``82_461_110``, ``1e`` (read as 1), and in an object
``12,111`` (thousands, read as 12111) or ``12,50`` (kept as text for the
field's type to decide), never a prefix of themselves. A bare word is a
string up to a delimiter outside the brackets it opens, or up to the next
quoted key; ``abcdef",`` is a string whose opening quote is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from promptkit.output.actions import Action


class Marker:
    """A value position that holds no value: cut off by the end, empty, or a placeholder."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CUT = Marker("CUT")
MISSING = Marker("MISSING")
ELLIPSIS = Marker("ELLIPSIS")
NOT_PLAIN = Marker("NOT_PLAIN")
"""What the C scanner returns for a container that is not valid JSON as it is."""

LITERAL_WORDS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
    "TRUE": True,
    "FALSE": False,
    "NULL": None,
    "Null": None,
    "undefined": None,
    "NaN": None,
    "nan": None,
    "Infinity": None,
    "inf": None,
}
"""Bare words the repairer reads as values (Python's and JavaScript's literals among them)."""

CLOSING_QUOTES = {
    '"': '"',
    "'": "'",
    "`": "`\u00b4'",  # an acute accent (U+00B4) or an apostrophe may close a backtick string
    "\u201c": '\u201d\u201c"',
    "\u201d": '\u201d"',
    "\u2018": "\u2019'",
    "\u2019": "\u2019'",
}
"""Each quote a string may open with, and the quotes that may close it."""
QUOTES = "".join(CLOSING_QUOTES)
_QUOTE_OR_CLOSE = frozenset(QUOTES + "}")
_MEMBER_START = frozenset(QUOTES + "}],")
_VALUE_END = frozenset(QUOTES + ",}])\n")
AFTER_COMMA = frozenset(QUOTES + "{[}],\n")
"""What may follow the comma after a finished string (the next member or item)."""
_JSON_LITERALS = frozenset({"true", "false", "null"})
_SPACES = " \t\r\n\f\v\ufeff\u00a0\u1680\u202f\u205f\u3000" + "".join(
    map(chr, range(0x2000, 0x200B))
)
"""Whitespace between tokens: ASCII's, a BOM, Unicode's spaces (no-break, narrow, ideographic)."""
WS = re.compile(f"[{_SPACES}]*")
SKIPPED = frozenset(_SPACES + "/#")
NUMBER = re.compile(r"[-+]?(?:\d+(?:_\d+)*\.?(?:\d+(?:_\d+)*)?|\.\d+)(?:[eE](?:[-+]?\d+)?)?")
WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
CALL = re.compile(r'[A-Za-z_$][\w$.]*\(\s*("[^"\n]*"|-?\d+(?:\.\d+)?)\s*\)')
"""A call around one string or number: ``ObjectId("123")``, ``NumberLong(2)``."""
_KEY_CHAR = r"[^:\s{}\[\](),\"'`/\u201c\u201d\u2018\u2019]"
KEY = re.compile(f"{_KEY_CHAR}+(?:[ \\t]+{_KEY_CHAR}+)*")
NEXT_KEY = re.compile(
    "(?:\"(?:[^\"\\\\\n]|\\\\.){0,200}\"|'[^'\n]{0,200}'|\u201c[^\u201d\n]{0,200}\u201d)\\s*:"
)
_CLOSER = re.compile(r"[}\]]")
_GROUPS = re.compile(r"(?:,\d+)+(?:\.\d+)?")
_THOUSANDS = re.compile(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?(?=[ \t]*[}\]]|,[ \t\n\"])")
"""The common case: a JSON number before a closing bracket or before a comma and no digit."""


class Scanner:
    """Reads tokens from one text; one instance per call, no state between calls."""

    __slots__ = ("actions", "closers", "cut_ids", "i", "n", "opened_at", "s", "truncated")

    def __init__(self, text: str) -> None:
        self.s = text
        self.n = len(text)
        self.i = 0
        self.actions: list[Action] = []
        self.truncated = False
        self.cut_ids: set[int] = set()
        self.closers: list[str] = []
        """The closer each open container waits for, innermost last."""
        self.opened_at = 0
        """Where the string being read opened."""

    def note(self, message: str, before: Any = None, after: Any = None) -> None:
        self.actions.append(Action("repair", (), f"{message} at character {self.i}", before, after))

    def cut(self, container: object = None) -> Marker:
        self.truncated = True
        if container is not None:
            self.cut_ids.add(id(container))
        return CUT

    def skip(self) -> None:
        """Skip whitespace and comments."""
        s = self.s
        if self.i < self.n and s[self.i] not in SKIPPED:
            return  # the common case: a value or delimiter right here
        while True:
            self.i = WS.match(s, self.i).end()  # type: ignore[union-attr]
            if self.i >= self.n or s[self.i] not in "/#":
                return
            if s.startswith("//", self.i):
                end = self.line_comment_end()
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
                end = self.line_comment_end()
                self.note("removed a # comment", s[self.i : end], None)
                self.i = end
            else:
                return

    def line_comment_end(self) -> int:
        """The end of a ``//`` or ``# `` comment: its line, or on the last line its first closer.

        ``{"a": {"b": 1 // note }, "c": 2}`` written on one line: the comment
        would otherwise take the rest of the reply.
        """
        end = self.s.find("\n", self.i)
        if end >= 0:
            return end
        closer = _CLOSER.search(self.s, self.i)
        return self.n if closer is None else closer.start()

    # -- numbers and words ---------------------------------------------------------------

    def number(self) -> Any:
        s = self.s
        plain = PLAIN_NUMBER.match(s, self.i)
        if plain is not None:
            self.i = plain.end()
            return self.to_number(plain.group())
        match = NUMBER.match(s, self.i)
        if match is None:
            return self.word()
        end = match.end()
        if end >= self.n:
            self.i = self.n
            return self.cut()
        if s[end] == "," and self.closers and self.closers[-1] == "}":
            grouped = self.grouped_number(match.group(), end)
            if grouped is not None:
                return grouped
        follower = WS.match(s, end).end()  # type: ignore[union-attr]
        stray_quote = (
            follower < self.n
            and s[follower] == '"'
            and ends_value(s, skip_quietly(s, follower + 1))
        )
        if not stray_quote and not (
            ends_value(s, follower) or self.next_item_at(follower) or object_opens(s, follower)
        ):
            return self.word()  # "3/4 sleeve", "10yrs": an unquoted string, not a number
        token = match.group()
        digits = token.lstrip("+-")
        if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
            return self.word()  # "007": keep the zeros; coercion reads it as a number if asked
        self.i = follower + 1 if stray_quote else end
        if stray_quote:
            self.note("dropped a quote after a number", s[end : follower + 1], "")
        return self.to_number(token)

    def next_item_at(self, k: int) -> bool:
        """``[{"i": 1 {"i": 2}]``: the next object of a list starts here, this one unclosed."""
        closers = self.closers
        return (
            k < self.n
            and self.s[k] == "{"
            and len(closers) > 1
            and closers[-2:] in (["]", "}"], [")", "}"])
        )

    def to_number(self, token: str) -> int | float:
        clean = token.replace("_", "")
        if clean[-1] in "eE+-":
            clean = clean.rstrip("+-").rstrip("eE")
            self.note("dropped an exponent with no digits", token, clean)
        elif clean != token or token[0] == "+" or clean.lstrip("-")[0] == "." or clean[-1] == ".":
            self.note("wrote a number the JSON way", token, None)
        if "." in clean or "e" in clean or "E" in clean:
            return float(clean)
        return int(clean)

    def grouped_number(self, head: str, end: int) -> Any:
        """``12,111`` in an object: a number with thousands separators, or text for later."""
        s = self.s
        groups = _GROUPS.match(s, end)
        if groups is None or not head.lstrip("+-").isdigit():
            return None
        after = skip_quietly(s, groups.end())
        if after < self.n and s[after] == ":":
            return None  # {"a": 1, 2: "b"}: the digits are the next key
        if after < self.n and s[after] == ",":
            k = skip_quietly(s, after + 1)
            if k < self.n and not looks_like_member(s, k) and s[k] not in _QUOTE_OR_CLOSE:
                return None
        elif after < self.n and s[after] not in "}\n":
            return None
        text = s[self.i : groups.end()]
        self.i = groups.end()
        if _THOUSANDS.fullmatch(text):
            number = float(text.replace(",", "")) if "." in text else int(text.replace(",", ""))
            self.note("read a number written with thousands separators", text, number)
            return number
        self.note("kept a number written with a comma as text, for its field to read", text, text)
        return text

    def word(self) -> Any:
        s = self.s
        match = WORD.match(s, self.i)
        if match is not None:
            token = match.group()
            end = match.end()
            follower = WS.match(s, end).end()  # type: ignore[union-attr]
            if token in LITERAL_WORDS and ends_value(s, follower):
                self.i = end
                if token not in _JSON_LITERALS:
                    self.note(f"read {token} as {_literal_name(LITERAL_WORDS[token])}", token, None)
                return LITERAL_WORDS[token]
            call = CALL.match(s, self.i) if s.startswith("(", end) else None
            if call is not None and ends_value(s, skip_quietly(s, call.end())):
                # ObjectId("123"), NumberLong(2): the value they wrap (not sqrt(4) = 2)
                self.note(f"read the value inside {token}(...)", call.group(), None)
                self.i = call.end()
                inner = call.group(1)
                try:
                    return json.loads(inner)
                except ValueError:  # an invalid escape, a leading zero: the text as written
                    return inner.strip('"')
        if s.startswith(("...", "\u2026"), self.i):
            end = self.i + (3 if s[self.i] == "." else 1)
            if ends_value(s, skip_quietly(s, end)):
                self.note("dropped an ellipsis", s[self.i : end], None)
                self.i = end
                return ELLIPSIS
        quoted = self.opening_quote_missing()
        if quoted is not None:
            return quoted
        return self.bare_text()

    def opening_quote_missing(self) -> str | None:
        """``abcdef",`` or ``ipsum, sic, datum.",``: a string whose opening quote is missing."""
        s = self.s
        line_end = s.find("\n", self.i)
        line_end = self.n if line_end < 0 else line_end
        quote = s.find('"', self.i, line_end)
        if quote < 0 or ":" in s[self.i : quote]:
            return None
        after = skip_quietly(s, quote + 1)
        if after < self.n and s[after] not in ",}]":
            return None
        if after >= self.n and _cut_key(s, quote) and s[self.i : quote].rstrip().endswith(","):
            return None  # ``no, "`` at the end: a value, then the next key cut off
        text = s[self.i : quote].strip()
        self.note("added a missing opening quote", s[self.i : quote + 1], text)
        self.i = quote + 1
        return text

    def bare_text(self) -> Any:
        """An unquoted string: up to a delimiter outside brackets it opens, or the next key."""
        s = self.s
        i = self.i
        depth = 0
        closer = self.closers[-1] if self.closers else ""
        while i < self.n:
            char = s[i]
            if char in "\n\r" or (char == "," and depth == 0):
                # In an object, text runs on past a comma or a line break that no
                # member follows (a paragraph written as an unquoted value).
                if closer != "}" or _member_follows(s, skip_quietly(s, i + 1)):
                    break
            elif char in "{[(":
                depth += 1
            elif char in "}])":
                if depth == 0 and (char != ")" or closer == ")"):
                    break
                depth = max(0, depth - 1)
            elif _ends_bare(s, i):
                break
            i += 1
        if i >= self.n:
            self.i = self.n
            return self.cut()
        text = s[self.i : i].strip()
        if not text:
            return MISSING
        self.i = i
        self.note("quoted an unquoted string", text, f'"{text}"')
        return text


def _cut_key(s: str, j: int) -> bool:
    """Say whether the text from ``j`` is the start of a key the end of the text cut off."""
    if j >= len(s):
        return True
    rest = s[j + 1 :]
    return s[j] in QUOTES and ":" not in rest and not any(quote in rest for quote in QUOTES)


def _ends_bare(s: str, i: int) -> bool:
    """Say whether a bare word ends at ``i``: the next quoted key, or a comment."""
    return (s[i] in QUOTES and NEXT_KEY.match(s, i) is not None) or s.startswith("//", i)


def _member_follows(s: str, k: int) -> bool:
    """Say whether the next member of an object, or its end, starts at ``k``."""
    if k >= len(s) or s[k] in _MEMBER_START:
        return True
    match = KEY.match(s, k)
    if match is None or not match.group():
        return False
    after = skip_quietly(s, match.end())
    return after >= len(s) or s[after] == ":" or NEXT_KEY.match(s, after) is not None


def skip_quietly(s: str, j: int) -> int:
    """Return the offset after whitespace and comments from ``j``, without reporting."""
    while True:
        j = WS.match(s, j).end()  # type: ignore[union-attr]
        if s.startswith("//", j) or s.startswith("# ", j):
            end = s.find("\n", j)
            j = len(s) if end < 0 else end
        elif s.startswith("/*", j):
            end = s.find("*/", j + 2)
            j = len(s) if end < 0 else end + 2
        else:
            return j


def object_opens(s: str, k: int) -> bool:
    """``{"b": 2}`` at ``k``: an object with a quoted key opens, after a value with no comma."""
    return s.startswith("{", k) and NEXT_KEY.match(s, skip_quietly(s, k + 1)) is not None


def ends_value(s: str, j: int) -> bool:
    """Say whether a scalar may end before offset ``j`` (a delimiter or comment follows)."""
    return j >= len(s) or s[j] in _VALUE_END or s.startswith(("//", "/*", "# "), j)


def looks_like_member(s: str, k: int) -> bool:
    """Say whether what follows a comma at ``k`` starts the next member, not more string."""
    match = KEY.match(s, k)
    if match is not None and match.group():
        rest = WS.match(s, match.end()).end()  # type: ignore[union-attr]
        if rest >= len(s) or s[rest] == ":" or NEXT_KEY.match(s, rest):
            return True  # a key, or stray words before one
        if match.group() in LITERAL_WORDS and ends_value(s, rest):
            return True  # an array item that is a literal: ["a", true], ["a", null]
    number = NUMBER.match(s, k)
    if number is None:
        return False
    return ends_value(s, WS.match(s, number.end()).end())  # type: ignore[union-attr]


def _literal_name(value: Any) -> str:
    return "null" if value is None else str(value).lower()


def nesting_depth(value: Any) -> int:
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


_DELIMITER = re.compile(r'\\.|["{}\[\]()]', re.S)
OPENERS = {"}": "{", "]": "[", ")": "("}
"""Each closing bracket and the bracket it closes."""


def _brackets(text: str, at: int) -> Iterator[re.Match[str]]:
    """The brackets of ``text`` from ``at`` on, outside double quotes (escapes skipped)."""
    in_string = False
    for match in _DELIMITER.finditer(text, at):
        char = match.group()
        if char == '"':
            in_string = not in_string
        elif not in_string and len(char) == 1:
            yield match


def value_end(text: str, at: int, open_count: int) -> int:
    """Where the containers open at ``at`` close: counted by brackets, outside double quotes.

    Linear, and only an estimate (a repaired reply may not balance): what
    never closes ends at the end of the text.
    """
    for match in _brackets(text, at):
        open_count += 1 if match.group() in "{[(" else -1
        if open_count == 0:
            return match.end()
    return len(text)


def embedded_end(text: str, at: int) -> int:
    """Where the JSON opening at ``at`` (``{`` or ``[``) ends, if it is valid JSON; else -1.

    Its end is after the closer that matches the opener, brackets counted
    outside double quotes; what is no valid JSON there (a closer of the
    wrong kind first, ``[1, 2", "b": "x]``, the end of the text) is text
    with brackets in it.
    """
    stack: list[str] = []
    for match in _brackets(text, at):
        char = match.group()
        if char in "{[":
            stack.append(char)
        elif char in "()" or not stack or stack.pop() != OPENERS[char]:
            return -1
        elif not stack:
            try:
                json.loads(text[at : match.end()])
            except ValueError:
                return -1
            return match.end()
    return -1
