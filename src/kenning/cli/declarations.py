"""Declarations read from files: a YAML (or JSON) mapping, refused in one readable line."""

from pathlib import Path
from typing import Any

import yaml

from kenning.cli.backend import CommandError


def read_declaration(file: Path, holds: str) -> dict[str, Any]:
    """The mapping in FILE; ``holds`` says what it should hold ("an audience: name, ...")."""
    try:
        spec = yaml.safe_load(file.read_text())  # YAML reads JSON too
    except OSError as error:
        raise CommandError(f"cannot read {file}: {error.strerror}") from None
    except yaml.YAMLError as error:
        raise CommandError(f"{file} is not valid YAML or JSON: {error}") from None
    if not isinstance(spec, dict):
        raise CommandError(f"{file} must hold {holds}")
    return spec
