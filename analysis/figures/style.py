"""What every report figure shares: one style per variant, axis labels in words, text safe
from mathtext, and deterministic files.

Importing this module changes no global matplotlib state (no backend, no rcParams): a
notebook keeps its inline backend; `npgbench report` selects Agg itself.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import seaborn as sns

# Colorblind palette (seaborn's, Okabe-Ito-like) reordered so that neighbours in a sorted
# variant list are far apart in hue (indices: blue, orange, green, purple, grey, vermillion,
# sky blue, brown, yellow, pink); linestyles and markers cycle on other periods, so no two
# of the first 10 variants share colour, dash and marker.
COLOUR_ORDER = (0, 1, 2, 4, 7, 3, 9, 5, 8, 6)
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")

VALUE_LABELS = {
    "return_mean": "training-episode return",
    "eval_return_mean": "evaluation return (mean action)",
    "eval_sampled_return_mean": "evaluation return (sampled actions)",
    "return": "return",
}


def styles(groups) -> dict[str, dict]:
    """{variant: {"color", "linestyle", "marker"}}, sorted so stable across figures."""
    colours = sns.color_palette("colorblind", 10)
    return {
        g: {
            "color": colours[COLOUR_ORDER[i % len(COLOUR_ORDER)]],
            "linestyle": LINESTYLES[i % len(LINESTYLES)],
            "marker": MARKERS[i % len(MARKERS)],
        }
        for i, g in enumerate(sorted(set(groups)))
    }


def palette(groups) -> dict[str, tuple]:
    """{variant: colour} of `styles` (for bars and points, where dashes do not apply)."""
    return {g: s["color"] for g, s in styles(groups).items()}


def style_of(style: dict | None, group, **defaults) -> dict:
    """Line keyword arguments of one group: a styles() entry, a bare colour, or defaults."""
    entry = (style or {}).get(group)
    if entry is None:
        return defaults
    return dict(entry) if isinstance(entry, dict) else {"color": entry}


def axis_label(column: str) -> str:
    """Words for a metrics column ("return_mean" -> "training-episode return")."""
    return VALUE_LABELS.get(column, column.replace("_", " "))


def plain(text) -> str:
    """Text shown literally: '$' escaped so a label like "$a$" or "lr=$x" is never parsed as
    mathtext (an invalid expression raises when the figure is drawn)."""
    return str(text).replace("$", r"\$")


def n_label(group, n: int) -> str:
    """Legend text of a variant with its sample size, e.g. "npg_cg (n=3)"."""
    return f"{plain(group)} (n={n})"


_N_LABEL = re.compile(r"^(?P<name>.*) \(n=(?P<n>\d+)\)$")


def merged_n_labels(labels: list[str]) -> dict[str, str]:
    """label -> its entry in a figure-wide legend: one variant drawn with different seed
    counts on different panels ("s=10 (n=1)", "s=10 (n=3)") reads "s=10 (n=1-3)" once;
    labels without a sample size stay as they are."""
    counts: dict[str, list[int]] = {}
    for label in labels:
        match = _N_LABEL.match(label)
        if match:
            counts.setdefault(match["name"], []).append(int(match["n"]))
    out = {}
    for label in labels:
        match = _N_LABEL.match(label)
        if not match:
            out[label] = label
            continue
        lo, hi = min(counts[match["name"]]), max(counts[match["name"]])
        out[label] = f"{match['name']} (n={lo})" if lo == hi else f"{match['name']} (n={lo}-{hi})"
    return out


def new_ax(ax, size=(5.0, 3.5)):
    """ax, or the Axes of a new figure of `size` inches."""
    return ax if ax is not None else plt.subplots(figsize=size)[1]


def legend_outside(ax, **kwargs):
    """Legend to the right of the axes, never over the data."""
    return ax.legend(
        fontsize="small", loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0, **kwargs
    )


FORMATS = ("png", "svg", "pdf")
# Same input, same bytes: no dates or software versions in any file, SVG ids from a fixed
# salt instead of a random one (matplotlib's backend_svg / backend_pdf metadata options).
METADATA = {"png": {"Software": None}, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write name.png, name.svg and name.pdf (byte-identical on rebuild), close the figure."""
    from npgbench.harness.core.run_files import atomic_write_bytes, safe_subdir

    safe_subdir(out_dir)
    paths = [out_dir / f"{name}.{ext}" for ext in FORMATS]
    with matplotlib.rc_context({"svg.hashsalt": "npgbench"}):
        for path, ext in zip(paths, FORMATS):
            image = io.BytesIO()  # written atomically: a planted symlink is replaced, not followed
            fig.savefig(image, format=ext, dpi=110, bbox_inches="tight", metadata=METADATA[ext])
            atomic_write_bytes(path, image.getvalue())
    plt.close(fig)
    return paths
