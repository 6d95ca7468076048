"""Read a reply written as XML into a JSON-like value, as the output shape guides.

XML is read by a small tolerant tokenizer (the stdlib parsers refuse what
models write): prose around the elements, declarations and comments are
skipped, entities decoded, CDATA kept, a stray close tag ignored and elements
left open closed (a leaf left open after its text gives back the elements
after it, its siblings). XML has no types, so the shape guides the reading:
which element is the object, which children are an array's items or a map's
entries. Leaves stay strings for the coercion to type (``"12345"``, ``"null"``).
:func:`promptkit.output.markup.read_markup` chooses between this and TOON.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from promptkit.output.fit import fields_by_spelling, loose_spelling
from promptkit.output.repair import MAX_DEPTH
from promptkit.schema import Shape

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


def read_xml(text: str, shape: Shape) -> tuple[int, Any, list[str]] | None:
    """Read ``text`` as XML for ``shape``: the line it starts on, the value, notes; or ``None``.

    For an object of several fields, XML counts only when an element's
    children name its fields; a one-field object takes any element.
    """
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
    return document.line, value, notes


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
    if item is not None and len(roots) > 1 and len({loose_spelling(r.name) for r in roots}) == 1:
        return {spec.key: [_read(root, item) for root in roots]}  # items written as roots
    return {spec.key: _read(roots[0], spec.shape)}


def _known(element: _Element, shape: Shape) -> int:
    """Count the children and attributes of ``element`` that name fields of ``shape``."""
    if shape.kind != "object":
        return 0
    fields = fields_by_spelling(shape)
    names = [child.name for child in element.children] + list(element.attributes)
    return sum(loose_spelling(name) in fields for name in names)


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
        inner = _object_element(element, option) if kind == "object" else None
        known = _known(inner or element, option)  # <featured><Cat>...</Cat></featured>: a Cat
        return known, kind in ("array", "tuple", "map"), kind == "object"

    best = max(shape.options, key=rank)
    return best if any(rank(best)[1:]) else shape


def _object(element: _Element, shape: Shape) -> dict[str, Any]:
    fields = fields_by_spelling(shape)
    value: dict[str, Any] = {}
    for name, text in element.attributes.items():
        spec = fields.get(loose_spelling(name))
        value[spec.key if spec else name] = text
    groups: dict[str, list[_Element]] = {}
    for child in element.children:
        groups.setdefault(child.name, []).append(child)
    for name, group in groups.items():
        spec = fields.get(loose_spelling(name))
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
    if len(children) == 1 and _wraps_items(children[0], item):
        children = children[0].children  # <addresses><AddressList><Address>...: a list's tag
    return [_read(child, item) for child in children]


def _wraps_items(element: _Element, item: Shape) -> bool:
    """Say whether ``element``, an array's one child, wraps its items rather than being one.

    Scalar items: its children are leaves of one tag (``<list><item>a</item>``;
    ``<li><b>Bold</b> <i>it</i></li>`` is one item, a text with markup).
    Objects: it names no field of theirs and each of its children does.
    Maps and lists: never (an item of theirs looks just the same).
    """
    children = element.children
    if not children or element.text:
        return False
    if item.kind in _SCALAR_KINDS:
        return len({child.name for child in children}) == 1 and not any(
            child.children for child in children
        )
    options = item.options if item.kind == "union" else (item,)
    objects = [option for option in options if option.kind == "object"]
    return (
        bool(objects)
        and not any(_known(element, option) for option in objects)
        and all(any(_known(child, option) for option in objects) for child in children)
    )


def _entries(element: _Element, item: Shape) -> dict[str, Any]:
    """A map: ``<entry><key>k</key><value>v</value></entry>`` children, or tags as keys."""
    entries: dict[str, Any] = {}
    children = element.children
    wrapped = len(children) == 1 and children[0].children and item.kind in _SCALAR_KINDS
    if wrapped and all(map(_is_entry, children[0].children)):
        element = children[0]  # <featured><map><entry>...: the map's own tag (not a key's)
    for child in element.children:
        if not _is_entry(child):
            return {child.name: _read(child, item) for child in element.children}
        parts = {loose_spelling(part.name): part for part in child.children}
        entries[parts["key"].text] = _read(parts["value"], item)
    return entries


def _is_entry(element: _Element) -> bool:
    """``<entry><key>k</key><value>v</value></entry>``: one entry of a map."""
    parts = {loose_spelling(part.name) for part in element.children}
    return loose_spelling(element.name) == "entry" and {"key", "value"} <= parts


def _untyped(element: _Element) -> Any:
    """The value an element holds with no shape to guide: a text, a list or a map."""
    children = element.children
    if not children:
        return element.text
    tags = {loose_spelling(child.name) for child in children}
    if tags == {"item"} or (len(children) > 1 and len(tags) == 1 and tags != {"entry"}):
        return [_read(child, _ANY) for child in children]
    return _entries(element, _ANY)
