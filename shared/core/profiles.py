"""The registered profiles and how a job takes one: the profile's fields are defaults, the
fields the job gives inline win, and the merged request is validated again (its templates
against its own context). Pure; `chorus.runtime.profiles` reads them from files."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from chorus.contract.models import JobRequest, ProfileOptions, describe_validation_error
from chorus.contract.profiles import Profile, ProfileSummary
from chorus.errors import InvalidRequest

# Options that carry instructions or shapes: what CHORUS_INLINE_PROMPTS=false keeps to profiles.
INSTRUCTION_FIELDS = ("prompts", "output_schema", "synthesis_schema")


class Profiles:
    def __init__(self, profiles: Mapping[str, Profile]) -> None:
        self._profiles = dict(sorted(profiles.items()))

    def names(self) -> list[str]:
        return list(self._profiles)

    def summaries(self) -> list[ProfileSummary]:
        return [ProfileSummary(name=p.name, description=p.description) for p in self]

    def __iter__(self) -> Any:
        return iter(self._profiles.values())

    def find(self, name: str) -> Profile | None:
        return self._profiles.get(name)

    def get(self, name: str) -> Profile:
        found = self._profiles.get(name)
        if found is None:
            known = ", ".join(self._profiles) or "none are registered"
            raise InvalidRequest(f"options.profile: no profile {name!r} (known: {known})")
        return found

    def resolve(self, request: JobRequest, *, inline_allowed: bool = True) -> JobRequest:
        """The request with its profile's fields as defaults. Raises InvalidRequest for an
        unknown profile, for inline prompts or schemas when they are not allowed, and for a
        merged request that does not validate (a profile template naming a context key the
        job does not bring)."""
        given = request.options.model_fields_set
        inline = sorted(f for f in INSTRUCTION_FIELDS if getattr(request.options, f) is not None)
        if not inline_allowed and inline:
            fields = ", ".join(f"options.{f}" for f in inline)
            known = ", ".join(self._profiles) or "none are registered"
            raise InvalidRequest(
                f"{fields}: inline prompts and schemas are turned off here "
                f"(CHORUS_INLINE_PROMPTS=false); choose a profile (known: {known})"
            )
        if request.options.profile is None:
            return request
        profile = self.get(request.options.profile)
        defaults = profile.model_dump(include=set(ProfileOptions.model_fields), exclude_unset=True)
        options = {**defaults, **request.options.model_dump(include=given)}
        payload = {**request.model_dump(exclude={"options"}), "options": options}
        try:
            return JobRequest.model_validate(payload)
        except pydantic.ValidationError as exc:
            reason = describe_validation_error(exc)
            raise InvalidRequest(f"with profile {profile.name!r}: {reason}") from exc
