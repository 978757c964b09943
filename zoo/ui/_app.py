"""The Gradio page of `zoo serve`: three tabs and the API, wired to the functions the CLI
calls (``zoo.ui._inpaint``, ``_board``, ``_compare`` hold the work; this module only
places components and turns errors into messages). Every handler runs under ``_guard``:
a ZooError (bad input) becomes a ``gr.Error`` with its message, any other failure a
``gr.Error`` saying the request failed, and the server keeps serving."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from zoo.errors import ZooError
from zoo.ui import _board, _compare, _inpaint
from zoo.ui._catalog import Catalog

log = logging.getLogger(__name__)
TITLE = "zoo: inpainting models"


@dataclass
class Server:
    """What every handler reads: the models offered, the leaderboard file, the upload
    limit and the folder results are written to."""

    catalog: Catalog
    db: Path | None
    max_pixels: int
    workdir: Path


def _guard(fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ZooError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception as exc:  # one request's failure never stops the server
            log.exception("request failed")
            raise gr.Error(f"the server could not do this ({type(exc).__name__}: {exc}); "
                           "it keeps running, try another input", print_exception=False) from None
    return wrapper


def _editor() -> gr.ImageEditor:
    # The page paints on the browser's copy of the photo (8-bit RGBA, the size of the file):
    # a photo set from the server would not fit the canvas, so the editor takes the upload.
    return gr.ImageEditor(
        label="1. Photo: upload, then paint the hole",
        type="numpy", image_mode="RGBA", sources=("upload",), transforms=(), layers=False,
        brush=gr.Brush(colors=["#ff00ff"], color_mode="fixed", default_size="auto"),
        eraser=gr.Eraser(default_size="auto"), elem_id="editor", height=560)


def _inpaint_tab(s: Server) -> None:
    with gr.Row():
        with gr.Column():
            editor = _editor()
            with gr.Accordion("Exact file, or a mask instead of painting", open=False):
                exact = gr.File(label="the photo's file: 16-bit, grayscale and transparent "
                                      "photos are filled in their own mode, as `zoo inpaint` "
                                      "does", file_types=["image"], type="filepath",
                                elem_id="exact")
                mask = gr.File(label="a mask file instead of painting (white = hole)",
                               file_types=["image"], type="filepath", elem_id="mask")
            models = gr.CheckboxGroup(s.catalog.choices(), value=s.catalog.names[:1],
                                      label="2. Models", elem_id="models")
            run = gr.Button("Inpaint", variant="primary", elem_id="run")
        with gr.Column():
            fills = gr.Gallery(label="Fills: each model's, and Telea's (classical)",
                               format="png", columns=2, height=640, object_fit="contain",
                               preview=True, elem_id="fills")
            files = gr.File(label="Download the PNGs", file_count="multiple", elem_id="files")

    @_guard
    def inpaint_page(painted: dict | None, exact_path: str | None, mask_path: str | None,
                     names: list[str]) -> tuple[list, list[str]]:
        painted = painted or {}
        if exact_path:
            picture = _inpaint.open_photo(exact_path, s.max_pixels)
        else:
            picture = _inpaint.editor_picture(painted.get("background"), s.max_pixels)
        hole = _inpaint.hole_of(picture, mask_path, painted.get("layers"), s.max_pixels)
        if not names:
            raise ZooError("pick at least one model")
        out = _inpaint.fill(s.catalog, picture, hole, names, _inpaint.safe_stem(exact_path),
                            s.workdir)
        return out, [p for p, _ in out]  # the first model's fill opens large

    run.click(inpaint_page, [editor, exact, mask, models], [fills, files], api_name=False)


def _frame(header: list[str], rows: list[list[str]]) -> Any:
    import pandas as pd

    return pd.DataFrame(rows, columns=header)


def _widths(header: list[str], rows: list[list[str]]) -> list[str]:
    """Each column as wide as its longest cell (cells stay whole; the table scrolls)."""
    return [f"{8 * max([len(h), *(len(str(r[i])) for r in rows)]) + 28}px"
            for i, h in enumerate(header)]


def _note(folded: str) -> str:
    return f"In every row: {folded}" if folded else ""


def _board_tab(s: Server) -> None:
    tables = {t.label: t for t in _board.tables(s.db)}
    if not tables:
        gr.Markdown(f"No leaderboard at `{s.db}`: start the server with `--storage DIR` "
                    "(the folder `zoo tune` wrote) to browse its trials here.")
        return
    labels = list(tables)
    header, body, ref_body, note = _board.table_view(tables[labels[0]])
    with gr.Row():
        which = gr.Dropdown(labels, value=labels[0], label="Eval set (trials are ranked only "
                            "against others on the same frozen holes)", scale=3)
        query = gr.Textbox(label="Search (every word must appear in the row; Enter)", scale=3,
                           placeholder="convmixer, quick-1, l1_hole ...", elem_id="search")
        reload = gr.Button("Reload", scale=1)
    gr.Markdown("Ranked by hole PSNR, best first, as `zoo leaderboard` lists them: **95% CI** "
                "is its 95 % interval (seed variation included on rows of several seeds), **vs #1** is `≈` where the paired test cannot "
                "tell the row from the first and `<` where it puts the first above it. "
                "Click a header to sort, a row for its config, model card and pictures.")
    same = gr.Markdown(_note(note))
    widths = _widths(header, body + ref_body)  # one width per column for both tables
    trials = gr.Dataframe(_frame(header, body), label="Trials", interactive=False,
                          column_widths=widths, elem_id="board")
    refs = gr.Dataframe(_frame(header, ref_body), label="References on the same holes",
                        interactive=False, column_widths=widths)
    title = gr.Markdown()
    with gr.Row():
        grid = gr.Image(label="grid.png", type="pil", format="png")
        curves = gr.Image(label="curves.png", type="pil", format="png")
    with gr.Row():
        card = gr.Markdown()
        config = gr.JSON(label="config")

    @_guard
    def show(label: str, text: str) -> tuple[Any, Any, str]:
        if label not in tables:
            raise ZooError(f"no eval set '{label}' on this leaderboard; reload the page")
        head, rows, ref_rows, folded = _board.table_view(tables[label], text)
        return _frame(head, rows), _frame(head, ref_rows), _note(folded)

    @_guard
    def reread(label: str, text: str) -> tuple[Any, Any, str]:
        tables.clear()  # a search still running adds trials
        tables.update({t.label: t for t in _board.tables(s.db)})
        return show(label if label in tables else next(iter(tables)), text)

    @_guard
    def pick(label: str, evt: gr.SelectData) -> tuple:
        row = evt.row_value if isinstance(evt.row_value, list) else []
        head = _board.table_view(tables[label])[0] if label in tables else []
        trial = _board.trial_id_of(head, row)
        if trial is None:
            raise ZooError("click a trial's row to see its details")
        d = _board.details(s.db, trial)
        return d["title"], d["config"], d["card"], d["grid"], d["curves"]

    which.change(show, [which, query], [trials, refs, same], api_name=False)
    query.submit(show, [which, query], [trials, refs, same], api_name=False)
    reload.click(reread, [which, query], [trials, refs, same], api_name=False)
    trials.select(pick, which, [title, config, card, grid, curves], api_name=False)


def _compare_tab(s: Server) -> None:
    gr.Markdown("The grid of `zoo compare`: every model picked and Telea on the same frozen "
                "test holes (seed 2024, the holes the leaderboard scored them on), each "
                "column labelled with its hole PSNR over the rows shown.")
    with gr.Row():
        names = gr.CheckboxGroup(s.catalog.choices(), value=s.catalog.names[:2],
                                 label="Models (two or more)", scale=3)
        n = gr.Slider(1, _compare.MAX_ROWS, value=6, step=1, label="test images", scale=1)
    go = gr.Button("Compare on the frozen test holes", variant="primary")
    title = gr.Markdown()
    grid = gr.Image(label="grid", type="filepath", format="png", elem_id="grid")
    scores = gr.Dataframe(_frame(_compare.header(), []), label="scores over these rows",
                          interactive=False)
    with gr.Accordion("... or two models on your photo and mask", open=False):
        with gr.Row():
            photo = gr.File(label="photo", file_types=["image"], type="filepath")
            mask = gr.File(label="mask (white = hole)", file_types=["image"], type="filepath")
        go_photo = gr.Button("Compare the two picked models on this photo")
        fills = gr.Gallery(label="model A, model B, Telea", format="png", columns=3,
                           object_fit="contain")

    @_guard
    def on_frozen(picked: list[str], rows: float) -> tuple[str, str, Any]:
        path, table, text = _compare.frozen(s.catalog, picked, int(rows), s.workdir)
        return f"**{text}**", path, _frame(_compare.header(), table)

    @_guard
    def on_photo(picked: list[str], path: str | None, mask_path: str | None) -> list:
        picture = _inpaint.open_photo(path, s.max_pixels)
        if not mask_path:
            raise ZooError("upload a mask too (white = hole), the size of the photo")
        hole = _inpaint.hole_of(picture, mask_path, None, s.max_pixels)
        return _compare.on_photo(s.catalog, picture, hole, picked, _inpaint.safe_stem(path),
                                 s.workdir)

    go.click(on_frozen, [names, n], [title, grid, scores], api_name="compare")
    go_photo.click(on_photo, [names, photo, mask], fills, api_name=False)


def _api(s: Server) -> None:
    """Endpoints for scripts, with stable names: ``/inpaint`` and ``/models`` (``/compare``
    is the Compare tab's button). Their components are hidden; the page does not use them."""
    with gr.Row(visible=False):
        image = gr.File(label="image", type="filepath")
        mask = gr.File(label="mask", type="filepath")
        model = gr.Textbox(label="model", value="")
        filled = gr.Image(label="filled image", type="filepath", format="png")
        offered = gr.JSON(label="models")
        inpaint_button, models_button = gr.Button(), gr.Button()

    @_guard
    def inpaint(image_path: str | None, mask_path: str | None, name: str | None = "") -> str:
        """Fill the hole of ``image`` where ``mask`` is white; ``model`` is one of
        ``/models`` (default: the first). Returns the filled PNG (same size and mode)."""
        picture = _inpaint.open_photo(image_path, s.max_pixels)
        if not mask_path:
            raise ZooError("no mask: send a mask file (white = hole) the size of the image")
        hole = _inpaint.hole_of(picture, mask_path, None, s.max_pixels)
        out = _inpaint.fill(s.catalog, picture, hole, [s.catalog.check(name)],
                            _inpaint.safe_stem(image_path), s.workdir, baseline=False)
        return out[0][0]

    def models() -> list[dict[str, str]]:
        """The models this server offers, the default first."""
        return [{"name": n, "label": label} for label, n in s.catalog.choices()]

    inpaint_button.click(inpaint, [image, mask, model], filled, api_name="inpaint")
    models_button.click(models, None, offered, api_name="models")


def build_app(s: Server) -> gr.Blocks:
    """The page: Inpaint, Leaderboard and Compare tabs, and the API endpoints."""
    from zoo.ui._offline import theme

    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600),
                   theme=theme()) as app:
        gr.Markdown(f"## {TITLE}\nModels on this server: "
                    + ", ".join(f"`{n}`" for n in s.catalog.names))
        with gr.Tab("Inpaint", id="inpaint"):
            _inpaint_tab(s)
        with gr.Tab("Leaderboard", id="leaderboard"):
            _board_tab(s)
        with gr.Tab("Compare", id="compare"):
            _compare_tab(s)
        _api(s)
    return app
