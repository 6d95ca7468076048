"""Import cost of promptkit against pydantic's, measured in the same run.

Each statement runs in a fresh interpreter (``python -X importtime -c ...``)
``--rounds`` times; the figure is the median of the total time ``-X
importtime`` reports for top-level imports, less that of an interpreter
that runs ``pass`` (its start-up imports), measured beside each round
(bytecode caches warm: one unmeasured round first). Baselines: ``import pydantic`` (which is
lazy, like promptkit) and ``from pydantic import BaseModel`` (what any
pydantic library pays). ``--before PATH`` also measures another checkout of
promptkit (for example the commit before a change, via ``git worktree add``).

Run: ``python benchmarks/bench_import.py [--rounds 15] [--before /tmp/promptkit-before]``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATEMENTS = {
    "import pydantic": "import pydantic",
    "from pydantic import BaseModel": "from pydantic import BaseModel",
    "import promptkit": "import promptkit",
    "from promptkit import Task, run, parse": "from promptkit import Task, run, parse",
    "import promptkit.jobs (file runs)": "import promptkit.jobs",
}


def import_time_ms(statement: str, cwd: Path) -> float:
    """Run one statement in a fresh interpreter; return -X importtime's total, in ms."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.split("|")
        if not name.startswith("  "):  # a top-level import of the statement (one space indent)
            total += int(cumulative)
    return total / 1000


def median_ms(statement: str, cwd: Path, rounds: int) -> float:
    """The median cost of a statement over what an interpreter imports to start (``pass``)."""
    import_time_ms(statement, cwd)  # warm the bytecode caches
    return statistics.median(
        import_time_ms(statement, cwd) - import_time_ms("pass", cwd) for _ in range(rounds)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--before", type=Path, help="another promptkit checkout to measure")
    args = parser.parse_args()
    rows = [(label, median_ms(code, ROOT, args.rounds)) for label, code in STATEMENTS.items()]
    if args.before is not None:
        rows.append(
            ("import promptkit (before)", median_ms("import promptkit", args.before, args.rounds))
        )
    baseline = rows[0][1]
    print(f"median of {args.rounds} fresh interpreters, -X importtime totals\n")
    print("| statement | ms | vs `import pydantic` |")
    print("|---|---|---|")
    for label, ms in rows:
        print(f"| `{label}` | {ms:.1f} | {ms / baseline:.2f}x |")


if __name__ == "__main__":
    main()
