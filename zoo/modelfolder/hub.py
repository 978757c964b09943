"""The Hugging Face Hub, through ``huggingface_hub``: ``hf-hub:org/name`` ids (timm's
spelling, ``@revision`` optional) download into huggingface_hub's own cache, honouring
``HF_HUB_CACHE``/``HF_HOME``, ``HF_HUB_OFFLINE``, ``HF_TOKEN`` and revisions; ``push``
uploads a model folder with its card (``zoo push``).

Only the shared files of a model folder are downloaded or uploaded (weights, JSON, card,
pictures): never the resume state, and never anything a pickle could hide in.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo.errors import ZooError

PREFIX = "hf-hub:"
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$")


def is_hub_ref(ref: Any) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def parse(ref: str) -> tuple[str, str | None]:
    """``hf-hub:org/name[@revision]`` -> ``(repo_id, revision)``."""
    text = ref[len(PREFIX):] if ref.startswith(PREFIX) else ref
    repo_id, _, revision = text.partition("@")
    if not _REPO_ID.match(repo_id) or repo_id.endswith((".", "-")) or ".." in repo_id:
        raise ZooError(f"'{ref}' is not a Hub id; write hf-hub:ORG/NAME (optionally "
                       "@REVISION), e.g. hf-hub:alice/zoo-convmixer-cifar10")
    return repo_id, revision or None


def _offline() -> bool:
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")
    return bool(constants.HF_HUB_OFFLINE) or env


def download(ref: str) -> Path:
    """The local folder (in huggingface_hub's cache) of Hub model ``ref``; a ZooError names
    the id and the offline setting when it cannot be had."""
    from zoo._version import __version__
    from zoo.modelfolder.checkpoint import SHARED_FILES

    repo_id, revision = parse(ref)
    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub import errors as hf_errors
    except ImportError:
        raise ZooError("Hub ids need huggingface_hub: pip install huggingface_hub") from None
    name = f"{PREFIX}{repo_id}" + (f"@{revision}" if revision else "")
    offline = _offline()
    where = f"the local cache ({constants.HF_HUB_CACHE})"
    not_cached = (f"Hub model '{name}' is not in {where} and "
                  + ("HF_HUB_OFFLINE=1 forbids downloading it; unset HF_HUB_OFFLINE (or set it "
                     "to 0) to download it once" if offline else
                     "the Hub cannot be reached; check the network (or download it once where "
                     "there is one; HF_HUB_OFFLINE=1 then uses the cached copy)"))
    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=list(SHARED_FILES),
                                 library_name="zoo-inpaint", library_version=__version__,
                                 local_files_only=offline)
    except hf_errors.GatedRepoError:
        raise ZooError(f"Hub model '{name}' is gated: accept its terms on huggingface.co and "
                       "log in (`hf auth login` or HF_TOKEN)") from None
    except hf_errors.RepositoryNotFoundError:
        raise ZooError(f"Hub model '{name}' does not exist (or is private: log in with "
                       "`hf auth login` or set HF_TOKEN); check the id") from None
    except hf_errors.RevisionNotFoundError:
        raise ZooError(f"Hub model '{repo_id}' has no revision '{revision}'; give a branch, "
                       "tag or commit that exists") from None
    except (hf_errors.LocalEntryNotFoundError,
            getattr(hf_errors, "IncompleteSnapshotError", hf_errors.LocalEntryNotFoundError)):
        raise ZooError(not_cached) from None
    except hf_errors.HFValidationError as exc:
        raise ZooError(f"'{name}' is not a valid Hub id ({exc})") from None
    except hf_errors.HfHubHTTPError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZooError(f"Hub model '{name}' could not be downloaded ({first})") from None
    except OSError as exc:  # connection errors, a cache that cannot be written
        raise ZooError(f"Hub model '{name}' could not be downloaded ({exc}); "
                       + not_cached) from None
    folder = Path(path)
    from zoo.modelfolder.checkpoint import WEIGHTS_NAME

    if not (folder / WEIGHTS_NAME).is_file():
        raise ZooError(f"Hub repo '{name}' is not a zoo model (no {WEIGHTS_NAME}); zoo loads "
                       "repos written by `zoo push`")
    return folder


def push(model: str | Path, repo_id: str, *, private: bool = False,
         revision: str | None = None, message: str | None = None,
         license: str | None = None, token: str | None = None) -> str:
    """Upload the model folder ``model`` (its shared files: weights, JSON, card, pictures;
    never the resume state) to the Hub model repo ``repo_id``, creating the repo if needed.
    The card is rewritten first with the repo id (and ``license``). Returns the commit URL."""
    from zoo.modelfolder.card import model_card, owns_card
    from zoo.modelfolder.checkpoint import (
        CARD_NAME, META_NAME, SHARED_FILES, _read_json, model_dir, read_checkpoint)
    from zoo.settings import build_config

    repo_id, rev = parse(repo_id)
    if rev:
        raise ZooError("give the branch with --revision, not @REV in the repo id")
    folder = model_dir(model)
    payload = read_checkpoint(folder, state=False)  # refuses anything broken before upload
    card = folder / CARD_NAME
    if not owns_card(card):
        raise ZooError(f"{card} was not written by zoo; move it away so zoo can write the "
                       "model card, then push again")
    links = [n for n in SHARED_FILES if (folder / n).is_symlink()]
    if links:
        raise ZooError(f"{folder} has symbolic links ({', '.join(links)}); zoo push uploads "
                       "only the folder's own files: replace each link by a copy of the file")
    meta = _read_json(folder / META_NAME, "zoo's header")
    new_card = model_card(build_config(payload["config"], plugins=False), meta,
                          payload.get("metrics"), payload.get("history"), folder,
                          license=license, repo_id=repo_id)
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ZooError("zoo push needs huggingface_hub: pip install huggingface_hub") from None
    api = HfApi(token=token)
    old_card = card.read_bytes() if card.is_file() else None
    with _push_errors(repo_id):
        api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        if revision:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        from zoo._atomic import write_bytes, write_text

        write_text(card, new_card)  # only once the repo exists: the card names it
        try:
            info = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                                     allow_patterns=list(SHARED_FILES), repo_type="model",
                                     commit_message=message or
                                     f"Upload zoo model from {folder.name}")
        except BaseException:
            if old_card is not None:
                write_bytes(card, old_card)  # the upload failed: the local card as it was
            raise
    return str(getattr(info, "commit_url", info))


@contextlib.contextmanager
def _push_errors(repo_id: str) -> Iterator[None]:
    """Hub and network failures of a push as one-line ZooErrors."""
    from huggingface_hub import errors as hf_errors

    try:
        yield
    except hf_errors.HfHubHTTPError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ZooError(f"pushing to '{repo_id}' failed ({first}); log in with `hf auth login` "
                       "or set HF_TOKEN to a token with write access") from None
    except (OSError, ValueError) as exc:
        raise ZooError(f"pushing to '{repo_id}' failed ({exc}); check the network") from None
    except Exception as exc:  # httpx / requests transport errors, whichever the Hub uses
        if type(exc).__module__.split(".")[0] not in ("httpx", "httpcore", "requests",
                                                      "urllib3", "huggingface_hub"):
            raise
        raise ZooError(f"pushing to '{repo_id}' failed ({type(exc).__name__}: "
                       f"{str(exc).splitlines()[0] if str(exc) else ''}); check the network"
                       ) from None
