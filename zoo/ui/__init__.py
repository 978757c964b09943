"""`zoo serve`: a Gradio page over the functions the CLI calls (needs the ``[ui]`` extra).

    Inpaint      a photo of any size and mode, the hole painted or a mask uploaded, filled
                 by the models picked (``zoo.inpaint.inpaint_picture``, coarse to fine) beside
                 Telea; the PNGs to download.
    Leaderboard  the tables of `zoo leaderboard` (``zoo.cli.leaderboard._list.listing``);
                 a row's config, model card, grid.png and curves.png.
    Compare      the grid of `zoo compare` (``zoo.cli.compare.frozen_grid``) on the frozen
                 test holes, or two models on an uploaded photo and mask.

API endpoints (``gradio_client``): ``/inpaint`` (image, mask, model="") -> filled PNG,
``/models`` -> the names offered, ``/compare`` (models, n) -> grid, title, scores.
Clients choose only among the models the server was started with (``_catalog``).
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path
from typing import Any

from zoo._images import MAX_PIXELS as DEFAULT_MAX_PIXELS  # the limit zoo decodes: 40 MP

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def create(models: list[str] | None = None, *, storage: str | None = None,
           db: str | None = None, max_pixels: int = DEFAULT_MAX_PIXELS,
           allow_hub: bool = False, device: str = "auto",
           workdir: str | Path | None = None) -> Any:
    """The Gradio app (``gr.Blocks``, not launched) serving the ``models`` refs and the
    completed trials of the leaderboard (``storage`` / ``db``, default ./results); results
    are written under ``workdir`` (default a fresh temp folder, removed when the process
    exits; a ``workdir`` you name is kept)."""
    from zoo.leaderboard import resolve_db_path
    from zoo.ui._app import Server, build_app
    from zoo.ui._catalog import build_catalog

    if max_pixels < 1:
        from zoo.errors import ZooError

        raise ZooError(f"--max-pixels must be >= 1, got {max_pixels}")
    catalog = build_catalog(list(models or []), storage, db, allow_hub=allow_hub,
                            device=device)
    folder = Path(workdir) if workdir is not None else Path(tempfile.mkdtemp(prefix="zoo-serve-"))
    folder.mkdir(parents=True, exist_ok=True)
    server = Server(catalog, resolve_db_path(db, storage), int(max_pixels), folder)
    app = build_app(server)
    if workdir is None:  # our own temp folder, and the fills in it, go when the server exits
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
    app.zoo_server = server  # for tests and scripts: the catalog behind the page
    return app


def launch_options(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                   auth: tuple[str, str] | None = None,
                   max_pixels: int = DEFAULT_MAX_PIXELS) -> dict[str, Any]:
    """``gr.Blocks.launch`` keywords: no share link, no analytics or monitoring, no MCP, no
    server-side rendering (it needs Node), uploads capped by size, and a page that loads
    nothing from other hosts (``zoo.ui._offline``)."""
    from starlette.middleware import Middleware

    from zoo.ui._offline import LocalOnly

    # a 16-bit RGBA image of max_pixels, uncompressed, is 8 bytes a pixel
    return dict(server_name=host, server_port=port, auth=auth, share=False,
                app_kwargs={"middleware": [Middleware(LocalOnly)]},
                max_file_size=max(8 * int(max_pixels), 1_000_000), show_error=True,
                enable_monitoring=False, mcp_server=False, ssr_mode=False, pwa=False,
                quiet=True)
