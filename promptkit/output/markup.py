"""Read a reply written as XML or as TOON, not JSON, into a JSON-like value.

Some models answer in the markup their prompt or their training favours:
XML elements (``<Person><name>Ada</name>...</Person>``) or TOON, the
Token-Oriented Object Notation (``name: Ada``, ``tags[2]: math,code``,
``people[2]{name,age}:`` over indented rows). :func:`read_markup` turns such
a reply into the value the coercion (:mod:`promptkit.output.coerce`) finishes,
as :func:`promptkit.output.extract.extract_object` does for JSON.

XML is read by a small tolerant tokenizer (the stdlib parsers refuse what
models write): prose around the elements, declarations and comments are
skipped, entities decoded, CDATA kept, a stray close tag ignored and elements
left open closed. XML has no types, so the shape guides the reading: which
element is the object, which children are an array's items or a map's
entries. Leaves stay strings for the coercion to type (``"12345"``, ``"null"``).

TOON types its own scalars (``42``, ``3.5``, ``true``, ``null``,
``"quoted"``). It is read only when a line names a field of the shape and no
line opens a JSON container, so prose is never read as TOON.
"""

from __future__ import annotations

import functools
import html
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from promptkit.output import extract
from promptkit.output.actions import Action
from promptkit.output.enums import unaccented
from promptkit.output.fit import key_spelling
from promptkit.schema import FieldSpec, Shape

if TYPE_CHECKING:
    from promptkit.output.extract import Extracted

MAX_DEPTH = 100
"""How deep markup may nest; a reply nested deeper is not read as markup."""

_MARKUP = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<!\[CDATA\[(?P<cdata>.*?)(?:\]\]>|\Z)"
    r"|<[?!][^>]*>?"  # an <?xml ...?> declaration, a <!DOCTYPE ...>
    r"|<(?P<close>/)?(?P<name>[^\W\d][\w.:-]*)"
    r"(?P<attributes>(?:[^<>\"']|\"[^\"]*\"|'[^']*')*?)(?P<empty>/)?>",
    re.S,
)
_ATTRIBUTE = re.compile(r"([^\W\d][\w.:-]*)\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+))")
_JSON_OPEN = re.compile(r"[{\[]")
_SCALAR_KINDS = frozenset({"string", "integer", "number", "boolean", "enum"})
_ANY = Shape("any")

_HEADER = re.compile(
    r"(?P<key>\"(?:[^\"\\]|\\.)*\"|[^\W\d][\w.-]*)?"
    r"(?:\[(?P<length>\d+)(?P<delimiter>[|\t]?)\])?"
    r"(?:\{(?P<fields>[^}]*)\})?"
    r":\s*(?P<rest>.*)"
)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TOON_WORDS = {"true": True, "false": False, "null": None}


def read_markup(text: str, shape: Shape) -> Extracted | None:
    """Read ``text`` as XML or as TOON for ``shape``; ``None`` when it is neither.

    When both could be read, the one that starts on an earlier line wins
    (XML on a tie). For an object of several fields, XML counts only when an
    element's children name its fields; a one-field object takes any element.
    """
    xml = _read_xml(text, shape)
    toon = _read_toon(text, shape)
    if xml is None or toon is None:
        found = xml or toon
        return found[1] if found else None
    return xml[1] if xml[0] <= toon[0] else toon[1]


def _spelling(name: str) -> str:
    return unaccented(key_spelling(name))


@functools.lru_cache(maxsize=256)
def _fields(shape: Shape) -> dict[str, FieldSpec]:
    """An object's fields by the loose spelling of each of their names."""
    return {_spelling(name): spec for spec in reversed(shape.fields) for name in spec.names}


def _extracted(text: str, value: Any, notation: str, notes: list[str]) -> Extracted:
    message = f"read the reply as {notation}" + "".join(f"; {note}" for note in notes)
    # Through the module: extract imports this one, so Extracted may not exist yet at import.
    return extract.Extracted(value, (Action("extract", (), message, text, value),), False)


# XML


@dataclass(eq=False)
class _Element:
    """An element as the tokenizer builds it (mutable until the text is read)."""

    name: str
    attributes: dict[str, str]
    parts: list[str | _Element] = field(default_factory=list)

    @property
    def children(self) -> list[_Element]:
        return [part for part in self.parts if isinstance(part, _Element)]

    @property
    def text(self) -> str:
        """The text directly inside, stripped."""
        return "".join(part for part in self.parts if isinstance(part, str)).strip()

    def all_text(self) -> str:
        return "".join(p if isinstance(p, str) else p.all_text() for p in self.parts)


@dataclass(frozen=True, slots=True)
class _Document:
    roots: list[_Element]
    line: int
    """The line the first element starts on."""
    left_open: int
    """How many elements had no matching close tag."""


