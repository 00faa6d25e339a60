"""The report's markdown and its HTML rendering (markdown-it-py): the preamble's markdown
renders as written (bold, nested bullets, code), generated text is escaped, figures embed."""

import base64

import pandas as pd
from matplotlib import pyplot as plt
from npgbench.analysis.data.table import Table
from npgbench.analysis.report.document import markdown_blocks, render_html, render_markdown

PREAMBLE = """Intro with **bold** and `code`.

## Budgets

- outer
  - nested one
  - nested two
- second
"""


def test_preamble_bold_and_nested_bullets_render(tmp_path):
    blocks = [("h1", "report"), *markdown_blocks(PREAMBLE)]
    assert PREAMBLE.strip() in render_markdown(blocks)  # passed through as written
    page = render_html(blocks, tmp_path, "t")
    assert "<strong>bold</strong>" in page and "**" not in page
    assert "<code>code</code>" in page
    outer = page.index("<li>outer")
    nested = page.index("<ul>", outer)  # a list inside the first item
    assert outer < nested < page.index("nested one") < page.index("</li>", nested)
    assert page.count("<ul>") == 2 and "<h2>Budgets</h2>" in page


def test_generated_text_is_escaped_and_numbered(tmp_path):
    view = pd.DataFrame({"variant": ["<b>x</b>", "a|b"], "value": ["x* = 1", "2"]})
    table = Table("t", "Title", view, view, "x* = (F + lambda I)^-1 g and x*_own")
    blocks = [("p", "label <script>alert(1)</script> with x* and y*"), ("table", table)]
    page = render_html(blocks, tmp_path, "t")
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<em>") == 1  # the caption only: no "*" in the text opened emphasis
    assert "<td>a|b</td>" in page and "<td>x* = 1</td>" in page
    assert "Table 1. Title. x* = (F + lambda I)^-1 g and x*_own" in page


def test_figures_are_embedded(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    (tmp_path / "figures").mkdir()
    fig.savefig(tmp_path / "figures" / "f.png")
    plt.close(fig)
    page = render_html([("fig", "figures/f.png", "a caption")], tmp_path, "t")
    data = base64.b64encode((tmp_path / "figures" / "f.png").read_bytes()).decode()
    assert f'src="data:image/png;base64,{data}"' in page and 'src="figures/' not in page
    assert "Figure 1: a caption" in page


def test_pre_block_round_trips_as_fenced_code():
    assert render_markdown([("pre", "x = 1")]) == "```\nx = 1\n```\n"
