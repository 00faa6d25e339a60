"""A report as a list of blocks, rendered to markdown, and from that markdown to a
self-contained HTML page by markdown-it-py (CommonMark with GitHub tables; figures embedded
as base64 PNG, so the file opens on its own).

Blocks: ("h1"|"h2"|"h3", text), ("p", text), ("ul", [text]), ("pre", text),
("table", formatting.Table), ("fig", relative PNG path, caption), ("md", markdown) for
hand-written markdown (a report's preamble) passed through as written. Generated text may
use `code` spans; its '<', '|' and '*' are escaped, so a label from a run directory can
neither open a tag nor start emphasis, and raw HTML is off in the HTML rendering (what the
markdown holds is what the page shows). Tables and figures are numbered in order ("Table
2.", "Figure 3:"), each figure placed right after the table it belongs to. `write_outputs`
writes the .md, the .html and every table's CSV and LaTeX.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from markdown_it import MarkdownIt
from npgbench.analysis.data.table import Table, markdown_text, table_markdown
from npgbench.analysis.report.latex import table_latex

CSS = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 .3em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee}code{background:#f3f3f3;padding:0 .2em}
table+p{font-size:.85em;color:#555;margin-bottom:1.5em}
"""


def numbered(blocks: list[tuple]) -> list[tuple]:
    """The blocks with ("table", t, k) and ("fig", path, caption, k): k-th table / figure."""
    out, counts = [], {"table": 0, "fig": 0}
    for block in blocks:
        if block[0] in counts:
            counts[block[0]] += 1
            block = (*block, counts[block[0]])
        out.append(block)
    return out


def _md_inline(text: str) -> str:
    """Generated text as markdown: outside `code` spans, '<', '|' and '*' escaped."""
    parts = re.split(r"(`[^`]+`)", text)
    return "".join(p if p.startswith("`") else markdown_text(p).replace("\\|", "|") for p in parts)


def _caption(table, k: int) -> str:
    """ "*Table k. Title. Note*": the table's number, title and note under it."""
    text = table.title + (f". {table.note}" if table.note else "")
    return f"*Table {k}. {_md_inline(text).strip()}*"


def render_markdown(blocks: list[tuple]) -> str:
    out = []
    for kind, *rest in numbered(blocks):
        if kind in ("h1", "h2", "h3"):
            out.append("#" * int(kind[1]) + " " + _md_inline(rest[0]))
        elif kind == "p":
            out.append(_md_inline(rest[0]))
        elif kind == "ul":
            out.append("\n".join(f"- {_md_inline(item)}" for item in rest[0]))
        elif kind == "pre":
            out.append(f"```\n{rest[0]}\n```")
        elif kind == "md":
            out.append(rest[0].strip())
        elif kind == "table":
            table, k = rest
            out += [table_markdown(table), _caption(table, k)]
        elif kind == "fig":
            path, caption, k = rest
            text = _md_inline(f"Figure {k}: {caption}")
            out.append(f"![{text}]({path})\n\n*{text}*")
    return "\n\n".join(out) + "\n"


def markdown_blocks(text: str) -> list[tuple]:
    """A hand-written markdown text (a report's preamble) as one block, rendered as written."""
    return [("md", text)] if text.strip() else []


def markdown_parser() -> MarkdownIt:
    """CommonMark with GitHub tables; raw HTML off (escaped as text)."""
    return MarkdownIt("commonmark", {"html": False}).enable("table")


def _embed_images(tokens, base: Path) -> None:
    """Every image's src (a path relative to base) replaced by its PNG as a data URI."""
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                data = base64.b64encode((base / str(child.attrGet("src"))).read_bytes())
                child.attrSet("src", "data:image/png;base64," + data.decode("ascii"))


def render_html(blocks: list[tuple], base: Path, title: str) -> str:
    """The markdown rendering, as HTML, with every figure inlined from base / its path."""
    md = markdown_parser()
    tokens = md.parse(render_markdown(blocks))
    _embed_images(tokens, base)
    body = md.renderer.render(tokens, md.options, {})
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{body}</body></html>\n"
    )


def write_outputs(out: Path, blocks: list[tuple], built: list[Table], name: str) -> dict:
    """CSV of every table, LaTeX of every titled one, report.md and report.html."""
    from npgbench.harness.core.run_files import atomic_write_bytes, safe_subdir

    # Atomic writes replace a symlink planted at a file's name instead of following it.
    folder = safe_subdir(out / "tables")
    for table in built:
        atomic_write_bytes(folder / f"{table.name}.csv", table.data.to_csv(index=False).encode())
        if table.title:
            atomic_write_bytes(folder / f"{table.name}.tex", table_latex(table).encode())
    atomic_write_bytes(out / f"{name}.md", render_markdown(blocks).encode())
    atomic_write_bytes(out / f"{name}.html", render_html(blocks, out, "npg-bench report").encode())
    return {
        "report.md": out / f"{name}.md",
        "report.html": out / f"{name}.html",
        "figures": out / "figures",
        "tables": out / "tables",
    }
