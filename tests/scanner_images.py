"""Deterministic synthetic camera frames of Tem stamps, one generator per hard case a station meets.

Checked in as code, not images: `frames(category, n)` yields (BGR 640x480 frame, expected payloads).
Used by tests/test_decode*.py and bench/decode.py."""
from __future__ import annotations

import math
from collections.abc import Iterator

import cv2
import numpy as np
import qrcode

from tem import codes, gs1

W, H = 640, 480
KEYRING = codes.Keyring({"A": b"k" * 32})
CATEGORIES = ("clean", "small", "blurred", "motion", "glare", "low_contrast", "noise", "perspective",
              "rotation", "curved", "crumpled", "frost", "inverted", "covered", "dark", "multi")


# ---------------------------------------------------------------- payloads

def gtin(rng: np.random.Generator) -> str:
    body = "893" + "".join(str(d) for d in rng.integers(0, 10, 9))  # 893 = GS1 Vietnam
    return "0" + body + str(gs1.check_digit("0" + body))


def stamp_url(rng: np.random.Generator) -> str:
    """A real minted stamp, printed upper case as the label printer does; 1 in 8 in the short form."""
    g = gtin(rng)
    serial = KEYRING.mint(int(rng.integers(0, codes.MAX_NUMBER)), g)
    if rng.random() < 0.125:
        return f"HTTPS://TEM.VN/T/{serial}"
    return f"HTTPS://TEM.VN/01/{g}/21/{serial}"


def qr_matrix(text: str, border: int = 4) -> np.ndarray:
    """True = dark module, quiet zone included; ECC M as Tem prints."""
    q = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=border)
    q.add_data(text)
    q.make(fit=True)
    return np.array(q.get_matrix(), dtype=bool)


# ---------------------------------------------------------------- scene pieces

def background(rng: np.random.Generator) -> np.ndarray:
    """A stall or conveyor: a colour gradient, blotchy texture and clutter (edges, boxes, text)."""
    base = rng.integers(40, 200, 3).astype(np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    grad = (xx / W - 0.5) * rng.uniform(-60, 60) + (yy / H - 0.5) * rng.uniform(-60, 60)
    blotch = cv2.resize(rng.normal(0, 25, (6, 8)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    img = np.clip(base[None, None, :] + (grad + blotch)[..., None], 0, 255).astype(np.uint8)
    for _ in range(int(rng.integers(3, 9))):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, W)), int(rng.integers(0, H))
        kind = rng.integers(0, 3)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(10, 160)), y + int(rng.integers(10, 120))), color, -1)
        elif kind == 1:
            cv2.line(img, (x, y), (int(rng.integers(0, W)), int(rng.integers(0, H))), color, int(rng.integers(1, 6)))
        else:
            cv2.putText(img, "TEM 0123 RAU SACH", (x, y), cv2.FONT_HERSHEY_SIMPLEX, rng.uniform(0.4, 1.2), color, 2)
    return img


