"""Which event may move a stamp from which state, and the reason when it may not.

issued → printed → active → sold; `checked` and `inspected` leave the state as it
is; `voided` ends the stamp from any state. A stamp may be activated straight from
`issued` (pre-printed rolls, or an activation that overtook its print event).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    ISSUED = "issued"
    PRINTED = "printed"
    ACTIVE = "active"
    SOLD = "sold"
    VOID = "void"


EVENTS = ("printed", "activated", "checked", "sold", "voided", "inspected")


@dataclass(frozen=True)
class Outcome:
    state: State  # the stamp's state after the event (unchanged when refused)
    ok: bool
    reason: str = ""  # why it was refused, in words an operator understands
    changed: bool = False


def _refuse(state: State, reason: str) -> Outcome:
    return Outcome(state, False, reason)


def _move(old: State, new: State) -> Outcome:
    return Outcome(new, True, changed=new != old)


def apply(state: State, event: str, *, stamp_batch: str | None = None,
          event_batch: str | None = None) -> Outcome:
    """The outcome of `event` on a stamp in `state` (bound to `stamp_batch`)."""
    if event not in EVENTS:
        raise ValueError(f"unknown event type {event!r}")
    if event in ("checked", "inspected"):
        return Outcome(state, True)
    if event == "voided":
        if state is State.VOID:
            return _refuse(state, "the stamp is already void")
        return _move(state, State.VOID)
    if state is State.VOID:
        return _refuse(state, f"the stamp is void: it cannot be {event}")
    if event == "printed":
        # A reprint, or a print event arriving after the activation it preceded.
        return _move(state, State.PRINTED if state is State.ISSUED else state)
    if event == "activated":
        if state in (State.ISSUED, State.PRINTED):
            return _move(state, State.ACTIVE)
        if state is State.ACTIVE and stamp_batch == event_batch:
            return Outcome(state, True)  # seen again on the same line: nothing new
        if state is State.ACTIVE:
            return _refuse(state, f"the stamp is already active for batch {stamp_batch}")
        return _refuse(state, "the stamp was already sold")
    if event == "sold":
        if state is State.ACTIVE:
            return _move(state, State.SOLD)
        if state is State.SOLD:
            return _refuse(state, "the stamp was already sold: possibly a copied stamp")
        return _refuse(state, "the stamp was never activated on a packing line")
    raise ValueError(f"unknown event type {event!r}")
