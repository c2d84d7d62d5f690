//! `ostler analyze plot`: the boot chart, an SVG written by hand. One row per service, sorted by
//! the time it started; each bar runs from when the service was asked for (light: waiting for
//! its dependencies) through when it started (strong: starting) to when it was ready. Failures
//! are red, the critical chain of the service ready last is outlined, and the x axis is in
//! milliseconds since boot.

use super::chain::{last_ready, walk};
use super::{human, start_to_ready, unwell_dependencies, Outcome};
use ostler_core::timeline::Entry;
use std::fmt::Write as _;

/// Asked → started: waiting for dependencies.
pub const WAITING: &str = "#bcd4f0";
/// Started → ready.
pub const STARTING: &str = "#1f5fbf";
/// Failed or timed out: from when it started (or was asked) to the end of the timeline.
pub const FAILED: &str = "#d62728";
/// Skipped, or never ready for a reason the timeline does not name.
pub const SKIPPED: &str = "#a0a0a0";
/// The outline of the critical chain's bars.
pub const CHAIN: &str = "#ff8c00";
const STRIPE: &str = "#f4f4f4";
const GRID: &str = "#d9d9d9";
const TEXT: &str = "#222222";
const FAINT_TEXT: &str = "#666666";

/// The width of the time axis, whatever the boot's length: the scale adapts.
const CHART_WIDTH: f64 = 1200.0;
/// About how many gridlines the axis gets (the step is 1, 2 or 5 times a power of ten).
const TARGET_TICKS: f64 = 12.0;
/// The finest gridline step, in ms.
const MIN_STEP: f64 = 1.0;
const MARGIN: f64 = 16.0;
const ROW_HEIGHT: f64 = 20.0;
const BAR_HEIGHT: f64 = 14.0;
/// Where the first row starts: below the title, the summary, the legend and the top labels.
const CHART_TOP: f64 = 112.0;
/// Below the last row: the bottom labels and the axis title.
const CHART_BOTTOM_ROOM: f64 = 44.0;
const FONT_SIZE: f64 = 12.0;
/// Rough advance of a character at FONT_SIZE, to size the columns (wide characters count more).
const CHAR_WIDTH: f64 = 7.5;
const WIDE_CHAR_WIDTH: f64 = 13.0;
/// Longer names and results are cut (with `…`) in the chart; tooltips keep them whole.
const MAX_LABEL_CHARS: usize = 60;
/// A bar's strong part is drawn at least this wide, so an instant start still shows.
const MIN_BAR: f64 = 1.0;
/// How far the critical chain's outline stands off its bar.
const OUTLINE_GAP: f64 = 2.0;

/// The boot chart of `entries` as an SVG document.
pub fn plot(entries: &[Entry]) -> String {
    let layout = Layout::new(entries);
    layout.render()
}

/// The time axis: which milliseconds the chart shows, and where.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Axis {
    /// The time at the chart's left edge (a gridline).
    pub start: f64,
    /// The time at its right edge (a gridline).
    pub end: f64,
    /// The gap between gridlines.
    pub step: f64,
    /// Pixels per millisecond.
    pub scale: f64,
}

impl Axis {
    /// An axis from gridline to gridline around `low..=high`.
    pub fn new(low: f64, high: f64) -> Axis {
        let span = (high - low).max(MIN_STEP).max(high.abs().max(low.abs()) * 1e-9);
        let step = nice_step(span / TARGET_TICKS);
        let start = (low / step).floor() * step;
        let mut end = (high / step).ceil() * step;
        if end <= start {
            end = start + step;
        }
        let scale = CHART_WIDTH / (end - start);
        if !scale.is_finite() || scale <= 0.0 || !start.is_finite() {
            return Axis { start: 0.0, end: CHART_WIDTH, step: CHART_WIDTH / TARGET_TICKS, scale: 1.0 };
        }
        Axis { start, end, step, scale }
    }

    /// Pixels from the chart's left edge to time `t`.
    pub fn x(&self, t: f64) -> f64 {
        (t - self.start) * self.scale
    }

