"""Task-level output checks, run after validation: the :class:`Check` protocol and ``grounded``.

A check is any callable ``check(output, source) -> Sequence[Finding]``: it
gets the validated output and the validated input it answers (``None`` when
the caller gave none) and returns what it found. Each :class:`Finding` says
what to do: ``error`` fails the parse like a validation error, ``null``
replaces the field with null (reported), ``warning`` is only reported.

``grounded("colour")`` catches the failure of a zero-shot model that invents
a colour for a search naming none: the value must occur in the input text.
Without a source it cannot judge; it then reports a warning and passes.
``grounded(..., constrain=True)`` also narrows the reply's JSON Schema for
each input to the phrases of that input, so that a backend decoding with a
grammar (the local one, a llama.cpp server) can only write a grounded value.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, runtime_checkable

from pydantic import BaseModel

from promptkit.schema import FieldSpec, Shape, element, shape_of
from promptkit.vocabularies import spellings
from promptkit.words import words

FindingAction = Literal["error", "null", "warning"]


@dataclass(frozen=True, slots=True)
class Finding:
    """What a check found about one field.

    Attributes:
        path: the field path (``("colour",)``).
        message: what is wrong, in words.
        value: the offending value.
        action: ``error`` (fail), ``null`` (set the field to null and report) or ``warning``.
    """

    path: tuple[str | int, ...]
    message: str
    value: Any = None
    action: FindingAction = "error"


@runtime_checkable
class Check(Protocol):
    """A task-level check: look at a validated output (and its input) and report findings."""

    def __call__(self, output: BaseModel, source: BaseModel | None, /) -> Sequence[Finding]:
        """Return the findings about ``output``; an empty sequence when it passes."""
        ...


_ALNUM = re.compile(r"[^\W_]+")

MAX_PHRASE_WORDS = 6
"""The longest phrase, in words, a constrained field may take from its input."""

MAX_CONSTRAINED_WORDS = 256
"""Inputs with more words than this are not constrained (the check still runs on the reply)."""


@dataclass(frozen=True, slots=True)
class Grounded:
    """The check :func:`grounded` builds: each named field's value must occur in the input."""

    fields: tuple[str, ...]
    on_fail: Literal["error", "null"] = "error"
    constrain: bool = False
    fill: bool = False
    lexicon: frozenset[str] = frozenset()
    modifiers: frozenset[str] = frozenset()

    def __call__(self, output: BaseModel, source: BaseModel | None, /) -> Sequence[Finding]:
        """Return a finding for each named field whose value the input does not contain."""
        if source is None:
            return _skipped(self.fields)
        haystack = words(source_text(source))
        shapes = {spec.name: spec.shape for spec in shape_of(type(output)).fields}
        findings = []
        for name in self.fields:
            if name not in shapes:
                raise AttributeError(
                    f"grounded({name!r}): {type(output).__name__} has no field {name!r}"
                )
            shape = element(shapes[name])
            value = getattr(output, name)
            values = value if isinstance(value, list) else [value]
            for index, item in enumerate(values):
                if item is None:
                    continue
                path: tuple[str | int, ...] = (name, index) if isinstance(value, list) else (name,)
                if not _spelled_in(shape, item, haystack):
                    message = f"{item!r} does not occur in the input"
                elif shape.kind == "string" and self.lexicon and not _in_lexicon(item, self):
                    message = f"{item!r} does not begin and end with a lexicon word"
                else:
                    continue
                findings.append(Finding(path, message, item, self.on_fail))
        return findings


@functools.lru_cache(maxsize=256)
def _skipped(fields: tuple[str, ...]) -> tuple[Finding, ...]:
    """The warning of a grounded check given no input (the same for every reply)."""
    names = ", ".join(fields)
    return (Finding((), f"grounded({names}) skipped: no input was given", None, "warning"),)


