"""``zoo plugins new NAME``: a new plugin package that installs and passes the test kit
as it is written, for an author to change one piece at a time.

The files are ``templates/*.tmpl`` with ``$name``, ``$module`` and ``$package`` filled in
(``string.Template``: the Python inside keeps its braces).
"""

from __future__ import annotations

import os
import re
from importlib import resources
from pathlib import Path
from string import Template

from zoo.errors import ZooError

NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}")
# template -> path inside the new package folder ({module} is the import name)
FILES = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "plugin.py.tmpl": "{module}/__init__.py",
    "test_contract.py.tmpl": "tests/test_contract.py",
}


def write_plugin(name: str, where: str | Path = ".") -> Path:
    """Write ``WHERE/zoo-NAME/`` and return its path; ZooError for a bad name or a folder
    that already exists (nothing is overwritten)."""
    if not NAME_RE.fullmatch(name):
        raise ZooError(f"plugin name '{name}' is not usable: use 1-40 lowercase letters, "
                       "digits and _, starting with a letter (it becomes the module "
                       f"zoo_{re.sub(r'[^a-z0-9_]', '_', name.lower()) or 'name'})")
    package = f"zoo-{name.replace('_', '-')}"
    given = Path(where).expanduser()
    if given.is_symlink() and not given.exists():
        raise ZooError(f"--dir {given} is a link to nothing (it points to "
                       f"{os.readlink(given)}); give an existing folder or a new path")
    root = given.resolve() / package
    if root.exists() or root.is_symlink():
        raise ZooError(f"{root} already exists; choose another NAME or --dir, or remove it")
    values = {"name": name, "module": f"zoo_{name}", "package": package}
    templates = resources.files(__package__) / "templates"
    try:
        for template, target in FILES.items():
            path = root / target.format(**values)
            path.parent.mkdir(parents=True, exist_ok=True)
            text = Template(templates.joinpath(template).read_text()).substitute(values)
            path.write_text(text)
    except OSError as exc:
        raise ZooError(f"cannot write the plugin into {root}: {exc.strerror or exc}; give "
                       "another --dir") from None
    return root