def _read_xml(text: str, shape: Shape) -> tuple[int, Extracted] | None:
    document = _document(text)
    if document is None:
        return None
    if shape.kind == "object":
        value = _object_value(document.roots, shape)
        if value is None:
            return None
    else:
        value = _read(document.roots[0], shape)
    notes = []
    if document.left_open:
        notes.append(f"closed {document.left_open} element(s) the reply left open")
    return document.line, _extracted(text, value, "XML", notes)


def _document(text: str) -> _Document | None:
    """Tokenize the elements of ``text``; ``None`` if it holds none or nests too deep."""
    roots: list[_Element] = []
    stack: list[_Element] = []
    start = position = left_open = 0
    for match in _MARKUP.finditer(text):
        if stack:
            stack[-1].parts.append(html.unescape(text[position : match.start()]))
        position = match.end()
        name = match.group("name")
        if match.group("cdata") is not None and stack:
            stack[-1].parts.append(match.group("cdata"))
        if name is None:
            continue
        name = name.rpartition(":")[2]  # the local name, without a namespace prefix
        if match.group("close"):
            open_names = [element.name.casefold() for element in stack]
            if name.casefold() in open_names:  # any other close tag is stray: ignored
                depth = len(open_names) - open_names[::-1].index(name.casefold()) - 1
                left_open += len(stack) - depth - 1
                _close(stack, depth)
            continue
        if not roots:
            start = match.start()
        element = _Element(name, _attributes(match.group("attributes")))
        (stack[-1].parts if stack else roots).append(element)
        if not match.group("empty"):
            stack.append(element)
            if len(stack) > MAX_DEPTH:
                return None
    if stack:
        stack[-1].parts.append(html.unescape(text[position:]))
        left_open += len(stack)
        _close(stack, 0)
    if not roots or _JSON_OPEN.search(text, 0, start):
        return None
    return _Document(roots, text.count("\n", 0, start), left_open)


def _close(stack: list[_Element], depth: int) -> None:
    """Close the open elements from ``depth`` on, those above it left open by the reply.

    An element left open after its text (``<name>Ada<age>36</age>``) is a
    leaf whose close tag is missing: the elements written after its text are
    its siblings, so they go back to its parent, innermost first.
    """
    for index in range(len(stack) - 1, depth, -1):
        element, parent = stack[index], stack[index - 1]
        first = next((k for k, part in enumerate(element.parts) if isinstance(part, _Element)), 0)
        if first and "".join(element.parts[:first]).strip():  # type: ignore[arg-type]  # all text
            parent.parts.extend(element.parts[first:])
            del element.parts[first:]
    del stack[depth:]


def _attributes(text: str) -> dict[str, str]:
    return {
        match.group(1).rpartition(":")[2]: html.unescape(
            next(group for group in match.groups()[1:] if group is not None)
        )
        for match in _ATTRIBUTE.finditer(text)
    }


def _object_value(roots: list[_Element], shape: Shape) -> dict[str, Any] | None:
    """The object the root elements hold, or ``None`` if none names a field of several."""
    for root in roots:
        element = _object_element(root, shape)
        if element is not None:
            return _object(element, shape)
    if len(shape.fields) != 1:
        return None
    spec = shape.fields[0]
    item = spec.shape.item if spec.shape.kind == "array" else None
    if item is not None and len(roots) > 1 and len({_spelling(r.name) for r in roots}) == 1:
        return {spec.key: [_read(root, item) for root in roots]}  # items written as roots
    return {spec.key: _read(roots[0], spec.shape)}


def _known(element: _Element, shape: Shape) -> int:
    """Count the children and attributes of ``element`` that name fields of ``shape``."""
    if shape.kind != "object":
        return 0
    fields = _fields(shape)
    names = [child.name for child in element.children] + list(element.attributes)
    return sum(_spelling(name) in fields for name in names)


def _object_element(element: _Element, shape: Shape) -> _Element | None:
    """The element whose children are the object's fields: ``element``, or one it wraps."""
    while not _known(element, shape):
        children = element.children
        if len(children) != 1:
            return None
        element = children[0]
    return element


def _read(element: _Element, shape: Shape) -> Any:
    """The JSON-like value ``element`` holds for ``shape``."""
    if shape.kind == "union":
        shape = _alternative(element, shape)
    if shape.kind == "object" and (element.children or element.attributes):
        return _object(_object_element(element, shape) or element, shape)
    if not element.children:
        text = element.text
        if text or shape.kind == "string":
            return text
        return {"array": [], "tuple": [], "map": {}}.get(shape.kind)
    if shape.kind in _SCALAR_KINDS:
        return element.all_text().strip()  # markup inside a text: <b>bold</b> words
    if shape.kind in ("array", "tuple"):
        return _items(element, shape)
    if shape.kind == "map":
        return _entries(element, shape.item or _ANY)
    return _untyped(element)


