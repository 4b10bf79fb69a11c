"""The app's icon, drawn with Pillow: the browser tab's favicon and the field app's icons."""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image, ImageDraw

GREEN = (46, 125, 50, 255)


@lru_cache(maxsize=8)
def app_icon(size: int, maskable: bool = False) -> bytes:
    """The icon as PNG bytes: a white map pin with a tick on green, `size` pixels square."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    if maskable:  # full bleed; the pin stays in the safe zone (the middle 80 %)
        draw.rectangle((0, 0, size, size), fill=GREEN)
    else:
        draw.rounded_rectangle((0, 0, size - 1, size - 1), radius=size // 6, fill=GREEN)
    s = size * (0.6 if maskable else 0.75) / 100  # the pin drawn on a 100-unit grid
    ox, oy = (size - 100 * s) / 2, (size - 100 * s) / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return ox + x * s, oy + y * s

    white = (255, 255, 255, 255)
    draw.ellipse((*at(22, 6), *at(78, 62)), fill=white)
    draw.polygon([at(27, 48), at(73, 48), at(50, 94)], fill=white)
    draw.line([at(36, 34), at(47, 45), at(65, 24)], fill=GREEN, width=max(2, round(8 * s)),
              joint="curve")
    out = io.BytesIO()
    img.save(out, "PNG", optimize=True)
    return out.getvalue()
