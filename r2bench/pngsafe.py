"""Opening image files from outside without letting a tiny file claim a huge image.

A PNG's size is two numbers in its header: a file of a few KB can say 20000x20000 and
expand to 400 million pixels when decoded. Pillow guards against this itself
(``Image.MAX_IMAGE_PIXELS``, about 89M pixels): above it ``Image.open`` prints a multi-line
``DecompressionBombWarning``; above twice it, it raises ``DecompressionBombError``, a
message that names no file. So a reader here

1. takes the size from the PNG's IHDR chunk (`png_size`) and compares it with what the caller
   expects before Pillow sees the file, and
2. opens the file inside `no_bombs`, which turns Pillow's warning and error alike into a
   ``ValueError`` the caller reports as one line naming the file.
"""

from __future__ import annotations

import contextlib
import struct
import warnings
from collections.abc import Iterator

from PIL import Image

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
HEAD_BYTES = 4096  # enough for the header of any PNG not padded before its IHDR chunk


def png_size(head: bytes) -> tuple[int, int] | None:
    """(H, W) from the IHDR chunk found in ``head``, the start of a PNG file; None when
    ``head`` does not start like a PNG or ends before IHDR (then the caller lets Pillow
    say what the file is, inside `no_bombs`).

    IHDR should be the first chunk, but Pillow also reads a PNG with other chunks before
    it, so the chunks are walked up to IHDR (or the first image data).
    """
    if not head.startswith(PNG_SIGNATURE):
        return None
    pos = len(PNG_SIGNATURE)
    while pos + 16 <= len(head):
        length, kind = struct.unpack(">I4s", head[pos:pos + 8])
        if kind == b"IHDR":
            w, h = struct.unpack(">II", head[pos + 8:pos + 16])
            return h, w
        if kind == b"IDAT":
            return None
        pos += 12 + length  # length, type, data, CRC
    return None


class ImageTooLarge(ValueError):
    """Pillow refused (or warned about) an image as a possible decompression bomb."""


@contextlib.contextmanager
def no_bombs() -> Iterator[None]:
    """Within the block, Pillow's decompression-bomb warning and error both raise
    `ImageTooLarge` with a one-line reason; nothing is printed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLarge("too large for Pillow: over its decompression-bomb limit of "
                                f"{Image.MAX_IMAGE_PIXELS} pixels") from None