def label(matrix: np.ndarray, px: int, rng: np.random.Generator, margin_modules: float = 1.5,
          dark: int = 20, light: int = 245) -> np.ndarray:
    """The printed label: the QR at `px` pixels a module on white paper with a little text below."""
    n = matrix.shape[0]
    code = np.where(matrix, dark, light).astype(np.uint8)
    code = cv2.resize(code, (n * px, n * px), interpolation=cv2.INTER_NEAREST)
    m = int(margin_modules * px)
    out = np.full((n * px + 2 * m + 3 * px, n * px + 2 * m), light, np.uint8)
    out[m:m + n * px, m:m + n * px] = code
    cv2.putText(out, "TEM.VN", (m + px * 4, out.shape[0] - px), cv2.FONT_HERSHEY_SIMPLEX, px / 12, dark, max(1, px // 4))
    return out


def place(frame: np.ndarray, lab: np.ndarray, mapx: np.ndarray, mapy: np.ndarray,
          shade: np.ndarray | None = None) -> None:
    """Paste a label into the frame through an inverse map (frame pixel -> label pixel)."""
    inside = ((mapx >= 0) & (mapx <= lab.shape[1] - 1) & (mapy >= 0) & (mapy <= lab.shape[0] - 1))
    px = cv2.remap(lab, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    if shade is not None:
        px = px * shade
    # printed labels are slightly warm, not pure grey
    rgb = np.stack([px * 0.97, px * 0.99, px], axis=-1)
    alpha = cv2.GaussianBlur(inside.astype(np.float32), (3, 3), 0)[..., None]
    frame[:] = np.clip(frame * (1 - alpha) + rgb * alpha, 0, 255).astype(np.uint8)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    return xx, yy


def affine_maps(lab_shape, cx, cy, scale, angle_deg):
    """Inverse maps placing a label centred at (cx, cy), `scale` frame px per label px, rotated."""
    xx, yy = _grid()
    a = math.radians(angle_deg)
    dx, dy = xx - cx, yy - cy
    u = (math.cos(a) * dx + math.sin(a) * dy) / scale + lab_shape[1] / 2
    v = (-math.sin(a) * dx + math.cos(a) * dy) / scale + lab_shape[0] / 2
    return u.astype(np.float32), v.astype(np.float32)


def homography_maps(lab_shape, quad):
    src = np.float32([[0, 0], [lab_shape[1], 0], [lab_shape[1], lab_shape[0]], [0, lab_shape[0]]])
    hinv = cv2.getPerspectiveTransform(np.float32(quad), src)
    xx, yy = _grid()
    pts = np.stack([xx, yy, np.ones_like(xx)], axis=-1) @ hinv.T
    return (pts[..., 0] / pts[..., 2]).astype(np.float32), (pts[..., 1] / pts[..., 2]).astype(np.float32)


def _antialias(lab: np.ndarray, scale: float) -> np.ndarray:
    """Blur a label before shrinking it, as a lens would, so remap does not alias."""
    if scale >= 0.7:
        return lab
    return cv2.GaussianBlur(lab, (0, 0), 0.45 / scale)


# ---------------------------------------------------------------- the categories

def _simple(rng, module_px, angle=None, **label_kw):
    """One code of `module_px` frame pixels per module, anywhere in the frame, mildly rotated."""
    text = stamp_url(rng)
    mat = qr_matrix(text)
    src_px = 8
    lab = label(mat, src_px, rng, **label_kw)
    scale = module_px / src_px
    half = lab.shape[0] * scale / 2 + 4
    cx = rng.uniform(half, W - half) if W > 2 * half else W / 2
    cy = rng.uniform(half, H - half) if H > 2 * half else H / 2
    angle = rng.uniform(-12, 12) if angle is None else angle
    frame = background(rng)
    place(frame, _antialias(lab, scale), *affine_maps(lab.shape, cx, cy, scale, angle))
    return frame, [text]


def _finish(frame, rng, noise=2.0, jpeg=85):
    """The camera: a little sensor noise and JPEG, on every frame."""
    f = frame.astype(np.float32) + rng.normal(0, noise, frame.shape)
    f = np.clip(f, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, jpeg])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def clean(rng):
    return _simple(rng, rng.uniform(3.5, 6))


def small(rng):
    # ~1.6-2.2 px a module: a 29-module code is under 65 px across
    return _simple(rng, rng.uniform(1.6, 2.2))


def blurred(rng):
    frame, texts = _simple(rng, rng.uniform(3.5, 5.5))
    return cv2.GaussianBlur(frame, (0, 0), rng.uniform(1.3, 2.2)), texts


def motion(rng):
    frame, texts = _simple(rng, rng.uniform(3.5, 5.5))
    length = int(rng.integers(6, 12))
    k = np.zeros((length, length), np.float32)
    k[length // 2, :] = 1
    rot = cv2.getRotationMatrix2D((length / 2 - 0.5, length / 2 - 0.5), rng.uniform(0, 180), 1)
    k = cv2.warpAffine(k, rot, (length, length))
    return cv2.filter2D(frame, -1, k / k.sum()), texts


def glare(rng):
    """A lamp reflected in the shrink wrap: a saturated blob over part of the code."""
    text = stamp_url(rng)
    mat = qr_matrix(text)
    lab = label(mat, 8, rng)
    module_px = rng.uniform(4, 6)
    scale = module_px / 8
    cx, cy = W / 2 + rng.uniform(-80, 80), H / 2 + rng.uniform(-60, 60)
    frame = background(rng)
    place(frame, _antialias(lab, scale), *affine_maps(lab.shape, cx, cy, scale, rng.uniform(-10, 10)))
    side = mat.shape[0] * module_px
    xx, yy = _grid()
    gx, gy = cx + rng.uniform(-0.3, 0.3) * side, cy + rng.uniform(-0.3, 0.3) * side
    r = side * rng.uniform(0.10, 0.16)
    blob = np.exp(-(((xx - gx) / r) ** 2 + ((yy - gy) / (r * rng.uniform(0.5, 1.2))) ** 2))
    f = frame.astype(np.float32) + blob[..., None] * 400 + 40 * np.exp(-(((xx - gx) ** 2 + (yy - gy) ** 2) / (3 * r) ** 2))[..., None]
    return np.clip(f, 0, 255).astype(np.uint8), [text]


def low_contrast(rng):
    light = int(rng.integers(150, 210))
    return _simple(rng, rng.uniform(3.5, 5.5), dark=light - int(rng.integers(22, 40)), light=light)


def noise(rng):
    frame, texts = _simple(rng, rng.uniform(3.5, 5.5))
    f = frame.astype(np.float32) + rng.normal(0, rng.uniform(25, 40), frame.shape)
    salt = rng.random(frame.shape[:2]) < 0.02
    f[salt] = rng.choice([0, 255], size=(int(salt.sum()), 1))
    return np.clip(f, 0, 255).astype(np.uint8), texts


def perspective(rng):
    text = stamp_url(rng)
    lab = label(qr_matrix(text), 8, rng)
    size = rng.uniform(170, 260)
    cx, cy = W / 2 + rng.uniform(-100, 100), H / 2 + rng.uniform(-60, 60)
    square = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * size / 2
    # tilt about a random axis: one side shrinks, as when a pack is held at an angle
    tilt = rng.uniform(0.45, 0.7)
    side = int(rng.integers(0, 4))
    quad = square.copy()
    a, b = side, (side + 1) % 4
    mid = (square[a] + square[b]) / 2
    quad[a] = mid + (square[a] - mid) * tilt
    quad[b] = mid + (square[b] - mid) * tilt
    quad += rng.normal(0, size * 0.03, quad.shape)
    rot = math.radians(rng.uniform(0, 360))
    r = np.float32([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    quad = quad @ r.T + np.float32([cx, cy])
    frame = background(rng)
    place(frame, _antialias(lab, size / lab.shape[1]), *homography_maps(lab.shape, quad))
    return frame, [text]


def rotation(rng):
    return _simple(rng, rng.uniform(3.5, 5.5), angle=rng.uniform(0, 360))


def curved(rng):
    """A label wrapped round a jar or a bottle: the code spans up to ~70 degrees of the cylinder."""
    text = stamp_url(rng)
    mat = qr_matrix(text)
    lab = label(mat, 8, rng)
    module_px = rng.uniform(4.5, 6.5)
    scale = module_px / 8
    code_w = lab.shape[1] * scale
    radius = code_w / rng.uniform(0.9, 1.35)  # arc angle = width / radius (radians)
    cx, cy = W / 2 + rng.uniform(-40, 40), H / 2 + rng.uniform(-40, 40)
    xx, yy = _grid()
    tilt = math.radians(rng.uniform(-8, 8))
    dx = math.cos(tilt) * (xx - cx) + math.sin(tilt) * (yy - cy)
    dy = -math.sin(tilt) * (xx - cx) + math.cos(tilt) * (yy - cy)
    s = np.clip(dx / radius, -0.999, 0.999)
    theta = np.arcsin(s)
    u = (radius * theta) / scale + lab.shape[1] / 2
    v = dy / scale + lab.shape[0] / 2
    u[np.abs(dx) >= radius * 0.999] = -10  # the far side of the jar
    shade = (0.55 + 0.45 * np.cos(theta)).astype(np.float32)
    frame = background(rng)
    # the jar itself, so the label's edge is not the only edge
    jar = (np.abs(dx) < radius) & (np.abs(dy) < code_w * 0.9)
    frame[jar] = (frame[jar] * 0.4 + np.array([60, 90, 120]) * 0.6 * shade[jar][:, None]).astype(np.uint8)
    place(frame, _antialias(lab, scale), u.astype(np.float32), v.astype(np.float32), shade)
    return frame, [text]


def crumpled(rng):
    """A crumpled bag: a smooth random displacement of up to ~1.5 modules, with crease shading."""
    text = stamp_url(rng)
    mat = qr_matrix(text)
    lab = label(mat, 8, rng)
    module_px = rng.uniform(4.5, 6.5)
    scale = module_px / 8
    cx, cy = W / 2 + rng.uniform(-80, 80), H / 2 + rng.uniform(-60, 60)
    u, v = affine_maps(lab.shape, cx, cy, scale, rng.uniform(-15, 15))
    amp = rng.uniform(0.8, 1.5) * 8  # label px
    cells = int(rng.integers(4, 7))
    du = cv2.resize(rng.normal(0, 1, (cells, cells)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    dv = cv2.resize(rng.normal(0, 1, (cells, cells)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    u, v = u + amp * du, v + amp * dv
    gy, gx = np.gradient(du + dv)
    shade = np.clip(1 - 40 * (gx + gy), 0.6, 1.15).astype(np.float32)
    frame = background(rng)
    place(frame, _antialias(lab, scale), u.astype(np.float32), v.astype(np.float32), shade)
    return frame, [text]


def frost(rng):
    """Ice on a frozen pack: a milky layer, crystals and blur that eat the contrast."""
    frame, texts = _simple(rng, rng.uniform(4, 6))
    haze = cv2.resize(rng.uniform(0.35, 0.65, (12, 16)).astype(np.float32), (W, H), interpolation=cv2.INTER_CUBIC)
    crystals = cv2.GaussianBlur((rng.random((H, W)) < 0.03).astype(np.float32), (0, 0), 1.2) * 4
    a = np.clip(haze + crystals * 0.3, 0, 0.8)[..., None]
    f = frame.astype(np.float32) * (1 - a) + 235 * a
    f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.8, 1.4))
    return np.clip(f, 0, 255).astype(np.uint8), texts


def inverted(rng):
    """Light modules on a dark label (reversed print on a dark pack)."""
    return _simple(rng, rng.uniform(3.5, 5.5), dark=235, light=25)


def covered(rng):
    """A thumb or a strap over part of the code, away from the finder patterns (ECC M mends ~15%)."""
    text = stamp_url(rng)
    mat = qr_matrix(text)
    lab = label(mat, 8, rng)
    n = mat.shape[0]
    m = int(1.5 * 8)
    # cover a band along the side or bottom that has no finder pattern: ~6-9% of the symbol
    quiet = 4
    inner = n - 2 * quiet
    depth = int(rng.integers(2, 4))
    start = quiet + 9
    length = inner - 9 - int(rng.integers(0, 4))
    color = int(rng.integers(60, 200))
    if rng.random() < 0.5:  # right edge, below the top-right finder
        x0, y0 = quiet + inner - depth, start
        lab[m + y0 * 8:m + (y0 + length) * 8, m + x0 * 8:m + (x0 + depth) * 8] = color
    else:  # bottom edge, right of the bottom-left finder
        x0, y0 = start, quiet + inner - depth
        lab[m + y0 * 8:m + (y0 + depth) * 8, m + x0 * 8:m + (x0 + length) * 8] = color
    module_px = rng.uniform(3.5, 5.5)
    scale = module_px / 8
    frame = background(rng)
    place(frame, _antialias(lab, scale), *affine_maps(lab.shape, W / 2 + rng.uniform(-100, 100),
                                                      H / 2 + rng.uniform(-60, 60), scale, rng.uniform(-15, 15)))
    return frame, [text]


def dark(rng):
    """A dim shed: the whole frame under-exposed to a fifth of its range, then amplified noise."""
    frame, texts = _simple(rng, rng.uniform(3.5, 5.5))
    f = frame.astype(np.float32) * rng.uniform(0.10, 0.2) + rng.normal(0, 2.0, frame.shape)
    return np.clip(f, 0, 255).astype(np.uint8), texts


def multi(rng):
    """Two to four packs in one frame; all must be read."""
    count = int(rng.integers(2, 5))
    frame = background(rng)
    texts = []
    cells = [(W * (0.25 + 0.5 * (i % 2)), H * (0.25 + 0.5 * (i // 2))) for i in range(4)]
    order = rng.permutation(4)[:count]
    for i in order:
        text = stamp_url(rng)
        lab = label(qr_matrix(text), 8, rng)
        module_px = rng.uniform(2.8, 3.8)
        scale = module_px / 8
        cx, cy = cells[i]
        place(frame, _antialias(lab, scale), *affine_maps(lab.shape, cx + rng.uniform(-20, 20),
                                                          cy + rng.uniform(-15, 15), scale, rng.uniform(-20, 20)))
        texts.append(text)
    return frame, texts


_MAKERS = {name: globals()[name] for name in CATEGORIES}


def frame(category: str, index: int, seed: int = 2024) -> tuple[np.ndarray, list[str]]:
    """One frame: the same (category, index, seed) always gives the same pixels."""
    rng = np.random.default_rng([seed, CATEGORIES.index(category), index])
    img, texts = _MAKERS[category](rng)
    return _finish(img, rng), texts


def frames(category: str, n: int, seed: int = 2024) -> Iterator[tuple[np.ndarray, list[str]]]:
    for i in range(n):
        yield frame(category, i, seed)


def empty_frame(index: int, seed: int = 2024) -> np.ndarray:
    """A scene with no code in it: what the camera sees between packs."""
    rng = np.random.default_rng([seed, 99, index])
    return _finish(background(rng), rng)


# ---------------------------------------------------------------- things that must never be accepted

def impostor_payloads(seed: int = 7) -> list[str]:
    """QR payloads that are not Tem stamps: other sites, random URLs, and near-misses."""
    rng = np.random.default_rng(seed)
    g = gtin(rng)
    bad_check = g[:-1] + str((int(g[-1]) + 1) % 10)
    serial = KEYRING.mint(12345, g)
    return [
        "HELLO WORLD",
        "WIFI:S:CHO40;T:WPA;P:12345678;;",
        "https://example.com/01/" + g + "/21/" + serial + "X",
        f"HTTPS://TEM.VN/01/{bad_check}/21/{serial}",          # GTIN check digit wrong
        f"HTTPS://TEM.VN/01/{g}/21/{serial[:-1]}",              # serial one short
        f"HTTPS://TEM.VN/01/{g}/21/{serial[:-1]}U",             # U is not Crockford Base32
        f"HTTPS://TEM.VN/01/{g}",                                # no serial
        f"HTTPS://TEM.VN/T/{serial}EXTRA",
        f"FTP://TEM.VN/T/{serial}",
        "https://zalo.me/g/abcdef123",
        "00020101021238570010A00000072701270006970436011300110123456789",  # VietQR payment
    ]
