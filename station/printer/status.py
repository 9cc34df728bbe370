"""What a printer says about itself, in words a packing-line worker can act on."""
from __future__ import annotations

from dataclasses import dataclass

# One Vietnamese instruction per state: the page, lamp and telemetry all show this,
# so a worker in gloves knows what to do without reading a manual.
MESSAGES_VI = {
    "ready": "Máy in sẵn sàng",
    "paper_low": "Sắp hết giấy: chuẩn bị cuộn nhãn mới",
    "no_paper": "Hết giấy: lắp cuộn nhãn mới",
    "cover_open": "Nắp máy in đang mở: đóng nắp lại",
    "cutter_jam": "Kẹt dao cắt: tắt máy in, gỡ nhãn bị kẹt rồi bật lại",
    "wrong_media": "Sai loại nhãn: lắp đúng cuộn nhãn",
    "feed_error": "Nhãn không chạy: mở nắp, lắp lại cuộn nhãn cho thẳng",
    "offline": "Máy in không phản hồi: kiểm tra dây cáp và nguồn điện",
    "busy": "Máy in đang bận: chờ một chút",
    "error": "Máy in báo lỗi: tắt máy in rồi bật lại",
    "unknown": "Không đọc được trạng thái máy in: xem nhãn đã in ra chưa",
}


@dataclass(frozen=True)
class PrinterStatus:
    ready: bool
    state: str  # short word: ready, no_paper, cover_open, cutter_jam, wrong_media, offline, unknown, busy, ...
    paper: str  # ok | low | out | unknown
    message: str  # what to do, in Vietnamese, for the worker
    detail: str = ""  # English/technical detail for operators

    @classmethod
    def of(cls, state: str, paper: str = "unknown", detail: str = "", message: str | None = None) -> "PrinterStatus":
        """A status for a known state word; 'ready' and 'paper_low' can still print."""
        ready = state in ("ready", "paper_low")
        return cls(ready=ready, state=state, paper=paper,
                   message=message or MESSAGES_VI.get(state, MESSAGES_VI["error"]), detail=detail)


READY = PrinterStatus.of("ready", paper="ok")


class PrinterError(Exception):
    """The printer cannot print. Raised before anything is sent: nothing was printed."""

    sent = False  # True only on PrintUnconfirmed

    def __init__(self, status: PrinterStatus):
        super().__init__(f"{status.state}: {status.detail or status.message}")
        self.status = status


class PrintUnconfirmed(PrinterError):
    """The job was sent but the printer did not confirm it printed (no status channel,
    no answer, or an error reported mid-job). The label may or may not exist:
    the caller must record it as needing a decision, never as printed."""

    sent = True
