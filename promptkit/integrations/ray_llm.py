"""Hooks for ``ray.data.llm.build_processor``: compile each row's prompt, parse each reply.

``ray.data.llm`` runs a Dataset through an engine in stages: ``preprocess``
turns a row into the engine's request, the engine stage answers it, and
``postprocess`` turns the answered row into the result. :func:`processor_hooks`
gives both for a task:

- ``preprocess`` compiles the row's prompt (shots and selection as the task's
  strategy says) into, for ``engine="http"``, an OpenAI-compatible chat
  ``payload`` (:class:`ray.data.llm.HttpRequestProcessorConfig`), or, for
  ``engine="vllm"``, ``messages`` and ``sampling_params`` with guided decoding
  from the task's reply schema (``structured_outputs.json``) for
  :class:`ray.data.llm.vLLMEngineProcessorConfig`.
- ``postprocess`` parses ``generated_text`` (vLLM) or ``http_response``
  (HTTP) into the row's columns, the output's fields as columns, and
  ``error`` (``type``, ``message``, ``raw``) for a reply that does not become
  an output. There is one pass: a reply is repaired locally but not re-asked
  (use :func:`promptkit.integrations.ray.map_task` for re-asks and packing).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Unpack

from pydantic import BaseModel, ValidationError

from promptkit.compiler import CompileOptions, check_options, compile_prompt
from promptkit.errors import BackendError, OutputError, validation_problems
from promptkit.output.parse import parse_with_report
from promptkit.prompt import GenerationParams, Prompt
from promptkit.registry import load_task
from promptkit.task import Task

Row = dict[str, Any]
Engine = Literal["http", "vllm"]

_COLUMNS = "promptkit_columns"  # the row's own columns, carried to postprocess
_PROBLEM = "promptkit_problem"  # why a row is not an input (its request is a stub)


def output_columns(task: Task) -> dict[str, str]:
    """Name each output field's column: the field's name, ``output.<name>`` when taken."""
    taken = {*task.input_model_class.model_fields, "error"}
    return {
        name: f"output.{name}" if name in taken else name for name in task.output_model.model_fields
    }


def processor_hooks(
    task: Task | str,
    *,
    engine: Engine = "http",
    model: str = "",
    base_url: str | None = None,
    params: GenerationParams | None = None,
    **options: Unpack[CompileOptions],
) -> tuple[Callable[[Row], Row], Callable[[Row], Row]]:
    """Return ``(preprocess, postprocess)`` for ``build_processor`` running ``task``.

    Args:
        task: the task, or its reference.
        engine: ``http`` (an OpenAI-compatible chat endpoint) or ``vllm``.
        model: the model named in HTTP payloads.
        base_url: the endpoint's ``/v1`` URL, so that the payload fits the server
            (OpenAI's own takes ``max_completion_tokens`` and no ``top_k``).
        params: generation settings (the task's when unset).
        **options: compile options (``shots``, ``layout``, ``selector``...).
    """
    from promptkit.backends.openai import OpenAIBackend

    chosen = load_task(task) if isinstance(task, str) else task
    check_options(dict(options))
    if (options.get("reply_format") or chosen.strategy.reply_format) == "table":
        raise ValueError("Ray Data LLM stages read JSON replies: use reply_format 'json'")
    settings = params or chosen.generation
    wire = OpenAIBackend(model or "model", base_url=base_url)
    fields = list(chosen.input_model_class.model_fields)
    columns = output_columns(chosen)

    def preprocess(row: Row) -> Row:
        value, problem = _input(chosen, row, fields)
        request: Row = {_COLUMNS: list(row), _PROBLEM: problem}
        if value is None:  # an engine stage needs a request for every row: a one-token stub
            prompt, call = None, settings.replace(max_tokens=1)
        else:
            prompt, call = compile_prompt(chosen, value, **options), settings
        if engine == "vllm":
            request.update(_vllm_request(prompt, call))
        elif prompt is None:
            stub = [{"role": "user", "content": "-"}]
            request["payload"] = {"model": wire.model, "messages": stub, "max_tokens": 1}
        else:
            from promptkit.jobs.batch_openai import openai_request_body

            request["payload"] = openai_request_body(wire, prompt, call)[1]
        return {**row, **request}

    def postprocess(row: Row) -> Row:
        kept = {name: row[name] for name in row.get(_COLUMNS) or () if name in row}
        result: Row = {**kept, **dict.fromkeys(columns.values())}
        problem = row.get(_PROBLEM)
        if problem:
            result["error"] = {"type": "InputError", "message": problem, "raw": None}
            return result
        value, _ = _input(chosen, kept, fields)
        try:
            text = _reply_text(row, wire)
            parsed = parse_with_report(text, chosen, source=value).value
        except (OutputError, BackendError) as error:
            result["error"] = {"type": type(error).__name__, "message": str(error),
                               "raw": getattr(error, "raw", None)}  # fmt: skip
            return result
        output = parsed.model_dump(mode="json")
        result.update({column: output.get(name) for name, column in columns.items()})
        result["error"] = None
        return result

    return preprocess, postprocess


def _input(task: Task, row: Row, fields: list[str]) -> tuple[BaseModel | None, str | None]:
    try:
        return task.make_input({name: row[name] for name in fields if name in row}), None
    except ValidationError as error:
        return None, f"invalid input: {'; '.join(validation_problems(error))}"


def _vllm_request(prompt: Prompt | None, params: GenerationParams) -> Row:
    sampling: Row = {"max_tokens": params.max_tokens}
    for name in ("temperature", "top_p", "top_k", "seed"):
        value = getattr(params, name)
        if value is not None:
            sampling[name] = value
    if prompt is None:
        return {"messages": [{"role": "user", "content": "-"}], "sampling_params": sampling}
    stops = params.stops_for(prompt)
    if stops:
        sampling["stop"] = list(stops)
    if prompt.reply_format == "json":  # a table's rows are read as text
        sampling["structured_outputs"] = {"json": prompt.json_schema}
    if prompt.text is not None:
        return {"prompt": prompt.text, "sampling_params": sampling}
    messages = [{"role": m.role, "content": m.content} for m in prompt.messages]
    return {"messages": messages, "sampling_params": sampling}


def _reply_text(row: Row, wire: Any) -> str:
    """The reply of an answered row: vLLM's ``generated_text``, or the HTTP response's."""
    if "generated_text" in row and row["generated_text"] is not None:
        return str(row["generated_text"])
    from promptkit.jobs.batch_openai import openai_completion

    response = row.get("http_response")
    if not isinstance(response, dict):
        raise BackendError(f"the row has no reply (http_response is {response!r})")
    try:
        return openai_completion(wire, response).text
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise BackendError(f"the reply is not a chat completion ({error!r}): "
                           f"{str(response)[:200]}") from None  # fmt: skip
