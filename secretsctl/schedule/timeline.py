"""`secretsctl history`: each secret's versions and stages over time, from the stack files'
git history, as a table and as a picture (SVG, drawn with drawsvg).

The picture has one lane per stack, in promotion order (dev, staging, prod), one row per
secret; each span is a bar from the day the secret reached a position to the day it
left it, coloured by stage. The right column says where each rotation stands now and
how long each stage of the last rotation took; every bar's tooltip gives its dates.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import drawsvg as dw

from secretsctl.offline.stackfile import StackConfig
from secretsctl.schedule.due import chosen_stacks
from secretsctl.schedule.history import Histories, Span

STAGE_COLOURS = {"steady": "#cfe3d3", "fallback": "#f0b546", "swapped": "#5b8def"}
STAGE_TEXT = {"steady": "#1f3d27", "fallback": "#3d2a00", "swapped": "#ffffff"}
EMERGENCY_COLOUR = "#d62728"
STAGE_MEANING = {
    "steady": "steady: one version bound",
    "fallback": "fallback: new version bound as fallback",
    "swapped": "swapped: new version primary",
}


@dataclass(frozen=True)
class Lane:
    stack: str
    rows: Mapping[str, list[Span]]
    """Secret -> its spans, oldest first (secrets in the order they were first declared)."""


def timeline(
    root: Path,
    configs: Mapping[str, StackConfig],
    today: datetime.date,
    stacks: Sequence[str] = (),
) -> list[Lane]:
    """One lane per chosen stack (promotion order) from the stack files' git history."""
    histories = Histories(root, today)
    return [Lane(s, histories.all_spans(s)) for s in chosen_stacks(configs, stacks)]


def stage_summary(spans: list[Span], today: datetime.date) -> str:
    """Where the secret stands (and for how long), and how long each stage of its last
    rotation took: `v2 steady 112d; v1 → v2 took fallback 2d, swapped 5d`."""
    if not spans:
        return ""
    now = spans[-1]
    text = f"{now.position.describe()} {now.days(today)}d"
    if now.emergency is not None:
        text += " (emergency)"
    # The stages of the last rotation before now (finished, or the one under way).
    stages: list[Span] = []
    for span in reversed(spans[:-1]):
        if span.position.stage == "steady":
            break
        stages.insert(0, span)
    if not stages:
        return text
    parts = ", ".join(f"{s.position.stage} {s.days(today)}d" for s in stages)
    if now.position.stage == "steady":
        first = stages[0].position
        return f"{text}; v{first.current} → v{first.next} took {parts}"
    return f"{text}; {parts} before"


def as_json(lanes: list[Lane], today: datetime.date) -> dict[str, Any]:
    return {
        "today": today.isoformat(),
        "stacks": {
            lane.stack: {
                secret: [
                    {
                        "position": s.position.describe(),
                        "current": s.position.current,
                        "next": s.position.next,
                        "stage": s.position.stage,
                        "start": s.start.isoformat(),
                        "end": s.end.isoformat() if s.end else None,
                        "days": s.days(today),
                        "commit": s.commit,
                        "emergency": s.emergency,
                    }
                    for s in spans
                ]
                for secret, spans in lane.rows.items()
            }
            for lane in lanes
        },
    }


# ---- the picture ------------------------------------------------------------------------------

WIDTH = 1280
LEFT = 150  # secret names
RIGHT = 380  # where each rotation stands
TOP = 70  # title, legend, month axis
ROW = 24
LANE_HEADER = 26
LANE_GAP = 14
BAR = 16
FONT = 11
CHAR = 6.3  # average width of one character at FONT, for fitting labels in bars


