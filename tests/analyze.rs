//! `ostler analyze`: blame, critical-chain and plot run by the real binary on a timeline with a
//! known dependency graph and known times. The chart is checked as XML (xmllint) and as
//! pixels: rsvg-convert rasterises it, and the bars' colours and lengths are measured.

mod util;

use std::path::Path;
use std::process::Command;
use util::*;

/// Eleven services (times in ms since boot) and one line that is not an entry:
///
/// ```text
/// mount ─ syslog ─ cron        udev ─ net ─┬─ db ────┬─ webapp
///    └──────────────────────────────────── db  cache ┘
///                                          ├─ cache ─┴─ report (skipped: mail failed)
///                                          ├─ mail (failed)
///                                          └─ ntp (timeout)
/// ```
const TIMELINE: &str = "\
mount\toneshot\t1000.000\t1000.000\t1050.000\tok\t-
udev\tlongrun\t1000.000\t1002.000\t1302.000\tok\t-
syslog\tlongrun\t1000.000\t1050.000\t1070.000\tok\tmount
cron\tlongrun\t1000.000\t1070.000\t1075.000\tok\tsyslog
net\toneshot\t1000.000\t1302.000\t1502.000\tok\tudev
ntp\tlongrun\t1000.000\t1502.000\t-\ttimeout\tnet
db\tlongrun\t1000.000\t1502.000\t2702.000\tok\tnet,mount
cache\tlongrun\t1000.000\t1502.000\t1602.000\tok\tnet
mail\tlongrun\t1000.000\t1502.000\t-\tfailed exit 3\tnet
report\toneshot\t1000.000\t-\t-\tskipped\tmail,cache
this line is not an entry
webapp\tlongrun\t1000.000\t2702.000\t3102.000\tok\tdb,cache
";

/// The colours of the chart's legend (stage2/src/analyze/plot.rs).
const WAITING: [u8; 3] = [0xbc, 0xd4, 0xf0];
const STARTING: [u8; 3] = [0x1f, 0x5f, 0xbf];
const FAILED: [u8; 3] = [0xd6, 0x27, 0x28];
const CHAIN: [u8; 3] = [0xff, 0x8c, 0x00];

fn analyze(args: &[&str]) -> (i32, String, String) {
    cmd(Command::new(ostler()).arg("analyze").args(args))
}

fn timeline(tree: &TempTree) -> String {
    tree.file("timeline", TIMELINE).to_string_lossy().into_owned()
}

#[test]
fn blame_lists_the_slowest_first_and_says_what_failed() {
    let tree = TempTree::new("analyze-blame");
    let (code, out, err) = analyze(&["blame", "--timeline", &timeline(&tree)]);
    assert_eq!(code, 0, "{err}");
    let expected = concat!(
        " 1.200s db\n",
        "  400ms webapp\n",
        "  300ms udev\n",
        "  200ms net\n",
        "  100ms cache\n",
        "   50ms mount\n",
        "   20ms syslog\n",
        "    5ms cron\n",
        " failed mail (exit 3, started @1.502s)\n",
        "timeout ntp (never ready, started @1.502s)\n",
        "skipped report (mail failed)\n",
    );
    assert_eq!(out, expected);
    assert!(
        err.contains("skipped 1 line of") && err.contains("not a timeline entry (line 11)"),
        "the bad line is counted on stderr: {err}"
    );
}

#[test]
fn critical_chain_follows_the_dependency_ready_last() {
    let tree = TempTree::new("analyze-chain");
    let path = timeline(&tree);
    let header = "The time when a service was ready is printed after \"@\", \
                  the time it took from started to ready after \"+\".\n\n";

    // Default: webapp, ready last. It waited for db (ready @2.702s) and cache (@1.602s): db.
    let (code, out, err) = analyze(&["critical-chain", "--timeline", &path]);
    assert_eq!(code, 0, "{err}");
    let expected = format!(
        "{header}webapp @3.102s +400ms\n\
         └─db @2.702s +1.200s\n\
         \x20 └─net @1.502s +200ms\n\
         \x20   └─udev @1.302s +300ms\n\
         \n\
         total: 2.102s, from the first service asked (@1.000s) to webapp ready (@3.102s)\n"
    );
    assert_eq!(out, expected);

    let (code, out, _) = analyze(&["critical-chain", "--timeline", &path, "syslog"]);
    assert_eq!(code, 0);
    assert!(out.contains("syslog @1.070s +20ms\n└─mount @1.050s +50ms\n\ntotal: 70ms"), "{out}");

    // A skipped service: the chain leads to the dependency that failed it.
    let (code, out, _) = analyze(&["critical-chain", "--timeline", &path, "report"]);
    assert_eq!(code, 0);
    assert!(out.contains("report skipped\n└─mail failed exit 3 (started @1.502s)\n  └─net @1.502s"), "{out}");
    assert!(out.ends_with("report was never ready: skipped\n"), "{out}");

    let (code, out, err) = analyze(&["critical-chain", "--timeline", &path, "nosuch"]);
    assert_eq!((code, out.as_str()), (100, ""));
    assert!(err.contains("no service nosuch in the timeline; it has: cache, cron, db,"), "{err}");
}

