"""Compiled kernels behind `r2bench.metrics` (numba): J and the DAVIS boundary F on stacks.

The DAVIS 2017 boundary F-measure (``db_eval_boundary``) marks a pixel as boundary when it
differs from its right, lower or lower-right neighbour (``seg2bmap``; the last row compares
only to the right, the last column only downwards, the corner never), dilates each boundary
map by the digital disk ``dx^2 + dy^2 <= r^2`` and counts the boundary pixels of one mask
that fall in the other's dilation. Boundaries are sparse, so instead of dilating whole
frames this computes the same counts exactly from per-row sorted boundary columns: a
boundary point is matched when some row ``y + dy`` (``|dy| <= r``) holds a point of the
other mask within the half-width ``floor(sqrt(r^2 - dy^2))``. One pass over the pixels,
then work proportional to the boundary length times the radius.

Masks are C-contiguous (T, H, W) arrays of any integer dtype (a bool stack is passed viewed
as uint8), non-zero = foreground, read as they are: numba compiles one specialisation per
pair of dtypes, so no converted copy of a mask is ever made.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# De Bruijn sequence: (lowest set bit * _DEBRUIJN) >> 58 indexes _BIT_INDEX, giving the
# position of that bit; a count-trailing-zeros without a compiler intrinsic.
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_BIT_INDEX = np.zeros(64, dtype=np.int64)
_BIT_INDEX[[(((1 << i) * 0x03F79D71B4CB0A89) & (2**64 - 1)) >> 58 for i in range(64)]] = \
    np.arange(64)
_BIT_INDEX.setflags(write=False)


@njit(cache=True, nogil=True, boundscheck=False)
def _append_row(words, cols, n):
    """Append the byte positions of the set bytes of a 0/1 row to ``cols`` from index n.

    ``words`` is the row viewed as uint64, zero-padded to a multiple of 8 words. Clear
    64-byte blocks are skipped; in the others each set byte is found from the lowest set
    bit of its word, so the cost follows the boundary length, not the row width.
    """
    one = np.uint64(1)
    shift = np.uint64(58)
    for b in range(words.shape[0] // 8):
        k = 8 * b
        if ((words[k] | words[k + 1]) | (words[k + 2] | words[k + 3])
                | (words[k + 4] | words[k + 5]) | (words[k + 6] | words[k + 7])) == 0:
            continue
        for kk in range(k, k + 8):
            word = words[kk]
            while word != 0:
                lowest = word & (~word + one)
                cols[n] = 8 * kk + (_BIT_INDEX[(lowest * _DEBRUIJN) >> shift] >> 3)
                n += 1
                word ^= lowest
    return n


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _boundary_row(cur, nxt, out, w):
    """seg2bmap of a row that has a row below: a pixel differs from right, down or diagonal.

    Writes 0/1 bytes. Kept as a plain store loop so that LLVM vectorises it (a reduction in
    the same loop stops that).
    """
    for x in range(w - 1):
        a = cur[x] != 0
        out[x] = (a != (cur[x + 1] != 0)) | (a != (nxt[x] != 0)) | (a != (nxt[x + 1] != 0))
    out[w - 1] = (cur[w - 1] != 0) != (nxt[w - 1] != 0)  # the last column: downwards only


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _boundary_last_row(cur, out, w):
    """seg2bmap of the last row: compare to the right only; its last pixel is never boundary."""
    for x in range(w - 1):
        out[x] = (cur[x] != 0) != (cur[x + 1] != 0)
    out[w - 1] = 0


_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_LANE_ONES = np.uint64(0x0101010101010101)
_LANE_PAIRS = np.uint64(0x00FF00FF00FF00FF)


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _byte_sum(acc):
    """Sum of the eight bytes of a uint64 (each byte at most 255)."""
    pairs = (acc & _LANE_PAIRS) + ((acc >> np.uint64(8)) & _LANE_PAIRS)
    return (pairs * np.uint64(0x0001000100010001)) >> np.uint64(48)


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _lane_counts(gw, pw):
    """Non-zero bytes of ``gw``, of ``pw`` and of both, for at most 255 words each.

    Each word's bytes become 0/1 lanes (``((b & 0x7F) + 0x7F) | b`` has its top bit set
    exactly when b != 0, and no carry crosses a byte); adding words then adds the lanes
    without carries while a lane stays under 256, so the loop is plain vectorisable adds
    and the lanes are folded once at the end. Indexing from 0 lets LLVM drop the
    negative-index checks that otherwise stop it vectorising.
    """
    acc_g = np.uint64(0)
    acc_p = np.uint64(0)
    acc_and = np.uint64(0)
    seven = np.uint64(7)
    for k in range(gw.shape[0]):
        g = gw[k]
        p = pw[k]
        g = ((((g & _LOW7) + _LOW7) | g) >> seven) & _LANE_ONES
        p = ((((p & _LOW7) + _LOW7) | p) >> seven) & _LANE_ONES
        acc_g += g
        acc_p += p
        acc_and += g & p
    return _byte_sum(acc_g), _byte_sum(acc_p), _byte_sum(acc_and)


@njit(cache=True, nogil=True, boundscheck=False)
def _byte_frame_counts(gt, pred, cnt_g, cnt_p):
    """`_frame_counts` of two one-byte (H, W) frames with W a multiple of 8: words of eight
    pixels, in blocks of 255 words (`_lane_counts`)."""
    h, w = gt.shape
    per_row = w // 8
    inter = 0
    for y in range(h):
        gw = gt[y].view(np.uint64)
        pw = pred[y].view(np.uint64)
        n_g = 0
        n_p = 0
        for start in range(0, per_row, 255):
            stop = min(start + 255, per_row)
            a, b, both = _lane_counts(gw[start:stop], pw[start:stop])
            n_g += a
            n_p += b
            inter += both
        cnt_g[y] = n_g
        cnt_p[y] = n_p
    return inter


@njit(cache=True, nogil=True, boundscheck=False)
def _frame_counts(gt, pred, cnt_g, cnt_p):
    """Per-row foreground counts of two (H, W) frames; returns (intersection, union)."""
    h, w = gt.shape
    if gt.itemsize == 1 and pred.itemsize == 1 and w % 8 == 0:
        inter = _byte_frame_counts(gt, pred, cnt_g, cnt_p)
    else:
        inter = 0
        for y in range(h):
            row_g = gt[y]
            row_p = pred[y]
            n_g = 0
            n_p = 0
            for x in range(w):
                g = row_g[x] != 0
                p = row_p[x] != 0
                n_g += g
                n_p += p
                inter += g & p
            cnt_g[y] = n_g
            cnt_p[y] = n_p
    return inter, cnt_g.sum() + cnt_p.sum() - inter


@njit(cache=True, nogil=True, boundscheck=False)
def _row_has_boundary(cnt, y, h, w):
    """False when rows y and y + 1 are both empty or both full: no pixel can differ."""
    if y + 1 < h:
        return not ((cnt[y] == 0 and cnt[y + 1] == 0) or (cnt[y] == w and cnt[y + 1] == w))
    return cnt[y] != 0 and cnt[y] != w


@njit(cache=True, nogil=True, boundscheck=False)
def _boundary_points_row(seg, y, cols, n, buf, words):
    """Append row y's seg2bmap boundary columns to ``cols`` from index n; return the count."""
    h, w = seg.shape
    if y + 1 < h:
        _boundary_row(seg[y], seg[y + 1], buf, w)
    else:
        _boundary_last_row(seg[y], buf, w)
    return _append_row(words, cols, n)


