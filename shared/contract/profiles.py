"""A profile: a named, registered set of job options (prompts, schemas, models, limits,
budgets) that a job selects with `options.profile`; fields the job gives inline win."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from chorus.contract.models import PROFILE_NAME, ProfileOptions


class Profile(ProfileOptions):
    # Operators write these by hand: a misspelt field is an error, not ignored.
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=PROFILE_NAME)
    description: str = Field(min_length=1, max_length=1_000)


class ProfileSummary(BaseModel):
    """One line of `GET /v1/profiles`."""

    name: str
    description: str
