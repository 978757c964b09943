"""`zoo serve` in a real browser (headless Chromium through Selenium): upload a photo on
the Inpaint tab, draw a stroke on the canvas, run the inpainting, and check that the fill
differs from the upload only under the stroke. Skipped when Chromium or chromedriver is
missing, except under CI=true, where that is a failure.

The page is photographed after the upload and after the fill: set ZOO_SCREENSHOT_DIR to a
folder to keep the two PNGs (upload.png, filled.png) and look at them."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import urllib.request
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="zoo serve needs the [ui] extra: pip install -e '.[ui]'")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (the [test] extra)")

from test_serve import PHOTO, start  # noqa: E402

CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1000,800")


def _binaries() -> tuple[str, str]:
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chrome and driver:
        return chrome, driver
    msg = ("the browser test needs Chromium and chromedriver (apt-get install chromium "
           "chromium-driver); .ci/run installs them")
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.service import Service

    chrome, driver = _binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="zoo-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    d = webdriver.Chrome(service=Service(driver), options=options)
    yield d
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)


def _wait(browser, css: str, timeout: float = 60, n: int = 1):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(
        lambda d: (found := d.find_elements(By.CSS_SELECTOR, css)) and len(found) >= n
        and found)


def _settled(action, tries: int = 40):
    """``action()``, again while the page re-renders under it (a stale element)."""
    from selenium.common.exceptions import StaleElementReferenceException

    for _ in range(tries):
        try:
            return action()
        except StaleElementReferenceException:
            time.sleep(0.25)
    raise AssertionError("the page never settled")


def _sources(browser, css: str, n: int) -> list[str]:
    """The ``src`` of the first ``n`` images matching ``css`` once they are all there."""
    def read() -> list[str]:
        srcs = [im.get_attribute("src") for im in _wait(browser, css, n=n)]
        if not all(srcs):
            from selenium.common.exceptions import StaleElementReferenceException

            raise StaleElementReferenceException("images without a source yet")
        return srcs
    return _settled(read)


def _draw_stroke(browser) -> None:
    """A horizontal drag of 120 px through the middle of the editor's canvas."""
    from selenium.webdriver.common.action_chains import ActionChains

    def drag() -> None:
        canvas = _wait(browser, "#editor canvas")[0]
        chain = ActionChains(browser, duration=50).move_to_element_with_offset(canvas, -60, 0)
        chain.click_and_hold()
        for _ in range(6):
            chain.move_by_offset(20, 0)
        chain.release().perform()
    _settled(drag)


def _screenshot(browser, name: str, tmp_path) -> None:
    """The whole window as ``name``.png, into ZOO_SCREENSHOT_DIR when that is set."""
    folder = os.environ.get("ZOO_SCREENSHOT_DIR")
    target = Path(folder) if folder else tmp_path
    target.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(target / f"{name}.png"))


def test_paint_a_stroke_and_inpaint_in_a_browser(browser, storage, tmp_path,
                                                 monkeypatch) -> None:
    from zoo.ui import _inpaint, create

    holes = []
    real_fill = _inpaint.fill

    def fill(catalog, picture, hole, *args, **kwargs):
        holes.append(hole.copy())  # the hole the page sent: where the stroke went
        return real_fill(catalog, picture, hole, *args, **kwargs)

    monkeypatch.setattr(_inpaint, "fill", fill)
    app = create(storage=str(storage), workdir=tmp_path)
    url = start(app)
    try:
        browser.get(url)
        _settled(lambda: _wait(browser, "#editor input[type=file]")[0]
                 .send_keys(str(PHOTO.resolve())))
        _wait(browser, "#editor canvas")
        time.sleep(1.0)  # the photo is drawn on the canvas and fitted to it
        _draw_stroke(browser)
        _screenshot(browser, "upload", tmp_path)
        _settled(lambda: _wait(browser, "#run")[0].click())
        srcs = _sources(browser, "#fills img", 2)
        first = app.zoo_server.catalog.names[0]  # the model ticked by default
        fill_url = next(s for s in srcs if s.endswith(f"_{first}.png"))
        time.sleep(0.5)  # the gallery's images finish loading
        _screenshot(browser, "filled", tmp_path)
        got = np.asarray(Image.open(BytesIO(urllib.request.urlopen(fill_url, timeout=30)
                                            .read())))
    finally:
        app.close()
    before = np.asarray(Image.open(PHOTO))
    assert len(holes) == 1
    hole = holes[0]
    h, w = hole.shape
    assert got.shape == before.shape  # same size, RGB stays RGB
    changed = (got != before).any(axis=2)
    assert changed.any() and not (changed & ~hole).any()  # differs only under the stroke
    # the stroke: a horizontal band through the middle, not the whole photo
    rows, cols = np.nonzero(hole)
    assert 0 < hole.mean() < 0.5
    assert abs(rows.mean() - h / 2) < h / 6 and abs(cols.mean() - w / 2) < w / 6
    assert np.ptp(cols) > np.ptp(rows)
