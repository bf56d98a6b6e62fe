"""The dashboard's SVG charts: well-formed XML whatever the labels hold, the marks the data
asks for (points, bands, bars, whiskers, days), accessible names, legends and empty states."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from curata.web.charts import (
    PALETTE,
    Bar,
    BarGroup,
    Point,
    Series,
    bar_chart,
    line_chart,
    nice_top,
    throughput_chart,
)

NS = {"s": "http://www.w3.org/2000/svg"}
HOSTILE = "<script>alert('x')</script>\x00\x07&amp;\"quoted\" ]]>"


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything not well-formed
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def all_text(root: ET.Element) -> str:
    return " ".join("".join(e.itertext()) for e in root.iter())


def accessible(root: ET.Element) -> tuple[str, str]:
    assert root.get("role") == "img"
    title, desc = root.find("s:title", NS), root.find("s:desc", NS)
    assert title is not None and desc is not None
    ids = (root.get("aria-labelledby") or "").split()
    assert ids == [title.get("id"), desc.get("id")]
    return title.text or "", desc.text or ""


def by_class(root: ET.Element, cls: str) -> list[ET.Element]:
    return [e for e in root.iter() if cls in (e.get("class") or "").split()]


def test_line_chart_draws_a_point_per_value_and_a_band_per_series() -> None:
    series = [
        Series("wave-1 · topic", [Point("d1", 0.9, 0.8, 0.95, 40), Point("d2", 0.7, 0.6, 0.8, 38),
                                  Point("d3", 0.5, 0.4, 0.6, 41)]),
        Series("wave-2 · topic", [Point("d2", 0.6, 0.5, 0.7, 30)]),
    ]
    root = parse(line_chart("Agreement over time", series))
    title, _desc = accessible(root)
    assert title == "Agreement over time"
    assert len(by_class(root, "point")) == 4
    bands = by_class(root, "band")
    assert len(bands) == 2  # one per series, a single point too
    assert len(by_class(root, "line")) == 1  # a line needs two points
    # the band of the first series spans its intervals: 3 upper + 3 lower corners
    assert len((bands[0].get("points") or "").split()) == 6
    # higher rate, higher on the page: y of 90% < y of 50%
    ys = [float(p.get("cy") or 0) for p in by_class(root, "point")[:3]]
    assert ys[0] < ys[1] < ys[2]
    # shared x labels share a position
    xs = {p.get("cx") for p in by_class(root, "point")}
    assert len(xs) == 3
    legend = [e.find("s:text/s:title", NS) for e in by_class(root, "legend-item")]
    assert [t.text for t in legend if t is not None] == ["wave-1 · topic", "wave-2 · topic"]


def test_sorted_times_keep_each_line_left_to_right() -> None:
    """Two series binned at different times (a cohort that drifted later than another): by
    first appearance the early series' last bin would sit left of the other's first, and its
    line would run backwards; with sort_x every line's x rises with time."""
    early = Series("in-house", [Point("2026-12-04 13:05", 0.9), Point("2026-12-04 13:17", 0.95)])
    late = Series("vendor-b", [Point("2026-12-04 13:08", 0.8), Point("2026-12-04 13:12", 0.2)])

    def line_xs(svg: str) -> list[list[float]]:
        return [[float(xy.split(",")[0]) for xy in (line.get("points") or "").split()]
                for line in by_class(parse(svg), "line")]  # fmt: skip

    unsorted = line_xs(line_chart("t", [early, late]))
    assert unsorted[0][1] < unsorted[1][0]  # 13:17 drawn left of 13:08: the old ordering
    for xs in line_xs(line_chart("t", [early, late], sort_x=True)):
        assert xs == sorted(xs)
    ordered = line_xs(line_chart("t", [early, late], sort_x=True))
    assert ordered[0][0] < ordered[1][0] < ordered[1][1] < ordered[0][1]  # 13:05 08 12 17


def test_a_point_without_an_interval_draws_no_band() -> None:
    root = parse(line_chart("t", [Series("a", [Point("x", 0.5), Point("y", 0.6)])]))
    assert by_class(root, "band") == [] and len(by_class(root, "point")) == 2


def test_bar_chart_draws_a_bar_and_whisker_per_measured_rate_in_groups() -> None:
    groups = [
        BarGroup("checkpoint-1", [Bar("jailbreak", 0.4, 0.3, 0.5, 100),
                                  Bar("injection", 0.1, 0.05, 0.2, 80),
                                  Bar("nothing judged", None)]),
        BarGroup("checkpoint-2", [Bar("jailbreak", 0.2, 0.12, 0.3, 100)]),
    ]
    root = parse(bar_chart("Attack success", groups))
    accessible(root)
    bars = by_class(root, "bar")
    assert len(bars) == 3  # the unmeasured one is a label only
    assert len(by_class(root, "whisker")) == 3
    assert [e.get("fill") for e in bars] == [PALETTE[0], PALETTE[0], PALETTE[1]]
    widths = [float(e.get("width") or 0) for e in bars]
    assert widths[0] == pytest.approx(widths[2] * 2, rel=0.01)  # 40% is twice 20%
    groups_text = ["".join(e.itertext()) for e in by_class(root, "group")]
    assert [t for t in groups_text if "checkpoint" in t]
    assert "not measured" in all_text(root)
    assert len(by_class(root, "legend-item")) == 2
    # the whisker spans the interval: 30%..50% of the same axis as the bar
    whisker = by_class(root, "whisker")[0].findall("s:line", NS)[0]
    x0 = float(bars[0].get("x") or 0)
    scale = float(bars[0].get("width") or 0) / 0.4
    assert float(whisker.get("x1") or 0) == pytest.approx(x0 + 0.3 * scale, abs=0.2)
    assert float(whisker.get("x2") or 0) == pytest.approx(x0 + 0.5 * scale, abs=0.2)


