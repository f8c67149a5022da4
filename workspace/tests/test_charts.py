"""The dashboard's SVG charts: well-formed, escaped, proportional, and calm about empty data. No database."""

import datetime
import xml.etree.ElementTree as ET

import pytest
from django.utils.safestring import SafeString

from workspace.charts import PALETTE, bar_chart, donut, funnel, line_chart

NS = "{http://www.w3.org/2000/svg}"
XSS = "<script>alert(1)</script>"


def parse(svg):
    assert isinstance(svg, SafeString)
    root = ET.fromstring(str(svg))  # fails unless the output is well-formed XML
    assert root.tag == f"{NS}svg"
    return root


def find(root, tag):
    return root.findall(f".//{NS}{tag}")


def texts(root):
    """Every visible text, in document order."""
    return ["".join(t.itertext()) for t in find(root, "text")]


def titles(root):
    return [t.text for t in find(root, "title")]


def bars(root):
    return [r for r in find(root, "rect") if r.get("fill") == PALETTE[0]]


def test_every_chart_is_an_accessible_scalable_svg():
    day = datetime.date(2024, 11, 3)
    for svg in (bar_chart([("Web", 3)], label="Leads by source"), line_chart([(day, 3)], label="Leads by source"),
                funnel([("new", 3)], label="Leads by source"), donut([("booked", 3)], label="Leads by source")):
        root = parse(svg)
        assert root.get("role") == "img"
        assert root.get("aria-label") == "Leads by source"
        assert root.get("width") == "100%"
        assert len(root.get("viewBox").split()) == 4
        assert root.find(f"{NS}title").text == "Leads by source"


def test_bar_heights_are_proportional_to_the_values():
    root = parse(bar_chart([("Web", 10), ("Walk-in", 40), ("Referral", 0)], label="Leads by source"))
    web, walk_in, referral = (float(r.get("height")) for r in bars(root))
    assert walk_in == pytest.approx(4 * web)
    assert referral == 0
    # the bars stand on the same baseline
    assert {round(float(r.get("y")) + float(r.get("height")), 2) for r in bars(root)} == {
        round(float(bars(root)[0].get("y")) + web, 2)
    }


def test_bar_chart_shows_the_labels_and_the_values_with_thousands_separators():
    root = parse(bar_chart([("Web", 1234), ("Walk-in", 56)], label="Leads"))
    assert {"Web", "Walk-in", "1,234", "56"} <= set(texts(root))


def test_bar_chart_value_format():
    root = parse(bar_chart([("Anna", 0.5), ("Ben", 0.25)], label="Rate", value_format="{:.0%}"))
    assert {"50%", "25%"} <= set(texts(root))


def test_a_long_bar_label_is_shortened_and_the_full_one_is_in_the_tooltip():
    name = "Facebook summer campaign 2024 (retargeting)"
    root = parse(bar_chart([(name, 5), ("Web", 3), ("Referral", 2), ("Flyer", 1)] * 3, label="Leads"))
    assert name not in texts(root)
    assert any(t.endswith("…") and name.startswith(t[:-1]) for t in texts(root))
    assert f"{name}: 5" in titles(root)


def test_too_many_bars_for_their_values_get_an_axis_and_keep_the_values_in_tooltips():
    root = parse(bar_chart([(f"Day {i}", 1000 * i) for i in range(1, 31)], label="Calls"))
    assert len(bars(root)) == 30
    assert {"0", "10,000", "30,000"} <= set(texts(root))  # the axis: zero, a round number, the max
    assert "Day 7: 7,000" in titles(root)
    assert "7,000" not in texts(root)


@pytest.mark.parametrize("chart", [
    lambda: bar_chart([(XSS, 3)], label=XSS),
    lambda: line_chart([(datetime.date(2024, 11, 3), 3)], label=XSS),
    lambda: funnel([(XSS, 3)], label=XSS),
    lambda: donut([(XSS, 3), ("ok", 1)], label=XSS),
])
def test_labels_from_user_data_are_escaped(chart):
    svg = str(chart())
    assert "<script" not in svg
    root = parse(chart())
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "script"]
    assert root.get("aria-label") == XSS
    assert XSS in titles(root)