def grounded(
    *fields: str,
    on_fail: Literal["error", "null"] = "error",
    constrain: bool = False,
    fill: bool = False,
    lexicon: Iterable[str] = (),
    modifiers: Iterable[str] = (),
) -> Grounded:
    """Check that each named string or vocabulary field's value occurs in the input text.

    A vocabulary value (see :func:`promptkit.vocabularies.vocabulary`) occurs
    when any of its spellings does. The comparison ignores case, punctuation,
    hyphens and spacing (``"t-shirt"`` matches ``"t shirts"`` and
    ``"tshirt"``) and a plural ending. Null values pass. A list field is
    checked item by item.

    Args:
        *fields: names of top-level string or vocabulary fields (or lists of them).
        on_fail: ``error`` fails the parse; ``null`` replaces the value with null,
            for optional fields, and reports it.
        constrain: also narrow each prompt's reply schema so the fields may only
            take what the input supports (see :func:`supported_values`): phrases
            of the input, or the vocabulary values it spells. Backends that decode with a
            grammar then cannot write an ungrounded value; others are unaffected
            (a provider's strict ``response_format`` stays one schema per task).
        fill: with ``constrain``, a vocabulary field whose values the input spells
            must take one of them: null is no longer allowed.
        lexicon: with ``constrain``, a string field may only take phrases that
            begin and end with one of these words (compared as :func:`occurs`
            compares, case and plurals ignored): the words a colour or a size
            is written with ("navy", "black and white"), and only whole: not
            "blue" of "sky blue", nor "grey" of "grey and navy". A reply's value
            that does not begin and end with one is a finding too (one that
            stops short of the whole phrase is not: it is still the input's).
        modifiers: with ``lexicon``, words that may begin such a phrase but never
            end it, as they qualify a word of the lexicon and name nothing alone:
            "light" of "light blue", "baby" of "baby pink" (so "baby clothes" has
            no colour, and "blue light glasses" only "blue").
    """
    if not fields:
        raise ValueError("grounded() needs at least one field name")
    if on_fail not in ("error", "null"):
        raise ValueError(f"on_fail must be 'error' or 'null', not {on_fail!r}")
    if (fill or lexicon) and not constrain:
        raise ValueError("fill and lexicon narrow the reply schema: they need constrain=True")
    known, qualifying = (frozenset(map(_matched, group)) for group in (lexicon, modifiers))
    if qualifying and not known:
        raise ValueError("modifiers qualify a lexicon's words: they need a lexicon")
    return Grounded(tuple(fields), on_fail, constrain, fill, known, qualifying - known)


class Narrowing(NamedTuple):
    """What one input's reply may hold: values by field key, and the keys that may not be null."""

    allowed: dict[str, tuple[Any, ...]]
    filled: frozenset[str]


COMMON_INPUTS = 3
"""The fewest labelled inputs a word must be in before narrowing trusts what values do with it."""

FREQUENT_INPUTS = 10
"""The fewest labelled inputs a word must be in before narrowing trusts that no value follows it."""


class Lessons(NamedTuple):
    """What a task's labelled examples teach narrowing (see :func:`learn`)."""

    shared: frozenset[tuple[str, Any]] = frozenset()
    """The vocabulary values labels also write in a string field (:func:`shared_values`)."""
    values: frozenset[tuple[str, str]] = frozenset()
    """The labelled values of string fields without a lexicon (:func:`labelled_phrases`)."""
    common: frozenset[str] = frozenset()
    """The words of at least :data:`COMMON_INPUTS` labelled inputs (see :func:`_lesson_word`)."""
    frequent: frozenset[str] = frozenset()
    """The words of at least :data:`FREQUENT_INPUTS` labelled inputs (see :func:`_lesson_word`)."""
    preceding: frozenset[tuple[str, str]] = frozenset()
    """Each ``(field key, word)`` of a word right before a labelled value in its input."""


def learn(
    output: Shape, checks: Sequence[Grounded], examples: Iterable[tuple[BaseModel, BaseModel]]
) -> Lessons:
    """What these labelled ``(input, output)`` pairs teach the narrowing of other inputs."""
    pairs = list(examples)
    outputs = [labelled for _, labelled in pairs]
    counts = Counter(
        word
        for source, _ in pairs
        for word in {_lesson_word(w) for w in source_text(source).split()}
    )
    return Lessons(
        shared_values(output, checks, outputs),
        labelled_phrases(output, checks, outputs),
        frozenset(word for word, count in counts.items() if count >= COMMON_INPUTS and word),
        frozenset(word for word, count in counts.items() if count >= FREQUENT_INPUTS and word),
        _preceding(output, checks, pairs),
    )