@njit(cache=True, nogil=True, boundscheck=False)
def _fill_grid(ptr, cols, h, cell, grid):
    """Mark the (cell x cell) tiles of ``grid`` that hold at least one boundary point."""
    grid[:] = 0
    for y in range(h):
        for i in range(ptr[y], ptr[y + 1]):
            grid[y // cell, cols[i] // cell] = 1


@njit(cache=True, nogil=True, boundscheck=False)
def _near_tile(grid, y, x, cell):
    """Whether a tile next to (or under) pixel (y, x) holds a point. With cell = r + 1,
    every point within distance r of (y, x) lies in one of these nine tiles."""
    ty = y // cell
    tx = x // cell
    for a in range(max(ty - 1, 0), min(ty + 2, grid.shape[0])):
        for b in range(max(tx - 1, 0), min(tx + 2, grid.shape[1])):
            if grid[a, b]:
                return True
    return False


@njit(cache=True, nogil=True, boundscheck=False)
def _count_matched(ptr_a, cols_a, ptr_b, cols_b, grid_b, h, widths, pending):
    """How many boundary points of A lie within the disk of radius r of a point of B.

    ``widths[d]`` = floor(sqrt(r^2 - d^2)) for d = 0..r; ``grid_b`` is B's tile map with
    tiles of r + 1 pixels (`_fill_grid`), which rejects isolated points at once. For each
    row of A, rows of B are visited outward from dy = 0 and only the still unmatched points
    (kept sorted in ``pending``, scratch of at least W ints) are merged against each row.
    """
    r = widths.shape[0] - 1
    cell = r + 1
    matched = 0
    for y in range(h):
        a0 = ptr_a[y]
        a1 = ptr_a[y + 1]
        left = 0
        for i in range(a0, a1):
            if _near_tile(grid_b, y, cols_a[i], cell):
                pending[left] = cols_a[i]
                left += 1
        candidates = left
        for step in range(2 * r + 1):
            if left == 0:
                break
            dy = (step + 1) // 2 if step % 2 == 1 else -(step // 2)
            yy = y + dy
            if yy < 0 or yy >= h:
                continue
            b0 = ptr_b[yy]
            b1 = ptr_b[yy + 1]
            if b0 == b1:
                continue
            half = widths[abs(dy)]
            j = b0
            kept = 0
            for i in range(left):
                x = pending[i]
                while j < b1 and cols_b[j] < x - half:
                    j += 1
                if j == b1 or cols_b[j] > x + half:
                    pending[kept] = x
                    kept += 1
            left = kept
        matched += candidates - left
    return matched


@njit(cache=True, nogil=True, boundscheck=False)
def _f_from_counts(n_fg, n_gt, fg_match, gt_match):
    """The DAVIS precision/recall rules and F, in the same float64 operations."""
    if n_fg == 0 and n_gt > 0:
        precision, recall = 1.0, 0.0
    elif n_fg > 0 and n_gt == 0:
        precision, recall = 0.0, 1.0
    elif n_fg == 0 and n_gt == 0:
        precision, recall = 1.0, 1.0
    else:
        precision = fg_match / float(n_fg)
        recall = gt_match / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


@njit(cache=True, nogil=True, boundscheck=False)
def _frame_jf(gt, pred, widths, want_f, s):
    """J, F and the intersection (pixels) of one (H, W) frame pair.

    A first pass counts the foreground of every row (which gives J); the boundary pass then
    skips the rows that cannot hold a boundary (both rows empty or both full). ``s`` holds
    the scratch arrays (see `jf_kernel`).
    """
    cnt_g, cnt_p, ptr_g, ptr_p, cols_g, cols_p, buf, pending, grid_g, grid_p = s
    h, w = gt.shape
    words = buf.view(np.uint64)
    n_gt = 0
    n_fg = 0
    inter, union = _frame_counts(gt, pred, cnt_g, cnt_p)
    if want_f:
        for y in range(h):
            ptr_g[y] = n_gt
            ptr_p[y] = n_fg
            if _row_has_boundary(cnt_g, y, h, w):
                n_gt = _boundary_points_row(gt, y, cols_g, n_gt, buf, words)
            if _row_has_boundary(cnt_p, y, h, w):
                n_fg = _boundary_points_row(pred, y, cols_p, n_fg, buf, words)
    j = 1.0 if union == 0 else inter / union
    if not want_f:
        return j, np.nan, inter
    ptr_g[h] = n_gt
    ptr_p[h] = n_fg
    fg_match = 0
    gt_match = 0
    if n_gt > 0 and n_fg > 0:
        cell = widths.shape[0]
        _fill_grid(ptr_g, cols_g, h, cell, grid_g)
        _fill_grid(ptr_p, cols_p, h, cell, grid_p)
        fg_match = _count_matched(ptr_p, cols_p, ptr_g, cols_g, grid_g, h, widths, pending)
        gt_match = _count_matched(ptr_g, cols_g, ptr_p, cols_p, grid_p, h, widths, pending)
    return j, _f_from_counts(n_fg, n_gt, fg_match, gt_match), inter


@njit(cache=True, nogil=True, boundscheck=False)
def jf_kernel(gt, pred, widths, want_f):
    """Per-frame J, F and pixel counts of two (T, H, W) integer stacks (non-zero = fg).

    Returns float64 (T,) J, float64 (T,) F and int64 (T, 3) counts: foreground pixels of
    ``pred``, of ``gt``, and of both (the intersection).
    ``widths`` encodes the dilation disk (see `_count_matched`); without ``want_f`` F is
    NaN and no boundary is computed.
    """
    t_len, h, w = gt.shape
    j = np.empty(t_len)
    f = np.empty(t_len)
    counts = np.empty((t_len, 3), dtype=np.int64)
    cell = widths.shape[0]  # r + 1
    tiles_h = (h + cell - 1) // cell
    tiles_w = (w + cell - 1) // cell
    scratch = (
        np.empty(h, dtype=np.int64), np.empty(h, dtype=np.int64),          # row counts
        np.empty(h + 1, dtype=np.int64), np.empty(h + 1, dtype=np.int64),  # row starts
        np.empty(h * w, dtype=np.int32), np.empty(h * w, dtype=np.int32),  # columns
        np.zeros(((w + 63) // 64) * 64, dtype=np.uint8),                    # boundary row
        np.empty(w, dtype=np.int32),                                        # pending points
        np.empty((tiles_h, tiles_w), dtype=np.uint8),                       # tile maps
        np.empty((tiles_h, tiles_w), dtype=np.uint8),
    )
    for t in range(t_len):
        j[t], f[t], counts[t, 2] = _frame_jf(gt[t], pred[t], widths, want_f, scratch)
        counts[t, 0] = scratch[1].sum()  # the row counts of pred, filled by _frame_jf
        counts[t, 1] = scratch[0].sum()  # and those of gt
    return j, f, counts


@njit(cache=True, nogil=True, boundscheck=False)
def foreground_count(masks):
    """Number of non-zero pixels of an integer array of any shape (flattened)."""
    flat = masks.ravel()
    n = 0
    for i in range(flat.shape[0]):
        n += flat[i] != 0
    return n
