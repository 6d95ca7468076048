"""Evaluation: configurations compared on labelled items, scored field by field, reported.

::

    labelled items x configurations --run--> item results --metrics--> summaries
        --report--> table, JSON, HTML page
"""

from promptkit.evaluation.comparison import (
    Comparison,
    Configuration,
    LabelledItem,
    evaluate,
    load_labelled,
)
from promptkit.evaluation.report import comparison_table, html_report

__all__ = [
    "Comparison",
    "Configuration",
    "LabelledItem",
    "comparison_table",
    "evaluate",
    "html_report",
    "load_labelled",
]
