"""Quoted strings in JSON-like text: where a string ends, whatever quotes it uses.

- A quote closes its string when what follows it can follow a value (a
  delimiter, a comment, a newline, another string); else it is an inner
  quote (``"the "best" shirt"``). In a list, ``"a" b]`` closes before the
  bare item, and ``["value1" value2", ...]`` (three quotes up to the comma)
  before an item that lost its opening quote.
- A string that runs into the next member (``"New York, "gender": ...``)
  ends before that member's comma: its closing quote was missing.
- A string that reaches the end of the text ends where the structure shows
  it ends (``{"key": "value}``: at the closing bracket); with nothing to
  close it, it was cut off (truncation) and is dropped, never completed.
- Smart quotes, single quotes, backticks, doubled quotes (``""key""``),
  triple quotes and fenced blocks delimit strings too; a fenced or
  triple-quoted block is dedented. A block value ends at the first fence
  that what can follow a value follows, so it may hold fences of its own
  (``'''print('''Hi''')'''``).
"""

from __future__ import annotations

import re
import textwrap
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

from promptkit.output.scanner import (
    AFTER_COMMA,
    CLOSING_QUOTES,
    KEY,
    NEXT_KEY,
    OPENERS,
    PLAIN_NUMBER,
    QUOTES,
    SKIPPED,
    WS,
    Scanner,
    embedded_end,
    ends_value,
    looks_like_member,
    object_opens,
    skip_quietly,
)

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_AFTER_STRUCTURE = re.compile(r"[\s}\]),]*(?:`{3,}[\s\S]*)?")
_SURROGATE = re.compile("[\ud800-\udfff]")
_LOOKAHEAD = 200
_BARE_END = frozenset(QUOTES + ",]}\n")
_BRACKET = re.compile(r"[{\[]")
_BACKSLASHED = re.compile(r"\\.", re.S)
_EMBEDDED = re.compile(
    r"""\{\s*(?:"[^"\n]{0,200}"|'[^'\n]{0,200}')\s*:"""  # an object's first key
    r"""|\[\s*(?:"[^"\n]{0,200}"|-?\d+(?:\.\d+)?)\s*[,\]]"""  # a list's first item
)
# The common case, read by one regex: a double-quoted string with no escape, no control
# character and no surrogate, which its quote closes as closes() would decide: a key
# before its colon; a value before a closing bracket, or before a comma and what
# follows a finished value (AFTER_COMMA).
_PLAIN_STRING = r'"([^"\\\x00-\x1f\ud800-\udfff]*)"'
_PLAIN_KEY = re.compile(_PLAIN_STRING + r"[ \t]*:")
_NEXT_MEMBER = "[" + re.escape("".join(sorted(AFTER_COMMA))) + "]"
_PLAIN_VALUE = re.compile(
    r'"(?!```)' + _PLAIN_STRING[1:] + r"(?=[ \t]*(?:[}\]]|, ?" + _NEXT_MEMBER + "))"
)
# A whole member in the common case, read by one regex: a plain key and its colon, then a
# plain string, a plain number or a JSON literal before what the token regexes allow.
_PLAIN_MEMBER = re.compile(
    _PLAIN_KEY.pattern
    + r"[ \t\r\n]*(?:"
    + _PLAIN_VALUE.pattern
    + f"|({PLAIN_NUMBER.pattern})"
    + r"|(true|false|null)(?=[ \t]*[,}\]]))"
)
_JSON_LITERALS = {"true": True, "false": False, "null": None}
# A fence that ends a block value: before a delimiter, the end of the text or a
# quoted key, or before a line that starts with a key.
_BLOCK_END = {
    quote: re.compile(
        re.escape(quote * 3)
        + rf"(?=\s*(?:[,}}\]]|\Z|{NEXT_KEY.pattern})|[ \t]*\r?\n\s*{KEY.pattern}\s*:)"
    )
    for quote in "\"'`"
}


