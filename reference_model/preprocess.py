"""Frame preprocessing of the released inference script (``inference_ytvos.py``).

``torchvision.transforms.Resize(s)`` on a PIL image, then ``ToTensor`` and ImageNet
``Normalize``. Resize scales the shorter side to s and the longer side to
int(s * long / short) (truncated), with Pillow's bilinear filter, which is what torchvision
calls for PIL images; resizing the float tensor instead shifts mask edges. A frame whose
shorter side already is s is left as it is.

Legend: T frames, H x W original size, h x w resized size.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def resized_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(h, w) after scaling the shorter side to ``short_side`` (torchvision's rule)."""
    if height <= width:
        return short_side, int(short_side * width / height)
    return int(short_side * height / width), short_side


def preprocess_image(image: Image.Image, short_side: int) -> Tensor:
    """An RGB PIL image -> normalised [3, h, w] float32."""
    h, w = resized_size(image.height, image.width, short_side)
    if (h, w) != (image.height, image.width):
        image = image.resize((w, h), Image.BILINEAR)
    x = torch.from_numpy(np.asarray(image, dtype=np.uint8).copy()).permute(2, 0, 1)
    x = x.float().div(255)
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (x - mean) / std


def preprocess_frames(frames: np.ndarray, short_side: int) -> Tensor:
    """uint8 RGB frames [T, H, W, 3] -> [T, 3, h, w]."""
    return torch.stack([preprocess_image(Image.fromarray(f), short_side) for f in frames])
