"""Bar charts as geometry for the statistics page's SVG (drawn by the template, no script)."""

from __future__ import annotations

from dataclasses import dataclass

WIDTH = 280  # the bars' full width in SVG units; labels take the left LABEL units
LABEL = 140
ROW = 28


@dataclass(frozen=True)
class Bar:
    """One labelled bar: its row's top, its length and the value written beside it."""

    label: str
    y: int
    length: float
    text: str
    bad: bool = False


@dataclass(frozen=True)
class Chart:
    """A horizontal bar chart: its title (for screen readers too), size and bars."""

    title: str
    width: int
    height: int
    label_width: int
    bars: list[Bar]
    track: int = WIDTH


def bar_chart(title: str, values: list[tuple[str, float]], *, share: bool = False,
              bad_below: float | None = None) -> Chart:
    """Bars of `values` scaled to the largest (to 1 for shares, written as percentages)."""
    top = 1.0 if share else max([v for _, v in values] + [1e-9])
    bars = [
        Bar(label=name, y=i * ROW, length=round(WIDTH * max(value, 0) / top, 1),
            text=f"{value:.0%}" if share else f"{value:g}",
            bad=bad_below is not None and value < bad_below)
        for i, (name, value) in enumerate(values)
    ]
    return Chart(title=title, width=LABEL + WIDTH + 70, height=max(ROW, ROW * len(bars)),
                 label_width=LABEL, bars=bars)
