"""``readout stats --html FILE``: the report of :mod:`bot.questions.stats` as one HTML page.

The page is self-contained, so it can be mailed, archived or opened offline: the charts are
SVG drawn by matplotlib and written into the page, the styles are one ``<style>`` block, and
there is no script, stylesheet, font or image to fetch. Chart text stays text
(``svg.fonttype: none``) in the browser's own sans-serif, so no font is embedded either.

Every number on the page is one ``readout stats --json`` gives for the same log and period:
the page only draws :class:`~bot.questions.stats.Stats`. Each chart has its numbers in a table
beside it, for screen readers and for copying.
"""

from __future__ import annotations

import contextlib
import html
import io
import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bot.questions.log import ABSTAINED, ANSWERED, FAILED, OUTCOMES, UNAVAILABLE
from bot.questions.stats import Stats, iso

# Okabe-Ito colours: told apart with any colour vision, and in grey print.
OUTCOME_COLOURS = {
    ANSWERED: "#009E73",
    ABSTAINED: "#E69F00",
    UNAVAILABLE: "#999999",
    FAILED: "#D55E00",
}
HELPFUL_COLOUR, UNHELPFUL_COLOUR = "#0072B2", "#D55E00"
P50_COLOUR, P95_COLOUR = "#56B4E9", "#0072B2"
MAX_DAY_LABELS = 10
_NO_METADATA = {"Date": None, "Creator": None, "Format": None, "Type": None}
_SVG_START = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)  # the XML prolog and the DTD's URL
_SVG_SIZE = re.compile(r'<svg([^>]*?) width="[^"]*" height="[^"]*"')
_SVG_STYLE_BLOCK = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)
_SVG_ID = re.compile(r'\bid="([^"]+)"')
_SVG_REF = re.compile(r'(url\(#|href="#)([^")]+)')

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       margin: 2rem auto; max-width: 60rem; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.15rem; margin-top: 2.2rem; }
.period { color: #555; margin-top: 0; }
.summary { display: grid; grid-template-columns: repeat(auto-fill, minmax(10rem, 1fr));
           gap: .8rem; margin: 1.5rem 0; padding: 0; }
.summary div { border: 1px solid #ddd; border-radius: .4rem; padding: .6rem .8rem; }
.summary dt { color: #555; font-size: .85rem; } .summary dd { margin: 0; font-size: 1.4rem; }
figure { margin: 1rem 0; } figure svg { width: 100%; height: auto; }
figure svg * { stroke-linejoin: round; stroke-linecap: butt; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border-bottom: 1px solid #e3e3e3; padding: .25rem .7rem; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
details summary { cursor: pointer; color: #555; }
.empty { font-size: 1.2rem; color: #555; }
"""


def render_html(stats: Stats, *, generated_at: float) -> str:
    """The whole page, as text."""
    period = f"since {iso(stats.since)}" if stats.since is not None else "in the whole log"
    body = [
        "<h1>readout: questions and answers</h1>",
        f'<p class="period">Questions {period} (days in UTC). Generated {iso(generated_at)}.</p>',
    ]
    with _chart_style():
        if stats.questions:
            body += [_summary(stats), *_per_day(stats), *_abstention(stats)]
            body += [*_gaps(stats), *_cited(stats), *_feedback(stats), *_latency(stats)]
        else:
            body.append(f'<p class="empty" data-stat="empty">No questions yet ({period}).</p>')
            if stats.votes_up or stats.votes_down:
                body += _feedback(stats)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>readout stats {_e(period)}</title>\n<style>{_CSS}</style>\n</head>\n"
        "<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


# -- sections ------------------------------------------------------------------------------


def _summary(stats: Stats) -> str:
    o = stats.outcomes
    items = [
        ("Questions", "questions", str(stats.questions)),
        *((name.capitalize(), f"outcomes.{name}", str(o[name])) for name in OUTCOMES),
        ("Abstention rate", "abstention_rate", _percent(stats.abstention_rate)),
        ("Latency p50", "latency_ms.p50", _ms(stats.latency_p50_ms)),
        ("Latency p95", "latency_ms.p95", _ms(stats.latency_p95_ms)),
    ]
    cells = "".join(
        f'<div><dt>{label}</dt><dd data-stat="{key}">{_e(value)}</dd></div>'
        for label, key, value in items
    )
    return f'<dl class="summary">{cells}</dl>'


def _per_day(stats: Stats) -> list[str]:
    counts = {(d.day, d.outcome): d.questions for d in stats.per_day_outcome}
    days = sorted({d.day for d in stats.per_day_outcome})
    outcomes = [name for name in OUTCOMES if any(k[1] == name for k in counts)]
    axis = _all_days(days)
    fig = Figure(figsize=(9, 3.2), layout="constrained")
    ax = fig.subplots()
    bottom = [0] * len(axis)
    for outcome in outcomes:
        heights = [counts.get((day, outcome), 0) for day in axis]
        ax.bar(
            range(len(axis)),
            heights,
            bottom=bottom,
            label=outcome,
            color=OUTCOME_COLOURS[outcome],
            width=0.8,
        )
        bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
    _day_ticks(ax, axis)
    ax.set_ylabel("questions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.legend(loc="outside upper left", frameon=False, ncols=len(outcomes))
    rows = [
        [day, *(counts.get((day, name), 0) for name in outcomes)]
        + [sum(counts.get((day, name), 0) for name in outcomes)]
        for day in days
    ]
    return [
        "<h2>Questions per day, by outcome</h2>",
        _figure(fig, "per-day", "Questions per day, stacked by outcome"),
        _details(_table("per-day-outcome", ["day", *outcomes, "total"], rows, numeric_from=1)),
    ]


def _abstention(stats: Stats) -> list[str]:
    points = stats.abstention_per_day
    if not points:
        return ["<h2>Abstention rate</h2>", "<p>No question was searched in this period.</p>"]
    axis = _all_days([p.day for p in points])
    position = {day: i for i, day in enumerate(axis)}
    fig = Figure(figsize=(9, 2.8), layout="constrained")
    ax = fig.subplots()
    ax.plot(
        [position[p.day] for p in points],
        [100 * p.rate for p in points],
        marker="o",
        color=OUTCOME_COLOURS[ABSTAINED],
        label="per day",
    )
    if stats.abstention_rate is not None:
        ax.axhline(
            100 * stats.abstention_rate,
            color="#555555",
            linestyle="--",
            linewidth=1,
            label=f"whole period ({_percent(stats.abstention_rate)})",
        )
    ax.set_ylim(0, 105)
    ax.set_ylabel("% abstained")
    _day_ticks(ax, axis)
    fig.legend(loc="outside upper left", frameon=False, ncols=2)
    rows = [[p.day, p.abstained, p.searched, _percent(p.rate)] for p in points]
    return [
        "<h2>Abstention rate</h2>",
        "<p>The share of the questions readout searched that the documents did not cover.</p>",
        _figure(fig, "abstention", "Abstention rate per day"),
        _details(_table("abstention-per-day", ["day", "abstained", "searched", "rate"], rows, 1)),
    ]


def _gaps(stats: Stats) -> list[str]:
    if not stats.coverage_gaps:
        return ["<h2>Coverage gaps</h2>", "<p>Every question searched was answered.</p>"]
    rows = [[question, asked] for question, asked in stats.coverage_gaps]
    return [
        "<h2>Coverage gaps</h2>",
        "<p>The questions most often not answered from the documents: what they lack.</p>",
        _table("coverage-gaps", ["question", "times asked"], rows, numeric_from=1),
    ]


def _cited(stats: Stats) -> list[str]:
    if not stats.top_cited:
        return ["<h2>Most cited paragraphs</h2>", "<p>No answer cited a paragraph.</p>"]
    rows = [[ref, n] for ref, n in stats.top_cited]
    return [
        "<h2>Most cited paragraphs</h2>",
        _table("top-cited", ["paragraph", "answers citing it"], rows, numeric_from=1),
    ]


def _feedback(stats: Stats) -> list[str]:
    up, down = stats.votes_up, stats.votes_down
    numbers = (
        f'<p><span data-stat="feedback.up">{up}</span> helpful · '
        f'<span data-stat="feedback.down">{down}</span> not helpful · '
        f'<span data-stat="feedback.helpful_ratio">{_percent(stats.helpful_ratio)}</span> '
        "helpful</p>"
    )
    if not up + down:
        return ["<h2>Feedback</h2>", "<p>Nobody has voted on an answer yet.</p>", numbers]
    fig = Figure(figsize=(9, 1.3), layout="constrained")
    ax = fig.subplots()
    total = up + down
    for left, count, colour, label in (
        (0, up, HELPFUL_COLOUR, "helpful"),
        (up, down, UNHELPFUL_COLOUR, "not helpful"),
    ):
        if count:
            ax.barh([0], [100 * count / total], left=[100 * left / total], color=colour)
            ax.text(
                100 * (left + count / 2) / total,
                0,
                f"{label} {100 * count / total:.0f}%",
                ha="center",
                va="center",
                color="white",
                fontweight="bold",
            )
    ax.set_xlim(0, 100)
    ax.set_yticks([])
    ax.set_xlabel("% of votes")
    ax.spines["left"].set_visible(False)
    return [
        "<h2>Feedback</h2>",
        _figure(fig, "feedback", "Share of helpful and not helpful votes"),
        numbers,
    ]


def _latency(stats: Stats) -> list[str]:
    platforms = stats.latency_by_platform
    if not platforms:
        return ["<h2>Latency</h2>", "<p>No question was searched in this period.</p>"]
    fig = Figure(figsize=(9, 0.6 + 0.55 * len(platforms) + 0.8), layout="constrained")
    ax = fig.subplots()
    height = 0.38
    bars_of = ((-height / 2, 1, P50_COLOUR, "p50"), (height / 2, 2, P95_COLOUR, "p95"))
    for offset, index, colour, label in bars_of:
        values = [float(row[index]) for row in platforms]
        bars = ax.barh(
            [i + offset for i in range(len(platforms))],
            values,
            height=height,
            color=colour,
            label=label,
        )
        ax.bar_label(bars, labels=[_ms(v) for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(platforms)), labels=[_label(row[0]) for row in platforms])
    ax.invert_yaxis()
    ax.set_xlabel("milliseconds")
    ax.margins(x=0.15)
    fig.legend(loc="outside upper left", frameon=False, ncols=2)
    rows = [[platform, _ms(p50), _ms(p95)] for platform, p50, p95 in platforms]
    return [
        "<h2>Latency per platform</h2>",
        "<p>From the question's arrival to its answer, for questions readout searched.</p>",
        _figure(fig, "latency", "Answer latency p50 and p95 per platform"),
        _table("latency-per-platform", ["platform", "p50", "p95"], rows, numeric_from=1),
    ]


# -- drawing -------------------------------------------------------------------------------


def _chart_style() -> contextlib.AbstractContextManager[None]:
    """matplotlib's settings while the charts are made and saved (read at both times)."""
    return matplotlib.rc_context(
        {
            "svg.fonttype": "none",  # text as text: the browser draws it, no font embedded
            "svg.hashsalt": "readout",  # ids from the content: the same log, the same page
            "font.family": "sans-serif",
            "font.size": 10.0,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


def _figure(fig: Figure, key: str, caption: str) -> str:
    return (
        f'<figure id="chart-{key}">{_svg(fig, key, caption)}'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _svg(fig: Figure, key: str, title: str) -> str:
    """``fig`` as an SVG element to write into the page: no XML prolog (whose DTD names a
    URL), no fixed size (it scales with the page), and ids prefixed with ``key`` so that two
    charts' clip paths never share an id."""
    out = io.StringIO()
    fig.savefig(out, format="svg", metadata=_NO_METADATA)
    svg = _SVG_START.sub("", out.getvalue(), count=1)
    svg = _SVG_STYLE_BLOCK.sub("", svg)  # a page-wide "*" rule: the page's CSS has it, scoped
    svg = _SVG_SIZE.sub(r'<svg\1 role="img" aria-label="' + _e(title) + '"', svg, count=1)
    svg = _SVG_ID.sub(lambda m: f'id="{key}-{m[1]}"', svg)
    return _SVG_REF.sub(lambda m: f"{m[1]}{key}-{m[2]}", svg).strip()


def _all_days(days: Sequence[str]) -> list[str]:
    """Every day from the first to the last of ``days``, so a quiet day shows as a gap."""
    first, last = date.fromisoformat(min(days)), date.fromisoformat(max(days))
    return [(first + timedelta(n)).isoformat() for n in range((last - first).days + 1)]


def _day_ticks(ax: Axes, axis: Sequence[str]) -> None:
    step = max(1, math.ceil(len(axis) / MAX_DAY_LABELS))
    ticks = list(range(0, len(axis), step))
    ax.set_xticks(ticks, labels=[axis[i] for i in ticks])
    ax.set_xlim(-0.6, len(axis) - 0.4)


def _label(text: str) -> str:
    # matplotlib reads $...$ in a label as mathematics
    return text.replace("$", r"\$")


# -- HTML ----------------------------------------------------------------------------------


def _table(
    key: str, header: Sequence[str], rows: Iterable[Sequence[object]], numeric_from: int
) -> str:
    def cell(tag: str, index: int, value: object) -> str:
        numeric = ' class="n"' if index >= numeric_from else ""
        return f"<{tag}{numeric}>{_e(str(value))}</{tag}>"

    head = "".join(cell("th", i, name) for i, name in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, value) for i, value in enumerate(row)) + "</tr>"
        for row in rows
    )
    return f'<table id="{key}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _details(table: str) -> str:
    return f"<details><summary>The numbers</summary>{table}</details>"


def _percent(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{100 * ratio:.1f}%"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _e(text: str) -> str:
    return html.escape(text, quote=True)
