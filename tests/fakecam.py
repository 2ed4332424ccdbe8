"""Make QR images and fake-camera videos for browser tests and the scan benchmark.

Only qrcode and Pillow are used (no ffmpeg). Chromium plays a ``.y4m`` file as its fake
camera when launched with :func:`chromium_camera_args`; the file loops forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import qrcode
from PIL import Image, ImageDraw

# A badge QR as printed by many registration systems: a vCard 3.0.
SAMPLE_VCARD = (
    "BEGIN:VCARD\r\n"
    "VERSION:3.0\r\n"
    "N:Lovelace;Ada;;;\r\n"
    "FN:Ada Lovelace\r\n"
    "ORG:Analytical Engines Ltd\r\n"
    "TITLE:Head of Computing\r\n"
    "EMAIL;TYPE=INTERNET:ada@example.com\r\n"
    "TEL;TYPE=CELL:+44 20 7946 0000\r\n"
    "END:VCARD"
)


def qr_image(text: str, box_size: int = 8, border: int = 4) -> Image.Image:
    """Render ``text`` as a black-on-white QR code."""
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    qr.add_data(text)
    qr.make(fit=True)
    return qr.make_image(fill_color="black", back_color="white").get_image().convert("RGB")


def qr_png(text: str, path: Path | str, box_size: int = 8) -> Path:
    """Write ``text`` as a QR code PNG and return its path."""
    path = Path(path)
    qr_image(text, box_size=box_size).save(path, format="PNG")
    return path


def qr_frame(text: str, width: int = 640, height: int = 480, fraction: float = 0.6) -> Image.Image:
    """A white frame with the QR centred, its side ``fraction`` of the frame height."""
    frame = Image.new("RGB", (width, height), "white")
    code = qr_image(text)
    side = int(height * fraction)
    code = code.resize((side, side), Image.Resampling.NEAREST)
    frame.paste(code, ((width - side) // 2, (height - side) // 2))
    return frame


def blank_frame(width: int = 640, height: int = 480) -> Image.Image:
    """A light grey frame with a few shapes but no code, like a camera pointed at a wall."""
    frame = Image.new("RGB", (width, height), (205, 200, 190))
    draw = ImageDraw.Draw(frame)
    draw.rectangle((width // 8, height // 6, width // 3, height // 2), fill=(90, 110, 140))
    draw.ellipse((width // 2, height // 3, width * 7 // 8, height * 5 // 6), fill=(240, 235, 220))
    draw.line((0, height - 1, width, height // 2), fill=(40, 40, 40), width=6)
    return frame


def write_y4m(frames: Sequence[Image.Image], path: Path | str, fps: int = 30) -> Path:
    """Write RGB frames as an uncompressed 4:2:0 YUV4MPEG2 (C420jpeg) file Chromium can play."""
    if not frames:
        raise ValueError("need at least one frame")
    width, height = frames[0].size
    if width % 2 or height % 2:
        raise ValueError("width and height must be even for 4:2:0")
    path = Path(path)
    header = f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    half = (width // 2, height // 2)
    encoded: dict[int, bytes] = {}  # identical frames are encoded once
    with path.open("wb") as out:
        out.write(header)
        for frame in frames:
            key = id(frame)
            if key not in encoded:
                if frame.size != (width, height):
                    raise ValueError("all frames must have the same size")
                y, cb, cr = frame.convert("YCbCr").split()
                encoded[key] = (
                    y.tobytes()
                    + cb.resize(half, Image.Resampling.BILINEAR).tobytes()
                    + cr.resize(half, Image.Resampling.BILINEAR).tobytes()
                )
            out.write(b"FRAME\n")
            out.write(encoded[key])
    return path


def qr_y4m(
    text: str, path: Path | str, width: int = 640, height: int = 480, frames: int = 30
) -> Path:
    """Write a fake-camera video that shows a QR code of ``text`` in every frame."""
    frame = qr_frame(text, width, height)
    return write_y4m([frame] * frames, path)


def blank_y4m(path: Path | str, width: int = 640, height: int = 480, frames: int = 30) -> Path:
    """Write a fake-camera video with no QR code in it."""
    frame = blank_frame(width, height)
    return write_y4m([frame] * frames, path)


def chromium_camera_args(y4m_path: Path | str) -> list[str]:
    """Chromium flags that grant camera access and play ``y4m_path`` as the camera."""
    return [
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={Path(y4m_path).resolve()}",
    ]
