"""The error tree: one base, definition errors are ValueErrors, every public error pickles whole."""

from __future__ import annotations

import pickle

import pytest
from pydantic import BaseModel, ValidationError

import promptkit
from promptkit import errors
from promptkit.errors import (
    BackendError,
    DataError,
    DefinitionError,
    ErrorDetail,
    JobFileError,
    OutputError,
    PromptkitError,
    ReplyReadError,
    TaskDefinitionError,
    TaskNotFoundError,
    UnsupportedType,
    validation_problems,
)

CASES: list[PromptkitError] = [
    TaskDefinitionError("apparel-search", ["example 3 output, field 'colour': bad", "name x"]),
    TaskNotFoundError("no task named 'x'"),
    UnsupportedType("when", complex, "use str"),
    OutputError(
        "not valid",
        raw='{"colour": 3',
        errors=[ErrorDetail(("colour",), "not a string", 3)],
        truncated=True,
    ),
    ReplyReadError("no JSON value here", 7),
    BackendError("HTTP 503", status=503, retryable=True, retry_after=2.5),
    JobFileError("no column 'search'"),
    DataError("line 3: field 'colour': bad"),
]


@pytest.mark.parametrize("error", CASES, ids=[type(case).__name__ for case in CASES])
def test_every_error_survives_pickling_with_its_fields(error: PromptkitError) -> None:
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error)
    assert vars(again) == vars(error)
    assert again.args == error.args


def test_output_and_backend_errors_keep_what_a_caller_acts_on() -> None:
    output = pickle.loads(pickle.dumps(CASES[3]))
    assert isinstance(output, OutputError)
    assert output.raw == '{"colour": 3'
    assert output.errors == (ErrorDetail(("colour",), "not a string", 3),)
    assert output.truncated is True
    backend = pickle.loads(pickle.dumps(CASES[5]))
    assert isinstance(backend, BackendError)
    assert (backend.status, backend.retryable, backend.retry_after) == (503, True, 2.5)


def test_every_error_class_is_in_the_tree() -> None:
    classes = [
        value
        for value in vars(errors).values()
        if isinstance(value, type)
        and issubclass(value, Exception)
        and value.__module__ == errors.__name__
    ]
    assert {cls.__name__ for cls in classes} >= {type(case).__name__ for case in CASES}
    for cls in classes:
        assert issubclass(cls, PromptkitError), cls
    for cls in (TaskDefinitionError, TaskNotFoundError, UnsupportedType):
        assert issubclass(cls, DefinitionError)
        assert issubclass(cls, ValueError)


def test_data_error_is_exported() -> None:
    assert promptkit.DataError is DataError


def test_validation_problems_name_the_field_the_message_and_the_value() -> None:
    class Model(BaseModel):
        count: int
        name: str

    with pytest.raises(ValidationError) as caught:
        Model.model_validate({"count": "many"})
    assert validation_problems(caught.value) == [
        "field 'count': Input should be a valid integer, unable to parse string as an integer "
        "(got 'many')",
        "field 'name': Field required",
    ]
