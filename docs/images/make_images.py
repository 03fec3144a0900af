"""The README's two pictures, cut from the browser test's full-page screenshots.

Run `python -m pytest tests/test_browser.py` first (it writes tests/screenshots/), then
`python docs/images/make_images.py`. WebP at 1,200 px wide keeps each under 200 KB.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[2]
SHOTS = REPO / "tests" / "screenshots"
OUT = Path(__file__).resolve().parent
WIDTH = 1200

# picture: (screenshot, a function of the screenshot's size giving the crop box)
PICTURES = {
    # Compare: the out-of-fold section (paired bootstrap, own recipe vs the seeds), main column
    "compare": ("compare.png", lambda w, h: (330, min(2150, h - 1000), w, min(3170, h))),
    # Upload after "Try a sample image": the comparison table, the chart, the first cards
    "upload": ("upload_sample_button.png", lambda w, h: (330, min(1080, h - 1400), w, min(2560, h))),
}


def main() -> None:
    for name, (shot, box) in PICTURES.items():
        with Image.open(SHOTS / shot) as im:
            part = im.convert("RGB").crop(box(*im.size))
        part = part.resize((WIDTH, round(part.height * WIDTH / part.width)), Image.LANCZOS)
        part.save(OUT / f"{name}.webp", "WEBP", quality=72, method=6)
        print(f"{name}.webp {part.width}x{part.height} {(OUT / f'{name}.webp').stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
