"""Words: how text is split into comparable words, for grounding checks and for scoring.

One rule for both, so that what a ``grounded`` check accepts as the search's
own words is what evaluation scores as the same value: lower-cased,
letters and digits only, and each word made singular by the plain English
suffix rules (``dresses`` -> ``dress``, ``hoodies`` -> ``hoodie``... see
:func:`singular`).
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")


def words(text: str) -> list[str]:
    """Return the singular, lower-cased words of a text (``"Long-Sleeves"`` -> long, sleeve)."""
    return [singular(word) for word in _WORD.findall(text.casefold())]


def singular(word: str) -> str:
    """Return a lower-case word made singular by suffix: ``dresses`` -> ``dress``.

    Short words and words that end in ``ss``, ``us`` or ``is`` are kept
    (``dress``, ``bus``, ``bikinis`` is the only loss); ``-ies`` becomes ``-y``
    (``panties`` -> ``panty``) and ``-sses``, ``-shes``, ``-ches``, ``-xes``,
    ``-zes`` lose ``es``, each only on words of five letters or more, so that
    ``ties`` and ``axes`` lose just their ``s``.
    """
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "ches", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word
