"""The Markov chain model (Anderl et al. 2014), with removal effects solved exactly.

States are the last ``order`` channels touched (a tuple), plus *start*, *conversion* and
*null*. Each path adds its traffic (conversions + nulls) to every transition along it, then
its conversions to the step from its last state into *conversion* and its nulls to the step
into *null*; a state's transition probabilities are its counts over its outflow.

Removing channel ``c`` sends every transition into a state containing ``c`` to *null*; its
removal effect is ``1 - P(conversion | c removed) / P(conversion)``. Both probabilities are
absorption probabilities of the chain, found by solving ``(I - Q) x = r`` over the transient
states (``Q`` their transitions among themselves, ``r`` their one-step conversion
probability) with a sparse LU factorisation: exact, where ChannelAttribution estimates them
by simulating random walks. Value is the same solve with ``r`` the one-step expected
conversion value, so a channel's value removal effect is the share of expected value lost
without it.

A channel's credit is its removal effect over the sum of all removal effects, times the total
conversions (and, with the value removal effects, times the total value).

Repeated touches of a channel are kept. A self-transition (order 1: ``a > a``) only delays
absorption and changes no absorption probability, so at order 1 keeping or collapsing repeats
gives the same answer; at higher orders ``a > a > b`` has the state ``(a, a)`` that
``a > b`` has not.

``first_states``: how a path begins at order > 1. ``"prefixes"`` (the default) walks
``(a) -> (a, b) -> (a, b, c)`` until ``order`` touches are known; ``"windows"`` starts at the
first full window ``(a, b, c)`` (a path shorter than ``order`` is one state), as
ChannelAttribution does. At order 1 they are the same.
"""

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from kenning.attribution.credit import Credit
from kenning.attribution.journeys import Bools, Floats, Journeys, Paths, Sequences, sum_by
from kenning.errors import FieldError

MAX_ORDER = 4
# Chains up to this many transient states are solved by a sparse LU factorisation. Beyond,
# the LU of a higher-order chain fills in badly (order 4 over 10 channels: 11,032 states,
# 24M non-zeros in its factors, 17 s a solve), so the absorption series is summed instead
# (``_neumann``: a sparse product per step, a few hundred steps at most on journeys of tens
# of touches) to machine precision, with the factorisation as fallback.
DIRECT_LIMIT = 2_000
STEP_LIMIT = 1e-16
MAX_STEPS = 20_000
FirstStates = Literal["prefixes", "windows"]


@dataclass(frozen=True, eq=False)
class Chain:
    """The fitted chain. Transient state 0 is *start*; state ``i > 0`` is the channel tuple
    ``states[i - 1]`` (oldest first). ``transitions[i, j]`` counts steps between transient
    states, ``converted[i]`` and ``lost[i]`` the steps from ``i`` into *conversion* and
    *null*, ``value[i]`` the value converted from ``i``."""

    names: tuple[str, ...]
    states: tuple[tuple[int, ...], ...]
    contains: Bools  # [state, channel]: whether the transient state holds the channel
    transitions: Any  # scipy.sparse.csr_matrix, counts
    converted: Floats
    lost: Floats
    value: Floats

    @property
    def outflow(self) -> Floats:
        total: Floats = (
            np.asarray(self.transitions.sum(axis=1)).reshape(-1) + self.converted + self.lost
        )
        return total


@dataclass(frozen=True, eq=False)
class RemovalEffects:
    """Per channel: the share of conversions (``conversion``) and of expected value
    (``value``) lost when the channel is removed; and the chain's conversion probability and
    expected value per journey, with nothing removed."""

    names: tuple[str, ...]
    conversion: Floats
    value: Floats
    conversion_probability: float
    expected_value: float


