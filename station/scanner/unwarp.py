"""Un-warp a crumpled or curved code: fit its module grid cell by cell, sample it, and read the clean copy.

For labels on crumpled bags, curved jars and frosted packs, where one homography leaves modules
more than half a module off and the local module size can differ by a third from the average.
The grid is anchored on the three finder patterns (each finder's own corners give the cells
and the local module vectors around it) and the alignment pattern, then grown outward one ring
of cells at a time, best-measured cells first: each new cell is predicted from its known
neighbours and their local module vectors, and corrected by the phase of the module edges in a
small window round it. The module matrix sampled at the grid is rendered as a perfect symbol for
zxing-cpp, whose error correction (and the stamp URL checks after it) vouches for the result."""
from __future__ import annotations

import math
import time
from typing import NamedTuple

import cv2
import numpy as np

from station.scanner import readers

SIZES = (29, 25, 33)  # Tem's long URL is version 3, the short one version 2; 4 for long hosts
PX = 6  # samples a module in the measuring windows and the alignment search
WINDOW = 2.5  # half a measuring window, in modules
ACCEPT = 0.5  # share of the frontier fixed each growing round (the better measured)
QMIN = 0.2  # edge-phase quality below which a measurement is ignored
# the frame's binarisation for locating finders, then two more for the un-warp, which
# can afford them: creases shade a finder out of one threshold's reach but not another's
FIRST_BINARIZATION = ((31, 5),)
BINARIZATIONS = ((31, 5), (15, 2), (51, 10))


class Finder(NamedTuple):
    x: float  # centre of the core
    y: float
    module: float  # module size in pixels, from the light ring's area
    corners: np.ndarray  # 4x2 outer corners, in no particular order


def finders(gray: np.ndarray, binarizations=FIRST_BINARIZATION, smooth: float = 0.0) -> list[Finder]:
    """Finder-pattern-like blobs (a ring holding a core), either polarity, each counted once.

    smooth (a Gaussian sigma in pixels) suits a first look at a whole frame: sensor noise
    thresholds into thousands of specks, which hide the finders and make tracing the contours
    slow; the un-warp wants the sharp corners of the unsmoothed frame."""
    found: list[Finder] = []
    if smooth:
        gray = cv2.GaussianBlur(gray, (0, 0), smooth)
    for block, c in binarizations:
        binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, c)
        for img in (binary, 255 - binary):  # light-on-dark prints have light finders
            contours, hierarchy = cv2.findContours(img, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)
            if hierarchy is None:
                continue
            h = hierarchy[0]
            for i, contour in enumerate(contours):
                child = h[i][2]
                if child < 0 or h[child][2] < 0:
                    continue
                x, y, w, hh = cv2.boundingRect(contour)
                if w < 6 or hh < 6 or not 0.4 < w / hh < 2.5:
                    continue
                core = contours[h[child][2]]
                # a finder's core is 3/7 of its width; generous slack for blur and warp
                if not 0.15 < cv2.boundingRect(core)[2] / w < 0.7:
                    continue
                m = cv2.moments(core)
                if m["m00"] <= 0:
                    continue
                cx, cy = m["m10"] / m["m00"], m["m01"] / m["m00"]
                module = math.sqrt(max(cv2.contourArea(contours[child]), 1.0)) / 5
                if all(abs(cx - f.x) > 3 * f.module or abs(cy - f.y) > 3 * f.module for f in found):
                    found.append(Finder(cx, cy, module, _corners(contour)))
    return found


def _corners(contour: np.ndarray) -> np.ndarray:
    """The outer square's corners: the contour points farthest towards its bounding box's corners."""
    pts = contour.reshape(-1, 2).astype(np.float32)
    box = cv2.boxPoints(cv2.minAreaRect(pts))
    centre = box.mean(0)
    return np.float32([pts[np.argmax(pts @ (b - centre))] for b in box])