def _preceding(
    output: Shape, checks: Sequence[Grounded], pairs: Sequence[tuple[BaseModel, BaseModel]]
) -> frozenset[tuple[str, str]]:
    """The ``(field key, word)`` of each word right before a labelled value in its own input."""
    specs = _free_specs(output, checks)
    found: set[tuple[str, str]] = set()
    for source, labelled in pairs:
        lines = [
            [_lesson_word(word) for word in line.split()]
            for line in source_text(source).splitlines()
        ]
        for spec in specs:
            values: list[str] = []
            _strings(getattr(labelled, spec.name, None), values)
            for value in values:
                wanted = [_lesson_word(word) for word in value.split()]
                found.update(
                    (spec.key, line[start - 1])
                    for line in lines
                    for start in range(1, len(line) - len(wanted) + 1)
                    if wanted and line[start : start + len(wanted)] == wanted
                )
    return frozenset(found)


NOTHING_LEARNED = Lessons()
"""The lessons of a task with no labelled examples."""


def supported_values(
    output: Shape,
    checks: Sequence[Grounded],
    source: BaseModel,
    lessons: Lessons = NOTHING_LEARNED,
) -> Narrowing:
    """For each field a constraining check names, what its reply may take for this input.

    A vocabulary field may take a canonical value one of whose spellings the
    input contains (and only those, never null, with ``fill``). A string
    field may take a phrase of the input (see :func:`input_phrases`): one
    that begins and ends with a word of its ``lexicon``, and holds the
    lexicon words around it too, when its check has one. A phrase belongs to
    one field: a phrase that holds a spelling the input uses for a vocabulary
    field's value is that field's ("v neck long sleeve tee": the type may be
    "tee", not "long sleeve tee" or "v neck"),
    and a phrase a lexicon admits is not another string field's ("olive
    green" is a colour, never a type), unless the value is in ``lessons.shared`` (see
    :func:`shared_values`: "henley" may be a neck and a type). A phrase of a
    field without a lexicon learns from its labelled values (``lessons``,
    see :func:`learn`): a phrase does not stop right before a word they end
    with ("hockey jersey youth" may be typed "hockey jersey", not "hockey",
    when examples type "soccer jersey"); it takes a labelled value of several
    words whole or leaves it out ("maxi dress floral" may be typed "maxi
    dress", not "dress", when examples type "maxi dress"); and it neither
    begins nor ends with a word that labelled inputs use often (see
    :data:`COMMON_INPUTS`) but no labelled value begins or ends with ("kids
    socks for girls" may not be typed "socks for" or "kids socks"); nor does
    it begin right after a word that labelled inputs use very often (see
    :data:`FREQUENT_INPUTS`) but no labelled value holds or follows ("gifts
    for dad" may not be typed "dad", when no labelled type follows "for"). Null stays allowed
    where the field allows it. A field left out is not narrowed: a string
    field of an input longer than :data:`MAX_CONSTRAINED_WORDS` words, or a
    field that could take nothing.
    """
    text = source_text(source)
    haystack = words(text)
    named = {name: check for check in checks if check.constrain for name in check.fields}
    specs = [spec for spec in output.fields if spec.name in named]
    allowed: dict[str, tuple[Any, ...]] = {}
    filled: set[str] = set()
    claimed: list[str] = []  # the spellings of vocabulary values this input uses
    for spec in specs:
        shape = element(spec.shape)
        if shape.kind == "enum":
            spelled = _outermost(
                text,
                [
                    [spelling for spelling in spellings(shape, value) if occurs(spelling, haystack)]
                    for value in shape.values
                ],
            )
            claimed += (
                spelling
                for value, found in zip(shape.values, spelled, strict=True)
                if (spec.key, value) not in lessons.shared
                for spelling in found
            )
            allowed[spec.key] = tuple(
                v for v, found in zip(shape.values, spelled, strict=True) if found
            )
            if named[spec.name].fill and allowed[spec.key]:
                filled.add(spec.key)
    unclaimed = _without(text, claimed)
    phrases = input_phrases(unclaimed)
    free = [spec for spec in specs if element(spec.shape).kind != "enum"]
    lexicons = [named[spec.name] for spec in free if named[spec.name].lexicon]
    for spec in free:
        check = named[spec.name]
        if phrases is not None:
            if check.lexicon:
                whole = _whole_runs(unclaimed, check)
                allowed[spec.key] = tuple(phrase for phrase in phrases if phrase.lower() in whole)
                continue
            learned = _learned(lessons, spec.key)
            respected = _respecting(unclaimed, learned) if learned.ends else None
            allowed[spec.key] = tuple(
                phrase
                for phrase in phrases
                if not any(_in_lexicon(phrase, other, modified=True) for other in lexicons)
                and (respected is None or phrase.lower() in respected)
            )
    kept = {
        key: values
        for spec in specs
        if (key := spec.key) in allowed
        and ((values := allowed[key]) or spec.shape.nullable or spec.shape.kind == "array")
    }
    return Narrowing(kept, frozenset(filled))


