"""Several web workers or nodes share their rate limits and the check window through Redis
(TEM_RATELIMIT_STORAGE_URI): a phone cannot get round the limit, or count a stamp twice,
by landing on another worker. Uses the machine's Redis on 127.0.0.1:6379 (database 15)."""
from __future__ import annotations

import uuid
from pathlib import Path

import redis
from sqlalchemy import select

from hub import db as hubdb
from hub.models import Stamp
from tests.web_fixtures import *  # noqa: F403
from tests.web_fixtures import GTIN, Story, make_app

REDIS = "redis://127.0.0.1:6379/15"


def _checks(url: str, serial: str) -> int:
    engine = hubdb.make_engine(url)
    with hubdb.sessions(engine)() as s:
        n = s.scalar(select(Stamp.checks).where(Stamp.serial == serial)) or 0
    engine.dispose()
    return n


def test_two_workers_share_the_limit_and_the_check_window(story: Story, tmp_path: Path) -> None:
    redis.Redis.from_url(REDIS).flushdb()
    prefix = f"tem-test-{uuid.uuid4().hex[:8]}"  # runs on the two databases do not meet
    workers = [make_app(story.url, tmp_path / f"w{i}", RATELIMIT_STORAGE_URI=REDIS, RATELIMIT_KEY_PREFIX=prefix,
                        TEM_PUBLIC_LIMIT="4 per minute").test_client() for i in range(2)]
    phone = {"REMOTE_ADDR": "10.7.0.1"}
    serial = story.spare[5]
    before = _checks(story.url, serial)
    codes = [workers[i % 2].get(f"/01/{GTIN}/21/{serial}", environ_base=phone).status_code for i in range(4)]
    # four views spread over two workers: all served, and the stamp counted once for this phone
    assert codes == [200] * 4 and _checks(story.url, serial) == before + 1
    # the fifth, on either worker, is over the shared limit
    assert workers[0].get(f"/01/{GTIN}", environ_base=phone).status_code == 429
    assert workers[1].get(f"/01/{GTIN}", environ_base=phone).status_code == 429
    # another phone is not affected
    assert workers[1].get(f"/01/{GTIN}", environ_base={"REMOTE_ADDR": "10.7.0.2"}).status_code == 200
