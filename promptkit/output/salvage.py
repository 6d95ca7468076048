"""Salvage: the structure a model's JSON gets wrong, repaired by the reader.

The repairs of :mod:`promptkit.output.repair`'s reader that go beyond
commas, colons and quotes: a closer of the wrong kind or one too many, an
object that lost its opening brace (``["key": "v"}]``), members written
after the object closed, values with no key, Python sets, strings joined
with ``+`` (``"hello" + " world"``) and a code fence that ends the JSON.
Each is reported like any repair.
"""

from __future__ import annotations

import re
from typing import Any

from promptkit.output.scanner import CUT, KEY, MISSING, NEXT_KEY, QUOTES, skip_quietly
from promptkit.output.strings import StringScanner

_MEMBER = re.compile(r"\"[^\"\n]{0,200}\"\s*(?::|\")")
_NAMES = {"}": "object", "]": "list", ")": "tuple"}


class Salvage(StringScanner):
    """The structural repairs of the reader (:class:`promptkit.output.repair.Reader`)."""

    __slots__ = ()

    # The reading these repairs go back to, defined by the reader.

    def value(self) -> Any:
        """Read the value at the current offset."""
        raise NotImplementedError

    def members(self, result: dict[str, Any]) -> bool:
        """Read an object's members into ``result``; True when an outer closer closed it."""
        raise NotImplementedError

    def items(self, result: list[Any], closer: str) -> None:
        """Read a list's items into ``result`` up to ``closer``."""
        raise NotImplementedError

    def separator(self, closer: str, container: object) -> bool:
        """Consume what follows a member; False when the container ended."""
        raise NotImplementedError

    # -- the repairs ------------------------------------------------------------------

    def joined(self, text: str) -> Any:
        """``"hello" + " world"``: strings joined with ``+`` (in code), as one."""
        s = self.s
        while True:
            plus = skip_quietly(s, self.i)
            start = skip_quietly(s, plus + 1) if plus < self.n and s[plus] == "+" else self.n
            if start >= self.n or s[start] not in QUOTES:
                return text
            self.i = start
            more = self.string(key=False)
            if not isinstance(more, str):
                return more  # cut off: the whole value is
            self.note("joined strings written with +", s[plus:start], None)
            text += more

    def keyless(self, result: dict[str, Any]) -> bool:
        """A value with no key: a list after a list member extends it, an object's members join
        the object around it (those whose key is taken are dropped); anything else is dropped."""
        dropped = self.value()  # read it (depth-checked) to skip it whole
        if dropped is CUT:
            self.cut(result)
            return False
        last = next(reversed(result.values()), None) if result else None
        if isinstance(dropped, list) and isinstance(last, list):
            self.note("added a list with no key to the list before it", dropped, None)
            last.extend(dropped)
        elif isinstance(dropped, dict) and dropped.keys() - result.keys():
            self.note("added the members of an object with no key to the one around it", dropped)
            for key in dropped.keys() & result.keys():
                self.note(f"dropped {key!r} of the object with no key, a key already taken", key)
            result.update({k: v for k, v in dropped.items() if k not in result})
        else:
            self.note("dropped a value that has no key", dropped, None)
        return self.separator("}", result)

    def set_items(self) -> list[Any] | None:
        """``{"a", "b"}``, ``{1, 2}``, ``{"a"}`` (Python sets): their items as a list, or None."""
        s = self.s
        start, noted = self.i, len(self.actions)
        self.skip()
        first_char = s[self.i] if self.i < self.n else ""
        if not (first_char in QUOTES or first_char.isdigit()) or NEXT_KEY.match(s, self.i):
            self.i = start
            return None
        first = self.value()
        after = skip_quietly(s, self.i)
        follower = s[after] if first is not CUT and first is not MISSING and after < self.n else ""
        # {"a"}: a set of one (read as it stands), not a key with no value
        alone = follower == "}" and len(self.actions) == noted
        is_set = alone or (follower == "," and not self._key_at(skip_quietly(s, after + 1)))
        if not is_set:
            self.i = start
            del self.actions[noted:]
            return None
        self.note("read a set as a list", "{", "[")
        items = [first]
        self.i = after + (follower == ",")
        self.items(items, "}")
        return items

    def members_after(self, result: dict[str, Any]) -> None:
        """``{"a": 1}, "b": 2}``: members written after the object closed join it."""
        s = self.s
        if s.find(",", self.i) < 0:
            return
        k = skip_quietly(s, self.i)
        if k >= self.n or s[k] != ",":
            return
        following = skip_quietly(s, k + 1)
        if _MEMBER.match(s, following) is None:
            return
        self.note("joined members written after the object closed", s[k:following], None)
        self.i = following
        self.closers.append("}")
        self.members(result)
        self.closers.pop()

    def colon_follows(self) -> bool:
        k = skip_quietly(self.s, self.i)
        return k < self.n and self.s[k] == ":"

    def object_from_key(self, key: str) -> Any:
        """``["key": "value"}]``: an object that lost its opening brace."""
        self.note("added a missing { before a key", key, None)
        self.i = skip_quietly(self.s, self.i) + 1
        result: dict[str, Any] = {}
        self.closers.append("}")
        try:
            item = self.value()
            if item is CUT:
                self.cut(result)
                return result
            if item is not MISSING:
                result[key] = item
            if self.separator("}", result):
                self.members(result)
        finally:
            self.closers.pop()
        return result

    def fence_ends(self) -> bool:
        """A code fence after a member ends the JSON: what is open is closed there."""
        if not self.s.startswith("```", self.i):
            return False
        self.note(f"closed a {_NAMES[self.closers[-1]]} at the end of its code block", "", None)
        return True

    def wrong_closer(self, char: str) -> bool:
        """A closer of the wrong kind: close this container, or skip it; True when closed.

        A ``}`` ends a list when the next member of the object around it
        follows (``{"a": [1, 2}, "b": 3}``); the closer of an enclosing
        container closes this one, left open (``{"a": [1, 2}``); one that
        closes nothing open is one too many when more follows
        (``[{"a": 1}}, {"a": 2}]``), and else closes this one (``[1, 2}``).
        """
        own = self.closers[-1]
        enclosing = char in self.closers[:-1]
        following = skip_quietly(self.s, self.i + 1)
        if following < self.n and self.s[following] == ",":
            if own != "}" and self._key_at(skip_quietly(self.s, following + 1)):
                self.note(f"replaced {char} with {own}", char, own)
                self.i += 1
                return True
            if not enclosing:
                self.note(f"dropped a stray {char}", char, "")
                self.i += 1
                return False
        if enclosing:
            self.note(f"closed a {_NAMES[own]} left open", "", own)
            return True
        self.note(f"replaced {char} with {own}", char, own)
        self.i += 1
        return True

    def _key_at(self, k: int) -> bool:
        """Say whether a key and its colon start at ``k`` (quoted or not)."""
        s = self.s
        if k >= self.n:
            return False
        if s[k] in QUOTES:
            return NEXT_KEY.match(s, k) is not None
        match = KEY.match(s, k)
        if match is None or not match.group():
            return False
        after = skip_quietly(s, match.end())
        return after < self.n and s[after] == ":"
