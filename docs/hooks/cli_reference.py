"""MkDocs hook: the command-line reference, written at build time from a3c's own parser and from
each Config field's help (the `metadata["help"]` that `a3c train --help` shows), so the page cannot
disagree with the code. A page asks for it with the line `<!-- cli-reference -->`.

Config's fields are grouped under the `# --- title ---` comments of its class body."""

from __future__ import annotations

import argparse
import inspect
import re

MARKER = "<!-- cli-reference -->"


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def cell(text: str) -> str:
    """Text for a table cell: pipes escaped, argparse's %% undone."""
    return text.replace("%%", "%").replace("|", "\\|").replace("\n", " ")


def sections() -> list[tuple[str, list[str]]]:
    """(title, field names) in the order of Config's class body."""
    from a3c.config import Config

    out: list[tuple[str, list[str]]] = []
    for line in inspect.getsource(Config).splitlines():
        title = re.match(r"\s+# --- (.+) ---\s*$", line)
        if title:
            out.append((title[1], []))
            continue
        field = re.match(r"    (\w+): .+ = (knob|made)\(", line)
        if field and out:
            out[-1][1].append(field[1])
    return out


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def option_rows(sub: argparse.ArgumentParser, skip=lambda action: False) -> list[str]:
    rows = []
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction) or skip(action):
            continue
        names = ", ".join(f"`{o}`" for o in action.option_strings) or f"`{action.metavar or action.dest}`"
        if action.option_strings and action.nargs != 0:
            metavar = action.metavar or (
                "{" + ",".join(action.choices) + "}" if action.choices else action.dest.upper()
            )
            names += f" `{metavar}`"
        text = action.help or ""
        if action.choices and "{" not in names:
            text += f" (one of: {', '.join(map(str, action.choices))})"
        if action.required and action.option_strings:
            text += " (required)"
        if (
            action.option_strings
            and action.default not in (None, False, [], argparse.SUPPRESS)
            and "default" not in text
        ):
            text += f" (default: {action.default})"
        rows.append(f"| {names} | {cell(text.strip())} |")
    return rows


def render() -> str:
    from a3c.cli import build_parser
    from a3c.config import field_help, field_names

    parser = build_parser()
    subs = subcommands(parser)
    out = []
    for name, sub in subs.items():
        out.append(f"## a3c {name}\n")
        description = sub.description or ""
        if description:
            out.append(cell(description) + "\n")
        if name == "train":  # every Config field is a flag: the usage line names them once, as FIELD
            fields = [a for a in sub._actions if a.dest.startswith("field_")]
            for action in fields:
                sub._remove_action(action)  # a parser built for this page alone
            usage = sub.format_usage().replace("usage: ", "").strip()
            usage = usage.replace(" [--set key=value]", " [--set key=value] [--FIELD VALUE ...]")
            rows = option_rows(sub)
        else:
            usage = sub.format_usage().replace("usage: ", "").strip()
            rows = option_rows(sub)
        out.append("```text\n" + usage + "\n```\n")
        out.append("| argument | what it does |\n| --- | --- |\n" + "\n".join(rows) + "\n")
        if name == "train":
            out.append(train_fields(field_help, field_names))
    return "\n".join(out)


def train_fields(field_help, field_names) -> str:
    out = [
        "### Config fields\n",
        "Every field below is a flag of `a3c train` (`--t-max 20`), a `--set t_max=20`, a line of a TOML file "
        "given with `--config`, and a keyword of `a3c.Config(...)`. The defaults are Config's own; the env's "
        "preset, or its family's defaults, change some of them, and `a3c train` prints which it took.\n",
    ]
    listed: set[str] = set()
    for title, names in sections():
        out.append(f"#### {title[0].upper() + title[1:]}\n")
        out.append("| flag | field | what it does (default) |\n| --- | --- | --- |")
        for name in names:
            flag = "`ENV_ID` (positional)" if name == "env_id" else f"`--{name.replace('_', '-')}`"
            out.append(f"| {flag} | `{name}` | {cell(field_help(name))} |")
            listed.add(name)
        out.append("")
    missing = [n for n in field_names() if n not in listed]
    if missing:  # a field outside any section still gets its row
        out.append("#### Other fields\n")
        out.append("| flag | field | what it does (default) |\n| --- | --- | --- |")
        for name in missing:
            out.append(f"| `--{name.replace('_', '-')}` | `{name}` | {cell(field_help(name))} |")
        out.append("")
    return "\n".join(out)
