"""Message templates: what they read (traits, computed traits, the triggering event or
audience), what a missing value renders as, what the sandbox refuses, escaping in html mode
only, the output limit, and syntax errors refused with the field they are in."""

from typing import Any

import pytest

from kenning.activation.templates import MAX_OUTPUT_CHARS, TemplateError, check, render

CONTEXT: dict[str, Any] = {
    "traits": {
        "first_name": "Ada",
        "middle_name": None,
        "address": {"city": "Paris"},
        "tags": ["vip", "early"],
    },
    "computed": {"lifetime_value": 1234.5, "orders": 3},
    "event": {"event": "Order Completed", "properties": {"total": 25, "currency": "EUR"}},
    "audience": None,
    "profile_id": 42,
    "campaign": "thanks",
}

RENDERED = [
    ("Hi {{ traits.first_name }}", "Hi Ada"),
    ("{{ traits.address.city }}", "Paris"),
    ("{{ traits['address']['city'] }}", "Paris"),
    ("{{ traits.tags | join(', ') }}", "vip, early"),
    ("{{ traits.tags[0] }}", "vip"),
    ("{{ computed.lifetime_value }} over {{ computed.orders }}", "1234.5 over 3"),
    ("{{ '%.2f' | format(computed.lifetime_value) }}", "1234.50"),
    ("{{ event.properties.total }} {{ event.properties.currency }}", "25 EUR"),
    ("{{ event.event | upper }}", "ORDER COMPLETED"),
    ("#{{ profile_id }} in {{ campaign }}", "#42 in thanks"),
    ("{% if computed.orders > 2 %}loyal{% else %}new{% endif %}", "loyal"),
    ("{% for t in traits.tags %}[{{ t }}]{% endfor %}", "[vip][early]"),
    ("{{ traits.first_name.upper() }}", "ADA"),
]


@pytest.mark.parametrize(("source", "expected"), RENDERED)
def test_a_template_reads_what_kenning_knows(source: str, expected: str) -> None:
    check(source, "message.body")
    assert render(source, CONTEXT) == expected


MISSING = [
    ("[{{ traits.last_name }}]", "[]"),
    ("[{{ traits.address.street.number }}]", "[]"),
    ("[{{ computed.nothing }}]", "[]"),
    ("[{{ traits.middle_name }}]", "[]"),
    ("Hi {{ traits.middle_name or 'there' }}", "Hi there"),
    ("[{{ audience }}]", "[]"),
    ("[{{ audience.name }}]", "[]"),
    ("[{{ nobody.knows.this }}]", "[]"),
    ("[{{ traits.missing }}]", "[]"),
    ("Hi {{ traits.nickname or 'there' }}", "Hi there"),
    ("Hi {{ traits.nickname | default('you') }}", "Hi you"),
    ("{% if traits.last_name %}x{% else %}none{% endif %}", "none"),
    ("{% for x in traits.missing_list %}{{ x }}{% endfor %}.", "."),
]


@pytest.mark.parametrize(("source", "expected"), MISSING)
def test_a_value_the_person_lacks_renders_as_nothing(source: str, expected: str) -> None:
    assert render(source, CONTEXT) == expected


def test_the_context_is_not_changed_by_rendering() -> None:
    context = {"traits": {"tags": ["a"]}}
    with pytest.raises(TemplateError):
        render("{{ traits.tags.append('b') }}", context)
    assert context == {"traits": {"tags": ["a"]}}


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ traits.__class__ }}",
    "{{ traits['__class__'] }}",
    "{{ traits | attr('__class__') }}",
    "{{ traits.first_name.__len__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ traits.missing.__class__ }}",
    "{{ traits.update({'x': 1}) }}",
    "{{ traits.tags.pop() }}",
    "{% set x = traits.__class__ %}{{ x }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_the_sandbox_refuses_python_internals(source: str) -> None:
    context = {"traits": {"first_name": "Ada", "tags": ["a"]}}
    with pytest.raises(TemplateError) as caught:
        render(source, context)
    assert caught.value.field == "template"
    assert "refused by the sandbox" in caught.value.message
    assert context == {"traits": {"first_name": "Ada", "tags": ["a"]}}


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ traits.first_name | round }}", "TypeError"),
        ("{% for x in range(1000000) %}{% endfor %}", "Range too big"),
    ],
)
def test_a_failure_at_run_time_is_a_template_error(source: str, error: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render(source, CONTEXT)
    assert error in caught.value.message
    assert str(caught.value).startswith("template: ")


def test_html_is_escaped_in_html_mode_only() -> None:
    context = {"traits": {"first_name": "<script>alert('x')</script> & co"}}
    source = "<p>Hi {{ traits.first_name }}</p>"
    assert render(source, context) == "<p>Hi <script>alert('x')</script> & co</p>"
    assert render(source, context, html=True) == (
        "<p>Hi &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co</p>"
    )


def test_html_mode_keeps_what_the_template_marks_safe() -> None:
    context = {"traits": {"bio": "<b>bold</b>"}}
    assert render("{{ traits.bio | safe }}", context, html=True) == "<b>bold</b>"
    assert render("{{ traits.bio }}", context, html=True) == "&lt;b&gt;bold&lt;/b&gt;"


def test_output_is_limited() -> None:
    at_limit = f"{{{{ 'x' * {MAX_OUTPUT_CHARS} }}}}"
    assert len(render(at_limit, {})) == MAX_OUTPUT_CHARS
    with pytest.raises(TemplateError) as caught:
        render(f"{{{{ 'x' * {MAX_OUTPUT_CHARS + 1} }}}}", {})
    assert caught.value.message == f"renders to more than {MAX_OUTPUT_CHARS} characters"
    # Escaping counts: the limit is on what is sent.
    with pytest.raises(TemplateError):
        render(f"{{{{ '<' * {MAX_OUTPUT_CHARS // 4 + 1} }}}}", {}, html=True)


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("Hi {{ traits.first_name", 1),
        ("Hi\n{% if x %}\nno end", 2),
        ("{{ }}", 1),
        ("a\nb\n{{ x | }}", 3),
        ("{% endfor %}", 1),
    ],
)
def test_a_syntax_error_is_refused_with_its_field_and_line(source: str, line: int) -> None:
    with pytest.raises(TemplateError) as caught:
        check(source, "message.subject")
    assert caught.value.field == "message.subject"
    assert caught.value.message.startswith(f"line {line}: ")


def test_check_accepts_what_render_can_render() -> None:
    for source, _ in RENDERED + MISSING:
        check(source, "message.body")
