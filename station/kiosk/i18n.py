"""Words on the station's local pages in Vietnamese (the default) and English. A plain
table rather than gettext: the pages are small and the station carries no catalog tools."""
from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import request

LANGUAGES = ("vi", "en")
COOKIE = "lang"

# Shared by every kiosk page (the base template uses these).
BASE = {
    "vi": {"language": "Ngôn ngữ", "online": "Đã kết nối trung tâm", "offline": "Mất kết nối: vẫn làm việc bình thường",
           "waiting": "sự kiện chờ gửi"},
    "en": {"language": "Language", "online": "Connected to the hub", "offline": "Offline: keep working as usual",
           "waiting": "events waiting to be sent"},
}


def current_language(default: str = "vi") -> str:
    """?lang= (from the switch) wins, then the cookie it set, then the station's default."""
    wanted = request.args.get("lang") or request.cookies.get(COOKIE) or default
    return wanted if wanted in LANGUAGES else default


def translator(tables: Mapping[str, Mapping[str, str]], lang: str) -> Callable[..., str]:
    """t("key", n=3): the phrase in `lang`, falling back to Vietnamese, then to the key itself."""
    merged = {**BASE.get("vi", {}), **tables.get("vi", {}), **BASE.get(lang, {}), **tables.get(lang, {})}

    def t(key: str, **values: object) -> str:
        text = merged.get(key, key)
        return text.format(**values) if values else text
    return t