class StringScanner(Scanner):
    """A scanner that reads quoted strings."""

    __slots__ = ("block_ends", "embedded_ends")

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.block_ends: dict[str, tuple[int, int]] = {}
        """Per quote, the last search for a fence that ends a block: from where, and where
        found (-1: none)."""
        self.embedded_ends: dict[int, int] = {}
        """Where the JSON a string holds ends, by where it opens (-1: it never closes)."""

    def plain_member(self) -> tuple[str, Any] | None:
        """Read a ``key: value`` member here in one step if both are plain JSON, else ``None``.

        What the member-by-member reading gives for it, with nothing to report,
        many times faster: most members of a reply in need of repair are fine.
        """
        match = _PLAIN_MEMBER.match(self.s, self.i)
        if match is None:
            return None
        key, text, number, literal = match.groups()
        self.i = match.end()
        if text is not None:
            return key, text
        if number is not None:
            return key, self.to_number(number)
        return key, _JSON_LITERALS[literal]

    def quote_run(self, quote: str, key: bool) -> Any:
        '''Four quotes or more that hold nothing: an empty value, or stray before a key.

        ``{"key": """"}`` is an empty value; in ``{"a": 1, """" "b": 2}`` the run
        is stray, and the key after it is read. Else ``None`` (a block of text).
        '''
        s = self.s
        end = self.i
        while end < self.n and s[end] == quote:
            end += 1
        after = skip_quietly(s, end)
        if not key and ends_value(s, after) and not s.startswith(quote, after):
            self.note("read a run of quotes as an empty string", s[self.i : end], "")
            self.i = end
            return ""
        if NEXT_KEY.match(s, after):
            self.note("dropped a run of quotes before a key", s[self.i : end], "")
            self.i = after
            return self.string(key=key)
        return None

    def string(self, *, key: bool) -> Any:
        s = self.s
        quote = s[self.i]
        plain = (_PLAIN_KEY if key else _PLAIN_VALUE).match(s, self.i)
        if plain is not None:
            self.i = plain.end(1) + 1
            return plain.group(1)
        self.opened_at = self.i
        doubled = False
        read = self.json_string(key) if quote == '"' else None
        if read is not None and read[0] and not read[0].startswith("```"):
            self.i = read[1]
            return read[0]  # the common case; "" may open a triple quote, "```" a code block
        if s.startswith(quote * 4, self.i):
            run = self.quote_run(quote, key)
            if run is not None:
                return run
        if quote in "\"'`" and s.startswith(quote * 3, self.i):
            return self.block(quote, key)
        if not key and s.startswith('"```', self.i):
            fenced = self.fenced_in_quotes()
            if fenced is not None:
                return fenced
        if read is not None:
            self.i = read[1]
            return read[0]
        if quote in "\"'" and s.startswith(quote * 2, self.i):
            after = s[self.i + 2 : self.i + 3]
            if after and after not in ",:}] \t\r\n" + quote:
                self.note("read doubled quotes as one", quote * 2, quote)
                self.i += 1
                doubled = True
        return self.slow_string(quote, key, doubled=doubled)

    def json_string(self, key: bool) -> tuple[str, int] | None:
        """A double-quoted string read by the C scanner, with its end, if its quote closes it."""
        try:
            text, end = scanstring(self.s, self.i + 1, True)
        except ValueError:
            return None  # unterminated, a raw control character, a bad escape
        if self.closes(end - 1, '"', key) and (text.isascii() or not _SURROGATE.search(text)):
            return text, end
        return None

    def fenced_in_quotes(self) -> str | None:
        """``"```json {"a": 1}```"``: a quoted code block, read to its closing fence and quote.

        Where its quotes are escaped (``\\"``) and its only other escape is
        ``\\\\``, those are read; else it is taken as written (``\\frac`` or
        ``C:\\new`` in it is text, whatever JSON would make of ``\\f``).
        """
        s = self.s
        end = s.find("```", self.i + 4)
        if end < 0 or not s.startswith('"', end + 3):
            return None
        text = s[self.i + 1 : end + 3]
        escapes = _BACKSLASHED.findall(text)
        if '\\"' in escapes and set(escapes) <= {'\\"', "\\\\"}:
            text = _BACKSLASHED.sub(lambda escape: escape.group()[1], text)
        self.note("read a quoted code block whole", s[self.i : end + 4], text)
        self.i = end + 4
        return text

    def block(self, quote: str, key: bool) -> Any:
        """A triple-quoted string or a fenced block: its text, dedented."""
        s = self.s
        fence = quote * 3
        end = s.find(fence, self.i + 3)
        if end < 0:
            self.i = self.n
            return self.cut()
        if not key:
            end = self.block_end(quote, end)
        text = s[self.i + 3 : end]
        if quote == "`":
            first, newline, rest = text.partition("\n")
            text = rest if newline else first  # a fence's first line names the language
        elif text.startswith("\n"):
            text = text[1:]
        lines = text.split("\n")
        if len(lines) > 1 and not lines[-1].strip():
            lines.pop()
        text = textwrap.dedent("\n".join(lines))
        self.note("read a triple-quoted or fenced string", s[self.i : end + 3], text)
        self.i = end + 3
        return text

    def block_end(self, quote: str, first: int) -> int:
        """Where a block value ends: at the first fence that what can follow a value follows.

        ``'''print('''Hi''')'''``: the inner fences are followed by text, the
        last one by the end of the member. When no fence is, the first one
        (at ``first``) ends the block. A search serves every block that starts
        before the fence it found, so the work stays linear in the text.
        """
        searched, found = self.block_ends.get(quote, (self.n, -1))
        if first < searched or 0 <= found < first:
            match = _BLOCK_END[quote].search(self.s, first)
            searched, found = first, -1 if match is None else match.start()
            self.block_ends[quote] = searched, found
        return first if found < 0 else found

    def slow_string(self, quote: str, key: bool, *, doubled: bool = False) -> Any:
        """Read a string char by char, repairing quotes, escapes and raw newlines."""
        s = self.s
        start = self.i
        closing = CLOSING_QUOTES[quote]
        i = self.i + 1
        parts: list[str] = []
        plain = re.compile("[^\\\\" + re.escape(closing) + r"\n\r\t\x00-\x1f]*")
        noted_inner = noted_control = False
        while True:
            m = plain.match(s, i)
            assert m is not None
            parts.append(m.group())
            i = m.end()
            if i >= self.n:
                return self.unterminated(start, key)
            char = s[i]
            if char in closing:
                if doubled and s.startswith(char, i + 1):
                    i += 1  # ""key"": the closing quote is doubled too
                    break
                if self.closes(i, quote, key):
                    break
                early = None if key else self.missing_close(start, i)
                if early is not None:
                    return self.close_at(start, early)
                parts.append(char)
                noted_inner = True
                i += 1
            elif char == "\\":
                if i + 1 >= self.n:
                    return self.unterminated(start, key)
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

    def missing_close(self, start: int, at: int) -> int | None:
        """Where a string ends whose closing quote is missing before the next member, if so.

        ``"New York, "gender": "male"``: the quote at ``at`` opens the next key,
        so the string ended at the comma (or line break) before it. In a list,
        a quote after a comma and a line break opens the next item
        (``["abc,\n"def"]``).
        """
        before = self.s[start + 1 : at].rstrip(" \t")
        if not before.endswith((",", "\n")) or self.in_embedded_json(at):
            return None
        kept = before.rstrip(" \t\r\n")
        next_item = before.endswith("\n") and kept.endswith(",") and self.closers[-1:] == ["]"]
        if not next_item and NEXT_KEY.match(self.s, at) is None:
            return None
        if kept.endswith(","):
            return start + len(kept)  # the comma, read next as the separator
        return start + 1 + len(kept)

    def unterminated(self, start: int, key: bool) -> Any:
        """A string that reached the end of the text: close it where the structure ends, or cut."""
        s = self.s
        content_end = self._structure_end(start)
        if content_end is None:
            self.i = self.n
            return self.cut()
        text = s[start + 1 : content_end]
        if key and ":" in text:
            content_end = start + 1 + text.index(":")
        return self.close_at(start, content_end)

    def close_at(self, start: int, end: int) -> str:
        """End a string at ``end`` (its closing quote was missing); read its escapes."""
        raw = self.s[start + 1 : end]
        parts: list[str] = []
        i = 0
        while i < len(raw):
            if raw[i] == "\\" and i + 1 < len(raw):
                i = self._escape_in(raw, i, parts)
            else:
                parts.append(raw[i])
                i += 1
        text = "".join(parts).rstrip()
        self.i = end
        self.note("closed a string whose closing quote is missing", raw, text)
        return text

    def _escape_in(self, raw: str, i: int, parts: list[str]) -> int:
        saved, self.s = self.s, raw
        try:
            return self.escape(i, parts)
        finally:
            self.s = saved

    def _structure_end(self, start: int) -> int | None:
        """The first closer of an open container after ``start``, then only closers or a fence."""
        s = self.s
        open_inside = {"{": 0, "[": 0, "(": 0}
        for i in range(start + 1, self.n):
            char = s[i]
            if char in open_inside:
                open_inside[char] += 1
            elif char in OPENERS:
                opener = OPENERS[char]
                if open_inside[opener] > 0:
                    open_inside[opener] -= 1
                elif char in self.closers and _AFTER_STRUCTURE.fullmatch(s, i):
                    return i  # it closes a container the string is in
        return None

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
        if not key and self.in_embedded_json(at):
            return False
        j = at + 1
        if j < self.n and s[j] in SKIPPED:
            j = WS.match(s, j).end()  # type: ignore[union-attr]
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
        if char in ",}]):" or (char == "/" and s.startswith(("//", "/*"), j)):
            if char != ",":
                if char not in "}])" or (self.closers and self.closers[-1] == char):
                    return True  # "value"] in a list, "value" // a comment
                # a closer of no container open here: by the quotes, an inner one ("[a "b"] c")
                return char != ")" and self._even(at)
            k = j + 2 if s.startswith(", ", j) else j + 1
            if k < self.n and s[k] in AFTER_COMMA:
                return True  # the common case: "value", "next"
            k = skip_quietly(s, k)
            if k >= self.n or s[k] in AFTER_COMMA or looks_like_member(s, k):
                return True
            return self._even(at)  # ["", AA]: closes; "he said "no", then": an inner quote
        if char == "+" and (k := skip_quietly(s, j + 1)) < self.n and s[k] in QUOTES:
            return True  # "hello" + " world": joined by the reader
        if s.startswith("```", j):
            return True  # the code fence around the JSON closes
        if object_opens(s, j):
            return self._even(at)  # "x" {"b": 2}: an object follows; "a "x" {"b": 1}": inner
        if char in QUOTES:
            # "bye"" then a delimiter: this quote is inner, the next one closes
            return j > at + 1 or not ends_value(s, skip_quietly(s, j + 1))
        if "\n" in s[at + 1 : j]:
            return True
        return j > at + 1 and self._before_bare(j, at)

    def in_embedded_json(self, at: int) -> bool:
        """``"see {"a": 1} ok"``: the quote at ``at`` is inside JSON the string holds, unescaped.

        In a double-quoted string, the first ``{`` with a quoted key after it,
        or ``[`` with a whole first item after it, opens that JSON if its
        brackets close, each by its own kind, as valid JSON with a quote after it
        to close the string (``"[0, 1)"`` or ``"see [1, 2"`` holds none).
        """
        s = self.s
        if s[self.opened_at] != '"':
            return False
        for bracket in _BRACKET.finditer(s, self.opened_at + 1, at):
            start = bracket.start()
            if _EMBEDDED.match(s, start):
                end = self.embedded_ends.get(start)
                if end is None:
                    end = embedded_end(s, start)
                    if end >= 0 and s.find('"', end) < 0:
                        end = -1  # no quote after it to close the string: the reply's own brace
                    self.embedded_ends[start] = end
                return at < end
        return False

    def _before_bare(self, j: int, at: int) -> bool:
        """After ``"x" ``: does bare text follow a finished string, or more of this one?

        Counted from the opening quote: an even number of quotes up to here
        with only bare text before the delimiter means the string is done
        (``{"b": "xxxxx" true}``, ``["a" b]``, ``{"a": "data" AAAA}``); an odd
        one, an inner quote (``"lorem ... "sic " tamet.}``). In a list, one
        bare word and a quote before the comma (``["value1" value2", ...]``)
        is the next item, which lost its opening quote.
        """
        s = self.s
        closer = self.closers[-1] if self.closers else ""
        end = j
        while end < self.n and s[end] not in _BARE_END:
            end += 1
        quotes_after = 0
        if end < self.n and s[end] == s[at]:
            quotes_after, end = 1, end + 1
        k = skip_quietly(s, end)
        if k < self.n and s[k] not in ",]}":
            return False
        if quotes_after == 0:
            return self._even(at)
        one_word = " " not in s[j : end - 1].strip()
        return closer == "]" and one_word and self._even(at)

    def _even(self, at: int) -> bool:
        """Say whether the quotes from the string's opening to ``at`` (unescaped) are even."""
        s, quote = self.s, self.s[at]
        count = s.count(quote, self.opened_at, at + 1) - s.count("\\" + quote, self.opened_at, at)
        return count % 2 == 0