def _outermost(text: str, spelled: list[list[str]]) -> list[list[str]]:
    """Each value's spellings found in a text, less those found only inside another's longer one.

    The longest spelling wins, as claims do: "mock turtle neck" spells the
    mock neck, not the turtleneck its "turtle neck" would.
    """
    kept = []
    for index, found in enumerate(spelled):
        others = [other for at, group in enumerate(spelled) if at != index for other in group]
        kept.append(
            [
                spelling
                for spelling in found
                if not (longer := [o for o in others if len(_matched(o)) > len(_matched(spelling))])
                or occurs(spelling, words(_without(text, longer)))
            ]
        )
    return kept


def shared_values(
    output: Shape, checks: Sequence[Grounded], outputs: Iterable[BaseModel]
) -> frozenset[tuple[str, Any]]:
    """The vocabulary values that labelled outputs also write in a constrained string field.

    Each is a ``(field key, canonical value)`` pair: a task whose examples label
    "mint short sleeve henley" with the neck ``henley`` and the type "henley"
    shares the neck value ``henley`` with the type, so narrowing leaves "henley"
    among the type's phrases. A value no example writes in a string field stays
    its own field's alone.
    """
    named = {name for check in checks if check.constrain for name in check.fields}
    specs = [spec for spec in output.fields if spec.name in named]
    vocabularies = [spec for spec in specs if element(spec.shape).kind == "enum"]
    texts = [spec for spec in specs if element(spec.shape).kind == "string"]
    shared: set[tuple[str, Any]] = set()
    for labelled in outputs:
        written: list[str] = []
        _strings([getattr(labelled, spec.name, None) for spec in texts], written)
        tokenized = [words(text) for text in written]
        for spec in vocabularies:
            value = getattr(labelled, spec.name, None)
            if value is not None and any(
                _spelled_in(element(spec.shape), value, tokens) for tokens in tokenized
            ):
                shared.add((spec.key, value))
    return frozenset(shared)


def labelled_phrases(
    output: Shape, checks: Sequence[Grounded], outputs: Iterable[BaseModel]
) -> frozenset[tuple[str, str]]:
    """The labelled values of constrained string fields without a lexicon, lower-cased.

    Each is a ``(field key, value)`` pair ("type", "soccer jersey"): where
    the field's values end, and which phrases of several words it takes
    whole (see :func:`supported_values`).
    """
    specs = _free_specs(output, checks)
    found: set[tuple[str, str]] = set()
    for labelled in outputs:
        for spec in specs:
            values: list[str] = []
            _strings(getattr(labelled, spec.name, None), values)
            found.update((spec.key, " ".join(value.lower().split())) for value in values)
    return frozenset(pair for pair in found if pair[1])


def _free_specs(output: Shape, checks: Sequence[Grounded]) -> list[FieldSpec]:
    """The fields constraining checks narrow to the input's phrases, without a lexicon."""
    free = {
        name for check in checks if check.constrain and not check.lexicon for name in check.fields
    }
    return [spec for spec in output.fields if spec.name in free]


class _Learned(NamedTuple):
    """What one field's labelled values teach narrowing."""

    ends: frozenset[str]  # the last word of each value, lower-cased as written
    wholes: dict[str, tuple[tuple[str, ...], ...]]  # values of several words, by their first
    inner: frozenset[str]  # common input words no value begins or ends with, as matched
    closing: frozenset[str]  # frequent input words no value holds or follows, as matched