#[test]
fn a_missing_or_empty_timeline_says_who_writes_it() {
    let tree = TempTree::new("analyze-missing");
    let missing = tree.join("nothing-here");
    let empty = tree.file("empty", "");
    for path in [&missing, &empty] {
        for sub in ["blame", "critical-chain", "plot"] {
            let (code, out, err) = analyze(&[sub, "--timeline", &path.to_string_lossy()]);
            assert_eq!((code, out.as_str()), (111, ""), "{sub} {}", path.display());
            assert_eq!(
                err,
                format!(
                    "ostler analyze: no timeline at {}: the service manager writes it when it starts \
                     services (ostler rc change, or stage 2 at boot)\n",
                    path.display()
                )
            );
        }
    }
    let garbage = tree.file("garbage", "a\tb\nnot\tan\tentry\n");
    let (code, _, err) = analyze(&["blame", "--timeline", &garbage.to_string_lossy()]);
    assert_eq!(code, 111);
    assert!(err.contains("no service in the timeline at") && err.contains("none of its 2 lines is an entry"), "{err}");
}

#[test]
fn the_default_timeline_is_the_runtime_path_and_every_option_is_explained() {
    for sub in ["blame", "critical-chain", "plot"] {
        let (code, out, err) = analyze(&[sub, "--help"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("--timeline <FILE>") && out.contains("[default: /run/ostler/timeline]"), "{out}");
        assert!(out.contains("the service manager wrote"), "--timeline is explained: {out}");
    }
    let (_, out, _) = analyze(&["critical-chain", "--help"]);
    assert!(out.contains("[NAME]") && out.contains("Default: the service that became ready last"), "{out}");
}

#[test]
fn the_plot_is_well_formed_even_with_awkward_names() {
    let xmllint = require("xmllint");
    let tree = TempTree::new("analyze-xml");
    let awkward = TIMELINE.replace("cache", "<cache & \"co\">").replace("cron", "crön'");
    let path = tree.file("timeline", awkward);
    let (code, svg, err) = analyze(&["plot", "--timeline", &path.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let file = tree.file("boot.svg", &svg);
    let (code, _, err) = cmd(Command::new(&xmllint).arg("--noout").arg(&file));
    assert_eq!(code, 0, "xmllint: {err}");
    assert!(svg.contains("&lt;cache &amp; &quot;co&quot;&gt;") && svg.contains("crön&apos;"));
}

/// A decoded picture: RGB pixels, row by row.
struct Picture {
    width: usize,
    height: usize,
    rgb: Vec<[u8; 3]>,
}

impl Picture {
    /// Rasterises `svg` with rsvg-convert (one SVG unit, one pixel) and decodes the PNG.
    fn of(tree: &TempTree, svg: &str) -> Picture {
        let rsvg = require("rsvg-convert");
        let svg_file = tree.file("chart.svg", svg);
        let png_file = tree.join("chart.png");
        let (code, _, err) = cmd(Command::new(rsvg).arg("-o").arg(&png_file).arg(&svg_file));
        assert_eq!(code, 0, "rsvg-convert: {err}");
        Picture::decode(&png_file)
    }

    fn decode(path: &Path) -> Picture {
        let bytes = std::fs::read(path).unwrap();
        let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buffer).unwrap();
        let channels = match info.color_type {
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            other => panic!("rsvg-convert wrote a {other:?} PNG; expected RGB(A)"),
        };
        let (width, height) = (info.width as usize, info.height as usize);
        let mut rgb = Vec::with_capacity(width * height);
        for y in 0..height {
            let line = &buffer[y * info.line_size..][..width * channels];
            rgb.extend(line.chunks(channels).map(|p| [p[0], p[1], p[2]]));
        }
        Picture { width, height, rgb }
    }

    fn is(&self, x: usize, y: usize, colour: [u8; 3]) -> bool {
        let pixel = self.rgb[y * self.width + x];
        pixel.iter().zip(colour).all(|(a, b)| a.abs_diff(b) <= 3)
    }

    /// The runs of `colour` along pixel row `y`: (first x, length).
    fn runs(&self, y: usize, colour: [u8; 3]) -> Vec<(usize, usize)> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for x in 0..self.width {
            if self.is(x, y, colour) {
                match runs.last_mut() {
                    Some((start, length)) if *start + *length == x => *length += 1,
                    _ => runs.push((x, 1)),
                }
            }
        }
        runs
    }

    fn longest_run(&self, y: usize, colour: [u8; 3]) -> (usize, usize) {
        self.runs(y, colour).into_iter().max_by_key(|&(_, length)| length).unwrap_or((0, 0))
    }

    /// How many pixels of `colour` there are in rows `ys`.
    fn count(&self, ys: std::ops::Range<usize>, colour: [u8; 3]) -> usize {
        ys.map(|y| (0..self.width).filter(|&x| self.is(x, y, colour)).count()).sum()
    }
}

/// The x axis, from the SVG's tick labels (`<text class="tick" x="X" …>MS</text>`): pixels
/// for a time since boot.
fn axis_of(svg: &str) -> impl Fn(f64) -> f64 {
    let ticks: Vec<(f64, f64)> = svg
        .split(r#"<text class="tick" x=""#)
        .skip(1)
        .map(|rest| {
            let x: f64 = rest[..rest.find('"').unwrap()].parse().unwrap();
            let ms: f64 = rest[rest.find('>').unwrap() + 1..rest.find('<').unwrap()].parse().unwrap();
            (x, ms)
        })
        .collect();
    assert!(ticks.len() >= 3, "the axis has gridlines with labels: {ticks:?}");
    let ((x0, t0), (x1, t1)) = (ticks[0], ticks[ticks.len() - 1]);
    let scale = (x1 - x0) / (t1 - t0);
    move |t| x0 + (t - t0) * scale
}

/// The baseline y of the name label of service `name` (right-aligned, left of its bar).
fn label_y(svg: &str, name: &str) -> usize {
    let end = svg
        .find(&format!(r#"text-anchor="end">{name}</text>"#))
        .or_else(|| svg.find(&format!(r#"text-anchor="end" font-weight="bold">{name}</text>"#)));
    let start = svg[..end.unwrap_or_else(|| panic!("no label for {name}"))].rfind("<text").unwrap();
    let tag = &svg[start..];
    let y = &tag[tag.find(" y=\"").unwrap() + 4..];
    y[..y.find('"').unwrap()].parse::<f64>().unwrap() as usize
}

#[test]
fn the_plot_rasterised_shows_each_service_as_long_as_it_took() {
    let tree = TempTree::new("analyze-plot");
    let (code, svg, err) = analyze(&["plot", "--timeline", &timeline(&tree)]);
    assert_eq!(code, 0, "{err}");
    let picture = Picture::of(&tree, &svg);
    let x = axis_of(&svg);
    let px_per_ms = x(1001.0) - x(1000.0);
    // A service's row is 20 px high, its bar the middle 14; the label's baseline is 4 px below
    // the bar's middle.
    let middle = |name: &str| label_y(&svg, name) - 4;
    let bar = |name: &str| label_y(&svg, name) - 11..label_y(&svg, name) + 3;
    let row = |name: &str| label_y(&svg, name) - 14..label_y(&svg, name) + 6;

    // db, the slowest: the longest strong run of the whole chart, 1200 ms long, from 1502 ms.
    let (start, length) = picture.longest_run(middle("db"), STARTING);
    let expected = 1200.0 * px_per_ms;
    assert!((length as f64 - expected).abs() <= 3.0, "db's bar is {length} px, {expected:.1} expected");
    assert!((start as f64 - x(1502.0)).abs() <= 2.0, "db starts at {start}, {:.1} expected", x(1502.0));
    let longest_anywhere = (0..picture.height).map(|y| (picture.longest_run(y, STARTING).1, y)).max().unwrap();
    assert!(bar("db").contains(&longest_anywhere.1), "the longest bar is db's row: {longest_anywhere:?}");

    // Shorter ones, to scale too: webapp 400 ms after waiting 1702 ms, cache 100 ms.
    let (start, length) = picture.longest_run(middle("webapp"), STARTING);
    assert!((length as f64 - 400.0 * px_per_ms).abs() <= 3.0, "webapp: {length} px");
    assert!((start as f64 - x(2702.0)).abs() <= 2.0, "webapp starts at {start}");
    let (start, length) = picture.longest_run(middle("webapp"), WAITING);
    assert!((start as f64 - x(1000.0)).abs() <= 2.0, "webapp was asked at 1000 ms: {start}");
    assert!((length as f64 - 1702.0 * px_per_ms).abs() <= 4.0, "webapp waited {length} px");
    let (_, length) = picture.longest_run(middle("cache"), STARTING);
    assert!((length as f64 - 100.0 * px_per_ms).abs() <= 3.0, "cache: {length} px");

    // mail failed and ntp timed out: red from when they started to the end of the timeline;
    // the services that came up have no red at all.
    for name in ["mail", "ntp"] {
        let (start, length) = picture.longest_run(middle(name), FAILED);
        assert!((start as f64 - x(1502.0)).abs() <= 2.0, "{name}'s red starts at {start}");
        assert!((length as f64 - 1600.0 * px_per_ms).abs() <= 3.0, "{name}'s red is {length} px");
        assert_eq!(picture.count(row(name), STARTING), 0, "{name} never was ready");
    }
    for name in ["db", "webapp", "cache", "cron"] {
        assert_eq!(picture.count(row(name), FAILED), 0, "{name} is not red");
    }

    // The critical chain of webapp (webapp, db, net, udev) is outlined; nothing else is.
    for name in ["webapp", "db", "net", "udev"] {
        assert!(picture.count(row(name), CHAIN) > 100, "{name} is on the chain: outlined");
    }
    for name in ["cache", "mail", "syslog", "mount"] {
        assert_eq!(picture.count(row(name), CHAIN), 0, "{name} is not on the chain");
    }

    // Rows by start time: mount (1000 ms) above udev (1002) above net (1302) above db (1502).
    let order: Vec<usize> = ["mount", "udev", "net", "db", "webapp"].iter().map(|n| label_y(&svg, n)).collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "rows sorted by start: {order:?}");
}

#[test]
fn the_plot_reads_with_one_service_and_with_three_hundred() {
    let xmllint = require("xmllint");
    let tree = TempTree::new("analyze-sizes");
    let one = tree.file("one", "only\tlongrun\t500.000\t500.500\t520.500\tok\t-\n");
    let (code, svg, err) = analyze(&["plot", "--timeline", &one.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let picture = Picture::of(&tree, &svg);
    assert!(picture.height < 250 && picture.width < 1700, "{}x{}", picture.width, picture.height);
    let x = axis_of(&svg);
    let (_, length) = picture.longest_run(label_y(&svg, "only") - 4, STARTING);
    assert!((length as f64 - (x(520.5) - x(500.5))).abs() <= 3.0, "{length}");

    // 300 services in a chain of 30 layers, each layer 10 services, 20–47 ms each.
    let mut text = String::new();
    for i in 0..300 {
        let layer = i / 10;
        let started = 1000.0 + layer as f64 * 50.0;
        let ready = started + 20.0 + (i % 10) as f64 * 3.0;
        let dependency = if layer == 0 { "-".to_string() } else { format!("service-{}", i - 10) };
        text.push_str(&format!("service-{i}\tlongrun\t1000.000\t{started:.3}\t{ready:.3}\tok\t{dependency}\n"));
    }
    let many = tree.file("many", text);
    let (code, svg, err) = analyze(&["plot", "--timeline", &many.to_string_lossy()]);
    assert_eq!(code, 0, "{err}");
    let file = tree.file("many.svg", &svg);
    let (code, _, err) = cmd(Command::new(&xmllint).arg("--noout").arg(&file));
    assert_eq!(code, 0, "xmllint: {err}");
    let picture = Picture::of(&tree, &svg);
    assert!(picture.height >= 300 * 20 && picture.width < 1700, "{}x{}", picture.width, picture.height);
    // Every row is its own: the labels are 20 px apart, in start order, and each row's bar
    // has its own length (service-299: 47 ms).
    let ys: Vec<usize> = (0..300).map(|i| label_y(&svg, &format!("service-{i}"))).collect();
    assert!(ys.windows(2).all(|w| w[1] >= w[0] + 20), "rows do not overlap");
    let x = axis_of(&svg);
    let (_, length) = picture.longest_run(ys[299] - 4, STARTING);
    assert!((length as f64 - (x(47.0) - x(0.0))).abs() <= 3.0, "service-299: {length} px");
    // Its chain (service-299, -289, … -9) is outlined: 30 rows.
    let outlined = ys.iter().filter(|&&y| picture.count(y - 14..y + 6, CHAIN) > 20).count();
    assert_eq!(outlined, 30);
}
