"""Screenshots of the three tabs of `zoo serve`, taken in headless Chromium on a real photo
with the models of a finished search (README command 1 writes ./results):

    python docs/serve_screenshots.py --storage results [--photo PHOTO] [--out docs]

writes docs/serve_inpaint.png (a stroke painted over part of the photo, filled by the
search's winner beside Telea), docs/serve_leaderboard.png (the table, the winner's row
chosen) and docs/serve_compare.png (the grid of the best two models on the frozen test
holes). The photo defaults to matplotlib's sample portrait of Grace Hopper (public
domain). Needs the [ui] and [test] extras (Gradio, Selenium) and Chromium with
chromedriver.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before Gradio is imported

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")
WIDTH = 1280  # browser window; the saved PNGs are scaled to SAVE_WIDTH
SAVE_WIDTH = 1000
# the stroke on the photo: (x, y) of its points as fractions of the photo's width, height
STROKE = [(0.17, 0.80), (0.22, 0.795), (0.27, 0.79), (0.31, 0.785)]  # over the name tag


def _default_photo() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def _browser(height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in (*FLAGS, f"--window-size={WIDTH},{height}",
                 f"--user-data-dir={tempfile.mkdtemp(prefix='zoo-shots-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _save(browser, path: Path) -> None:
    """The window as a small PNG: scaled to SAVE_WIDTH, 256 colours."""
    from io import BytesIO

    from PIL import Image

    browser.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.5)
    shot = Image.open(BytesIO(browser.get_screenshot_as_png())).convert("RGB")
    shot = shot.resize((SAVE_WIDTH, round(shot.height * SAVE_WIDTH / shot.width)),
                       Image.LANCZOS)
    shot.quantize(256, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KB")


def _paint(browser, photo_size: tuple[int, int]) -> None:
    """Drag the brush along STROKE, mapped onto the canvas the editor fitted the photo to."""
    from selenium.webdriver.common.action_chains import ActionChains
    from test_serve_browser import _settled, _wait

    def drag() -> None:
        canvas = _wait(browser, "#editor canvas")[0]
        w, h = canvas.size["width"], canvas.size["height"]
        scale = min(w / photo_size[0], h / photo_size[1])  # the photo fits the canvas
        points = [((fx - 0.5) * photo_size[0] * scale, (fy - 0.5) * photo_size[1] * scale)
                  for fx, fy in STROKE]
        chain = ActionChains(browser, duration=50)
        chain.move_to_element_with_offset(canvas, round(points[0][0]), round(points[0][1]))
        chain.click_and_hold()
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            chain.move_by_offset(round(x1 - x0), round(y1 - y0))
        chain.release().perform()
    _settled(drag)


def _tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By
    from test_serve_browser import _settled

    _settled(lambda: next(b for b in browser.find_elements(By.CSS_SELECTOR, "button[role=tab]")
                          if b.text.strip() == name).click())
    time.sleep(1)


def shoot(url: str, photo: Path, out: Path) -> None:
    from PIL import Image
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from test_serve_browser import _settled, _sources, _wait

    browser = _browser(1250)
    try:
        browser.get(url)
        _settled(lambda: _wait(browser, "#editor input[type=file]")[0]
                 .send_keys(str(photo.resolve())))
        _wait(browser, "#editor canvas")
        time.sleep(2)
        _paint(browser, Image.open(photo).size)
        _settled(lambda: _wait(browser, "#run")[0].click())
        _sources(browser, "#fills img", 2)
        time.sleep(2)
        _save(browser, out / "serve_inpaint.png")

        _tab(browser, "Leaderboard")
        # the winner's row; a pointer click, as the table lays a copy of its cells on top
        _settled(lambda: ActionChains(browser).move_to_element(
            _wait(browser, "#board tbody tr td")[1]).click().perform())
        time.sleep(4)
        _save(browser, out / "serve_leaderboard.png")

        _tab(browser, "Compare")
        _settled(lambda: next(b for b in browser.find_elements(By.CSS_SELECTOR, "button")
                              if b.text.startswith("Compare on the frozen")).click())
        _sources(browser, "#grid img", 1)
        time.sleep(2)
        _save(browser, out / "serve_compare.png")
    finally:
        browser.quit()


def main(argv: list[str] | None = None) -> int:
    from zoo.ui import create, launch_options

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--storage", default="results", help="the search's folder (./results)")
    p.add_argument("--photo", type=Path, default=None, help="default: Grace Hopper's portrait")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    app = create(storage=args.storage)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.queue().launch(prevent_thread_lock=True, **launch_options(port=port))
    try:
        shoot(f"http://127.0.0.1:{port}/", args.photo or _default_photo(), args.out)
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
