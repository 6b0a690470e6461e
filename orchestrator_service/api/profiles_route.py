"""`GET /v1/profiles` and `GET /v1/profiles/{name}`: the profiles a job may select."""

from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from chorus.contract.profiles import Profile, ProfileSummary
from chorus.core.profiles import Profiles
from chorus.orchestrator_service.api.openapi import errors


def add_profile_routes(api: FastAPI, profiles: Profiles, tenant: object) -> None:
    Tenant = Annotated[str, Depends(tenant)]

    @api.get(
        "/v1/profiles",
        response_model=list[ProfileSummary],
        tags=["profiles"],
        responses=errors(401, 503),
    )
    def list_profiles(who: Tenant) -> list[ProfileSummary]:
        """Every registered profile: its name and what it is for."""
        return profiles.summaries()

    @api.get(
        "/v1/profiles/{name}",
        response_model=Profile,
        tags=["profiles"],
        responses=errors(401, 404, 422, 503),
    )
    def get_profile(name: str, who: Tenant) -> Profile | JSONResponse:
        """One profile in full: prompts, schemas, models, limits and budgets."""
        found = profiles.find(name)
        if found is None:
            known = ", ".join(profiles.names())
            return JSONResponse({"error": f"no profile {name!r} (known: {known})"}, 404)
        return found
