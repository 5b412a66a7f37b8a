"""Web chat configuration (section `webchat` of config.yaml)."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

ORIGIN = re.compile(r"^https://[a-z0-9.-]+(:[0-9]{1,5})?$")


class WebChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Serve the chat at /chat.
    enabled: bool = True
    # Sites allowed to show the chat in a frame (e.g. https://truong-abc.edu.vn); none by default.
    frame_ancestors: list[str] = Field(default_factory=list, max_length=50)
    # Messages one address may send per minute (a school's shared address needs room); past it the
    # student is told kindly, with 111 and 113, and the message is not analysed.
    per_address_per_minute: int = Field(default=60, ge=1, le=6000)

    @field_validator("frame_ancestors")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        for value in values:
            if not ORIGIN.match(value):
                raise ValueError(f"{value!r} must be an https origin like https://school.edu.vn")
        return values