def render_svg(lanes: list[Lane], today: datetime.date) -> str:
    """The timeline picture as SVG text."""
    starts = [s.start for lane in lanes for spans in lane.rows.values() for s in spans]
    first = min(starts, default=today - datetime.timedelta(days=30))
    first = min(first, today - datetime.timedelta(days=14))
    last = today + datetime.timedelta(days=max(2, (today - first).days // 40))
    plot_left, plot_right = LEFT, WIDTH - RIGHT
    scale = (plot_right - plot_left) / max(1, (last - first).days)

    def x(day: datetime.date) -> float:
        return plot_left + (day - first).days * scale

    # Where each lane goes, top to bottom.
    tops, y = [], float(TOP)
    for lane in lanes:
        tops.append(y)
        y += LANE_HEADER + max(1, len(lane.rows)) * ROW + 6 + LANE_GAP
    height = y + 30
    d = dw.Drawing(WIDTH, height, font_family="DejaVu Sans, Helvetica, Arial, sans-serif")
    d.append(dw.Rectangle(0, 0, WIDTH, height, fill="#ffffff"))
    d.append(
        dw.Text(
            f"Secret rotations, {first.isoformat()} to {today.isoformat()}",
            15,
            12,
            22,
            font_weight="bold",
            fill="#222222",
        )
    )
    _legend(d, plot_right - 390, 12)
    ticks = _month_ticks(first, last)
    for day in ticks:
        d.append(dw.Text(day.strftime("%b %Y"), FONT - 1, x(day) + 3, TOP - 14, fill="#666666"))
    axis_top, body_bottom = TOP - 18, height - 30

    for lane, top in zip(lanes, tops, strict=True):
        group = dw.Group(id=f"lane-{lane.stack}", class_="lane")
        lane_height = LANE_HEADER + max(1, len(lane.rows)) * ROW + 6
        group.append(
            dw.Rectangle(6, top, WIDTH - 12, lane_height, fill="#f6f7f9", stroke="#d5d9e0", rx=6)
        )
        for day in ticks:  # the month grid: over the lane, under its bars
            group.append(dw.Line(x(day), top + 4, x(day), top + lane_height - 4, stroke="#e3e6eb"))
        group.append(
            dw.Text(
                lane.stack, 14, 16, top + 18, font_weight="bold", fill="#1b2a41", class_="stack"
            )
        )
        row_y = top + LANE_HEADER
        if not lane.rows:
            group.append(
                dw.Text("no history", FONT, LEFT, row_y + 15, fill="#777777", font_style="italic")
            )
        for secret, spans in lane.rows.items():
            group.append(dw.Text(secret, FONT + 1, 24, row_y + 15, fill="#222222", class_="secret"))
            for span in spans:
                _bar(group, lane.stack, secret, span, today, x, row_y + (ROW - BAR) / 2)
            group.append(
                dw.Text(
                    stage_summary(spans, today),
                    FONT,
                    plot_right + 16,
                    row_y + 15,
                    fill="#333333",
                    class_="summary",
                )
            )
            row_y += ROW
        d.append(group)

    today_x = x(today)
    d.append(
        dw.Line(today_x, axis_top, today_x, body_bottom, stroke="#c0392b", stroke_dasharray="4,3")
    )
    d.append(
        dw.Text(
            f"today {today.isoformat()}",
            FONT,
            today_x,
            body_bottom + 14,
            fill="#c0392b",
            text_anchor="middle",
        )
    )
    return str(d.as_svg())


def _legend(d: dw.Drawing, left: float, top: float) -> None:
    for index, stage in enumerate(("steady", "fallback", "swapped")):
        lx = left + index * 130
        d.append(dw.Rectangle(lx, top, 14, 12, fill=STAGE_COLOURS[stage], stroke="#888888"))
        d.append(dw.Text(stage, FONT, lx + 19, top + 10, fill="#222222", class_="legend"))


def _month_ticks(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """The first day of each month in range (of each quarter, or year, over longer ranges)."""
    months = (last.year - first.year) * 12 + last.month - first.month
    step = 1 if months <= 14 else 3 if months <= 40 else 12
    ticks, day = [], datetime.date(first.year, first.month, 1)
    while day <= last:
        if day >= first and (day.month - 1) % step == 0:
            ticks.append(day)
        day = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return ticks


def _bar(
    group: dw.Group,
    stack: str,
    secret: str,
    span: Span,
    today: datetime.date,
    x: Any,
    top: float,
) -> None:
    stage = span.position.stage
    left = x(span.start)
    width = max(3.0, x(span.end or today) - left)
    days = span.days(today)
    until = span.end.isoformat() if span.end else "now"
    rect = dw.Rectangle(
        left,
        top,
        width,
        BAR,
        fill=STAGE_COLOURS[stage],
        # An emergency's bar: outlined in red, its reason in the tooltip.
        stroke=EMERGENCY_COLOUR if span.emergency else "#ffffff",
        stroke_width=2 if span.emergency else 1,
        rx=3,
        class_=f"span {stage}" + (" emergency" if span.emergency else ""),
    )
    why = f"; EMERGENCY: {span.emergency}" if span.emergency else ""
    rect.append_title(
        f"{stack} {secret}: {span.position.describe()}, {span.start.isoformat()} to {until} "
        f"({days} days; {STAGE_MEANING[stage]}{why})"
    )
    group.append(rect)
    label = (
        f"v{span.position.current}"
        if stage == "steady"
        else f"{stage} v{span.position.current}→v{span.position.next} {days}d"
    )
    short = f"v{span.position.current}" if stage == "steady" else f"{stage[0]} {days}d"
    for text in (label, short):
        if len(text) * CHAR + 6 <= width:
            group.append(
                dw.Text(
                    text,
                    FONT - 1,
                    left + 4,
                    top + BAR - 4,
                    fill=STAGE_TEXT[stage],
                    class_=f"label {stage}",
                )
            )
            break


def write_svg(path: Path, svg: str) -> None:
    path.write_text(svg, encoding="utf-8")


def render_text_rows(lanes: list[Lane], today: datetime.date) -> list[list[str]]:
    """Rows (stack, secret, from, to, days, position) for the text table."""
    rows = []
    for lane in lanes:
        for number, (secret, spans) in enumerate(lane.rows.items()):
            for index, span in enumerate(spans):
                rows.append(
                    [
                        lane.stack if number == 0 and index == 0 else "",
                        secret if index == 0 else "",
                        span.start.isoformat(),
                        span.end.isoformat() if span.end else "now",
                        str(span.days(today)),
                        span.position.describe(),
                    ]
                )
    return rows