    /// The gridlines' times.
    pub fn ticks(&self) -> Vec<f64> {
        let count = ((self.end - self.start) / self.step).round().clamp(0.0, 100.0) as usize;
        (0..=count).map(|i| self.start + i as f64 * self.step).collect()
    }
}

/// The smallest of 1, 2, 5 × 10^k (at least [`MIN_STEP`]) that is ≥ `raw`.
fn nice_step(raw: f64) -> f64 {
    // NaN fails this test too.
    if raw.is_nan() || raw <= MIN_STEP {
        return MIN_STEP;
    }
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * power).find(|&s| s >= raw).unwrap_or(10.0 * power)
}

/// One part of a bar.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Segment {
    /// Left edge, in pixels from the chart's left edge.
    pub x: f64,
    pub width: f64,
    pub colour: &'static str,
}

/// One service's row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Row<'a> {
    pub entry: &'a Entry,
    pub segments: Vec<Segment>,
    /// The text after the bar: its start-to-ready time, or what happened.
    pub label: String,
    /// On the critical chain of the service ready last.
    pub on_chain: bool,
}

/// Everything the chart's drawing needs, computed from the entries.
#[derive(Debug)]
pub(crate) struct Layout<'a> {
    pub axis: Axis,
    pub rows: Vec<Row<'a>>,
    /// Left edge of the chart area (after the name column).
    pub chart_left: f64,
    pub width: f64,
    pub height: f64,
    /// The service ready last, whose chain is outlined.
    last: Option<&'a Entry>,
    /// The first time of all (a service asked).
    first: f64,
}

