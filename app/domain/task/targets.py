"""Targets in Playwright's vocabulary: role+name, label, text, placeholder, test id, css."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

LOCATOR_KINDS = ("role", "label", "text", "placeholder", "test_id", "css", "selector")


class Target(BaseModel):
    """Where an action lands. A plain string in a task file is a Playwright selector."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str | None = None
    name: str | None = None  # accessible name, with role
    label: str | None = None
    text: str | None = None
    placeholder: str | None = None
    test_id: str | None = None
    css: str | None = None
    selector: str | None = None  # any Playwright selector ("text=…", "role=…", css, xpath)
    exact: bool = False
    nth: int | None = None  # pick one of several matches on purpose
    within: Target | None = None  # narrow the search to inside another target

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"selector": data}
        return data

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        kinds = [k for k in LOCATOR_KINDS if getattr(self, k) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(f"a target needs exactly one of {', '.join(LOCATOR_KINDS)} (found: {found})")
        if self.name is not None and self.role is None:
            raise ValueError("'name' goes with 'role' (e.g. {role: button, name: Save})")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in LOCATOR_KINDS if getattr(self, k) is not None)

    def describe(self) -> str:
        kind = self.kind
        if kind == "role":
            text = f"role={self.role}" + (f' name="{self.name}"' if self.name else "")
        else:
            text = f'{kind}="{getattr(self, kind)}"'
        if self.nth is not None:
            text += f" nth={self.nth}"
        if self.within is not None:
            text = f"{self.within.describe()} >> {text}"
        return text
