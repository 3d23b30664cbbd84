//! Charts drawn on the server as inline SVG: horizontal bars, grouped and
//! stacked columns, and a line over time. No script, no library.
//!
//! Every chart is readable without colour: each series has a fill pattern
//! of its own (solid, hatched, dotted, ...) as well as a colour, every bar
//! has a dark outline (3:1 against the page), values are written next to the
//! bars, and the legend names each series in words. The `<svg>` has
//! `role="img"`, a `<title>` and a `<desc>`; the numbers are also in the
//! table every chart sits beside. A chart has a fixed `viewBox` and scales
//! to its container (`.chart` in the stylesheet).

use maud::{Markup, PreEscaped, html};

/// Chart width in user units; the height depends on the chart.
const WIDTH: f64 = 600.0;
/// Outline of bars and swatches: the page's text colour.
const OUTLINE: &str = "#1b1f24";
/// Longest axis label, in characters, before it is shortened with "…".
const LABEL_CHARS: usize = 26;

/// One series' look: a colour and a pattern drawn in it.
struct Look {
    colour: &'static str,
    pattern: Pattern,
}

#[derive(Clone, Copy)]
enum Pattern {
    Solid,
    Diagonal,
    Dots,
    Cross,
    Horizontal,
    Vertical,
}

/// Colours of at least 4.5:1 on white, each with a different pattern.
const LOOKS: [Look; 6] = [
    Look { colour: "#0b5cad", pattern: Pattern::Solid },
    Look { colour: "#8a5300", pattern: Pattern::Diagonal },
    Look { colour: "#1a6b2f", pattern: Pattern::Dots },
    Look { colour: "#6b3fa0", pattern: Pattern::Cross },
    Look { colour: "#b3261e", pattern: Pattern::Horizontal },
    Look { colour: "#00677a", pattern: Pattern::Vertical },
];

/// What every chart needs: an id unique in the page (it prefixes the ids
/// of the title, description and patterns), a title and a description.
pub struct Chart<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub desc: &'a str,
}

/// One bar of a bar chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    /// The value as written next to the bar, e.g. `42` or `12.5 %`.
    pub shown: String,
}

/// One series of a column chart: a name for the legend and one value per
/// category.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A whole number as text with thin grouping, e.g. `12 345`.
pub fn count(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `label` cut to [`LABEL_CHARS`] with an ellipsis.
fn short(label: &str) -> String {
    cut(label, LABEL_CHARS)
}

/// `label` cut to `chars` with an ellipsis.
fn cut(label: &str, chars: usize) -> String {
    if label.chars().count() <= chars {
        label.to_string()
    } else {
        let kept: String = label.chars().take(chars - 1).collect();
        format!("{kept}…")
    }
}

/// The smallest "nice" number (1, 2 or 5 × 10ⁿ) at or above `max`, and
/// the step of four or five gridlines up to it.
fn scale(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        let top = m * magnitude;
        if top >= max {
            let step = if m == 2.5 { top / 5.0 } else { top / 4.0 };
            return (top, step);
        }
    }
    (10.0 * magnitude, 2.5 * magnitude)
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 { count(v as i64) } else { format!("{v:.1}") }
}

fn pattern_id(chart: &Chart, i: usize) -> String {
    format!("{}-pattern-{i}", chart.id)
}

/// The fill of series `i`: its pattern.
fn fill(chart: &Chart, i: usize) -> String {
    match LOOKS[i % LOOKS.len()].pattern {
        Pattern::Solid => LOOKS[i % LOOKS.len()].colour.to_string(),
        _ => format!("url(#{})", pattern_id(chart, i)),
    }
}