impl<'a> Layout<'a> {
    pub fn new(entries: &'a [Entry]) -> Layout<'a> {
        let times = entries.iter().flat_map(|e| [Some(e.asked), e.started, e.ready]).flatten();
        let (first, end) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)));
        let (first, end) = if first.is_finite() && end.is_finite() { (first, end) } else { (0.0, 0.0) };
        let axis = Axis::new(first, end);
        let last = last_ready(entries);
        let chain: Vec<&str> =
            last.map(|l| walk(entries, l).iter().map(|e| e.name.as_str()).collect()).unwrap_or_default();

        let mut sorted: Vec<&Entry> = entries.iter().collect();
        sorted.sort_by(|a, b| {
            let start = |e: &Entry| e.started.unwrap_or(e.asked);
            start(a).total_cmp(&start(b)).then_with(|| a.asked.total_cmp(&b.asked)).then_with(|| a.name.cmp(&b.name))
        });
        let rows: Vec<Row> = sorted
            .into_iter()
            .map(|entry| Row {
                entry,
                segments: segments(entry, &axis, end),
                label: label(entries, entry),
                on_chain: chain.contains(&entry.name.as_str()),
            })
            .collect();

        let name_column = rows.iter().map(|r| text_width(&cut(&r.entry.name))).fold(110.0, f64::max) + 12.0;
        let label_room = rows.iter().map(|r| text_width(&r.label)).fold(60.0, f64::max) + 16.0;
        let chart_left = MARGIN + name_column;
        let legend = legend_items(last).iter().map(|(_, text)| 26.0 + text_width(text)).sum::<f64>();
        let width = (chart_left + CHART_WIDTH + label_room + MARGIN).max(2.0 * MARGIN + legend).ceil();
        let height = (CHART_TOP + rows.len() as f64 * ROW_HEIGHT + CHART_BOTTOM_ROOM + MARGIN).ceil();
        Layout { axis, rows, chart_left, width, height, last, first }
    }

    /// The y of row `index`'s top.
    pub fn row_top(index: usize) -> f64 {
        CHART_TOP + index as f64 * ROW_HEIGHT
    }

    pub fn render(&self) -> String {
        let mut svg = String::with_capacity(1024 + self.rows.len() * 600);
        let (w, h) = (self.width, self.height);
        let _ = writeln!(svg, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="{FONT_SIZE}" fill="{TEXT}">"#
        );
        let _ = writeln!(svg, "<title>ostler boot chart</title>");
        let _ = writeln!(svg, r##"<rect width="{w}" height="{h}" fill="#ffffff"/>"##);
        self.render_header(&mut svg);
        self.render_grid(&mut svg);
        self.render_rows(&mut svg);
        svg.push_str("</svg>\n");
        svg
    }

    fn render_header(&self, svg: &mut String) {
        let _ =
            writeln!(svg, r#"<text x="{MARGIN}" y="28" font-size="18" font-weight="bold">ostler boot chart</text>"#);
        let failed = self.rows.iter().filter(|r| Outcome::of(r.entry).is_failure()).count();
        let skipped = self.rows.iter().filter(|r| Outcome::of(r.entry) == Outcome::Skipped).count();
        let services = if self.rows.len() == 1 { "service" } else { "services" };
        let mut summary = format!("{} {services}, first asked @{}", self.rows.len(), human(self.first));
        if let Some(last) = self.last {
            let ready = last.ready.unwrap_or(self.first);
            let _ = write!(
                summary,
                ", last ready: {} @{} ({} after the first asked)",
                last.name,
                human(ready),
                human(ready - self.first)
            );
        }
        if failed > 0 {
            let _ = write!(summary, ", {failed} failed or timed out");
        }
        if skipped > 0 {
            let _ = write!(summary, ", {skipped} skipped");
        }
        let _ = writeln!(svg, r#"<text x="{MARGIN}" y="48">{}</text>"#, escape(&summary));
        let mut x = MARGIN;
        let y = 64.0;
        for (swatch, text) in legend_items(self.last) {
            match swatch {
                Swatch::Fill(colour) => {
                    let _ = writeln!(svg, r#"<rect x="{x}" y="{y}" width="18" height="12" fill="{colour}"/>"#);
                }
                Swatch::Outline => {
                    let _ = writeln!(
                        svg,
                        r#"<rect x="{}" y="{}" width="16" height="10" fill="none" stroke="{CHAIN}" stroke-width="2"/>"#,
                        x + 1.0,
                        y + 1.0
                    );
                }
            }
            let _ = writeln!(svg, r#"<text x="{}" y="{}">{}</text>"#, x + 22.0, y + 10.0, escape(&text));
            x += 26.0 + text_width(&text);
        }
    }

    fn render_grid(&self, svg: &mut String) {
        let bottom = Layout::row_top(self.rows.len());
        let _ = writeln!(svg, r#"<g shape-rendering="crispEdges">"#);
        for index in (1..self.rows.len()).step_by(2) {
            let _ = writeln!(
                svg,
                r#"<rect x="{MARGIN}" y="{}" width="{}" height="{ROW_HEIGHT}" fill="{STRIPE}"/>"#,
                Layout::row_top(index),
                self.width - 2.0 * MARGIN
            );
        }
        for tick in self.axis.ticks() {
            let x = fmt(self.chart_left + self.axis.x(tick));
            let _ = writeln!(
                svg,
                r#"<line class="grid" x1="{x}" y1="{}" x2="{x}" y2="{}" stroke="{GRID}" stroke-width="1"/>"#,
                CHART_TOP - 6.0,
                bottom + 4.0
            );
        }
        let _ = writeln!(svg, "</g>");
        let _ = writeln!(svg, r#"<g font-size="11" fill="{FAINT_TEXT}" text-anchor="middle">"#);
        for tick in self.axis.ticks() {
            let x = fmt(self.chart_left + self.axis.x(tick));
            let label = format!("{tick:.0}");
            let _ = writeln!(svg, r#"<text class="tick" x="{x}" y="{}">{label}</text>"#, CHART_TOP - 10.0);
            let _ = writeln!(svg, r#"<text x="{x}" y="{}">{label}</text>"#, bottom + 18.0);
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end">ms since boot</text>"#,
            fmt(self.chart_left - 30.0),
            CHART_TOP - 10.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}">milliseconds since boot</text>"#,
            fmt(self.chart_left + CHART_WIDTH / 2.0),
            bottom + 36.0
        );
        let _ = writeln!(svg, "</g>");
    }

    fn render_rows(&self, svg: &mut String) {
        for (index, row) in self.rows.iter().enumerate() {
            let top = Layout::row_top(index);
            let bar_top = top + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;
            let text_y = top + ROW_HEIGHT / 2.0 + 4.0;
            let _ = writeln!(svg, "<g>");
            let _ = writeln!(svg, "<title>{}</title>", escape(&tooltip(row.entry)));
            let weight = if row.on_chain { r#" font-weight="bold""# } else { "" };
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{text_y}" text-anchor="end"{weight}>{}</text>"#,
                fmt(self.chart_left - 6.0),
                escape(&cut(&row.entry.name))
            );
            let _ = writeln!(svg, r#"<g shape-rendering="crispEdges">"#);
            for segment in &row.segments {
                let _ = writeln!(
                    svg,
                    r#"<rect x="{}" y="{bar_top}" width="{}" height="{BAR_HEIGHT}" fill="{}"/>"#,
                    fmt(self.chart_left + segment.x),
                    fmt(segment.width),
                    segment.colour
                );
            }
            let left = row.segments.iter().map(|s| s.x).fold(f64::INFINITY, f64::min);
            let right = row.segments.iter().map(|s| s.x + s.width).fold(f64::NEG_INFINITY, f64::max);
            if row.on_chain && left.is_finite() && right.is_finite() {
                let _ = writeln!(
                    svg,
                    r#"<rect class="chain" x="{}" y="{}" width="{}" height="{}" fill="none" stroke="{CHAIN}" stroke-width="2"/>"#,
                    fmt(self.chart_left + left - OUTLINE_GAP),
                    bar_top - OUTLINE_GAP,
                    fmt(right - left + 2.0 * OUTLINE_GAP),
                    BAR_HEIGHT + 2.0 * OUTLINE_GAP
                );
            }
            let _ = writeln!(svg, "</g>");
            let label_x = self.chart_left + if right.is_finite() { right } else { 0.0 } + OUTLINE_GAP + 4.0;
            let _ = writeln!(svg, r#"<text x="{}" y="{text_y}">{}</text>"#, fmt(label_x), escape(&row.label));
            let _ = writeln!(svg, "</g>");
        }
    }
}

/// The parts of a service's bar. `end` is the timeline's last time: where the red part of a
/// service that never became ready stops (the timeline does not say when it gave up).
fn segments(entry: &Entry, axis: &Axis, end: f64) -> Vec<Segment> {
    let outcome = Outcome::of(entry);
    let span = |from: f64, to: f64, colour: &'static str, min: f64| Segment {
        x: axis.x(from),
        width: ((to - from) * axis.scale).max(min),
        colour,
    };
    if outcome == Outcome::Skipped {
        return vec![span(entry.asked, entry.asked, SKIPPED, 6.0)];
    }
    let mut parts = Vec::new();
    match (entry.started, entry.ready) {
        (Some(started), Some(ready)) => {
            if started > entry.asked {
                parts.push(span(entry.asked, started, WAITING, 0.0));
            }
            let colour = if outcome.is_failure() { FAILED } else { STARTING };
            parts.push(span(started.max(entry.asked), ready, colour, MIN_BAR));
        }
        (None, Some(ready)) => parts.push(span(entry.asked, ready, WAITING, MIN_BAR)),
        (Some(started), None) => {
            if started > entry.asked {
                parts.push(span(entry.asked, started, WAITING, 0.0));
            }
            let colour = if outcome.is_failure() { FAILED } else { SKIPPED };
            parts.push(span(started.max(entry.asked), end, colour, MIN_BAR));
        }
        (None, None) => {
            let colour = if outcome.is_failure() { FAILED } else { SKIPPED };
            parts.push(span(entry.asked, end, colour, MIN_BAR));
        }
    }
    parts
}

/// The text after a bar.
fn label(entries: &[Entry], entry: &Entry) -> String {
    let outcome = Outcome::of(entry);
    let text = match (start_to_ready(entry), outcome) {
        (Some(duration), Outcome::Ok) => human(duration),
        (Some(duration), _) => format!("{} ({})", human(duration), entry.result.trim()),
        (None, Outcome::Skipped) => {
            let unwell = unwell_dependencies(entries, entry);
            if unwell.is_empty() {
                "skipped".to_string()
            } else {
                format!("skipped: {} did not come up", unwell.join(", "))
            }
        }
        (None, Outcome::Failed(_) | Outcome::Timeout) => format!("{}, never ready", entry.result.trim()),
        (None, Outcome::Ok | Outcome::Other(_)) if entry.ready.is_some() => "ready, no start time".to_string(),
        (None, _) => format!("{}, not ready", entry.result.trim()),
    };
    cut(&text)
}

/// Everything the timeline says of a service, for the row's tooltip.
fn tooltip(entry: &Entry) -> String {
    let at = |t: Option<f64>| t.map_or_else(|| "-".to_string(), |t| format!("@{}", human(t)));
    let mut text = format!(
        "{} ({}): asked {}, started {}, ready {}; {}",
        entry.name,
        entry.kind,
        at(Some(entry.asked)),
        at(entry.started),
        at(entry.ready),
        entry.result.trim()
    );
    if let Some(started) = entry.started {
        let _ = write!(text, "; waited {}", human(started - entry.asked));
    }
    if let Some(duration) = start_to_ready(entry) {
        let _ = write!(text, ", started in {}", human(duration));
    }
    if !entry.dependencies.is_empty() {
        let _ = write!(text, "; dependencies: {}", entry.dependencies.join(", "));
    }
    text
}

enum Swatch {
    Fill(&'static str),
    Outline,
}

fn legend_items(last: Option<&Entry>) -> Vec<(Swatch, String)> {
    let mut items = vec![
        (Swatch::Fill(WAITING), "waiting for dependencies (asked → started)".to_string()),
        (Swatch::Fill(STARTING), "starting (started → ready)".to_string()),
        (Swatch::Fill(FAILED), "failed or timed out (never ready)".to_string()),
        (Swatch::Fill(SKIPPED), "skipped".to_string()),
    ];
    if let Some(last) = last {
        items.push((Swatch::Outline, format!("critical chain of {}", cut(&last.name))));
    }
    items
}

/// `text` cut to [`MAX_LABEL_CHARS`] characters.
fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_LABEL_CHARS {
        return text.to_string();
    }
    let mut short: String = text.chars().take(MAX_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// About how wide `text` is drawn, in pixels.
fn text_width(text: &str) -> f64 {
    text.chars().map(|c| if c.is_ascii() { CHAR_WIDTH } else { WIDE_CHAR_WIDTH }).sum()
}

/// A coordinate, to a tenth of a pixel.
fn fmt(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == rounded.trunc() {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// Text safe inside an element or an attribute: the five XML specials escaped, and characters
/// XML 1.0 forbids (control characters, U+FFFE, U+FFFF) replaced by U+FFFD.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{diamond, entry};
    use super::*;

    #[test]
    fn the_axis_runs_from_gridline_to_gridline() {
        let axis = Axis::new(100.0, 215.5);
        assert_eq!((axis.start, axis.end, axis.step), (100.0, 220.0, 10.0));
        assert_eq!(axis.scale, 10.0);
        assert_eq!(axis.ticks().len(), 13);
        let tiny = Axis::new(5.0, 5.0);
        assert_eq!((tiny.start, tiny.end, tiny.step), (5.0, 6.0, 1.0));
        let long = Axis::new(1234.0, 31_000.0);
        assert_eq!((long.start, long.end, long.step), (0.0, 35_000.0, 5000.0));
        for (low, high) in [(f64::MAX / 2.0, f64::MAX), (-5.0, 1e300), (1e300, 1e300)] {
            let axis = Axis::new(low, high);
            assert!(axis.scale.is_finite() && axis.scale > 0.0 && axis.ticks().len() <= 101, "{axis:?}");
        }
    }

    #[test]
    fn nice_steps() {
        assert_eq!(nice_step(0.3), 1.0);
        assert_eq!(nice_step(11.5), 20.0);
        assert_eq!(nice_step(30.0), 50.0);
        assert_eq!(nice_step(50.0), 50.0);
        assert_eq!(nice_step(51.0), 100.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn bars_are_as_long_as_the_times() {
        let entries = diamond();
        let layout = Layout::new(&entries);
        let names: Vec<&str> = layout.rows.iter().map(|r| r.entry.name.as_str()).collect();
        assert_eq!(names, ["a", "f", "b", "c", "e", "d"], "sorted by start, then asked, then name");
        let row = |name: &str| layout.rows.iter().find(|r| r.entry.name == name).unwrap();
        // 10 px per ms, from 100 ms.
        assert_eq!(row("a").segments, vec![Segment { x: 0.0, width: 100.0, colour: STARTING }]);
        assert_eq!(
            row("c").segments,
            vec![
                Segment { x: 0.0, width: 100.0, colour: WAITING },
                Segment { x: 100.0, width: 1000.0, colour: STARTING }
            ]
        );
        assert_eq!(row("e").segments[1], Segment { x: 100.0, width: 1055.0, colour: FAILED }, "red to the end");
        assert_eq!(row("f").segments, vec![Segment { x: 0.0, width: 6.0, colour: SKIPPED }]);
        assert_eq!(row("c").label, "100ms");
        assert_eq!(row("e").label, "failed exit 3, never ready");
        assert_eq!(row("f").label, "skipped: e did not come up");
        let chain: Vec<&str> = layout.rows.iter().filter(|r| r.on_chain).map(|r| r.entry.name.as_str()).collect();
        assert_eq!(chain, ["a", "c", "d"]);
    }

    #[test]
    fn the_picture_grows_with_the_services() {
        let one = vec![entry("only", 10.0, Some(10.0), Some(12.0), "ok", "")];
        let many: Vec<Entry> = (0..300)
            .map(|i| {
                let t = i as f64 * 10.0;
                entry(&format!("service-{i}"), 0.0, Some(t), Some(t + 25.0), "ok", "")
            })
            .collect();
        let (small, big) = (Layout::new(&one), Layout::new(&many));
        assert!(small.height < 250.0 && big.height > 300.0 * ROW_HEIGHT, "{} {}", small.height, big.height);
        assert!(small.width >= CHART_WIDTH && small.width < 1600.0, "{}", small.width);
        let svg = plot(&many);
        assert_eq!(svg.matches("<text class=\"tick\"").count(), big.axis.ticks().len());
        assert!(svg.contains(&format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}""#,
            big.width, big.height
        )));
    }

    #[test]
    fn names_are_escaped_and_the_document_is_balanced() {
        let mut entries = diamond();
        entries[0].name = "<a&'\"\u{1}>".into();
        entries[1].dependencies = vec![entries[0].name.clone()];
        let svg = plot(&entries);
        assert!(svg.contains("&lt;a&amp;&apos;&quot;\u{FFFD}&gt;"), "{svg}");
        assert!(!svg.contains("<a&") && !svg.contains('\u{1}'));
        assert!(svg.starts_with("<?xml") && svg.trim_end().ends_with("</svg>"));
        // Every element opened is closed: count opening and closing tags of the containers.
        for tag in ["g", "svg", "text", "title"] {
            let opened = svg.matches(&format!("<{tag}>")).count() + svg.matches(&format!("<{tag} ")).count();
            assert_eq!(opened, svg.matches(&format!("</{tag}>")).count(), "{tag}");
        }
    }

    #[test]
    fn odd_entries_do_not_break_the_chart() {
        assert!(plot(&[]).contains("0 services"));
        let entries = vec![
            entry("backwards", 50.0, Some(40.0), Some(30.0), "ok", ""),
            entry("no-start", 10.0, None, Some(20.0), "ok", ""),
            entry("spawn-failed", 10.0, None, None, "failed spawn: ENOENT", ""),
            entry("limbo", 10.0, Some(11.0), None, "starting", ""),
            entry(&"x".repeat(500), 10.0, Some(11.0), Some(12.0), "ok", ""),
        ];
        let layout = Layout::new(&entries);
        for row in &layout.rows {
            for segment in &row.segments {
                assert!(segment.x.is_finite() && segment.width >= 0.0, "{row:?}");
            }
        }
        assert!(layout.width < 2500.0, "long names are cut: {}", layout.width);
        let svg = layout.render();
        assert!(svg.contains("failed spawn: ENOENT, never ready") && svg.contains("starting, not ready"));
    }
}
