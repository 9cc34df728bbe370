"""Where to buy a batch: the stations that checked or sold its stamps, kept in the small
`batch_outlet` table as the ingestor applies their events, so a page reads a batch's stalls
by its key instead of joining the batch's thousands of stamps to their events."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from hub.models import BatchOutlet, Station

WEB_STATION = "web"  # the page itself (hub.history.WEB_STATION): not a place to buy
KINDS = ("checked", "sold")
MAX_STALLS = 20  # listed on a page


def record(s: Session, events: Iterable[Any], stamps: dict[str, dict[str, Any]], refused: Iterable[str]) -> None:
    """Note the batches whose stamps these freshly applied events checked or sold, by station.
    `stamps`: serial -> stamp row (with batch_id) as the ingestor holds them; `refused`: ids of
    the events it refused. Idempotent; one statement for the ingestor's whole batch."""
    refused = set(refused)
    pairs = sorted({(stamps[e.serial]["batch_id"], e.station) for e in events
                    if e.type in KINDS and e.station != WEB_STATION and str(e.id) not in refused
                    and e.serial in stamps and stamps[e.serial]["batch_id"] is not None})
    if not pairs:
        return
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    s.execute(dialect.insert(BatchOutlet).on_conflict_do_nothing(),
              [{"batch_id": batch_id, "station_id": station} for batch_id, station in pairs])


def stalls(batch_ids: Sequence[int]) -> Select[Any]:
    """The stalls where stamps of these batches were checked or sold, by name."""
    st, bo = Station.__table__.c, BatchOutlet.__table__.c
    return (select(st.id, st.name, st.place, st.lat, st.lon).where(
        st.kind == "stall", st.id.in_(select(bo.station_id).where(bo.batch_id.in_(batch_ids))))
        .order_by(st.name).limit(MAX_STALLS))
