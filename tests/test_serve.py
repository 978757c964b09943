"""`zoo serve` through its API, as a script sees it (gradio_client), on tiny models trained
here: the fills keep `zoo inpaint`'s guarantees, every bad input is a clear error and the
server keeps answering, clients only get the models it was started with, and the page's
tabs show what the CLI computes."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("gradio", reason="zoo serve needs the [ui] extra: pip install -e '.[ui]'")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio_client runs: no telemetry

from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from zoo.leaderboard import Leaderboard  # noqa: E402

ASSETS = Path(__file__).parent / "assets"
PHOTO = ASSETS / "hopper.png"  # 100x112 RGB
MAX_PIXELS = 40_000  # small, so an oversized upload is cheap to make


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(app, **options):
    """Launch ``app`` on a free local port in this process; returns its URL."""
    from zoo.ui import launch_options

    port = free_port()
    app.queue(default_concurrency_limit=1).launch(
        prevent_thread_lock=True, **launch_options(port=port, max_pixels=MAX_PIXELS, **options))
    return f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def served(storage, tmp_path_factory):
    from zoo.ui import create

    app = create(storage=str(storage), max_pixels=MAX_PIXELS,
                 workdir=tmp_path_factory.mktemp("serve"))
    url = start(app)
    yield app, url
    app.close()


@pytest.fixture(scope="module")
def client(served) -> Client:
    return Client(served[1], analytics_enabled=False, verbose=False)


def _mask(path: Path, size: tuple[int, int], box=(30, 40, 60, 70)) -> Path:
    m = np.zeros((size[1], size[0]), np.uint8)
    top, left, bottom, right = box
    m[top:bottom, left:right] = 255
    Image.fromarray(m).save(path)
    return path


def test_models_lists_the_trials_best_first(client, storage) -> None:
    names = [m["name"] for m in client.predict(api_name="/models")]
    assert sorted(names) == ["tiny-1", "tiny-2"]
    best = Leaderboard(storage / "leaderboard.sqlite", create=False).trials(sort="psnr_hole")
    assert names[0] == best[0]["trial_id"]  # the default model: the leaderboard's winner


def _expected(storage: Path, trial: str, photo: Path, mask: Path) -> np.ndarray:
    """What `zoo inpaint`'s function gives for this photo and mask (the one implementation)."""
    import zoo
    from zoo.inpaint import inpaint_picture, read_image, read_mask

    picture = read_image(photo)
    model = zoo.load(trial, storage=str(storage), device="cpu")
    hole = read_mask(mask, (picture.pixels.shape[1], picture.pixels.shape[0]))
    return np.asarray(inpaint_picture(model.net, picture, hole).to_pil())


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "I;16"])
def test_inpaint_keeps_size_mode_and_known_pixels(client, storage, tmp_path, mode) -> None:
    src = Image.open(PHOTO)
    if mode == "RGBA":
        src = src.convert("RGB")
        src.putalpha(Image.fromarray(np.linspace(60, 255, src.width, dtype=np.uint8)[None]
                                     .repeat(src.height, 0)))
    elif mode == "I;16":
        src = Image.fromarray((np.asarray(src.convert("L")).astype(np.uint16) * 257))
    else:
        src = src.convert(mode)
    photo = tmp_path / f"photo-{mode.replace(';', '')}.png"
    src.save(photo)
    mask = _mask(tmp_path / "mask.png", src.size)
    name = "tiny-2" if mode == "L" else ""  # "" is the default model, the first offered
    out = Image.open(client.predict(handle_file(str(photo)), handle_file(str(mask)), name,
                                    api_name="/inpaint"))
    assert out.size == src.size and out.mode == src.mode
    got, before = np.asarray(out), np.asarray(src)
    hole = np.asarray(Image.open(mask)) > 127
    assert np.array_equal(got[~hole], before[~hole])  # known pixels, bit for bit
    assert not np.array_equal(got[hole], before[hole])  # the hole is filled
    trial = name or client.predict(api_name="/models")[0]["name"]
    assert np.array_equal(got, _expected(storage, trial, photo, mask))