/// The `<defs>` with the patterns of `n` series.
fn patterns(chart: &Chart, n: usize) -> Markup {
    html! {
        defs {
            @for i in 0..n {
                @let look = &LOOKS[i % LOOKS.len()];
                @let c = look.colour;
                @match look.pattern {
                    Pattern::Solid => {}
                    Pattern::Diagonal => {
                        pattern id=(pattern_id(chart, i)) width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)" {
                            rect width="8" height="8" fill="#ffffff" {}
                            rect width="4" height="8" fill=(c) {}
                        }
                    }
                    Pattern::Dots => {
                        pattern id=(pattern_id(chart, i)) width="7" height="7" patternUnits="userSpaceOnUse" {
                            rect width="7" height="7" fill="#ffffff" {}
                            circle cx="3.5" cy="3.5" r="2.4" fill=(c) {}
                        }
                    }
                    Pattern::Cross => {
                        pattern id=(pattern_id(chart, i)) width="8" height="8" patternUnits="userSpaceOnUse" {
                            rect width="8" height="8" fill=(c) {}
                            path d="M0 4H8M4 0V8" stroke="#ffffff" stroke-width="1.5" {}
                        }
                    }
                    Pattern::Horizontal => {
                        pattern id=(pattern_id(chart, i)) width="6" height="6" patternUnits="userSpaceOnUse" {
                            rect width="6" height="6" fill="#ffffff" {}
                            rect width="6" height="3" fill=(c) {}
                        }
                    }
                    Pattern::Vertical => {
                        pattern id=(pattern_id(chart, i)) width="6" height="6" patternUnits="userSpaceOnUse" {
                            rect width="6" height="6" fill="#ffffff" {}
                            rect width="3" height="6" fill=(c) {}
                        }
                    }
                }
            }
        }
    }
}

/// The `<svg>` element around a chart's drawing.
fn frame(chart: &Chart, height: f64, inner: Markup) -> Markup {
    let title_id = format!("{}-title", chart.id);
    let desc_id = format!("{}-desc", chart.id);
    html! {
        svg class="chart" id=(chart.id) xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={"0 0 " (WIDTH) " " (height)} width=(WIDTH) height=(height)
            aria-labelledby=(title_id) aria-describedby=(desc_id) {
            title id=(title_id) { (chart.title) }
            desc id=(desc_id) { (chart.desc) }
            (inner)
        }
    }
}

/// A legend: one swatch (the series' pattern) and its name per series,
/// laid out left to right from `y`; returns the markup and the height used.
fn legend(chart: &Chart, series: &[Series], y: f64) -> (Markup, f64) {
    let mut x = 10.0;
    let mut row = 0.0;
    let mut items = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let name = cut(&s.name, 48);
        let width = 28.0 + 7.0 * name.chars().count() as f64;
        if x + width > WIDTH - 10.0 && x > 10.0 {
            x = 10.0;
            row += 1.0;
        }
        items.push((i, name, s.name.clone(), x, y + row * 22.0));
        x += width + 16.0;
    }
    let markup = html! {
        g class="legend" {
            @for (i, name, full, x, y) in &items {
                g {
                    title { (full) }
                    rect class="swatch" x=(x) y=(y) width="16" height="16" fill=(fill(chart, *i)) stroke=(OUTLINE) stroke-width="1" {}
                    text x=(x + 22.0) y=(y + 13.0) { (name) }
                }
            }
        }
    };
    (markup, (row + 1.0) * 22.0)
}

/// Horizontal bars, one per item, labelled on the left with the value at
/// the bar's end.
pub fn bars(chart: &Chart, items: &[Bar]) -> Markup {
    let (label_w, row_h, top) = (190.0, 26.0, 8.0);
    let max = items.iter().map(|b| b.value).fold(0.0, f64::max);
    let room = WIDTH - label_w - 90.0;
    let height = top * 2.0 + row_h * items.len().max(1) as f64;
    let inner = html! {
        @if items.is_empty() {
            text x="10" y="24" { "No data in this period." }
        }
        @for (i, b) in items.iter().enumerate() {
            @let y = top + row_h * i as f64;
            @let w = if max > 0.0 { (b.value / max * room).max(if b.value > 0.0 { 2.0 } else { 0.0 }) } else { 0.0 };
            g class="row" {
                title { (b.label) ": " (b.shown) }
                text class="label" x=(label_w - 8.0) y=(y + 17.0) text-anchor="end" { (short(&b.label)) }
                rect class="bar" x=(label_w) y=(y + 4.0) width=(w) height=(row_h - 8.0) fill=(fill(chart, 0)) stroke=(OUTLINE) stroke-width="1" {}
                text class="value" x=(label_w + w + 6.0) y=(y + 17.0) { (b.shown) }
            }
        }
    };
    frame(chart, height, inner)
}

