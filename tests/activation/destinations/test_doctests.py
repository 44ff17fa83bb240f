"""The examples in the destinations' docstrings run."""

import doctest
import importlib

import pytest

MODULES = ["base", "files", "mapping", "network", "segment", "smtp", "transport", "webhook"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"kenning.activation.destinations.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0
