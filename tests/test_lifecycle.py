"""Lifecycle rules (tem/lifecycle.py): every state × event pair, with the reason
an operator reads when a transition is refused."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tem.lifecycle import EVENTS, Outcome, State, apply

I, P, A, S, V = State.ISSUED, State.PRINTED, State.ACTIVE, State.SOLD, State.VOID

# (state, event) -> (state after, ok, changed, words in the reason)
TABLE = {
    (I, "printed"): (P, True, True, ""),
    (P, "printed"): (P, True, False, ""),      # a reprint
    (A, "printed"): (A, True, False, ""),      # print event overtaken by its activation
    (S, "printed"): (S, True, False, ""),
    (V, "printed"): (V, False, False, "the stamp is void: it cannot be printed"),

    (I, "activated"): (A, True, True, ""),     # pre-printed rolls
    (P, "activated"): (A, True, True, ""),
    (A, "activated"): (A, False, False, "the stamp is already active for batch L1"),  # other batch
    (S, "activated"): (S, False, False, "the stamp was already sold"),
    (V, "activated"): (V, False, False, "the stamp is void: it cannot be activated"),

    (I, "sold"): (I, False, False, "the stamp was never activated on a packing line"),
    (P, "sold"): (P, False, False, "the stamp was never activated on a packing line"),
    (A, "sold"): (S, True, True, ""),
    (S, "sold"): (S, False, False, "the stamp was already sold: possibly a copied stamp"),
    (V, "sold"): (V, False, False, "the stamp is void: it cannot be sold"),

    (I, "voided"): (V, True, True, ""),
    (P, "voided"): (V, True, True, ""),
    (A, "voided"): (V, True, True, ""),
    (S, "voided"): (V, True, True, ""),
    (V, "voided"): (V, False, False, "the stamp is already void"),
}
for _state in State:
    TABLE[_state, "checked"] = (_state, True, False, "")
    TABLE[_state, "inspected"] = (_state, True, False, "")


def test_table_covers_every_state_and_event():
    assert set(TABLE) == {(s, e) for s in State for e in EVENTS}
    assert len(TABLE) == 5 * 6


@pytest.mark.parametrize("state, event", sorted(TABLE, key=lambda k: (k[0].value, k[1])),
                         ids=lambda x: str(x))
def test_transition(state, event):
    after, ok, changed, reason = TABLE[state, event]
    out = apply(state, event, stamp_batch="L1", event_batch="L2")
    assert out == Outcome(after, ok, reason, changed)
    if not ok:
        assert out.state is state and out.reason  # refused: recorded, not applied, with a reason


def test_activation_again_on_the_same_batch_is_harmless():
    out = apply(A, "activated", stamp_batch="L1", event_batch="L1")
    assert out == Outcome(A, True, "", False)


def test_activation_on_another_batch_names_the_current_batch():
    out = apply(A, "activated", stamp_batch="MC-2611", event_batch="MC-2612")
    assert not out.ok and "MC-2611" in out.reason


def test_happy_path_issued_to_sold():
    state = I
    for event, expected in (("printed", P), ("checked", P), ("activated", A), ("checked", A), ("sold", S),
                            ("checked", S)):
        out = apply(state, event, event_batch="L1", stamp_batch="L1" if state is A else None)
        assert out.ok and out.state is expected
        state = out.state


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("event", ["scanned", "", "Printed", "alert", "command_result"])
def test_unknown_event_is_an_error_in_every_state(state, event):
    with pytest.raises(ValueError, match="unknown event type"):
        apply(state, event)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(EVENTS), max_size=30))
def test_any_event_sequence_follows_the_rules(events):
    """Whatever arrives: a void stamp stays void, a refusal changes nothing, and
    the state only moves forward along issued → printed → active → sold."""
    rank = {I: 0, P: 1, A: 2, S: 3, V: 4}
    state, batch = I, None
    for event in events:
        out = apply(state, event, stamp_batch=batch, event_batch="L1")
        if not out.ok:
            assert out.state is state and not out.changed and out.reason
        else:
            assert out.changed == (out.state is not state)
            assert rank[out.state] >= rank[state]
        if state is V:
            assert out.state is V
        if out.ok and event == "activated":
            batch = "L1"
        state = out.state


def test_states_are_strings_for_the_database():
    assert [s.value for s in State] == ["issued", "printed", "active", "sold", "void"]
    assert State("void") is V
