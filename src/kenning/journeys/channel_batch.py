"""The channel of many events in one query, each message parsed once.

``ChannelRules.sql`` reads each field it tests straight from the message's JSON text, where a
test names it: a dozen rules parse a 600-byte message some forty times. Here the paths the
rules read are extracted together (one parse), put back into a small document of those paths
alone, each field is read from that document once into a column, and the rules decide over
the columns (``ChannelRules.case_sql``): the same decision, as the tests hold it, for a
fraction of the parsing.
"""

from typing import Any

from kenning.journeys.channels import (
    EVENT,
    EXTERNAL_REFERRER_HOST,
    PAGE_HOST,
    REFERRER_HOST,
    SOURCE,
    TYPE,
    ChannelRules,
    field_sql,
)

# Where the host fields read their URL (channels.py: the referrer's and the page's).
_PAGE = "context.page"
_HOSTS = frozenset({REFERRER_HOST, PAGE_HOST, EXTERNAL_REFERRER_HOST})
_COLUMNS = frozenset({SOURCE, EVENT, TYPE})


def with_channel_sql(inner: str, rules: ChannelRules, when: str, params: list[Any]) -> str:
    """``inner``'s rows (columns payload, source_name, type and event among them) without
    the payload, with a column ``channel``: the channel where ``when`` holds, else NULL.
    ``params`` are the decision's, which the text reads before ``inner``'s."""
    paths = [f for f in rules.fields if f not in _COLUMNS and f not in _HOSTS]
    if any(f in _HOSTS for f in rules.fields):
        paths.append(_PAGE)
    extracted, document = _document_sql(paths, "payload", "__x")
    column = {f: f"__f{i}" for i, f in enumerate(rules.fields)}
    fields = ", ".join(
        f"CASE WHEN {when} THEN {field_sql(f, '__doc', 'source_name')} END AS {c}"
        for f, c in column.items()
    )
    decision = rules.case_sql(lambda f: column[f], params)
    # The decision's lists of values are planned as joins, each carrying every column
    # through: the message and its extracts are left behind first.
    return f"""SELECT * EXCLUDE ({", ".join(column.values())}),
                      CASE WHEN {when} THEN {decision} END AS channel
               FROM (SELECT * EXCLUDE (payload, __x, __doc), {fields}
                     FROM (SELECT *, CASE WHEN {when} THEN {document} END AS __doc
                           FROM (SELECT *, CASE WHEN {when} THEN {extracted} END AS __x
                                 FROM ({inner}))))"""


def _document_sql(paths: list[str], payload: str, values: str) -> tuple[str, str]:
    """(the values at ``paths``, extracted together from one parse of the message; a JSON
    document of those values alone, over the column ``values`` holding them). A path under
    another is covered by it."""
    kept = sorted({p for p in paths if not any(p.startswith(f"{q}.") for q in paths if q != p)})
    if not kept:
        return "NULL", "'{}'::JSON"
    quoted = ", ".join("'$." + ".".join(f'"{s}"' for s in p.split(".")) + "'" for p in kept)
    tree: dict[str, Any] = {}
    for i, path in enumerate(kept, start=1):
        node = tree
        *parents, last = path.split(".")
        for segment in parents:
            node = node.setdefault(segment, {})
        node[last] = f"{values}[{i}]"
    return f"json_extract({payload}, [{quoted}])", _object_sql(tree)


def _object_sql(tree: dict[str, Any]) -> str:
    items = ", ".join(
        f"'{key}', {_object_sql(value) if isinstance(value, dict) else value}"
        for key, value in tree.items()
    )
    return f"json_object({items})"
