"""Draw Hookline's app icons with Pillow: `.venv/bin/python scripts/make_icons.py`.

Writes static/icons/icon-192.png, icon-512.png, maskable-512.png and apple-touch-icon.png
(180 px). The glyph is a white fish hook on the brand green; the maskable icon keeps the
glyph inside the central safe zone (a circle of 80 % of the width) and fills to the edges.
"""

from pathlib import Path

from PIL import Image, ImageDraw

GREEN = (11, 110, 79, 255)
WHITE = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"
SUPERSAMPLE = 4


def _hook(draw: ImageDraw.ImageDraw, size: int, scale: float) -> None:
    """Draw a hook centred in a size x size image, scale = glyph height / size."""
    h = size * scale
    bend_r = h * 0.24
    cx, top = size / 2 + bend_r, (size - h) / 2  # the glyph spans cx - 2 bend_r .. cx
    stroke = max(2, round(h * 0.11))
    # The shank: an eye at the top and a straight line down.
    eye_r = h * 0.07
    draw.ellipse(
        (cx - eye_r, top, cx + eye_r, top + 2 * eye_r), outline=WHITE, width=round(stroke * 0.7)
    )
    bottom = top + h - bend_r
    draw.line((cx, top + 2 * eye_r, cx, bottom), fill=WHITE, width=stroke)
    # The bend: a half circle to the left, then up to the point and its barb.
    left = cx - 2 * bend_r
    half = stroke / 2
    box = (left - half, bottom - bend_r - half, cx + half, bottom + bend_r + half)
    draw.arc(box, start=0, end=180, fill=WHITE, width=stroke)
    point_top = bottom - h * 0.28
    draw.line((left, bottom, left, point_top), fill=WHITE, width=stroke)
    draw.polygon(
        [
            (left - stroke * 0.5, point_top + stroke * 0.2),
            (left + stroke * 1.6, point_top + stroke * 1.6),
            (left - stroke * 0.5, point_top - stroke * 1.3),
        ],
        fill=WHITE,
    )


def icon(size: int, *, maskable: bool = False, rounded: bool = True) -> Image.Image:
    """Return one icon of size x size pixels."""
    big = size * SUPERSAMPLE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable or not rounded:
        draw.rectangle((0, 0, big, big), fill=GREEN)
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.2, fill=GREEN)
    _hook(draw, big, 0.5 if maskable else 0.66)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    icon(192).save(OUT / "icon-192.png", optimize=True)
    icon(512).save(OUT / "icon-512.png", optimize=True)
    icon(512, maskable=True).save(OUT / "maskable-512.png", optimize=True)
    # iOS rounds the corners itself and shows transparency as black: fill the square.
    icon(180, rounded=False).convert("RGB").save(OUT / "apple-touch-icon.png", optimize=True)
    for path in sorted(OUT.glob("*.png")):
        print(path.relative_to(OUT.parent.parent), Image.open(path).size)


if __name__ == "__main__":
    main()