def test_throughput_chart_draws_days_a_running_total_and_the_backlog() -> None:
    days = [("2026-03-01", 5), ("2026-03-02", 0), ("2026-03-03", 15)]
    root = parse(throughput_chart("Labels per day", days, needed=40))
    _title, desc = accessible(root)
    assert "20 in all" in desc and "40 needed" in desc
    columns = by_class(root, "day")
    assert len(columns) == 3
    heights = [float(c.get("height") or 0) for c in columns]
    assert heights[1] == 0 and heights[2] == pytest.approx(3 * heights[0], rel=0.01)
    [line] = by_class(root, "cumulative")
    assert len((line.get("points") or "").split()) == 3
    [needed] = by_class(root, "needed")
    # 20 done of 40 needed: the last running point is halfway between the axis and the line
    last_y = float((line.get("points") or "").split()[-1].split(",")[1])
    base = float(columns[0].get("y") or 0) + heights[0]
    assert last_y == pytest.approx((base + float(needed.get("y1") or 0)) / 2, abs=0.2)
    assert len(by_class(root, "legend-item")) == 3


@pytest.mark.parametrize("svg", [
    line_chart(HOSTILE, [Series(HOSTILE, [Point(HOSTILE, 0.5, 0.4, 0.6, 3)])], desc=HOSTILE),
    bar_chart(HOSTILE, [BarGroup(HOSTILE, [Bar(HOSTILE, 0.5, 0.4, 0.6, 3)])], desc=HOSTILE),
    throughput_chart(HOSTILE, [(HOSTILE, 3)], unit=HOSTILE, needed=5),
])
def test_hostile_labels_are_text_in_well_formed_xml(svg: str) -> None:
    root = parse(svg)
    # no element came from a label: only SVG's own
    tags = {e.tag.split("}")[1] for e in root.iter()}
    assert tags <= {"svg", "title", "desc", "g", "line", "text", "rect", "polygon", "polyline",
                    "circle"}
    assert "script" not in tags
    assert "<script>" not in svg  # escaped in the source
    assert "<script>alert('x')</script>" in all_text(root)  # and shown as text
    assert "\x00" not in svg and "\x07" not in svg


@pytest.mark.parametrize("svg", [
    line_chart("Agreement", []),
    line_chart("Agreement", [Series("a", [])]),
    bar_chart("Attacks", []),
    bar_chart("Attacks", [BarGroup("c", [])]),
    throughput_chart("Labels", []),
])
def test_empty_data_says_so(svg: str) -> None:
    root = parse(svg)
    accessible(root)
    assert "empty" in (root.get("class") or "").split()
    assert "no data yet" in all_text(root)
    assert not by_class(root, "point") and not by_class(root, "bar") and not by_class(root, "day")


def test_two_charts_on_one_page_have_distinct_ids() -> None:
    a = parse(line_chart("one", []))
    b = parse(line_chart("two", []))
    assert a.get("aria-labelledby") != b.get("aria-labelledby")
    c = parse(bar_chart("x", [], ident="Quality <1>"))
    assert (c.get("aria-labelledby") or "").startswith("quality--1--")


def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


@pytest.mark.parametrize("colour", PALETTE)
def test_series_colours_contrast_with_white(colour: str) -> None:
    ratio = 1.05 / (_luminance(colour) + 0.05)
    assert ratio >= 3.0, f"{colour}: {ratio:.2f}:1"


@pytest.mark.parametrize(("value", "top"), [(1, 4), (3, 4), (6, 8), (9, 12), (40, 40),
                                            (99, 100), (101, 200), (999, 1000)])
def test_axis_tops_split_into_four_whole_steps(value: int, top: int) -> None:
    assert nice_top(value) == top
    assert top >= value and top % 4 == 0


def test_a_single_day_shows_its_running_total_as_a_point_and_whole_ticks() -> None:
    svg = throughput_chart("one day", [("2026-12-07", 6)], needed=12)
    root = ET.fromstring(svg)
    points = root.findall(".//s:circle[@class='so-far']", NS)
    assert len(points) == 1  # a one-point polyline draws nothing: the point does
    ticks = [t.text for t in root.findall(".//s:g[@class='axis']/s:text", NS)]
    left = [int(t) for t in ticks[0:10:2] if t and t.isdigit()]
    assert left == [0, 2, 4, 6, 8]  # 6 labels on an even axis, not 0 2 3 4 6
