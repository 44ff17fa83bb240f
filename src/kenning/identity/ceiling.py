"""The evidence ceiling: the best score any resolver could reach on the log, without joining
two people.

A resolver joins touches by what they share. Where one person's touches share nothing (a
browser the person never signed in on, an app never linked to an account), no resolver can
join them to the rest of that person without joining them to anybody else just as well. Scored
against ground truth, such touches cost recall whatever the resolver does; the ceiling says how
much, so that a score can be read against what the data allows rather than against 1.0.

The ceiling's clusters, per person of the truth:

- the log's events and identifiers are grouped into *evidence groups*: connected by the
  identifiers the events carry (every identifier stitching reads, under the rules' blocked
  values, with no limits and no overrides);
- every group holding a *personal* identifier (anything but the device-scoped types:
  anonymous ids, device ids, advertising ids, push tokens) is joined into one cluster for the
  person, as probabilistic matching at its best would join them;
- each group of device-scoped identifiers alone stays a cluster of its own.

An event that carries no identifier (its ids all blocked values) is a cluster of its own, as
in the graph.

It is optimistic: a group is counted as the person's when any of its touches are, even where
a device shared by two people holds it, and every personal group of a person is joined, even
where names and addresses disagree. So no resolver that keeps people apart scores above it on
the evidence of identifiers and of the traits matching compares, with one exception it does
not reach for: a device-scoped group whose events carry such traits (a name, an address, a
birthday) but no personal identifier could be joined by matching, and stays apart here (the
synthetic brand has none). Signals that are not identifiers (an IP address, a user agent, the
times of visits) are not evidence here. Its precision is 1 by construction.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from kenning.identity.evaluate import Clusters, Scores, TruthError, score_truth
from kenning.identity.log_links import Codes, LogLinks, read_log_links, supported
from kenning.store.store import Store

# Identifier types that name a device or a browser, not a person.
DEVICE_TYPES = frozenset({"anonymous_id", "device_id", "advertising_id", "push_token"})


class CeilingUnavailable(TruthError):
    """The rules' custom paths cannot be read in bulk, as the ceiling reads identifiers."""


def evidence_ceiling(store: Store, truth: Sequence[Path]) -> Scores:
    """Score the evidence ceiling's clusters (see the module's docstring) against the truth
    files, as ``evaluate`` scores the graph's profiles."""
    rules = store.identity.rules
    if not supported(rules):
        raise CeilingUnavailable(
            "the evidence ceiling reads identifiers in bulk, which these rules' custom paths "
            "do not allow"
        )
    with store.reader() as con:
        links = read_log_links(con, rules)
        group, personal = evidence_groups(links)
        events = len(links.seq)
        con.register(
            "__kenning_ceiling_events",
            pa.table({"seq": links.seq, "grp": group[:events], "personal": personal[:events]}),
        )
        con.register(
            "__kenning_ceiling_identifiers",
            pa.table(
                {
                    "type": [i.type for i in links.identifiers],
                    "value": [i.value for i in links.identifiers],
                    "grp": group[events:],
                    "personal": personal[events:],
                }
            ),
        )
        try:
            return score_truth(con, truth, rules, _CEILING)
        finally:
            con.unregister("__kenning_ceiling_events")
            con.unregister("__kenning_ceiling_identifiers")


# An item's cluster: its person's joined cluster when its group holds a personal identifier,
# else its group's, apart for each person in it (the ceiling never joins two people). An event
# without an identifier is in no group: its cluster is NULL, which scoring counts as a cluster
# of its own, as it does an unresolved event of the graph.
_CEILING = Clusters(
    events="""(SELECT e.source_id, e.message_id, c.grp, c.personal
               FROM __kenning_events e LEFT JOIN __kenning_ceiling_events c USING (seq))""",
    identifiers="__kenning_ceiling_identifiers",
    cluster="CASE WHEN personal THEN 'person ' || truth ELSE 'group ' || grp || ' ' || truth END",
)


def evidence_groups(links: LogLinks) -> tuple[Codes, npt.NDArray[np.bool_]]:
    """Each event's and each identifier's evidence group (events first, in log order, then
    identifiers by code), and whether that group holds a personal identifier.

    >>> from kenning.identity.identifiers import Identifier
    >>> codes = lambda *v: np.array(v, dtype=np.int64)
    >>> links = LogLinks(
    ...     seq=codes(1, 2, 3),
    ...     offsets=codes(0, 1, 3, 4),
    ...     codes=codes(0, 0, 1, 2),
    ...     identifiers=[Identifier("anonymous_id", "a1"), Identifier("email", "e@x.com"),
    ...                  Identifier("anonymous_id", "a2")],
    ...     events=None,  # type: ignore[arg-type]
    ... )
    >>> group, personal = evidence_groups(links)
    >>> bool(group[0] == group[1] != group[2]), personal.tolist()
    (True, [True, True, False, True, True, False])
    """
    # Imported here: scipy takes a while to load, and a server or a command that never asks
    # for the ceiling should not wait for it.
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    events, identifiers = len(links.seq), len(links.identifiers)
    nodes = events + identifiers
    event_of_link = np.repeat(np.arange(events), np.diff(links.offsets))
    edges = coo_matrix(
        (np.ones(len(links.codes), dtype=np.int8), (event_of_link, events + links.codes)),
        shape=(nodes, nodes),
    )
    count, group = connected_components(edges, directed=False)
    is_personal = np.fromiter(
        (i.type not in DEVICE_TYPES for i in links.identifiers), dtype=bool, count=identifiers
    )
    personal_groups = np.zeros(count, dtype=bool)
    personal_groups[group[events:][is_personal]] = True
    return group.astype(np.int64), personal_groups[group]