def _alternative(element: _Element, shape: Shape) -> Shape:
    """The union's alternative an element with children is.

    The object whose fields its children name most; else an array or a map;
    else an object; else the union itself (read untyped).
    """
    if not element.children:
        return shape

    def rank(option: Shape) -> tuple[int, bool, bool]:
        kind = option.kind
        return _known(element, option), kind in ("array", "tuple", "map"), kind == "object"

    best = max(shape.options, key=rank)
    return best if any(rank(best)[1:]) else shape


def _object(element: _Element, shape: Shape) -> dict[str, Any]:
    fields = _fields(shape)
    value: dict[str, Any] = {}
    for name, text in element.attributes.items():
        spec = fields.get(_spelling(name))
        value[spec.key if spec else name] = text
    groups: dict[str, list[_Element]] = {}
    for child in element.children:
        groups.setdefault(child.name, []).append(child)
    for name, group in groups.items():
        spec = fields.get(_spelling(name))
        if spec is None:
            value[name] = _untyped(group[-1])  # the coercion drops it, and says so
        elif len(group) > 1 and spec.shape.kind == "array" and spec.shape.item is not None:
            # a list written as repeated elements: <tag>a</tag><tag>b</tag>
            value[spec.key] = [_read(child, spec.shape.item) for child in group]
        else:
            value[spec.key] = _read(group[-1], spec.shape)
    return value


def _items(element: _Element, shape: Shape) -> list[Any]:
    children = element.children
    if shape.kind == "tuple":
        options = list(shape.options) + [_ANY] * max(0, len(children) - len(shape.options))
        return [_read(child, option) for child, option in zip(children, options, strict=False)]
    item = shape.item or _ANY
    if _known(element, item):  # the element is the one item itself
        return [_object(element, item)]
    return [_read(child, item) for child in children]


def _entries(element: _Element, item: Shape) -> dict[str, Any]:
    """A map: ``<entry><key>k</key><value>v</value></entry>`` children, or tags as keys."""
    entries: dict[str, Any] = {}
    for child in element.children:
        parts = {_spelling(part.name): part for part in child.children}
        if _spelling(child.name) != "entry" or "key" not in parts or "value" not in parts:
            return {child.name: _read(child, item) for child in element.children}
        entries[parts["key"].text] = _read(parts["value"], item)
    return entries


def _untyped(element: _Element) -> Any:
    """The value an element holds with no shape to guide: a text, a list or a map."""
    children = element.children
    if not children:
        return element.text
    tags = {_spelling(child.name) for child in children}
    if tags == {"item"} or (len(children) > 1 and len(tags) == 1 and tags != {"entry"}):
        return [_read(child, _ANY) for child in children]
    return _entries(element, _ANY)


# TOON


def _read_toon(text: str, shape: Shape) -> tuple[int, Extracted] | None:
    found = _toon_lines(text, shape)
    if found is None:
        return None
    start, lines = found
    reader = _ToonReader(lines)
    header = _HEADER.fullmatch(lines[0][1])
    if header is not None and header.group("key") is None:  # a root array: [2]: a,b
        items, _ = reader.member(header, "", 0)
        value: dict[str, Any] = {shape.fields[0].key: items}
    else:
        value, _ = reader.block(0, lines[0][0])
    return start, _extracted(text, value, "TOON", reader.notes)


def _toon_lines(text: str, shape: Shape) -> tuple[int, list[tuple[int, str]]] | None:
    """The TOON lines of ``text`` as (indent, content), from the first that names a field."""
    if shape.kind != "object":
        return None
    lines = text.splitlines()
    start = None
    for number, line in enumerate(lines):
        content = line.strip()
        header = _HEADER.fullmatch(content)
        if content.startswith(("{", "[")) and (header is None or header.group("length") is None):
            return None  # a JSON container: not TOON
        if start is None and header is not None and _starts_toon(header, shape):
            start = number
    if start is None:
        return None
    body: list[tuple[int, str]] = []
    for line in lines[start:]:
        if line.lstrip().startswith("```"):
            break  # the end of a fenced block
        if line.strip():
            body.append((len(line) - len(line.lstrip(" ")), line.strip()))
    if len({indent for indent, _ in body}) > MAX_DEPTH:
        return None
    return start, body


