"""config.toml: a config's values read from a TOML file and written to one. Plain dicts of field
values in and out; a3c.config makes a Config of them and hands its values over. A leaf: it imports
only a3c.errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w
import tomllib

from a3c.errors import UserError


def read_toml(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"config file {path} is not valid TOML: {exc}") from None
    # A nested table is accepted so a file may group knobs, e.g. [a3c] or [train]; env_kwargs is
    # itself a table, and [meta] (versions a run was made with) is a record, not config.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key == "meta":
            continue
        if isinstance(value, dict) and key not in TABLE_FIELDS:
            flat.update(value)
        else:
            flat[key] = value
    return flat


TABLE_FIELDS = ("env_kwargs",)


def write_toml(data: dict[str, Any], path: str | Path, meta: dict[str, Any] | None = None) -> None:
    """A config's values (Config.to_dict()) to path, and meta, if any, as a [meta] table."""
    # TOML has no null: fields left at None are written as comments so the file
    # still lists every knob and reads back to the same config. Tables (env_kwargs, and
    # [meta], which read_toml ignores) go last, as TOML requires.
    present = {
        k: (list(v) if isinstance(v, tuple) else v)
        for k, v in data.items()
        if v is not None and not isinstance(v, dict)
    }
    text = tomli_w.dumps(present)
    unset = [k for k, v in data.items() if v is None]
    if unset:
        text += "".join(f"# {k} = (unset)\n" for k in unset)
    tables = {k: v for k, v in data.items() if isinstance(v, dict)}
    if meta:
        tables["meta"] = {k: v for k, v in meta.items() if v is not None}
    if tables:
        text += "\n" + tomli_w.dumps(tables)
    Path(path).write_text(text)