def triples(cands: list[Finder]) -> list[tuple[Finder, Finder, Finder]]:
    """Plausible (top-left, top-right, bottom-left) finder triples, squarest first."""
    scored = []
    for i, a in enumerate(cands):
        for j, b in enumerate(cands):
            for k, c in enumerate(cands):
                if len({i, j, k}) < 3:
                    continue
                u = np.float32([b.x - a.x, b.y - a.y])
                v = np.float32([c.x - a.x, c.y - a.y])
                if u[0] * v[1] - u[1] * v[0] <= 0:  # top-right, then bottom-left, clockwise
                    continue
                lu, lv = float(np.linalg.norm(u)), float(np.linalg.norm(v))
                cos = float(u @ v) / (lu * lv)
                modules = (a.module, b.module, c.module)
                if not 0.6 < lu / lv < 1.6 or abs(cos) > 0.5 or max(modules) > 2.2 * min(modules):
                    continue
                scored.append((abs(cos) + abs(math.log(lu / lv)), (a, b, c)))
    scored.sort(key=lambda s: s[0])
    return [t for _, t in scored]


def _completed(found: list[Finder]) -> list[Finder]:
    """Where glare or a crease hides one finder, the places the third could be for each pair
    that could belong to one symbol: beside either finder, or across the diagonal."""
    out = []
    for i, p in enumerate(found):
        for q in found[i + 1:]:
            d = np.float32([q.x - p.x, q.y - p.y])
            module = (p.module + q.module) / 2
            if not 12 < float(np.linalg.norm(d)) / module < 45 or max(p.module, q.module) > 1.6 * min(p.module, q.module):
                continue
            side = np.float32([-d[1], d[0]])
            for base, f, off in ((p, p, side), (p, p, -side), (q, q, side), (q, q, -side),
                                 (p, q, (d + side) / 2), (p, q, (d - side) / 2)):
                x, y = base.x + off[0], base.y + off[1]
                shift = np.float32([x - f.x, y - f.y])
                out.append(Finder(float(x), float(y), module, f.corners + shift))
    return out


def _side(corners: np.ndarray) -> float:
    """Mean side of the quadrilateral through four corners given in any order."""
    centre = corners.mean(0)
    ring = corners[np.argsort(np.arctan2(corners[:, 1] - centre[1], corners[:, 0] - centre[0]))]
    return float(np.mean(np.linalg.norm(ring - np.roll(ring, 1, 0), axis=1)))


def _sizes(tri, sizes: tuple[int, ...]) -> list[int]:
    """Symbol sizes, nearest the finders' spacing first."""
    a, b, c = tri
    module = float(np.mean([_side(f.corners) for f in tri])) / 7
    span = (math.hypot(b.x - a.x, b.y - a.y) + math.hypot(c.x - a.x, c.y - a.y)) / 2 / module + 7
    return sorted(sizes, key=lambda n: abs(n - span))


_ALIGN = np.kron(np.pad(np.pad(np.array([[0]], np.uint8), 1, constant_values=255), 1, constant_values=0),
                 np.ones((PX, PX), np.uint8))


