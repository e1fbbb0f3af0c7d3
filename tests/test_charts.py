"""The SVG charts: accessible names, axes, one shape per figure, escaped text, sensible scales."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from membership import charts

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # noqa: S314 (our own SVG, not untrusted input)


def tips(svg: ET.Element, shape: str) -> list[str]:
    return [(node.findtext(f"{SVG}title") or "") for node in svg.iter(f"{SVG}{shape}") if node.find(f"{SVG}title")
            is not None]


def test_bar_chart_is_a_named_image_with_axes_and_a_bar_per_figure() -> None:
    svg = parse(charts.bar_chart(
        "chart-x", "New and churned", "Per month; the table lists the figures.", ["Jan 2026", "Feb"],
        [charts.Series("New", [3, 5]), charts.Series("Churned", [1, 0])], axis_title="Memberships"))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "chart-x-title chart-x-desc"
    assert svg.findtext(f"{SVG}title") == "New and churned"
    assert svg.find(f"{SVG}title").get("id") == "chart-x-title"  # type: ignore[union-attr]
    assert svg.find(f"{SVG}desc").get("id") == "chart-x-desc"  # type: ignore[union-attr]
    assert tips(svg, "rect") == ["Jan 2026 · New: 3", "Feb · New: 5", "Jan 2026 · Churned: 1", "Feb · Churned: 0"]
    labels = ["".join(node.itertext()) for node in svg.iter(f"{SVG}text")]
    assert {"Jan 2026", "Feb", "Memberships", "New", "Churned", "0", "5"} <= set(labels)
    assert len(list(svg.iter(f"{SVG}line"))) >= 3  # gridlines plus both axes


def test_a_category_label_may_have_a_second_line() -> None:
    svg = parse(charts.bar_chart("c", "t", "d", ["Dec\n2025", "Jan\n2026", "Feb"], [charts.Series("New", [1, 2, 3])]))
    labels = [[span.text for span in node.iter(f"{SVG}tspan")] for node in svg.iter(f"{SVG}text")
              if node.find(f"{SVG}tspan") is not None]
    assert labels == [["Dec", "2025"], ["Jan", "2026"], ["Feb"]]
    assert tips(svg, "rect")[0] == "Dec 2025 · New: 1"


def test_bars_grow_with_their_value_from_a_zero_baseline() -> None:
    svg = parse(charts.bar_chart("c", "t", "d", ["a", "b"], [charts.Series("s", [2, 4])]))
    bars = [node for node in svg.iter(f"{SVG}rect") if node.find(f"{SVG}title") is not None]
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.02)
    bottoms = {round(float(bar.get("y", "0")) + float(bar.get("height", "0")), 1) for bar in bars}
    assert len(bottoms) == 1


def test_line_chart_has_a_line_and_a_marker_per_point() -> None:
    svg = parse(charts.line_chart("churn", "Churn rate", "d", ["Jan", "Feb", "Mar"],
                                  [charts.Series("Churn rate", [10.0, 12.5, 0.0])],
                                  value_label=lambda v: f"{v:.1f}%"))
    assert svg.get("role") == "img"
    assert len(list(svg.iter(f"{SVG}polyline"))) == 1
    assert tips(svg, "circle") == ["Jan · Churn rate: 10.0%", "Feb · Churn rate: 12.5%", "Mar · Churn rate: 0.0%"]


def test_ranked_chart_truncates_long_labels_but_keeps_them_in_the_tooltip() -> None:
    url = "https://news.example/2026/01/a-very-long-article-slug-about-the-frontline-reporting"
    svg = parse(charts.ranked_bar_chart("top", "Conversions by article", "d", [url, "short"], [7, 2]))
    shown = ["".join(node.itertext()) for node in svg.iter(f"{SVG}text")]
    assert any(text.endswith("…") and len(text) <= 42 for text in shown)
    assert tips(svg, "rect") == [f"{url}: 7", "short: 2"]


def test_text_is_escaped() -> None:
    markup = charts.ranked_bar_chart("x", "<script>alert(1)</script>", "a & b", ["<b>bold</b>"], [1])
    assert "<script>" not in markup and "&lt;script&gt;" in markup
    svg = parse(markup)
    assert svg.findtext(f"{SVG}desc") == "a & b"
    assert tips(svg, "rect") == ["<b>bold</b>: 1"]


def test_empty_and_zero_data_still_draw_axes() -> None:
    svg = parse(charts.bar_chart("z", "Nothing yet", "d", ["Jan"], [charts.Series("New", [0])]))
    assert svg.get("role") == "img" and len(list(svg.iter(f"{SVG}line"))) >= 2


@pytest.mark.parametrize(("maximum", "expected"), [
    (0, [0, 1]),
    (7, [0, 2, 4, 6, 8]),
    (100, [0, 20, 40, 60, 80, 100]),
    (1234.5, [0, 250, 500, 750, 1000, 1250]),
    (0.3, [0, 0.1, 0.2, 0.3]),
])
def test_nice_ticks(maximum: float, expected: list[float]) -> None:
    assert charts.nice_ticks(maximum) == pytest.approx(expected)


def test_the_ballot_chart_text_renders_at_12px_or_more_on_a_phone() -> None:
    """On a 390 px phone the chart gets about 358 px (the page's padding off), and never more than 30rem (480 px) on
    a desktop: its text, in the chart's own units, must come out at 12 px or more at both sizes."""
    import re as _re

    from membership.charts import ranked_bar_chart

    svg = str(ranked_bar_chart("c", "Results", "Votes", ["A long topic title about reconstruction money", "B"],
                               [12, 3], width=460, label_chars=28, font_size=16, css_class="chart narrow"))
    width = float(_re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    sizes = [float(size) for size in _re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes and min(sizes) * 358 / width >= 12 and 'class="chart narrow"' in svg