/// The y axis of a column chart: gridlines and their values; returns the
/// top of the scale.
fn y_axis(max: f64, left: f64, top: f64, plot_h: f64) -> (Markup, f64) {
    let (top_value, step) = scale(max);
    let mut ticks = Vec::new();
    let mut v = 0.0;
    while v <= top_value + step / 2.0 {
        ticks.push(v);
        v += step;
    }
    let markup = html! {
        g class="axis" aria-hidden="true" {
            @for t in &ticks {
                @let y = top + plot_h - t / top_value * plot_h;
                line x1=(left) x2=(WIDTH - 10.0) y1=(y) y2=(y) stroke="#c9d1d9" stroke-width="1" {}
                text x=(left - 6.0) y=(y + 4.0) text-anchor="end" { (number(*t)) }
            }
        }
    };
    (markup, top_value)
}

/// Columns per category: side by side for each series (`stacked` false),
/// or stacked with the total on top (`stacked` true). Values are written
/// on (or above) the columns when there is room; the legend names each
/// series.
pub fn columns(chart: &Chart, categories: &[String], series: &[Series], stacked: bool) -> Markup {
    let (left, top, plot_h, axis_h) = (48.0, 26.0, 220.0, 46.0);
    let n = categories.len().max(1) as f64;
    let slot = (WIDTH - left - 10.0) / n;
    let per_cat = if stacked { 1.0 } else { series.len().max(1) as f64 };
    let col_w = (slot * 0.8 / per_cat).min(60.0);
    let max = if stacked {
        (0..categories.len()).map(|c| series.iter().map(|s| s.values[c]).sum::<f64>()).fold(0.0, f64::max)
    } else {
        series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max)
    };
    let (axis, top_value) = y_axis(max, left, top, plot_h);
    let y_of = |v: f64| top + plot_h - v / top_value * plot_h;
    // Category labels slant when they would not fit side by side.
    let slant = categories.iter().map(|c| short(c).chars().count()).max().unwrap_or(0) as f64 * 7.5 + 6.0 > slot;
    let base = top + plot_h;
    let (legend, legend_h) = legend(chart, series, base + axis_h + 8.0);
    let height = base + axis_h + 8.0 + legend_h + 4.0;
    let value_font = if col_w < 18.0 { 9.0 } else { 11.0 };
    let inner = html! {
        (patterns(chart, series.len()))
        (axis)
        @if categories.is_empty() {
            text x=(left + 10.0) y=(top + plot_h / 2.0) { "No data in this period." }
        }
        @for (c, category) in categories.iter().enumerate() {
            @let x0 = left + slot * c as f64 + (slot - col_w * per_cat) / 2.0;
            g class="category" {
                @if stacked {
                    @let total: f64 = series.iter().map(|s| s.values[c]).sum();
                    @for (i, below, v) in stack(series, c) {
                        @let (y1, y2) = (y_of(below + v), y_of(below));
                        rect class="bar" x=(x0) y=(y1) width=(col_w) height=(y2 - y1) fill=(fill(chart, i)) stroke=(OUTLINE) stroke-width="1" {
                            title { (series[i].name) ", " (category) ": " (number(v)) }
                        }
                    }
                    text class="value" x=(x0 + col_w / 2.0) y=(y_of(total) - 4.0) text-anchor="middle" font-size=(value_font) { (number(total)) }
                } @else {
                    @for (i, s) in series.iter().enumerate() {
                        @let v = s.values[c];
                        @let x = x0 + col_w * i as f64;
                        rect class="bar" x=(x) y=(y_of(v)) width=(col_w) height=(base - y_of(v)) fill=(fill(chart, i)) stroke=(OUTLINE) stroke-width="1" {
                            title { (s.name) ", " (category) ": " (number(v)) }
                        }
                        text class="value" x=(x + col_w / 2.0) y=(y_of(v) - 4.0) text-anchor="middle" font-size=(value_font) { (number(v)) }
                    }
                }
                @let cx = left + slot * (c as f64 + 0.5);
                @if slant {
                    text class="label" x=(cx) y=(base + 14.0) text-anchor="end" transform={"rotate(-35 " (cx) " " (base + 14.0) ")"} { (short(category)) }
                } @else {
                    text class="label" x=(cx) y=(base + 16.0) text-anchor="middle" { (short(category)) }
                }
            }
        }
        line x1=(left) x2=(WIDTH - 10.0) y1=(base) y2=(base) stroke=(OUTLINE) stroke-width="1" {}
        @if series.len() > 1 || !series.first().is_some_and(|s| s.name.is_empty()) {
            (legend)
        }
    };
    frame(chart, height, inner)
}