BAD = {
    "no image": (None, "mask", "", "no photo"),
    "no hole": ("photo", "empty", "", "marks no hole pixel"),
    "mask of another size": ("photo", "small", "", "a mask must have its photo's size"),
    "unreadable file": ("garbage", "mask", "", "not an image file"),
    "oversized upload": ("huge", "mask", "", "more than this server takes"),
    "unknown model": ("photo", "mask", "tiny-9", "unknown model 'tiny-9'"),
    "a path as model": ("photo", "mask", "PATH", "unknown model"),
    "a Hub id": ("photo", "mask", "hf-hub:alice/other", "does not fetch Hub models"),
    "no mask": ("photo", None, "", "no mask"),
}


def _inputs(tmp_path: Path, storage: Path) -> dict:
    huge = tmp_path / "huge.png"
    Image.new("RGB", (400, 400)).save(huge)  # 160,000 pixels > MAX_PIXELS
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"this is not a PNG")
    return {"photo": PHOTO, "mask": _mask(tmp_path / "m.png", (100, 112)),
            "empty": _mask(tmp_path / "e.png", (100, 112), (0, 0, 0, 0)),
            "small": _mask(tmp_path / "s.png", (50, 56), (5, 5, 20, 20)),
            "garbage": garbage, "huge": huge, None: None,
            "PATH": str(storage / "tiny" / "tiny-1")}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_a_clear_error_and_the_server_keeps_running(client, storage, tmp_path,
                                                                  served, case) -> None:
    image, mask, model, message = BAD[case]
    files = _inputs(tmp_path, storage)
    model = files["PATH"] if model == "PATH" else model
    args = [handle_file(str(files[k])) if files[k] is not None else None for k in (image, mask)]
    with pytest.raises(AppError, match=message.replace("(", r"\(").replace(")", r"\)")):
        client.predict(*args, model, api_name="/inpaint")
    assert [m["name"] for m in client.predict(api_name="/models")]  # still answering
    assert sorted(served[0].zoo_server.catalog.names) == ["tiny-1", "tiny-2"]  # none added


