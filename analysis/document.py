"""A report as a list of blocks, rendered twice: markdown (figures linked) and a
self-contained HTML page (figures embedded as base64 PNG, so the file opens on its own).

Blocks: ("h1"|"h2"|"h3", text), ("p", text), ("ul", [text]), ("pre", text),
("table", formatting.Table), ("fig", relative PNG path, caption). Text may use `code` spans.
Tables and figures are numbered in order ("Table 2.", "Figure 3:"), each figure placed
right after the table it belongs to. Text from run directories (variant labels) is escaped
in both renderings: report.md carries no raw HTML. `markdown_blocks` turns a small markdown
text (a report's preamble) into blocks.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from npgbench.analysis.formatting import Table, markdown_text, table_html, table_markdown

CSS = """
body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
img{max-width:100%;border:1px solid #eee}code{background:#f3f3f3;padding:0 .2em}
p.note{font-size:.85em;color:#555}figure{margin:1em 0}figcaption{font-size:.85em;color:#555}
caption{caption-side:top;text-align:left;font-weight:600;padding:.3em 0}
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
    """Markdown text with raw HTML escaped, `code` spans kept as they are."""
    parts = re.split(r"(`[^`]+`)", text)
    return "".join(p if p.startswith("`") else markdown_text(p).replace("\\|", "|") for p in parts)


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
        elif kind == "table":
            table, k = rest
            out.append(table_markdown(table))
            out.append(f"*Table {k}. {_md_inline(table.note or table.title)}*")
        elif kind == "fig":
            path, caption, k = rest
            text = _md_inline(f"Figure {k}: {caption}")
            out.append(f"![{text}]({path})\n\n*{text}*")
    return "\n\n".join(out) + "\n"


def markdown_blocks(text: str) -> list[tuple]:
    """Headings (#, ##, ###), bullet lists (continuation lines indented), fenced code and
    paragraphs: enough for a hand-written preamble, not a markdown implementation."""
    blocks: list[tuple] = []
    para: list[str] = []
    fence: list[str] | None = None

    def flush() -> None:
        if para:
            blocks.append(("p", " ".join(para)))
            para.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if fence is not None:
            if stripped.startswith("```"):
                blocks.append(("pre", "\n".join(fence)))
                fence = None
            else:
                fence.append(line)
        elif stripped.startswith("```"):
            flush()
            fence = []
        elif stripped.startswith("#"):
            flush()
            level = min(len(stripped) - len(stripped.lstrip("#")), 3)
            blocks.append((f"h{level}", stripped.lstrip("#").strip()))
        elif stripped.startswith("- "):
            flush()
            if blocks and blocks[-1][0] == "ul":
                blocks[-1][1].append(stripped[2:])
            else:
                blocks.append(("ul", [stripped[2:]]))
        elif not stripped:
            flush()
        elif blocks and blocks[-1][0] == "ul" and line.startswith("  ") and not para:
            blocks[-1][1][-1] += " " + stripped
        else:
            para.append(stripped)
    flush()
    return blocks


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _table_html(table: Table, k: int) -> str:
    caption = f"<caption>Table {k}. {_inline(table.title)}</caption>"
    note = f'<p class="note">{_inline(table.note)}</p>' if table.note else ""
    return table_html(table).replace("<table>", f"<table>{caption}", 1) + note


def render_html(blocks: list[tuple], base: Path, title: str) -> str:
    """HTML with every figure inlined from base / relative path."""
    out = []
    for kind, *rest in numbered(blocks):
        if kind in ("h1", "h2", "h3"):
            out.append(f"<{kind}>{_inline(rest[0])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{_inline(rest[0])}</p>")
        elif kind == "ul":
            out.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in rest[0]) + "</ul>")
        elif kind == "pre":
            out.append(f"<pre>{html.escape(rest[0])}</pre>")
        elif kind == "table":
            out.append(_table_html(*rest))
        elif kind == "fig":
            path, caption, k = rest
            caption = f"Figure {k}: {caption}"
            data = base64.b64encode((base / path).read_bytes()).decode("ascii")
            out.append(
                f'<figure><img alt="{html.escape(caption)}" '
                f'src="data:image/png;base64,{data}"><figcaption>{_inline(caption)}'
                "</figcaption></figure>"
            )
    body = "\n".join(out)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )
