"""The base of every wire model: unknown fields are ignored, so a newer producer and an older
consumer survive a rolling deploy."""

from pydantic import BaseModel, ConfigDict


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore")