def _initial(gray: np.ndarray, tri, n: int) -> np.ndarray:
    """A homography from module coordinates to the image: affine through the finder centres,
    made perspective by the alignment pattern where one is found near its place."""
    src = np.float32([[3.5, 3.5], [n - 3.5, 3.5], [3.5, n - 3.5]])
    dst = np.float32([[f.x, f.y] for f in tri])
    h = np.vstack([cv2.getAffineTransform(src, dst), [0, 0, 1]])
    if n < 25:
        return h
    # the neighbourhood of the alignment pattern, resampled at PX a module
    centre = n - 6.5
    lo = centre - 6.0
    size = int(12 * PX)
    to_window = np.array([[1 / PX, 0, lo], [0, 1 / PX, lo], [0, 0, 1]])
    win = cv2.warpPerspective(gray, h @ to_window, (size, size), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    res = cv2.matchTemplate(win, _ALIGN, cv2.TM_CCOEFF_NORMED)
    _, score, _, loc = cv2.minMaxLoc(res)
    if score < 0.3:
        return h
    half = (_ALIGN.shape[0] - 1) / 2
    found = np.float32([[lo + (loc[0] + half) / PX, lo + (loc[1] + half) / PX]])
    image_pt = cv2.perspectiveTransform(found[None], h)[0]
    h4, _ = cv2.findHomography(np.vstack([src, [[centre, centre]]]), np.vstack([dst, image_pt]), 0)
    return h if h4 is None else h4


def _finder_cells(tri, h: np.ndarray, n: int):
    """Each finder's 7x7 cells and local module vectors, from its own four corners."""
    out = []
    hinv = np.linalg.inv(h)
    for (ox, oy), f in zip(((0, 0), (n - 7, 0), (0, n - 7)), tri):
        rough = cv2.perspectiveTransform(f.corners[None], hinv)[0]
        centre = np.float32([ox + 3.5, oy + 3.5])
        src = centre + 3.5 * np.sign(rough - centre)
        if len({tuple(p) for p in src.tolist()}) < 4:
            continue
        hf = cv2.getPerspectiveTransform(np.float32(src), f.corners)
        cc, rr = np.meshgrid(np.arange(7) + ox + 0.5, np.arange(7) + oy + 0.5)
        pts = np.stack([cc, rr], -1).reshape(-1, 1, 2).astype(np.float32)

        def at(d, hf=hf, pts=pts):
            return cv2.perspectiveTransform(pts + np.float32(d), hf).reshape(7, 7, 2)
        out.append((oy, ox, at([0, 0]), at([0.5, 0]) - at([-0.5, 0]), at([0, 0.5]) - at([0, -0.5])))
    return out


_LINES = np.arange(-2.0, 2.01, 0.5, dtype=np.float32)  # the lines each window profile averages


def _measure(gray: np.ndarray, centres: np.ndarray, ex: np.ndarray, ey: np.ndarray):
    """How far (in modules along ex, ey) the module grid round each centre sits from it, and how
    clearly: the phase of the edge energy along a few lines of a window laid on the local module
    vectors, against the module period."""
    k = int(2 * WINDOW * PX)
    u = (-WINDOW + (np.arange(k) + 0.5) / PX).astype(np.float32)
    mid = -WINDOW + (np.arange(k - 1) + 1.0) / PX  # where each difference sits
    c, ex, ey = centres.astype(np.float32), ex.astype(np.float32), ey.astype(np.float32)
    count, lines = len(c), len(_LINES)
    w = np.exp(-(_LINES / 1.6) ** 2)
    wm = np.exp(-(mid / 1.6) ** 2)
    rot = np.exp(2j * np.pi * mid)  # edges fall half a module from the centre: phase pi
    out = []
    for along, across in ((ex, ey), (ey, ex)):
        # lines parallel to `along`, spaced along `across`: count x lines x k samples
        pts = (c[:, None, None, :] + u[None, None, :, None] * along[:, None, None, :]
               + _LINES[None, :, None, None] * across[:, None, None, :])
        s = cv2.remap(gray, pts[..., 0].reshape(count, lines * k), pts[..., 1].reshape(count, lines * k),
                      cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).reshape(count, lines, k)
        profile = np.einsum("kij,i->kj", np.abs(np.diff(s, axis=2)), w) * wm
        z = profile @ rot
        out.append((np.angle(-z) / (2 * np.pi), np.abs(z) / (profile.sum(1) + 1e-3)))
    (dx, qx), (dy, qy) = out
    return dx, dy, qx, qy


def grow(gray: np.ndarray, h: np.ndarray, n: int, seeds: list[tuple[int, int]], finder_cells=()) -> np.ndarray:
    """Image positions (n x n x 2) of every module centre, grown from the seeds."""
    g = gray.astype(np.float32)
    cc, rr = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    flat = np.stack([cc, rr], -1).reshape(-1, 1, 2).astype(np.float32)
    m0 = cv2.perspectiveTransform(flat, h).reshape(n, n, 2).astype(np.float64)
    pos = np.zeros((n + 2, n + 2, 2))  # padded by one cell all round
    ex = np.zeros((n + 2, n + 2, 2))
    ey = np.zeros((n + 2, n + 2, 2))
    ex[1:-1, 1:-1] = np.gradient(m0, axis=1)
    ey[1:-1, 1:-1] = np.gradient(m0, axis=0)
    known = np.zeros((n + 2, n + 2), bool)
    inside = np.zeros((n + 2, n + 2), bool)
    inside[1:-1, 1:-1] = True

    def place(r, c, pred, vx, vy, dx, dy, qx, qy):
        """Cells at their predictions moved by the measured offsets, where measured clearly."""
        pos[r, c] = pred + np.where(qx > QMIN, dx, 0)[:, None] * vx + np.where(qy > QMIN, dy, 0)[:, None] * vy
        known[r, c] = True

    if seeds:
        r = np.array([a for a, _ in seeds]) + 1
        c = np.array([b for _, b in seeds]) + 1
        place(r, c, m0[r - 1, c - 1], ex[r, c], ey[r, c], *_measure(g, m0[r - 1, c - 1], ex[r, c], ey[r, c]))
    for oy, ox, p, vx, vy in finder_cells:
        pos[oy + 1:oy + 8, ox + 1:ox + 8] = p
        ex[oy + 1:oy + 8, ox + 1:ox + 8] = vx
        ey[oy + 1:oy + 8, ox + 1:ox + 8] = vy
        known[oy + 1:oy + 8, ox + 1:ox + 8] = True
    steps = ((-1, 0), (1, 0), (0, -1), (0, 1))
    while True:
        near = np.zeros_like(known)
        for a, b in steps:
            near |= np.roll(known, (a, b), (0, 1))
        r, c = np.nonzero(inside & ~known & near)
        if not len(r):
            break
        pred = np.zeros((len(r), 2))
        vx = np.zeros((len(r), 2))
        vy = np.zeros((len(r), 2))
        count = np.zeros(len(r))
        for a, b in steps:  # each known neighbour's guess, by its own module vectors
            kn = known[r + a, c + b][:, None]
            pred += np.where(kn, pos[r + a, c + b] - b * ex[r + a, c + b] - a * ey[r + a, c + b], 0)
            vx += np.where(kn, ex[r + a, c + b], 0)
            vy += np.where(kn, ey[r + a, c + b], 0)
            count += kn[:, 0]
        pred, vx, vy = pred / count[:, None], vx / count[:, None], vy / count[:, None]
        dx, dy, qx, qy = _measure(g, pred, vx, vy)
        score = np.minimum(qx, 1) + np.minimum(qy, 1) + 0.3 * count
        cut = int(len(score) * (1 - ACCEPT))
        keep = score >= np.partition(score, cut)[cut]
        r, c, pred, vx, vy = r[keep], c[keep], pred[keep], vx[keep], vy[keep]
        place(r, c, pred, vx, vy, dx[keep], dy[keep], qx[keep], qy[keep])
        # the module vectors follow the cells' real spacing, half carried, half measured
        for vec, (a, b) in ((ex, (0, 1)), (ey, (1, 0))):
            spacing = np.zeros((len(r), 2))
            sides = np.zeros(len(r))
            for sgn in (-1, 1):
                kn = known[r + sgn * a, c + sgn * b][:, None]
                spacing += np.where(kn, (pos[r + sgn * a, c + sgn * b] - pos[r, c]) * sgn, 0)
                sides += kn[:, 0]
            carried = vx if vec is ex else vy
            vec[r, c] = np.where(sides[:, None] > 0, 0.5 * carried + 0.5 * spacing / np.maximum(sides, 1)[:, None],
                                 carried)
    grid = pos[1:-1, 1:-1]
    # one last pass with the grid's own module vectors
    vx = np.gradient(grid, axis=1).reshape(-1, 2)
    vy = np.gradient(grid, axis=0).reshape(-1, 2)
    flat = grid.reshape(-1, 2)
    dx, dy, qx, qy = _measure(g, flat, vx, vy)
    return (flat + np.where(qx > QMIN, dx, 0)[:, None] * vx + np.where(qy > QMIN, dy, 0)[:, None] * vy).reshape(n, n, 2)


def sample(gray: np.ndarray, grid: np.ndarray) -> list[np.ndarray]:
    """Module matrices (True = dark) read at the grid, against a local and a global threshold."""
    blurred = cv2.blur(gray, (3, 3)).astype(np.float32)
    v = cv2.remap(blurred, grid[..., 0].astype(np.float32), grid[..., 1].astype(np.float32), cv2.INTER_LINEAR)
    local = cv2.blur(v, (7, 7), borderType=cv2.BORDER_REFLECT)
    otsu, _ = cv2.threshold(np.clip(v, 0, 255).astype(np.uint8), 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return [v < local, v < otsu]


def _fixed(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The modules every Model 2 symbol of size n has in the same place (finders with their
    separators, timing lines, the alignment pattern of versions 2-6, the dark module):
    (mask, value). Glare or a crease over them says nothing about the payload."""
    mask = np.zeros((n, n), bool)
    value = np.zeros((n, n), bool)
    ring = np.ones((7, 7), bool)
    ring[1:6, 1:6] = False
    ring[2:5, 2:5] = True
    for r, c in ((0, 0), (0, n - 7), (n - 7, 0)):
        r0, c0 = max(r - 1, 0), max(c - 1, 0)
        mask[r0:r + 8, c0:c + 8] = True  # with its light separator
        value[r:r + 7, c:c + 7] = ring
    mask[6, 8:n - 8] = mask[8:n - 8, 6] = True
    value[6, 8:n - 8] = value[8:n - 8, 6] = (np.arange(8, n - 8) % 2 == 0)
    if n >= 25:
        a = n - 7
        mask[a - 2:a + 3, a - 2:a + 3] = True
        value[a - 2:a + 3, a - 2:a + 3] = True
        value[a - 1:a + 2, a - 1:a + 2] = False
        value[a, a] = True
    mask[n - 8, 8] = value[n - 8, 8] = True
    return mask, value


def _timing(gray: np.ndarray, h: np.ndarray, n: int) -> float:
    """Share of the timing-line modules that alternate as they should when sampled through h."""
    idx = np.arange(8, n - 8) + 0.5
    pts = np.float32([[[x, 6.5]] for x in idx] + [[[6.5, y]] for y in idx])
    img = cv2.perspectiveTransform(pts, h).reshape(-1, 2)
    v = cv2.remap(cv2.blur(gray, (3, 3)), img[:, 0].copy()[None], img[:, 1].copy()[None], cv2.INTER_LINEAR)[0]
    v = v.astype(np.float32).reshape(2, -1)
    dark = v < v.mean(axis=1, keepdims=True)
    want = (np.arange(8, n - 8) % 2 == 0)[None]
    return float((dark == want).mean())


def render(matrix: np.ndarray, px: int = 4) -> np.ndarray:
    """A pure, printed-perfect image of a module matrix with its quiet zone."""
    img = np.where(matrix, 0, 255).astype(np.uint8)
    img = np.pad(img, 4, constant_values=255)
    return cv2.resize(img, None, fx=px, fy=px, interpolation=cv2.INTER_NEAREST)


def _read_matrix(matrix: np.ndarray) -> list[str]:
    texts = readers.zxing_texts(render(matrix), try_rotate=False, try_downscale=False, try_invert=False)
    if not texts:  # a light-on-dark print sampled as is
        texts = readers.zxing_texts(render(~matrix), try_rotate=False, try_downscale=False, try_invert=False)
    return texts


def read(gray: np.ndarray, found: list[Finder] | None = None, sizes: tuple[int, ...] = SIZES,
         deadline: float | None = None, guess: bool = False, max_triples: int = 2) -> list[str]:
    """Payloads read by growing a grid from each plausible finder triple, for the likeliest sizes.

    With guess, and only when no three finders make a symbol, the hidden third finder is
    guessed from each pair instead. Two ways to seed the grid: from the finders' own cells
    (right when the print is stretched or squeezed round a finder), then from the finder and
    alignment centres alone (right when a finder's corners are blurred); the first clean read
    wins. The fixed patterns are restored in the sampled matrix before it is read."""
    found = finders(gray, BINARIZATIONS) if found is None else found
    candidates = [(tri, _sizes(tri, sizes)[:2]) for tri in triples(found)[:max_triples]]
    if guess:
        guessed = [] if candidates else _completed(found)
        ids = {id(f) for f in guessed}
        tris = [t for t in triples(found + guessed) if sum(id(f) in ids for f in t) == 1]
        # many places fit a square; the one whose timing lines show is likeliest
        fits = [(tri, n, _initial(gray, tri, n)) for tri in tris for n in _sizes(tri, sizes)[:1]]
        fits.sort(key=lambda f: -_timing(gray, f[2], f[1]))
        candidates = [(tri, [n]) for tri, n, _ in fits[:max_triples]]
    for tri, ns in candidates:
        for n in ns:
            h = _initial(gray, tri, n)
            centres = [(3, 3), (3, n - 4), (n - 4, 3)]
            align = [(n - 7, n - 7)] if n >= 25 else []
            mask, value = _fixed(n)
            for seeds, cells in ((align, _finder_cells(tri, h, n)), (centres + align, ())):
                if deadline is not None and time.perf_counter() > deadline:
                    return []
                grid = grow(gray, h, n, seeds, cells)
                for matrix in sample(gray, grid):
                    texts = _read_matrix(np.where(mask, value, matrix))
                    if texts:
                        return texts
    return []
