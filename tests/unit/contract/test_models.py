import json

import pydantic
import pytest

from chorus.contract import limits
from chorus.contract.models import JobRecord, JobRequest, Subtask, describe_validation_error


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"task": ""}, "task: task must not be empty"),
        ({"task": " \n"}, "task: task must not be empty"),
        ({"task": "x" * (limits.MAX_TASK_CHARS + 1)}, "task: String should have at most"),
        ({"task": "ok", "context": [1]}, "context: context must be a JSON object"),
        ({"task": "ok", "context": "s"}, "context: context must be a JSON object"),
        ({"task": "ok", "options": {"max_subtasks": 0}}, "options.max_subtasks"),
        ({"task": "ok", "options": {"max_subtasks": 21}}, "options.max_subtasks"),
        ({"task": "ok", "job_id": "../etc"}, "job_id:"),
        ({"task": "ok", "options": {"worker_model": "bad model"}}, "options.worker_model"),
        ({"task": "ok", "context": {"k": "v" * limits.MAX_CONTEXT_BYTES}}, "bytes; the limit"),
    ],
)
def test_bad_requests_get_one_readable_line(payload: dict[str, object], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        JobRequest.model_validate(payload)
    text = describe_validation_error(caught.value)
    assert message in text
    assert "\n" not in text and "Value error" not in text


def test_defaults_and_unknown_fields_are_ignored_for_rolling_deploys() -> None:
    request = JobRequest.model_validate({"task": "t", "from_the_future": 1, "options": {"x": 2}})
    assert request.options.max_subtasks == limits.DEFAULT_MAX_SUBTASKS
    assert request.context == {} and request.job_id is None
    assert Subtask.model_validate({"index": 0, "type": "a", "description": "d", "new": True})


def test_braces_survive_a_round_trip() -> None:
    request = JobRequest(task='Explain {x} and f"{y}"', context={"{k}": "{v}"})
    assert JobRequest.model_validate_json(request.model_dump_json()) == request


def test_record_json_schema_is_valid_json() -> None:
    assert json.dumps(JobRecord.model_json_schema())


def test_tiers_name_models_by_short_lowercase_names() -> None:
    import pydantic

    from chorus.contract.models import JobOptions

    assert JobOptions(tiers={"fast": "claude-haiku-5-5"}).tiers == {"fast": "claude-haiku-5-5"}
    for bad in ({"Fast": "m"}, {"fast": "bad model"}, {}, {f"t{n}": "m" for n in range(9)}):
        with pytest.raises(pydantic.ValidationError):
            JobOptions(tiers=bad)