/// The non-empty segments of category `c`'s stack: series index, the sum
/// below the segment, its value.
fn stack(series: &[Series], c: usize) -> Vec<(usize, f64, f64)> {
    let mut below = 0.0;
    let mut out = Vec::new();
    for (i, s) in series.iter().enumerate() {
        let v = s.values[c];
        if v > 0.0 {
            out.push((i, below, v));
            below += v;
        }
    }
    out
}

/// Lines over a series of labelled points (days): the first series solid,
/// with the area under it and a marker with its value on its highest
/// point; the others dashed (each with its own dash), darker and thicker.
/// Points whose `tick` is set (e.g. the first of each month) get a tick and
/// their label; the legend draws each line's stroke beside its name.
pub fn line(chart: &Chart, labels: &[String], ticks: &[bool], series: &[Series]) -> Markup {
    let (left, top, plot_h, axis_h) = (48.0, 26.0, 220.0, 30.0);
    let n = labels.len();
    let max = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max);
    let (axis, top_value) = y_axis(max, left, top, plot_h);
    let base = top + plot_h;
    let step = if n > 1 { (WIDTH - left - 20.0) / (n - 1) as f64 } else { 0.0 };
    let x_of = |i: usize| left + 5.0 + step * i as f64;
    let y_of = |v: f64| base - v / top_value * plot_h;
    let path_of = |values: &[f64]| {
        let mut path = String::new();
        for (i, v) in values.iter().enumerate().take(n) {
            path.push_str(&format!("{}{:.1} {:.1}", if i == 0 { "M" } else { "L" }, x_of(i), y_of(*v)));
        }
        path
    };
    let first = series.first().map(|s| s.values.as_slice()).unwrap_or(&[]);
    let area = if n > 0 && !first.is_empty() {
        format!("{}L{:.1} {base:.1}L{:.1} {base:.1}Z", path_of(first), x_of(first.len().min(n) - 1), x_of(0))
    } else {
        String::new()
    };
    let peak = first.iter().take(n).enumerate().max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)));
    let legend_y = base + axis_h + 6.0;
    let height = legend_y + 22.0 + 4.0;
    let inner = html! {
        (axis)
        @if !area.is_empty() {
            path class="area" d=(area) fill=(LOOKS[0].colour) fill-opacity="0.12" stroke="none" {}
        }
        @for (i, s) in series.iter().enumerate() {
            @if n > 0 && !s.values.is_empty() {
                path class="line" d=(path_of(&s.values)) fill="none" stroke=(stroke(i)) stroke-width=(stroke_width(i)) stroke-dasharray=[dashes(i)] {}
            }
        }
        @for (i, label) in labels.iter().enumerate() {
            @if ticks.get(i).copied().unwrap_or(false) {
                line x1=(x_of(i)) x2=(x_of(i)) y1=(base) y2=(base + 5.0) stroke=(OUTLINE) {}
                text class="label" x=(x_of(i)) y=(base + 18.0) text-anchor="middle" { (label) }
            }
        }
        line x1=(left) x2=(WIDTH - 10.0) y1=(base) y2=(base) stroke=(OUTLINE) stroke-width="1" {}
        @if let Some((i, v)) = peak.filter(|p| *p.1 > 0.0) {
            g class="peak" {
                path d=(diamond(x_of(i), y_of(*v))) fill=(OUTLINE) {}
                text x=(x_of(i).clamp(left + 60.0, WIDTH - 70.0)) y=(y_of(*v) - 9.0) text-anchor="middle" {
                    "peak " (number(*v)) " on " (labels.get(i).map(String::as_str).unwrap_or(""))
                }
            }
        }
        g class="legend" {
            @for (i, s, x) in line_legend(series) {
                g {
                    line class="swatch" x1=(x) x2=(x + 24.0) y1=(legend_y + 8.0) y2=(legend_y + 8.0) stroke=(stroke(i)) stroke-width=(stroke_width(i)) stroke-dasharray=[dashes(i)] {}
                    text x=(x + 30.0) y=(legend_y + 13.0) { (s) }
                }
            }
        }
    };
    frame(chart, height, inner)
}

