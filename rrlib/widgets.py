"""ipywidgets explorers used by the notebooks (a lecturer's knobs).

Each explorer is a small class holding its widgets and its state, with a ``widget`` attribute to
display and plain methods (``toggle``, ``move``...) that the buttons call -- so the behaviour is
testable without a browser, and a notebook can drive it from code too.
"""
from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt

from .evaluate import AP_METHODS, average_precision
from .viz import plot_pr_curve

__all__ = ["APExplorer"]


class APExplorer:
    """Toggle the relevance of ranked items, move them up and down, and watch AP change.

    One toggle button per rank (green = relevant); pick a rank and move it up or down the list;
    ``missed`` adds relevant items that were never retrieved (they count in ``n``). The four AP
    conventions of :func:`rrlib.evaluate.average_precision` and the PR curve update at once.

    >>> ex = APExplorer([1, 1, 0, 1])
    >>> ex.toggle(2); ex.relevance
    [1, 1, 1, 1]
    """

    def __init__(self, relevance, missed: int = 0, *, figsize=(5.0, 3.2)):
        self.relevance = [int(bool(v)) for v in relevance]
        if not self.relevance:
            raise ValueError("the explorer needs a non-empty ranked list")
        self.figsize = figsize
        self._syncing = False
        self.buttons = [
            W.ToggleButton(value=bool(v), description=str(i + 1), layout=W.Layout(width="42px"))
            for i, v in enumerate(self.relevance)
        ]
        for i, b in enumerate(self.buttons):
            b.observe(lambda change, i=i: self._on_toggle(i, change["new"]), names="value")
        self.rank = W.BoundedIntText(value=1, min=1, max=len(self.relevance), description="rank",
                                     layout=W.Layout(width="140px"))
        self.up = W.Button(description="move up", layout=W.Layout(width="90px"))
        self.down = W.Button(description="move down", layout=W.Layout(width="90px"))
        self.up.on_click(lambda _: self.move(self.rank.value - 1, -1))
        self.down.on_click(lambda _: self.move(self.rank.value - 1, +1))
        self.missed = W.BoundedIntText(value=missed, min=0, max=1000, description="missed",
                                       layout=W.Layout(width="140px"))
        self.missed.observe(lambda _: self.refresh(), names="value")
        self.scores = W.HTML()
        self.plot = W.Output()
        self.widget = W.VBox([
            W.HBox(self.buttons, layout=W.Layout(flex_flow="row wrap")),
            W.HBox([self.rank, self.up, self.down, self.missed]),
            W.HBox([self.plot, self.scores]),
        ])
        self.refresh()

    # -- state changes (the buttons call these; tests and notebooks may too) ------------------
    def toggle(self, i: int) -> None:
        """Flip the relevance of the item at 0-based position ``i``."""
        self.buttons[i].value = not self.buttons[i].value  # the observer updates the state

    def move(self, i: int, step: int) -> None:
        """Swap the item at 0-based position ``i`` with its neighbour ``i + step``."""
        j = i + step
        if not (0 <= i < len(self.relevance) and 0 <= j < len(self.relevance)):
            return
        rel = self.relevance
        rel[i], rel[j] = rel[j], rel[i]
        self.rank.value = j + 1
        self.refresh()

    def _on_toggle(self, i: int, value: bool) -> None:
        if self._syncing:  # the change came from refresh(), not from a click
            return
        self.relevance[i] = int(value)
        self.refresh()

    # -- derived values ------------------------------------------------------------------------
    def ap(self) -> dict[str, float] | None:
        """AP under every convention, or None when no item is relevant."""
        n = sum(self.relevance) + int(self.missed.value)
        if n == 0:
            return None
        return {m: average_precision(self.relevance, n, method=m) for m in AP_METHODS}

    def refresh(self) -> None:
        self._syncing = True
        try:
            for b, v in zip(self.buttons, self.relevance):
                b.value = bool(v)
                b.button_style = "success" if v else "danger"
        finally:
            self._syncing = False
        aps = self.ap()
        if aps is None:
            self.scores.value = "<i>no relevant item: AP is undefined</i>"
        else:
            rows = "".join(f"<tr><td>{m}</td><td><b>{v:.4f}</b></td></tr>" for m, v in aps.items())
            n = sum(self.relevance) + int(self.missed.value)
            self.scores.value = f"<p>n = {n} relevant</p><table>{rows}</table>"
        self.plot.clear_output(wait=True)
        with self.plot:
            if aps is not None:
                fig, ax = plt.subplots(figsize=self.figsize)
                plot_pr_curve(self.relevance, sum(self.relevance) + int(self.missed.value), ax=ax)
                plt.show()

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

