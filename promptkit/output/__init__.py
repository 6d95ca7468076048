"""Reply -> typed value: extract, repair, coerce, validate and check; re-ask with precise errors.

::

    reply text --extract--> JSON candidates --repair--> JSON value --coerce--> shape-fitting value
        --validate (pydantic)--> output --checks--> Parsed(value, report) | OutputError(raw, errors)
"""

from promptkit.output.actions import Action, Report
from promptkit.output.parse import Parsed, parse, parse_batch, parse_with_report
from promptkit.output.reask import reask_messages

__all__ = [
    "Action",
    "Parsed",
    "Report",
    "parse",
    "parse_batch",
    "parse_with_report",
    "reask_messages",
]
