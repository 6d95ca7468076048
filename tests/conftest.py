"""Shared test fixtures and the --update-golden flag."""

from __future__ import annotations

import signal

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite the golden prompt files instead of comparing against them",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture(autouse=True, scope="session")
def _sigint_reaches_the_commands_tests_start() -> None:
    """Give SIGINT a handler when the test run was started with it ignored.

    A shell starts a background job (``&``, ``nohup``) with SIGINT ignored, and an
    ignored signal stays ignored across ``exec``: every promptkit command the tests
    start would then ignore the Ctrl-C the tests send it. A handled signal is reset
    to its default in a child, so with Python's own handler here the commands
    start as they do from a terminal.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
