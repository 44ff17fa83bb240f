"""Message templates: Jinja2 in its sandbox, over what Kenning knows of the person.

A template reads ``traits`` (the profile's traits, nested: ``traits.address.city``),
``computed`` (computed traits by name), ``event`` (the triggering event's message, for an event
trigger), ``audience`` (the audience entered or left, for an audience trigger), ``profile_id``
and ``campaign``. The sandbox refuses attribute access to Python internals, so a template
written by a marketer cannot reach the server. A name the person lacks renders as nothing
(``{{ traits.first_name or "there" }}`` gives a fallback); a syntax error is refused when the
campaign is declared, with the field it is in.
"""

from collections.abc import Mapping
from typing import Any

from jinja2 import ChainableUndefined, TemplateSyntaxError, Undefined, select_autoescape
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from kenning.errors import FieldError


class _Sandbox(ImmutableSandboxedEnvironment):
    """The sandbox refusing unsafe attributes outright: by default it hands back an undefined
    that raises only when used, and a ``ChainableUndefined`` is never used up (it renders as
    nothing), so the refusal would pass silently."""

    def unsafe_undefined(self, obj: Any, attribute: str) -> Undefined:
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object")


def _nothing_for_null(value: Any) -> Any:
    # A JSON null (a trait set to null, no event for an audience trigger) is a value the
    # person lacks: nothing, not "None".
    return "" if value is None else value


# Templates are text: autoescaping is for the html body only (``render(..., html=True)``).
_TEXT = _Sandbox(undefined=ChainableUndefined, autoescape=False, finalize=_nothing_for_null)
_HTML = _Sandbox(
    undefined=ChainableUndefined,
    autoescape=select_autoescape(default=True),
    finalize=_nothing_for_null,
)
MAX_OUTPUT_CHARS = 100_000


class TemplateError(FieldError):
    """Bad input in a template."""


def check(source: str, field: str) -> None:
    """Refuse a template that does not parse."""
    try:
        _TEXT.parse(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"line {error.lineno}: {error.message}", field) from None


def render(source: str, context: Mapping[str, Any], *, html: bool = False) -> str:
    """The template rendered; a ``TemplateError`` when it fails at run time (a sandbox
    refusal, a filter given the wrong type, output too long)."""
    env = _HTML if html else _TEXT
    try:
        text: str = env.from_string(source).render(context)
    except SecurityError as error:
        raise TemplateError(f"refused by the sandbox: {error}", "template") from None
    except Exception as error:  # a template's own error (a bad filter argument, 1/0, ...)
        raise TemplateError(f"{type(error).__name__}: {error}", "template") from None
    if len(text) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"renders to more than {MAX_OUTPUT_CHARS} characters", "template")
    return text
