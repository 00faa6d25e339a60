"""The preamble's small markdown subset becomes report blocks."""

from npgbench.analysis.document import markdown_blocks, render_markdown


def test_markdown_blocks_headings_lists_code_paragraphs():
    text = "Intro\ncontinues.\n\n## Budgets\n\n- one\n  more\n- two\n\n```\na\n\nb\n```\nLast.\n"
    assert markdown_blocks(text) == [
        ("p", "Intro continues."),
        ("h2", "Budgets"),
        ("ul", ["one more", "two"]),
        ("pre", "a\n\nb"),
        ("p", "Last."),
    ]


def test_pre_block_round_trips_as_fenced_code():
    assert render_markdown([("pre", "x = 1")]) == "```\nx = 1\n```\n"