class _ToonReader:
    """Reads TOON lines into a value; ``notes`` says what did not match its declarations."""

    def __init__(self, lines: list[tuple[int, str]]) -> None:
        self.lines = lines
        self.notes: list[str] = []

    def block(self, at: int, indent: int) -> tuple[dict[str, Any], int]:
        """Read the ``key: value`` lines at ``indent`` from line ``at``; return the next line."""
        value: dict[str, Any] = {}
        while at < len(self.lines) and self.lines[at][0] == indent:
            header = _HEADER.fullmatch(self.lines[at][1])
            if header is None or header.group("key") is None:
                break  # prose after the value
            *parents, key = _path(header.group("key"))
            into = value
            for parent in parents:  # a folded key: a.b: 1 is {"a": {"b": 1}}
                into = into.setdefault(parent, {})
                if not isinstance(into, dict):
                    break
            else:
                into[key], at = self.member(header, key, at)
                continue
            break
        return value, at

    def member(self, header: re.Match[str], key: str, at: int) -> tuple[Any, int]:
        """Read the value the header line ``at`` starts; return it and the next line."""
        indent = self.lines[at][0]
        rest = header.group("rest")
        deeper = at + 1 < len(self.lines) and self.lines[at + 1][0] > indent
        if header.group("length") is None:
            if rest:
                return _scalar(rest), at + 1
            return self.block(at + 1, self.lines[at + 1][0]) if deeper else ({}, at + 1)
        delimiter = header.group("delimiter") or ","
        items: list[Any]
        if header.group("fields") is not None:
            names = [_unquoted(name.strip()) for name in _split(header.group("fields"), delimiter)]
            items, at = self.rows(at + 1, indent, names, delimiter)
        elif rest:
            items, at = [_scalar(cell) for cell in _split(rest, delimiter)], at + 1
        else:
            items, at = self.list_items(at + 1, indent)
        declared = int(header.group("length"))
        if declared != len(items):
            self.notes.append(
                f"{key or 'an array'} declares {declared} items but gives {len(items)}; "
                f"kept the {len(items)} given"
            )
        return items, at

    def rows(self, at: int, indent: int, names: list[str], delimiter: str) -> tuple[list[Any], int]:
        """Read the rows of a tabular array, the lines deeper than its header."""
        rows = []
        while at < len(self.lines) and self.lines[at][0] > indent:
            cells = [_scalar(cell) for cell in _split(self.lines[at][1], delimiter)]
            if len(cells) != len(names):
                self.notes.append(f"a row has {len(cells)} values for {len(names)} fields")
            rows.append(dict(zip(names, cells, strict=False)))
            at += 1
        return rows, at

    def list_items(self, at: int, indent: int) -> tuple[list[Any], int]:
        """Read the ``- item`` lines deeper than an array's header."""
        items: list[Any] = []
        while at < len(self.lines) and self.lines[at][0] > indent:
            item_indent, content = self.lines[at]
            if not content.startswith("-"):
                break
            content = content[1:].strip()
            header = _HEADER.fullmatch(content)
            if not content:
                items.append({})
                at += 1
            elif header is None:
                items.append(_scalar(content))
                at += 1
            elif header.group("key") is None:
                item, at = self.member(header, "", at)  # an array in the array: - [2]: a,b
                items.append(item)
            else:
                # An object: its first field on the hyphen line, the others under it.
                self.lines[at] = (item_indent + 2, content)
                item, at = self.block(at, item_indent + 2)
                items.append(item)
        return items, at


def _starts_toon(header: re.Match[str], shape: Shape) -> bool:
    """Say whether a header line names a field (or is the array of a one-field list object)."""
    key = header.group("key")
    if key is None:
        return header.group("length") is not None and extract.is_list_field(shape)
    return _spelling(_path(key)[0]) in _fields(shape)


def _path(key: str) -> list[str]:
    """The keys a TOON key names: a dotted key of names is folded (``a.b``), a quoted one not."""
    if key.startswith('"') or "." not in key:
        return [_unquoted(key)]
    parts = key.split(".")
    return parts if all(part.isidentifier() for part in parts) else [key]


def _split(text: str, delimiter: str) -> list[str]:
    """Split ``text`` at each ``delimiter`` outside double quotes."""
    cells = []
    start = 0
    quoted = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            cells.append(text[start:index])
            start = index + 1
    cells.append(text[start:])
    return cells


def _scalar(token: str) -> Any:
    """The value of a TOON scalar: a quoted string, true, false, null, a number or a string."""
    token = token.strip()
    if len(token) > 1 and token[0] == token[-1] == '"':
        return _unquoted(token)
    if token in _TOON_WORDS:
        return _TOON_WORDS[token]
    if _NUMBER.fullmatch(token):
        return int(token) if token.lstrip("-").isdigit() else float(token)
    return token


def _unquoted(token: str) -> str:
    if not (len(token) > 1 and token[0] == token[-1] == '"'):
        return token
    try:
        text: str = json.loads(token, strict=False)
    except json.JSONDecodeError:
        return token[1:-1]  # an escape TOON does not know: keep it as written
    return text