@functools.lru_cache(maxsize=64)
def _learned(lessons: Lessons, key: str) -> _Learned:
    values = [value.split() for field, value in lessons.values if field == key]
    wholes: dict[str, list[tuple[str, ...]]] = {}
    edges: set[str] = set()
    held: set[str] = set()
    for written in values:
        matched = tuple(map(_lesson_word, written))
        edges.update((matched[0], matched[-1]))
        held.update(matched)
        if len(written) > 1:
            wholes.setdefault(matched[0], []).append(matched)
    followed = {word for field, word in lessons.preceding if field == key}
    return _Learned(
        frozenset(written[-1] for written in values),
        {first: tuple(found) for first, found in wholes.items()},
        lessons.common - edges,
        lessons.frequent - held - followed,
    )


def _matched(word: str) -> str:
    """A written word (or phrase) as phrases are matched: lower-cased, singular, no punctuation."""
    return "".join(words(word))


def _lesson_word(word: str) -> str:
    """A written word as lessons see it: matched (see :func:`_matched`), any number as ``#``.

    Labelled values teach what they do with numbers, not with one number:
    when no labelled type begins or ends with a number, "13" is no type
    either, whichever numbers the labelled inputs hold.
    """
    matched = _matched(word)
    return "#" if matched.isdigit() else matched


def _respecting(text: str, learned: _Learned) -> frozenset[str]:
    """The lower-cased phrases of a text that keep to what labelled values teach.

    A phrase is kept when one of its occurrences is not followed by a word
    labelled values end with, cuts no labelled value of several words the
    text holds (it holds all of it or none of it), neither begins nor ends
    with a common input word no labelled value begins or ends with, and does
    not begin right after a frequent input word no labelled value holds or
    follows.
    """
    found: set[str] = set()
    for line in text.splitlines():
        written = line.split()
        matched = [_lesson_word(word) for word in written]
        wholes = [
            (start, start + len(value))
            for start, first in enumerate(matched)
            for value in learned.wholes.get(first, ())
            if tuple(matched[start : start + len(value)]) == value
        ]
        found.update(
            " ".join(written[start:end]).lower()
            for start, end in _spans(len(written))
            if (end == len(written) or written[end].lower() not in learned.ends)
            and (start == 0 or matched[start - 1] not in learned.closing)
            and matched[start] not in learned.inner
            and matched[end - 1] not in learned.inner
            and all(
                end <= low or high <= start or start <= low < high <= end for low, high in wholes
            )
        )
    return frozenset(found)


def _in_lexicon(phrase: str, check: Grounded, *, modified: bool = False) -> bool:
    """Whether a phrase begins and ends with a check's lexicon word ("navy", "light blue").

    It may begin with a modifier ("light"), but not end with one; with
    ``modified``, it may end with one too: the lexicon's words then claim it
    from the other fields ("baby" is no type either).
    """
    tokens = words(phrase)
    if not tokens:
        return False
    first, last = tokens[0], tokens[-1]
    return (first in check.lexicon or first in check.modifiers) and (
        last in check.lexicon or (modified and last in check.modifiers)
    )


_JOINERS = frozenset({"and", "&", "n"})
"""Words that join two lexicon words into one phrase ("black and white", "black & white")."""


