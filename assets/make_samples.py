"""Draw the sample images of `assets/samples/` (the demo and the drop-folder examples use them).

    .venv/bin/python assets/make_samples.py

Flat shapes drawn with Pillow, so the files are small, identical on every run, and still real images that pass
every check a dropped file goes through (decodes, RGB without alpha, sides within 360-2000 px for
image-to-video). `street.txt` is a sidecar: the prompt for `street.jpg` when it is dropped.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent / "samples"


def cat() -> Image.Image:
    """A cat's face on a teal ground (`cat.png`: image-to-video, edits)."""
    image = Image.new("RGB", (640, 640), (32, 96, 110))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 500, 640, 640], fill=(24, 70, 82))
    draw.polygon([(170, 250), (200, 90), (300, 200)], fill=(230, 150, 60))  # ears
    draw.polygon([(470, 250), (440, 90), (340, 200)], fill=(230, 150, 60))
    draw.polygon([(200, 220), (212, 135), (270, 200)], fill=(250, 190, 170))
    draw.polygon([(440, 220), (428, 135), (370, 200)], fill=(250, 190, 170))
    draw.ellipse([150, 160, 490, 500], fill=(240, 160, 70))  # head
    draw.ellipse([225, 270, 295, 340], fill=(250, 245, 220))  # eyes
    draw.ellipse([345, 270, 415, 340], fill=(250, 245, 220))
    draw.ellipse([248, 282, 276, 332], fill=(30, 40, 30))
    draw.ellipse([368, 282, 396, 332], fill=(30, 40, 30))
    draw.polygon([(305, 370), (335, 370), (320, 390)], fill=(200, 90, 110))  # nose
    for dy in (-12, 0, 12):  # whiskers
        draw.line([(150, 385 + dy), (270, 380)], fill=(250, 240, 220), width=3)
        draw.line([(490, 385 + dy), (370, 380)], fill=(250, 240, 220), width=3)
    return image


def street() -> Image.Image:
    """A rainy street at dusk (`street.jpg`: a JPEG, with a sidecar prompt)."""
    image = Image.new("RGB", (800, 480), (54, 62, 92))
    draw = ImageDraw.Draw(image)
    for i, (x, h) in enumerate([(0, 260), (120, 320), (250, 220), (520, 300), (650, 250)]):
        draw.rectangle([x, 480 - h - 80, x + 130, 400], fill=(34 + 6 * i, 38 + 4 * i, 60 + 5 * i))
        for wy in range(480 - h - 60, 380, 40):
            for wx in (x + 20, x + 75):
                lit = (wx + wy) % 3 == 0
                draw.rectangle([wx, wy, wx + 30, wy + 20], fill=(250, 210, 120) if lit else (60, 66, 96))
    draw.rectangle([0, 400, 800, 480], fill=(40, 44, 58))  # the wet road
    draw.polygon([(360, 480), (440, 480), (405, 400), (395, 400)], fill=(230, 200, 120))  # a reflection
    for x in range(0, 800, 41):  # rain
        for y in range((x * 7) % 90, 400, 90):
            draw.line([(x, y), (x - 4, y + 14)], fill=(150, 165, 200), width=1)
    return image


def dusk(night: bool) -> Image.Image:
    """The same hill by day and by night (`dusk_first.png` + `dusk_last.png`: a first + last frame pair)."""
    sky, ground, light = (
        ((120, 180, 230), (70, 140, 70), (255, 230, 120))
        if not night
        else ((20, 24, 60), (20, 50, 30), (240, 240, 255))
    )
    image = Image.new("RGB", (640, 480), sky)
    draw = ImageDraw.Draw(image)
    draw.ellipse([440, 50, 540, 150], fill=light)  # sun or moon
    if night:
        draw.ellipse([470, 40, 560, 130], fill=sky)  # a crescent
        for x, y in [(60, 40), (150, 90), (260, 30), (330, 120), (600, 200), (90, 180)]:
            draw.rectangle([x, y, x + 3, y + 3], fill=(230, 230, 255))
    draw.ellipse([-200, 300, 500, 700], fill=ground)
    draw.ellipse([250, 340, 900, 760], fill=tuple(max(0, c - 15) for c in ground))
    draw.rectangle([150, 250, 230, 330], fill=(180, 90, 60) if not night else (70, 40, 40))  # a house
    draw.polygon([(140, 255), (190, 205), (240, 255)], fill=(120, 50, 40))
    draw.rectangle([175, 280, 200, 305], fill=(250, 220, 120) if night else (90, 120, 150))
    return image


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cat().save(OUT / "cat.png", optimize=True)
    street().save(OUT / "street.jpg", quality=60, optimize=True)
    dusk(night=False).save(OUT / "dusk_first.png", optimize=True)
    dusk(night=True).save(OUT / "dusk_last.png", optimize=True)
    (OUT / "street.txt").write_text("Rain keeps falling, neon signs flicker on, slow dolly forward\n", encoding="utf-8")
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(OUT.parent.parent)}  {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