/// The colour of line `i`: the first in the main colour, others dark.
fn stroke(i: usize) -> &'static str {
    if i == 0 { LOOKS[0].colour } else { OUTLINE }
}

fn stroke_width(i: usize) -> &'static str {
    if i == 0 { "1.5" } else { "2.5" }
}

/// The dash of line `i`: none for the first, then longer and longer dashes.
fn dashes(i: usize) -> Option<String> {
    (i > 0).then(|| format!("{} 3", 3 * i + 3))
}

/// Each line's legend entry: index, name, x, laid out on one row.
fn line_legend(series: &[Series]) -> Vec<(usize, String, f64)> {
    let mut x = 10.0;
    series
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let name = cut(&s.name, 48);
            let at = x;
            x += 46.0 + 7.0 * name.chars().count() as f64;
            (i, name, at)
        })
        .collect()
}

/// A diamond marker centred on `(x, y)`.
fn diamond(x: f64, y: f64) -> PreEscaped<String> {
    PreEscaped(format!("M{x:.1} {:.1}L{:.1} {y:.1}L{x:.1} {:.1}L{:.1} {y:.1}Z", y - 5.0, x + 5.0, y + 5.0, x - 5.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart<'static> {
        Chart { id: "c1", title: "Active deployments", desc: "Per group" }
    }

    fn occurrences(haystack: &str, needle: &str) -> usize {
        haystack.matches(needle).count()
    }

    #[test]
    fn bars_have_one_rect_and_one_value_label_each_and_escape_names() {
        let items = vec![
            Bar { label: "physics".into(), value: 120.0, shown: "120".into() },
            Bar { label: "<script>alert(1)</script>".into(), value: 3.0, shown: "3".into() },
            Bar { label: "bio & chemistry".into(), value: 0.0, shown: "0".into() },
        ];
        let svg = bars(&chart(), &items).into_string();
        assert_eq!(occurrences(&svg, r#"class="bar""#), 3);
        assert!(svg.contains(r#">120</text>"#) && svg.contains(">3</text>") && svg.contains(">0</text>"));
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("bio &amp; chemistry"));
        assert!(svg.starts_with(r#"<svg class="chart" id="c1""#));
        assert!(svg.contains(r#"role="img""#) && svg.contains(r#"aria-labelledby="c1-title""#));
        assert!(svg.contains(r#"<title id="c1-title">Active deployments</title>"#));
        assert!(svg.contains(r#"<desc id="c1-desc">Per group</desc>"#));
        // The longest bar spans the whole room; a zero draws nothing.
        assert!(svg.contains(r#"width="0""#));
    }

    #[test]
    fn an_empty_bar_chart_says_so() {
        let svg = bars(&chart(), &[]).into_string();
        assert!(svg.contains("No data in this period."));
        assert_eq!(occurrences(&svg, r#"class="bar""#), 0);
    }

    #[test]
    fn grouped_columns_draw_each_series_with_its_own_pattern_and_a_legend() {
        let categories: Vec<String> = ["under 1 h", "1–6 h", "6 h or more"].map(String::from).to_vec();
        let series = vec![
            Series { name: "Production".into(), values: vec![5.0, 7.0, 1.0] },
            Series { name: "Testing".into(), values: vec![2.0, 0.0, 9.0] },
        ];
        let svg = columns(&chart(), &categories, &series, false).into_string();
        assert_eq!(occurrences(&svg, r#"class="bar""#), 6);
        assert_eq!(occurrences(&svg, r#"class="swatch""#), 2);
        assert!(svg.contains(">Production</text>") && svg.contains(">Testing</text>"));
        // The second series is hatched, not just another colour.
        assert!(svg.contains(r#"<pattern id="c1-pattern-1""#));
        assert!(svg.contains(r#"fill="url(#c1-pattern-1)""#));
        for label in ["under 1 h", "1–6 h", "6 h or more"] {
            assert!(svg.contains(&format!(">{label}</text>")), "{label}");
        }
        assert!(svg.contains(">9</text>") && svg.contains(">7</text>"));
    }

    #[test]
    fn columns_without_categories_say_so() {
        let series = vec![Series { name: "Succeeded".into(), values: vec![] }];
        let svg = columns(&chart(), &[], &series, false).into_string();
        assert!(svg.contains("No data in this period."));
        assert_eq!(occurrences(&svg, r#"class="bar""#), 0);
    }

    #[test]
    fn stacked_columns_skip_empty_segments_and_write_totals() {
        let categories: Vec<String> = vec!["2026-01".into(), "2026-02".into()];
        let series = vec![
            Series { name: "bio".into(), values: vec![3.0, 0.0] },
            Series { name: "physics".into(), values: vec![4.0, 2.0] },
        ];
        let svg = columns(&chart(), &categories, &series, true).into_string();
        assert_eq!(occurrences(&svg, r#"class="bar""#), 3);
        assert!(svg.contains(">7</text>") && svg.contains(">2</text>"));
        assert!(svg.contains("<title>physics, 2026-01: 4</title>"));
    }

    #[test]
    fn lines_mark_the_peak_the_ticks_and_dash_all_but_the_first() {
        let labels: Vec<String> = ["2026-01-31", "2026-02-01", "2026-02-02"].map(String::from).to_vec();
        let series = vec![
            Series { name: "Created".into(), values: vec![1.0, 6.0, 2.0] },
            Series { name: "7-day average".into(), values: vec![1.0, 3.5, 3.0] },
        ];
        let svg = line(&chart(), &labels, &[false, true, false], &series).into_string();
        assert!(svg.contains("peak 6 on 2026-02-01"));
        assert_eq!(occurrences(&svg, r#"class="label""#), 1);
        assert_eq!(occurrences(&svg, r#"class="line""#), 2);
        assert_eq!(occurrences(&svg, r#"class="swatch""#), 2);
        assert_eq!(occurrences(&svg, r#"stroke-dasharray="6 3""#), 2, "the average's line and its legend swatch");
        assert!(svg.contains(">Created</text>") && svg.contains(">7-day average</text>"));
        let empty = line(&chart(), &[], &[], &series[..1]).into_string();
        assert!(!empty.contains("peak") && !empty.contains(r#"class="line""#));
    }

    #[test]
    fn scales_are_round() {
        assert_eq!(scale(0.0), (1.0, 1.0));
        assert_eq!(scale(7.0), (10.0, 2.5));
        assert_eq!(scale(120.0), (200.0, 50.0));
        assert_eq!(scale(2.2), (2.5, 0.5));
        assert_eq!(count(1234567), "1\u{202f}234\u{202f}567");
        assert_eq!(short("a-very-long-group-name-indeed-yes"), "a-very-long-group-name-in…");
    }
}