def _whole_runs(text: str, check: Grounded) -> frozenset[str]:
    """The lower-cased phrases of a text that a check's lexicon admits, taken whole.

    A phrase begins with a lexicon word or a modifier and ends with a lexicon
    word (see :func:`_in_lexicon`). It is left out when the run goes on past
    it: the word before it is one of those, or the word after it begins one
    that ends the run (a modifier only with a lexicon word after it), or a
    joiner comes between ("sky blue": not "blue"; "grey and navy": not
    "grey"; "light blue baby tee": "light blue", and "blue light glasses":
    "blue"), so that a narrowed field cannot stop short of the words the
    input writes together.
    """
    member = check.lexicon | check.modifiers
    found: set[str] = set()
    for line in text.splitlines():
        written = line.split()
        tokens = [words(word) for word in written] + [[], []]  # two past the end: no word
        starts = [bool(word) and word[0] in member for word in tokens]
        ends = [bool(word) and word[-1] in check.lexicon for word in tokens]
        carries = [bool(word) and word[-1] in member for word in tokens]  # into the next word
        # A word goes on with a run before it when it is a lexicon word, or a modifier
        # of one that goes on: "light blue baby tee" has the run "light blue", no more.
        continues = [False] * len(tokens)
        for index in range(len(written) - 1, -1, -1):
            first = tokens[index][0] if tokens[index] else None
            continues[index] = first in check.lexicon or (
                first in check.modifiers and continues[index + 1]
            )
        joins = [word.lower() in _JOINERS for word in written] + [False, False]
        # Index -1 and -2 read the padding at the end: no word before the first.
        found.update(
            " ".join(written[start:end]).lower()
            for start, end in _spans(len(written))
            if starts[start]
            and ends[end - 1]
            and not (carries[start - 1] or (joins[start - 1] and carries[start - 2]))
            and not (continues[end] or (joins[end] and continues[end + 1]))
        )
    return frozenset(found)


def _without(text: str, spellings: Sequence[str]) -> str:
    """The text with every occurrence of the spellings cut out (a line break in its place).

    An occurrence is matched as :func:`occurs` matches it: ignoring case and
    the punctuation or spacing between words, a word's ending included
    ("v necks", "V-Neck" for "v neck").
    """
    for spelling in sorted(spellings, key=len, reverse=True):
        tokens = _ALNUM.findall(spelling)
        if tokens:
            pattern = r"(?<![^\W_])" + r"[\W_]*".join(map(re.escape, tokens)) + r"[^\W_]*"
            text = re.sub(pattern, "\n", text, flags=re.IGNORECASE)
    return text


def input_phrases(text: str) -> tuple[str, ...] | None:
    """Every run of 1 to :data:`MAX_PHRASE_WORDS` consecutive words of a text.

    Words are split on whitespace, so "3/4" and "t-shirts" stay whole; each
    phrase is given as written and lower-cased. A text of more than
    :data:`MAX_CONSTRAINED_WORDS` words gives ``None``: it is not narrowed.
    """
    lines = [line.split() for line in text.splitlines()]
    if sum(len(line) for line in lines) > MAX_CONSTRAINED_WORDS:
        return None
    found: dict[str, None] = {}
    for line in lines:
        for start, end in _spans(len(line)):
            phrase = " ".join(line[start:end])
            found[phrase] = found[phrase.lower()] = None
    return tuple(found)


def _spans(count: int) -> Iterator[tuple[int, int]]:
    """Each (start, end) of a run of 1 to :data:`MAX_PHRASE_WORDS` of ``count`` words, in order."""
    for start in range(count):
        for end in range(start + 1, min(count, start + MAX_PHRASE_WORDS) + 1):
            yield start, end


def _spelled_in(shape: Shape, value: Any, haystack: Sequence[str]) -> bool:
    """Whether a value occurs in a tokenized text: a vocabulary value by any of its spellings."""
    if shape.kind != "enum":
        return occurs(str(value), haystack)
    return any(occurs(spelling, haystack) for spelling in spellings(shape, value))


def source_text(source: BaseModel) -> str:
    """Join every string in an input model (nested too) into one text to search."""
    parts: list[str] = []
    _strings(source.model_dump(), parts)
    return "\n".join(parts)


def _strings(value: Any, parts: list[str]) -> None:
    if isinstance(value, str):
        parts.append(value)
    elif isinstance(value, dict):
        for member in value.values():
            _strings(member, parts)
    elif isinstance(value, list):
        for member in value:
            _strings(member, parts)


def occurs(value: str, haystack: Sequence[str]) -> bool:
    """Say whether ``value`` occurs in a tokenized text, as a run of whole tokens.

    Both sides are lower-cased, split on anything not a letter or digit and
    singularized; the value matches when its tokens, joined without spaces,
    equal a run of consecutive text tokens joined the same way.
    """
    needle = "".join(words(value))
    if not needle:
        return True
    for start in range(len(haystack)):
        joined = ""
        for token in haystack[start:]:
            joined += token
            if joined == needle:
                return True
            if len(joined) >= len(needle) or not needle.startswith(joined):
                break
    return False