def test_a_client_cannot_make_the_server_read_its_files(served, tmp_path) -> None:
    """A file reference naming a path on the server (not an upload) is refused."""
    import json
    import urllib.request

    url = served[1] + "gradio_api/call/inpaint"
    secret = tmp_path / "secret.png"
    Image.open(PHOTO).save(secret)
    payload = {"data": [{"path": str(secret), "meta": {"_type": "gradio.FileData"}},
                        {"path": str(secret), "meta": {"_type": "gradio.FileData"}}, ""]}
    req = urllib.request.Request(url, json.dumps(payload).encode(),
                                 {"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(req, timeout=30).read())["event_id"]
    stream = urllib.request.urlopen(f"{url}/{event}", timeout=30).read().decode()
    assert "event: error" in stream and "event: complete" not in stream, stream


def test_models_load_once(client, served, tmp_path) -> None:
    catalog = served[0].zoo_server.catalog
    mask = _mask(tmp_path / "m.png", (100, 112))
    for _ in range(2):
        for name in ("tiny-1", "tiny-2"):
            client.predict(handle_file(str(PHOTO)), handle_file(str(mask)), name,
                           api_name="/inpaint")
    assert catalog.loads == 2  # one per model, however many requests
    assert catalog.get("tiny-1") is catalog.get("tiny-1")


def test_compare_is_the_grid_of_zoo_compare(client, storage, tmp_path) -> None:
    from zoo.viz import grid_size

    title, grid, table = client.predict(["tiny-1", "tiny-2"], 3, api_name="/compare")
    assert "3 synthetic test images, square holes (seed 2024)" in title
    # masked | two models | telea | ground truth, 3 rows of 32x32 images, 2 label lines
    assert Image.open(grid).size == grid_size(3, 5, 32, 32, label_lines=2)
    assert [row[0] for row in table["data"]] == ["vanilla tiny-1", "vanilla tiny-2", "telea"]
    out = tmp_path / "cli.png"
    from zoo.cli import main

    assert main(["compare", "tiny-1", "tiny-2", "--storage", str(storage), "--n", "3",
                 "--out", str(out)]) == 0
    assert np.array_equal(np.asarray(Image.open(out)), np.asarray(Image.open(grid)))
    with pytest.raises(AppError, match="two or more models"):
        client.predict(["tiny-1"], 3, api_name="/compare")
    # the menu's own check (Gradio's) names the choices too
    with pytest.raises(AppError, match="'x'.*not in the list of choices.*tiny-1"):
        client.predict(["tiny-1", "x"], 3, api_name="/compare")


def test_leaderboard_tab_shows_the_cli_tables(storage, capsys) -> None:
    from zoo.cli import main
    from zoo.ui import _board

    tables = _board.tables(storage / "leaderboard.sqlite")
    assert len(tables) == 1 and tables[0].label.startswith("eval set synthetic/32px/square")
    assert main(["leaderboard", "--storage", str(storage), "--format", "markdown"]) == 0
    printed = capsys.readouterr().out
    t = tables[0]
    for cells in t.body + t.ref_body:
        assert "| " + " | ".join(cells) + " |" in printed
    header, body, refs, note = _board.table_view(t)  # foldable columns moved to the note
    assert "loss: mse" in note and "loss" not in header and len(body) == len(t.body)
    assert "95% CI" in header and "vs #1" in header
    assert sorted(r[header.index("trial")] for r in body) == ["tiny-1", "tiny-2"]
    assert _board.table_view(t, "tiny-2")[1] == [r for r in body if "tiny-2" in r]
    assert _board.table_view(t, "no-such-thing")[1] == []
    d = _board.details(storage / "leaderboard.sqlite", _board.trial_id_of(header, body[0]))
    assert d["config"]["dataset"] == "synthetic" and d["grid"] is not None
    assert d["curves"] is not None and "---" not in d["card"][:4] and "psnr" in d["card"].lower()


def test_without_the_extra_the_command_says_how_to_get_it(monkeypatch, capsys) -> None:
    from zoo.cli import main

    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ImportError
    assert main(["serve", "--model", "x"]) == 2
    assert "pip install 'zoo-inpaint[ui]'" in " ".join(capsys.readouterr().err.split())


def test_safe_defaults_and_the_host_warning(monkeypatch, storage, capsys) -> None:
    import gradio as gr

    from zoo.cli import build_parser, main

    args = build_parser().parse_args(["serve"])
    assert (args.host, args.port, args.max_pixels, args.allow_hub) == ("127.0.0.1", 7860,
                                                                       40e6, False)
    seen = {}
    monkeypatch.setattr(gr.Blocks, "launch", lambda self, **kw: seen.update(kw))
    assert main(["serve", "--storage", str(storage), "--host", "0.0.0.0", "--port", "7999"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning" in err and "0.0.0.0" in err and "--auth" in err
    assert seen["share"] is False and seen["server_name"] == "0.0.0.0"
    assert seen["auth"] is None and seen["mcp_server"] is False
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert main(["serve", "--storage", str(storage), "--auth", "alice"]) == 2
    assert "USER:PASS" in capsys.readouterr().err
    assert main(["serve", "--storage", str(storage / "nothing-here")]) == 2
    assert "no models to serve" in capsys.readouterr().err


def test_auth_and_a_page_that_loads_nothing_from_other_hosts(storage) -> None:
    import urllib.error
    import urllib.request

    from zoo.ui import create

    app = create(storage=str(storage))
    url = start(app, auth=("alice", "s3cret"))
    try:
        with pytest.raises(urllib.error.HTTPError):  # the API needs the password
            urllib.request.urlopen(url + "config", timeout=30)
        with pytest.raises(ValueError):
            Client(url, analytics_enabled=False, verbose=False)
        c = Client(url, auth=("alice", "s3cret"), analytics_enabled=False, verbose=False)
        assert c.predict(api_name="/models")[0]["name"].startswith("tiny-")
    finally:
        app.close()
    app = create(storage=str(storage))
    url = start(app)
    try:
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        assert "gradio_config" in page  # the page itself
        assert "cdnjs" not in page and "fonts.googleapis.com" not in page
    finally:
        app.close()


def test_a_hub_id_from_a_client_only_with_allow_hub(storage, tmp_path, monkeypatch) -> None:
    """With --allow-hub a client may name a Hub model (here an offline cache); it is then
    loaded once and offered like the others. Without it, the same name is refused."""
    from huggingface_hub import constants

    from test_hub import _plant
    from zoo.errors import ZooError
    from zoo.ui._catalog import build_catalog

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _plant(cache, "alice/tiny", storage / "tiny" / "tiny-1")
    ref = "hf-hub:alice/tiny"
    closed = build_catalog([], str(storage), None)
    with pytest.raises(ZooError, match="does not fetch Hub models"):
        closed.get(ref)
    opened = build_catalog([], str(storage), None, allow_hub=True)
    model = opened.get(ref)
    assert opened.get(ref) is model and opened.loads == 1 and ref in opened.names


def test_telea_on_a_photo_keeps_its_mode_and_known_pixels() -> None:
    from zoo.baselines import fill_picture
    from zoo.inpaint import picture_from_pil

    hole = np.zeros((112, 100), bool)
    hole[40:60, 30:70] = True
    for mode in ("L", "RGBA", "RGB"):
        src = Image.open(PHOTO).convert(mode)
        out = fill_picture("telea", picture_from_pil(src), hole).to_pil()
        got, before = np.asarray(out), np.asarray(src)
        assert out.mode == mode and np.array_equal(got[~hole], before[~hole])
        assert not np.array_equal(got[hole], before[hole])


def test_a_crash_in_one_request_is_a_message_and_the_next_one_works(client, monkeypatch,
                                                                    tmp_path) -> None:
    import zoo.inpaint

    mask = _mask(tmp_path / "m.png", (100, 112))
    real = zoo.inpaint.inpaint_picture

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(zoo.inpaint, "inpaint_picture", broken)
    with pytest.raises(AppError, match="could not do this.*simulated.*keeps running"):
        client.predict(handle_file(str(PHOTO)), handle_file(str(mask)), "", api_name="/inpaint")
    monkeypatch.setattr(zoo.inpaint, "inpaint_picture", real)
    out = client.predict(handle_file(str(PHOTO)), handle_file(str(mask)), "", api_name="/inpaint")
    assert Image.open(out).size == (100, 112)


def test_the_readmes_api_example_runs(served, tmp_path, monkeypatch, capsys) -> None:
    import re

    text = (Path(__file__).resolve().parents[1] / "docs" / "using.md").read_text()
    section = text[text.index("### A web page: `zoo serve`"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    mask = _mask(tmp_path / "photo_mask.png", (100, 112))
    Image.open(PHOTO).convert("RGB").save(tmp_path / "photo.jpg", quality=95)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(code.replace("http://127.0.0.1:7860/", served[1]), namespace)  # noqa: S102
    assert "tiny-1" in capsys.readouterr().out
    assert Image.open(namespace["filled"]).size == Image.open(mask).size



def test_own_temp_folder_goes_at_exit_and_a_named_one_is_kept(storage, tmp_path):
    """zoo serve's default workdir is its own temp folder: it is removed when the server's
    process exits instead of piling up fills in /tmp; a workdir the user named is kept."""
    import subprocess

    named = tmp_path / "mine"
    script = ("import sys; from pathlib import Path; from zoo.ui import create\n"
              "a = create(storage=sys.argv[1], max_pixels=40000)\n"
              "(Path(a.zoo_server.workdir) / 'fill.png').write_bytes(b'x')\n"
              "b = create(storage=sys.argv[1], max_pixels=40000, workdir=sys.argv[2])\n"
              "print(a.zoo_server.workdir)\n")
    out = subprocess.run([sys.executable, "-c", script, str(storage), str(named)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"})
    assert out.returncode == 0, out.stderr[-2000:]
    own = Path(out.stdout.strip().splitlines()[-1])
    assert own.name.startswith("zoo-serve-") and not own.exists()
    assert named.is_dir()