@pytest.mark.parametrize("chart", [
    lambda items: bar_chart(items, label="Chart"),
    lambda items: line_chart([(datetime.date(2024, 11, 1 + i), v) for i, (_, v) in enumerate(items)], label="Chart"),
    lambda items: funnel(items, label="Chart"),
    lambda items: donut(items, label="Chart"),
])
@pytest.mark.parametrize("items", [[], [("a", 0), ("b", 0)]], ids=["empty", "all-zero"])
def test_empty_or_all_zero_data_says_no_data(chart, items):
    root = parse(chart(items))
    assert "No data" in texts(root)
    assert not bars(root)


def test_line_chart_has_a_dot_per_point_with_a_tooltip_and_date_labels():
    start = datetime.date(2024, 10, 21)
    points = [(start + datetime.timedelta(days=i), i % 5) for i in range(30)]
    points[13] = (datetime.date(2024, 11, 3), 12)
    root = parse(line_chart(points, label="Leads per day"))
    dots = find(root, "circle")
    assert len(dots) == 30
    assert "Nov 3: 12" in [d.find(f"{NS}title").text for d in dots]
    assert len(find(root, "polyline")) == 1
    labels = texts(root)
    assert {"Oct 21", "Oct 28", "Nov 19"} <= set(labels)  # the first, a week later, the last
    assert {"0", "12"} <= set(labels)  # y axis: zero and the max
    assert "5" in labels  # and a round number in between
    # the highest point is at the top, zero days on the baseline
    ys = [float(d.get("cy")) for d in dots]
    assert ys[13] == min(ys)
    assert ys[0] == max(ys)


def test_line_chart_with_one_point():
    root = parse(line_chart([(datetime.date(2024, 11, 3), 12)], label="Leads"))
    assert [d.find(f"{NS}title").text for d in find(root, "circle")] == ["Nov 3: 12"]


def test_funnel_shows_counts_and_percentages_of_the_total():
    stages = [("new", 50), ("contacted", 70), ("qualified", 40), ("converted", 30), ("lost", 10)]
    root = parse(funnel(stages, label="Pipeline"))
    labels = texts(root)
    assert {"new", "contacted", "qualified", "converted", "lost"} <= set(labels)
    assert "50 · 25%" in labels  # 50 of 200
    assert "70 · 35%" in labels
    assert "10 · 5%" in labels


def test_funnel_bar_widths_are_proportional_and_percent_can_be_of_the_first_stage():
    root = parse(funnel([("new", 1200), ("contacted", 600), ("converted", 3)], label="Pipeline", percent_of="first"))
    assert {"1,200 · 100%", "600 · 50%", "3 · <1%"} <= set(texts(root))
    widths = [float(r.get("width")) for r in find(root, "rect") if r.get("fill") in PALETTE]
    assert widths[1] == pytest.approx(widths[0] / 2)


def test_donut_with_one_outcome_draws_a_full_ring():
    root = parse(donut([("booked", 7), ("no answer", 0)], label="Call outcomes"))
    rings = find(root, "circle")
    assert len(rings) == 1
    assert rings[0].get("fill") == "none" and rings[0].get("stroke") == PALETTE[0]
    assert not find(root, "path")
    assert {"booked", "7", "100%", "no answer", "0%"} <= set(texts(root))


def test_donut_draws_an_arc_per_outcome_and_a_legend():
    root = parse(donut([("booked", 1500), ("voicemail", 1000), ("no answer", 0), ("declined", 500)], label="Calls"))
    arcs = find(root, "path")
    assert [a.get("stroke") for a in arcs] == [PALETTE[0], PALETTE[1], PALETTE[3]]  # colour per position
    assert " 0 0 1 " in arcs[0].get("d")  # half the ring is not a large arc
    labels = texts(root)
    assert {"3,000", "booked", "1,500", "50%", "voicemail", "1,000", "33%", "declined", "500", "17%"} <= set(labels)
    assert "booked: 1,500 (50%)" in titles(root)
