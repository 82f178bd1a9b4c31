"""A picture for staff: new cases per day (line, with the running total) and per category (bars), as PNG.

matplotlib's Agg backend (no display needed). Chinese labels need a CJK font: the first installed
one of a short list is used (Debian: fonts-noto-cjk); without any, labels fall back to English
and category numbers, so the chart is still legible instead of showing empty boxes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display on servers

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from store.queries import Count  # noqa: E402

CJK_FONT_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
                     "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC",
                     "Hiragino Sans GB", "AR PL UMing CN", "Noto Serif CJK SC")


@dataclass(frozen=True)
class ChartReport:
    """The chart written: its path, the CJK font used, and how many days and categories it shows."""

    path: Path
    font: str | None  # the CJK font family used, None when labels fell back to English
    days: int
    categories: int


def find_cjk_font() -> str | None:
    """The first installed font family of CJK_FONT_FAMILIES, by name in matplotlib's font list."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FONT_FAMILIES:
        if family in installed:
            return family
    return None


@dataclass(frozen=True)
class _Labels:
    title: str
    per_day: str
    cumulative: str
    per_category: str
    cases: str


CHINESE = _Labels("{name}：收件统计", "每日新增案例", "累计", "各类别案例数", "案例数")
ENGLISH = _Labels("{name}: submissions", "New cases per day", "Total so far", "Cases per category", "Cases")


def render_chart(by_day: Sequence[Count], by_category: Sequence[Count], out: Path, *, title: str,
                 use_cjk: bool = True) -> ChartReport:
    """Draw the two panels into `out` (PNG). `by_day` keys are ISO dates; `by_category` keys are
    category numbers ("" for unrecognised). A campaign without cases still gets a (blank) chart."""
    font = find_cjk_font() if use_cjk else None
    labels = CHINESE if font else ENGLISH
    rc: Any = {"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"], "axes.unicode_minus": False}
    with plt.rc_context(rc):
        fig, (ax_day, ax_cat) = plt.subplots(2, 1, figsize=(12, 10), dpi=110,
                                             gridspec_kw={"height_ratios": [1, 1.1]})
        try:
            shown_title = title if font else ("Case intake" if not title.isascii() else title)
            fig.suptitle(labels.title.format(name=shown_title), fontsize=16, fontweight="bold")
            _per_day(ax_day, by_day, labels)
            _per_category(ax_cat, by_category, labels, chinese=font is not None)
            fig.tight_layout(rect=(0, 0, 1, 0.96))
            out.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(out, format="png")
        finally:
            plt.close(fig)
    return ChartReport(out, font, len(by_day), len(by_category))


def _per_day(ax: plt.Axes, by_day: Sequence[Count], labels: _Labels) -> None:
    days = mdates.date2num([date.fromisoformat(c.key) for c in by_day])
    counts = [c.count for c in by_day]
    ax.set_title(labels.per_day, fontsize=13, loc="left")
    ax.set_ylabel(labels.cases)
    ax.grid(axis="y", alpha=0.3)
    if not len(days):
        return
    ax.plot(days, counts, marker="o" if len(days) <= 60 else None, color="#1f77b4", linewidth=1.8,
            label=labels.per_day)
    ax.fill_between(days, counts, alpha=0.15, color="#1f77b4")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of cases: no 0.5 ticks
    running = ax.twinx()
    total = 0
    cumulative = []
    for n in counts:
        total += n
        cumulative.append(total)
    running.plot(days, cumulative, color="#d62728", linewidth=1.4, linestyle="--", label=labels.cumulative)
    running.set_ylim(bottom=0)
    running.set_ylabel(labels.cumulative)
    running.yaxis.set_major_locator(MaxNLocator(integer=True))
    _day_axis(ax, days)
    lines = ax.get_lines() + running.get_lines()
    ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper left")


def _day_axis(ax: plt.Axes, days: Any) -> None:
    """Ticks on whole days only, at most about 12 of them, each labelled with its date. (AutoDateLocator put
    several ticks on one day for a short campaign, labelled alike; a single day got a range of hours.) The year
    is shown when the days span two years."""
    first, last = float(days[0]), float(days[-1])
    span = int(round(last - first)) + 1
    ax.xaxis.set_major_locator(mdates.DayLocator(interval=max(1, -(-span // 12))))
    crosses_years = mdates.num2date(first).year != mdates.num2date(last).year
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d" if crosses_years else "%m-%d"))
    ax.set_xlim(first - 0.5, last + 0.5)


def _per_category(ax: plt.Axes, by_category: Sequence[Count], labels: _Labels, *, chinese: bool) -> None:
    ax.set_title(labels.per_category, fontsize=13, loc="left")
    ax.set_xlabel(labels.cases)
    ax.grid(axis="x", alpha=0.3)
    if not by_category:
        return
    # Top to bottom in the call's order (三(一)…(十)), unrecognised last.
    rows = list(reversed(by_category))
    names = [c.label if chinese else (f"Category {c.key}" if c.key else "Unrecognised") for c in rows]
    bars = ax.barh(names, [c.count for c in rows], color="#2ca02c", alpha=0.8)
    ax.bar_label(bars, padding=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(c.count for c in rows) * 1.12 + 1)