def fit_chain(data: Sequences, *, order: int = 1, first_states: FirstStates = "prefixes") -> Chain:
    """The transition counts of the order-``order`` chain over ``data`` (paths, or journeys
    counted one each: a converting journey ends in conversion, the others in null)."""
    if not 1 <= order <= MAX_ORDER:
        raise FieldError(f"the Markov order must be 1 to {MAX_ORDER}, not {order}", "order")
    if first_states not in ("prefixes", "windows"):
        raise FieldError("first_states must be 'prefixes' or 'windows'", "first_states")
    sp = _sparse()
    conversions, nulls = _ends(data)
    traffic = conversions + nulls
    size = len(data.names)
    base = size + 1
    lengths = data.lengths
    position = data.position_of_touch()
    owner = data.sequence_of_touch()
    codes = data.channels.astype(np.int64) + 1
    # Each touch's state as an integer: the last ``order`` codes (1-based, 0 where the path
    # has no touch that far back) as the digits of a number in base ``size + 1``; order 4
    # over 32,768 channels still fits in int64.
    key = np.zeros(len(codes), dtype=np.int64)
    for back in range(order):
        digit = np.zeros(len(codes), dtype=np.int64)
        digit[back:] = codes[: len(codes) - back] if back else codes
        digit[position < back] = 0
        key += digit * base**back
    first_position = 0 if first_states == "prefixes" else order - 1
    emitted = position >= np.minimum(first_position, lengths[owner] - 1)
    weighted = traffic[owner] > 0
    keep = emitted & weighted
    unique_keys, state = np.unique(key[keep], return_inverse=True)
    state = state.reshape(-1) + 1
    kept_owner = owner[keep]
    starts_path = np.ones(len(state), dtype=bool)
    starts_path[1:] = kept_owner[1:] != kept_owner[:-1]
    previous = np.zeros(len(state), dtype=np.int64)
    previous[1:] = state[:-1]
    previous[starts_path] = 0
    ends_path = np.ones(len(state), dtype=bool)
    ends_path[:-1] = starts_path[1:]
    count = len(unique_keys) + 1
    transitions = sp.csr_matrix(
        (traffic[kept_owner], (previous, state)), shape=(count, count), dtype=np.float64
    )
    transitions.sum_duplicates()
    last_state, last_owner = state[ends_path], kept_owner[ends_path]
    digits = (unique_keys[:, None] // base ** np.arange(order)) % base
    contains = np.zeros((count, size), dtype=bool)
    rows = np.repeat(np.arange(1, count), order)
    flat = digits.reshape(-1)
    contains[rows[flat > 0], flat[flat > 0] - 1] = True
    return Chain(
        names=data.names,
        states=tuple(tuple(int(d) - 1 for d in reversed(row) if d) for row in digits),
        contains=contains,
        transitions=transitions,
        converted=sum_by(last_state, conversions[last_owner], count),
        lost=sum_by(last_state, nulls[last_owner], count),
        value=sum_by(last_state, data.values[last_owner], count),
    )


def _sparse() -> Any:
    # scipy is imported only when a chain is solved: importing kenning stays quick.
    import scipy.sparse

    return scipy.sparse


def _ends(data: Sequences) -> tuple[Floats, Floats]:
    if isinstance(data, Paths):
        return data.conversions, data.nulls
    if isinstance(data, Journeys):
        return data.conversions, (data.conversions == 0).astype(np.float64)
    raise TypeError(f"expected Paths or Journeys, not {type(data).__name__}")


def absorption(
    chain: Chain, removed: Bools | None = None, *, direct_limit: int | None = None
) -> tuple[float, float]:
    """From *start*: the probability of reaching *conversion* and the expected value
    converted, with the transient states in ``removed`` sent to *null*."""
    outflow = chain.outflow
    flowing = outflow > 0
    if not flowing[0]:
        return 0.0, 0.0
    keep = flowing if removed is None else flowing & ~removed
    keep[0] = True
    index = np.flatnonzero(keep)
    sp = _sparse()
    q = (sp.diags(1.0 / outflow[index]) @ chain.transitions[index][:, index]).tocsr()
    rhs = np.column_stack([chain.converted[index], chain.value[index]]) / outflow[index, None]
    limit = DIRECT_LIMIT if direct_limit is None else direct_limit
    solution = _neumann(q, rhs) if len(index) > limit else None
    if solution is None:
        from scipy.sparse.linalg import splu

        solution = splu((sp.identity(len(index), format="csc") - q).tocsc()).solve(rhs)
    return float(solution[0, 0]), float(solution[0, 1])


def _neumann(q: Any, rhs: Floats) -> Floats | None:
    """``x = r + Q r + Q^2 r + ...``, the walks absorbed after 1, 2, 3 ... steps, summed until
    a step adds less than ``STEP_LIMIT`` of the sum: every term is non-negative, so the sums
    rise to the answer, and what is left is that step times at most the chain's longest
    expected walk. None if it has not converged in ``MAX_STEPS`` steps."""
    total = rhs.copy()
    term = rhs
    for _ in range(MAX_STEPS):
        term = q @ term
        total += term
        if (term.max(axis=0) <= STEP_LIMIT * total.max(axis=0)).all():
            return total
    return None


def markov_removal_effects(
    data: Sequences,
    *,
    order: int = 1,
    first_states: FirstStates = "prefixes",
    direct_limit: int | None = None,
) -> RemovalEffects:
    """Each channel's removal effect, from one sparse solve with it removed.
    ``direct_limit``: the most states solved by LU (``DIRECT_LIMIT`` by default)."""
    chain = fit_chain(data, order=order, first_states=first_states)
    probability, expected = absorption(chain, direct_limit=direct_limit)
    size = len(data.names)
    conversion, value = np.zeros(size), np.zeros(size)
    for channel in range(size):
        removed = chain.contains[:, channel]
        if not removed.any():
            continue
        without_probability, without_value = absorption(chain, removed, direct_limit=direct_limit)
        conversion[channel] = _effect(without_probability, probability)
        value[channel] = _effect(without_value, expected)
    return RemovalEffects(data.names, conversion, value, probability, expected)


def _effect(without: float, whole: float) -> float:
    # Removal only ever diverts walks to null, so an effect is in [0, 1]; clipping removes
    # the solver's last-bit noise.
    return min(1.0, max(0.0, 1.0 - without / whole)) if whole > 0 else 0.0


def markov(data: Sequences, *, order: int = 1, first_states: FirstStates = "prefixes") -> Credit:
    """Credit in proportion to the removal effects (conversions and value apart)."""
    effects = markov_removal_effects(data, order=order, first_states=first_states)
    total_conversions, total_value = data.total_conversions, data.total_value
    return Credit(
        model="markov",
        names=data.names,
        conversions=_shares(effects.conversion) * total_conversions,
        values=_shares(effects.value) * total_value,
        total_conversions=total_conversions,
        total_value=total_value,
        details={
            "removal_effect": effects.conversion,
            "value_removal_effect": effects.value,
        },
    )


def _shares(effects: Floats) -> Floats:
    total = effects.sum()
    shares: Floats = effects / total if total > 0 else np.zeros_like(effects)
    return shares


def state_names(chain: Chain) -> list[str]:
    """Readable names of the transient states, ``(start)`` first."""
    return ["(start)"] + [" > ".join(chain.names[c] for c in s) for s in chain.states]


def transition_probabilities(chain: Chain) -> dict[str, Any]:
    """The fitted chain as ``{from: {to: probability}}``, *conversion* and *null* included:
    for display and inspection, not for large chains."""
    names = state_names(chain)
    outflow = chain.outflow
    coo = chain.transitions.tocoo()
    table: dict[str, dict[str, float]] = {name: {} for name in names}
    for i, j, count in zip(coo.row, coo.col, coo.data, strict=True):
        table[names[i]][names[j]] = float(count / outflow[i])
    for i, name in enumerate(names):
        if chain.converted[i]:
            table[name]["(conversion)"] = float(chain.converted[i] / outflow[i])
        if chain.lost[i]:
            table[name]["(null)"] = float(chain.lost[i] / outflow[i])
    return {name: row for name, row in table.items() if row}
