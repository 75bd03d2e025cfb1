"""The README's configuration table names every setting the engine reads."""

from __future__ import annotations

import pytest

from lead_engine.core.settings import Settings
from tests.support.servers import ROOT

README = (ROOT / "README.md").read_text()


def _env_names(name: str) -> list[str]:
    field = Settings.model_fields[name]
    alias = field.validation_alias
    choices = getattr(alias, "choices", None)
    return [str(choice) for choice in choices] if choices else [f"LEAD_ENGINE_{name.upper()}"]


@pytest.mark.parametrize("name", sorted(Settings.model_fields))
def test_readme_documents_setting(name: str) -> None:
    assert any(f"`{env}`" in README for env in _env_names(name)), f"{_env_names(name)[0]} is not in the README"


def test_readme_gives_the_two_commands() -> None:
    assert "./run.sh" in README and "./test.sh" in README
    assert "./test.sh" in (ROOT / ".ci" / "run").read_text()
