"""A scripted backend: replies from a queue and records what it was sent.

The test double at the transport boundary, shipped in the library so that
users test their own tasks and run loops without a model::

    backend = ScriptedBackend(['{"colour": "red"}'])
    result = run(task, "red shirt", backend=backend)
    assert backend.prompts[0].messages[-1].content == 'Search: "red shirt"'
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from promptkit._types import Layout
from promptkit.backends.base import Completion, GenerationParams
from promptkit.errors import BackendError
from promptkit.prompt import Prompt

Reply = str | Completion | BackendError | Callable[[Prompt, GenerationParams], "str | Completion"]


@dataclass(frozen=True, slots=True)
class Call:
    """One recorded call: the prompt and the parameters the backend was sent."""

    prompt: Prompt
    params: GenerationParams


class ScriptedBackend:
    """Answer each call with the next scripted reply, and record every call.

    Each reply is a string (a complete reply), a :class:`Completion` (to
    script a finish reason or token counts), a :class:`BackendError` (raised),
    or a function of the prompt and parameters returning either. A call with
    no reply left raises a non-retryable :class:`BackendError`.

    Args:
        replies: the replies, in order.
        layout: the layout to report (``"completion"`` to act as a base model).
        model: the model name to put in completions.
    """

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        layout: Layout | None = None,
        model: str = "scripted",
    ) -> None:
        self._replies: deque[Reply] = deque(replies)
        self._layout: Layout | None = layout
        self._model = model
        self.calls: list[Call] = []

    @property
    def name(self) -> str:
        """The backend's name in reports."""
        return f"scripted:{self._model}"

    @property
    def layout(self) -> Layout | None:
        """The layout this backend asks for."""
        return self._layout

    @property
    def prompts(self) -> list[Prompt]:
        """The prompts sent so far, in order."""
        return [call.prompt for call in self.calls]

    @property
    def remaining(self) -> int:
        """How many scripted replies have not been used."""
        return len(self._replies)

    def add(self, *replies: Reply) -> None:
        """Queue more replies."""
        self._replies.extend(replies)

    def complete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Return the next scripted reply for this prompt."""
        self.calls.append(Call(prompt, params))
        if not self._replies:
            raise BackendError(
                f"scripted backend has no reply left for call {len(self.calls)}; "
                "script one more reply",
                retryable=False,
            )
        reply = self._replies.popleft()
        if isinstance(reply, BackendError):
            raise reply
        if callable(reply):
            reply = reply(prompt, params)
        if isinstance(reply, Completion):
            return reply
        return Completion(
            text=reply,
            finish_reason="stop",
            prompt_tokens=_words(prompt),
            completion_tokens=len(reply.split()),
            model=self._model,
        )

    async def acomplete(self, prompt: Prompt, params: GenerationParams) -> Completion:
        """Async form of :meth:`complete`."""
        return self.complete(prompt, params)


def _words(prompt: Prompt) -> int:
    """Count words as a stand-in for tokens, so usage sums are testable."""
    if prompt.text is not None:
        return len(prompt.text.split())
    return sum(len(message.content.split()) for message in prompt.messages)
