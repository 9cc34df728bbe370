"""The hub's minting keys. They never leave the hub: from TEM_MINT_KEYS
("A:hex,B:hex", the last is current) or a 0600 file created on first use."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from tem.codes import Keyring


def load_keyring(path: Path) -> Keyring:
    env = os.environ.get("TEM_MINT_KEYS")
    if env:
        pairs = [p.split(":", 1) for p in env.split(",") if p.strip()]
        return Keyring({k.strip(): bytes.fromhex(v.strip()) for k, v in pairs}, current=pairs[-1][0].strip())
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"current": "A", "keys": {"A": secrets.token_hex(32)}}, f)
    data = json.loads(path.read_text())
    return Keyring({k: bytes.fromhex(v) for k, v in data["keys"].items()}, current=data["current"])
