"""File runs: inputs streamed from a file, packed, cached, rate limited, written in order.

::

    input file --files--> items --packing--> batches --(cache, limits)--> run layer --> records
        --files--> output file (in input order; a checkpoint to resume from)
"""

from promptkit.jobs.progress import JobSummary
from promptkit.jobs.runner import JobOptions, run_file, run_job

__all__ = ["JobOptions", "JobSummary", "run_file", "run_job"]
