"""Read a reply written as XML or as TOON, not JSON, into a JSON-like value.

Some models answer in the markup their prompt or their training favours:
XML elements (``<Person><name>Ada</name>...</Person>``, read by
:mod:`promptkit.output.xmlish`) or TOON, the Token-Oriented Object Notation
(``name: Ada``, ``tags[2]: math,code``, ``people[2]{name,age}:`` over
indented rows, read by :mod:`promptkit.output.toon`). :func:`read_markup`
turns such a reply into the value the coercion (:mod:`promptkit.output.coerce`)
finishes, as :func:`promptkit.output.extract.extract_object` does for JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptkit.output import extract, toon, xmlish
from promptkit.output.actions import Action
from promptkit.schema import Shape

if TYPE_CHECKING:
    from promptkit.output.extract import Extracted


def read_markup(text: str, shape: Shape) -> Extracted | None:
    """Read ``text`` as XML or as TOON for ``shape``; ``None`` when it is neither.

    When both could be read, the one that starts on an earlier line wins
    (XML on a tie).
    """
    readings = [
        (reading, notation)
        for reading, notation in (
            (xmlish.read_xml(text, shape), "XML"),
            (toon.read_toon(text, shape), "TOON"),
        )
        if reading is not None
    ]
    if not readings:
        return None
    (_, value, notes), notation = min(readings, key=lambda found: found[0][0])  # XML on a tie
    message = f"read the reply as {notation}" + "".join(f"; {note}" for note in notes)
    # Through the module: extract imports this one, so Extracted may not exist yet at import.
    return extract.Extracted(value, (Action("extract", (), message, text, value),), False)
