"""``promptkit render``: print exactly what would be sent, offline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from rich.console import Console
from rich.panel import Panel
from rich.text import Text

from promptkit.cli.app import (
    BatchSizeOpt,
    FormatChoice,
    InputFileOpt,
    InputOpt,
    LayoutOpt,
    PoolOpt,
    ReplyFormatOpt,
    SchemaStyleOpt,
    SeedOpt,
    SelectorOpt,
    ShotsOpt,
    TaskArg,
    TokenBudgetOpt,
    app,
    choice_option,
    input_path,
    read_cli_inputs,
    warn_shots,
    with_pool,
)
from promptkit.compiler import compile_batch, compile_prompt
from promptkit.prompt import Prompt
from promptkit.registry import load_task


@app.command()
def render(
    task: TaskArg,
    input_: InputOpt = None,
    input_file: InputFileOpt = None,
    shots: ShotsOpt = None,
    layout: LayoutOpt = None,
    batch_size: BatchSizeOpt = None,
    schema_style: SchemaStyleOpt = None,
    reply_format: ReplyFormatOpt = None,
    selector: SelectorOpt = None,
    seed: SeedOpt = None,
    token_budget: TokenBudgetOpt = None,
    pool: PoolOpt = None,
    format_: Annotated[
        FormatChoice,
        choice_option(
            "format", tuple(FormatChoice), "text for people, json for tools.", "--format"
        ),
    ] = FormatChoice.TEXT,
) -> None:
    """Print exactly what would be sent for each prompt, roles included."""
    loaded = with_pool(load_task(task), pool)
    with input_path(input_file) as path:
        values = list(read_cli_inputs(loaded, input_ or [], path, named=input_file))
    warn_shots(loaded, shots)
    size = batch_size or loaded.strategy.batch_size
    options: dict[str, Any] = {
        "shots": shots,
        "layout": layout,
        "schema_style": schema_style,
        "reply_format": reply_format,
        "selector": selector,
        "seed": seed,
        "token_budget": token_budget,
    }
    prompts = [
        compile_batch(loaded, values[start : start + size], **options)
        if size > 1
        else compile_prompt(loaded, values[start], **options)
        for start in range(0, len(values), size)
    ]
    if format_ == FormatChoice.JSON:
        for prompt in prompts:
            print(prompt.to_json(indent=None))
        return
    _show(prompts)


def _show(prompts: Sequence[Prompt]) -> None:
    console = Console()
    for number, prompt in enumerate(prompts, start=1):
        heading = f"prompt {number} of {len(prompts)}" if len(prompts) > 1 else ""
        if not console.is_terminal:
            if heading:
                print(f"=== {heading} ===")
            print(prompt.render_text(), end="")
            continue
        if heading:
            console.rule(heading)
        turns = (
            [("text", prompt.text)]
            if prompt.text is not None
            else [(message.role, message.content) for message in prompt.messages]
        )
        for role, content in turns:
            console.print(Panel(Text(content), title=role, title_align="left"))
