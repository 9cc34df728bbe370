"""What each alert kind is called, in Vietnamese and English: the console's alert lists
and the alert mails name alerts by these; the stored message keeps the details."""
from __future__ import annotations

KINDS_VI = {
    "station_offline": "Trạm mất kết nối",
    "paper_out": "Máy in hết giấy",
    "printer_error": "Máy in báo lỗi",
    "codes_low": "Trạm sắp hết mã tem",
    "outbox_backlog": "Sự kiện tồn đọng chưa gửi về máy chủ",
    "suspected_clone": "Nghi tem bị sao chép",
    "unknown_stamp": "Tem không có trong hệ thống",
    "wrong_product": "Tem dán sai sản phẩm",
    "unknown_batch": "Lô hàng không có trong hệ thống",
    "illegal_transition": "Tem chuyển trạng thái không hợp lệ (tem đã hủy?)",
    "inspection_failed": "Kiểm tra không đạt",
    "print_unconfirmed": "Lệnh in chưa xác nhận được",
    "printer_no_paper": "Máy in hết giấy",
    "printer_cover_open": "Máy in mở nắp",
    "printer_wrong_media": "Máy in lắp sai cuộn nhãn",
    "printer_offline": "Máy in mất kết nối",
    "printer_cutter_jam": "Dao cắt máy in bị kẹt",
    "printer_feed_error": "Máy in kẹt giấy",
    "config_rejected": "Trạm từ chối cấu hình mới",
    "void_stamp": "Quét phải tem đã hủy",
    "sold_stamp": "Quét phải tem đã bán",
    "other_batch": "Tem đã kích hoạt cho lô khác",
}
KINDS_EN = {
    "station_offline": "Station offline",
    "paper_out": "Printer out of paper",
    "printer_error": "Printer error",
    "codes_low": "Station running short of stamp codes",
    "outbox_backlog": "Events piling up on the station",
    "suspected_clone": "Suspected cloned stamp",
    "unknown_stamp": "Stamp not known to the hub",
    "wrong_product": "Stamp on the wrong product",
    "unknown_batch": "Batch not known to the hub",
    "illegal_transition": "Stamp state change refused (voided stamp?)",
    "inspection_failed": "Inspection failed",
    "print_unconfirmed": "Print job not confirmed",
    "printer_no_paper": "Printer out of paper",
    "printer_cover_open": "Printer cover open",
    "printer_wrong_media": "Wrong label roll in the printer",
    "printer_offline": "Printer not connected",
    "printer_cutter_jam": "Printer cutter jammed",
    "printer_feed_error": "Printer paper jam",
    "config_rejected": "Station refused a new config",
    "void_stamp": "A void stamp was scanned",
    "sold_stamp": "A sold stamp was scanned",
    "other_batch": "Stamp already active for another batch",
}


def title(kind: str, lang: str) -> str:
    """The alert kind's name in `lang` ("vi" or "en"); an unknown kind as it is."""
    return (KINDS_VI if lang == "vi" else KINDS_EN).get(kind, kind)
