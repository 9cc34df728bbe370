"""Inspection reports: issued vs printed vs activated vs checked vs sold, per product,
cooperative or district over a date range (days in Vietnam's time), and the same table
as CSV or XLSX. One aggregate query over stamps and one over check events."""
from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from hub.models import Cooperative, Event, Product, Stamp

VN = dt.timezone(dt.timedelta(hours=7))
GROUPS = ("product", "cooperative", "district")
METRICS = ("issued", "printed", "activated", "checked", "sold")


@dataclass
class Row:
    key: str
    label: str
    values: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))


@dataclass
class Report:
    group: str
    start: dt.date | None
    end: dt.date | None
    rows: list[Row]

    @property
    def totals(self) -> dict[str, int]:
        return {m: sum(r.values[m] for r in self.rows) for m in METRICS}

    @property
    def peak(self) -> int:
        return max([1, *(v for r in self.rows for v in r.values.values())])


def _bounds(start: dt.date | None, end: dt.date | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    lo = dt.datetime.combine(start, dt.time(), VN) if start else None
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), VN) if end else None
    return lo, hi


def _within(column: Any, lo: dt.datetime | None, hi: dt.datetime | None) -> Any:
    cond = [column.is_not(None)]
    if lo is not None:
        cond.append(column >= lo)
    if hi is not None:
        cond.append(column < hi)
    return and_(*cond)


def _keys(group: str) -> list[Any]:
    if group == "product":
        return [Product.id, Product.gtin, Product.name_vi]
    if group == "cooperative":
        return [Cooperative.id, Cooperative.name]
    return [Cooperative.province, Cooperative.district]


def _label(group: str, key: tuple[Any, ...]) -> tuple[str, str]:
    if group == "product":
        return str(key[0]), f"{key[2]} ({key[1]})"
    if group == "cooperative":
        return str(key[0]), str(key[1])
    return f"{key[0]}/{key[1]}", ", ".join(x for x in (key[1], key[0]) if x) or "–"


def _count(column: Any, lo: dt.datetime | None, hi: dt.datetime | None) -> Any:
    if lo is None and hi is None:
        return func.count(column)  # counts what is not null: no expression per row
    return func.count().filter(_within(column, lo, hi))


def build(s: Session, group: str = "product", start: dt.date | None = None, end: dt.date | None = None,
          cooperative_id: int | None = None) -> Report:
    """Stamps are counted per GTIN in one pass over the stamp table, then the few GTIN rows are
    joined to products and cooperatives (joining every stamp row would cost more than the scan).
    Checks over all time are the stamps' own counters; over a date range, the check events."""
    if group not in GROUPS:
        raise ValueError(f"group must be one of {', '.join(GROUPS)}")
    lo, hi = _bounds(start, end)
    keys = _keys(group)
    columns = [_count(Stamp.issued_at, lo, hi).label("issued"), _count(Stamp.printed_at, lo, hi).label("printed"),
               _count(Stamp.activated_at, lo, hi).label("activated"), _count(Stamp.sold_at, lo, hi).label("sold")]
    if lo is None and hi is None:
        columns.append(func.sum(Stamp.checks).label("checked"))
    per_gtin = select(Stamp.gtin.label("gtin"), *columns).group_by(Stamp.gtin)
    if cooperative_id is not None:
        per_gtin = per_gtin.where(Stamp.gtin.in_(select(Product.gtin).where(Product.cooperative_id == cooperative_id)))
    counted = per_gtin.subquery()
    metrics = [c.name for c in columns]
    q = (select(*keys, *(func.sum(counted.c[m]) for m in metrics)).select_from(counted)
         .join(Product, Product.gtin == counted.c.gtin).join(Cooperative, Cooperative.id == Product.cooperative_id)
         .group_by(*keys))
    rows: dict[str, Row] = {}
    n = len(keys)
    for rec in s.execute(q).all():
        key, label = _label(group, tuple(rec[:n]))
        row = rows.setdefault(key, Row(key, label))
        for name, value in zip(metrics, rec[n:]):
            row.values[name] = int(value or 0)
    if "checked" not in metrics:
        checks = (select(*keys, func.count()).select_from(Event).join(Stamp, Stamp.serial == Event.serial)
                  .join(Product, Product.gtin == Stamp.gtin).join(Cooperative, Cooperative.id == Product.cooperative_id)
                  .where(Event.type == "checked", Event.applied.is_(True), _within(Event.at, lo, hi))
                  .group_by(*keys))
        if cooperative_id is not None:
            checks = checks.where(Cooperative.id == cooperative_id)
        for rec in s.execute(checks).all():
            key, label = _label(group, tuple(rec[:n]))
            rows.setdefault(key, Row(key, label)).values["checked"] = int(rec[n])
    return Report(group, start, end, sorted(rows.values(), key=lambda r: r.label))


def header(report: Report) -> list[str]:
    return [report.group, *METRICS]


def to_csv(report: Report) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header(report))
    for r in report.rows:
        w.writerow([r.label, *(r.values[m] for m in METRICS)])
    w.writerow(["total", *(report.totals[m] for m in METRICS)])
    return ("\ufeff" + out.getvalue()).encode()  # the BOM makes Excel read Vietnamese as UTF-8


def to_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    wb = Workbook()
    ws = wb.active
    ws.title = "Tem"
    period = f"{report.start or '…'} – {report.end or '…'}"
    ws.append([f"Tem: {report.group} {period}"])
    ws.append(header(report))
    for cell in ws[2]:
        cell.font = Font(bold=True)
    for r in report.rows:
        ws.append([r.label, *(r.values[m] for m in METRICS)])
    ws.append(["total", *(report.totals[m] for m in METRICS)])
    ws.column_dimensions["A"].width = 40
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def parse_day(text: str | None) -> dt.date | None:
    if not text:
        return None
    return dt.date.fromisoformat(text)


def day_range(start: str | None, end: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The instants bounding the days `start`..`end` (YYYY-MM-DD, Vietnam's days, either may be
    empty); ValueError on a malformed date."""
    return _bounds(parse_day(start), parse_day(end))
