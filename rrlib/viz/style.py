"""What every figure of rrlib shares: the colours of ranked items and the image panel.

Text sizes in :mod:`rrlib.viz` are relative ("medium", "small", "x-small"), never points: they
scale with ``plt.rcParams["font.size"]``, which the notebooks set to 11 pt at 100 dpi so that
every label still reads on a projector ("x-small" only inside the cells of a ranking strip).
"""
from __future__ import annotations

__all__ = ["LABEL_COLORS", "image_panel"]

# Colours of ranked items, shared by every notebook: relevant / not, and the revisited labels.
LABEL_COLORS = {
    "T": "#2ca02c", "F": "#d62728",
    "easy": "#2ca02c", "hard": "#1f77b4", "junk": "#b0b0b0", "negative": "#d62728",
    "query": "#9467bd",
}


def image_panel(ax, image, caption: str = "", color: str | None = None, fontsize: float | str = "small") -> None:
    """Show ``image`` on ``ax`` without ticks, with an optional caption and a frame of ``color``
    (no frame when ``color`` is None)."""
    ax.imshow(image)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(color is not None)
        if color is not None:
            side.set_color(color)
            side.set_linewidth(3)
    if caption:
        ax.set_title(caption, fontsize=fontsize, color=color or "black")
