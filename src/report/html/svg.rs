//! The report's charts, drawn with plotters into SVG strings that `report.html` inlines.
//!
//! Every chart shares one look: time on the x axis in seconds from the start of the run,
//! the warmup shaded, the same colour for the same thing everywhere (see [`palette`]).
//! A chart that cannot be drawn becomes a short note in the page rather than an error:
//! a report with one chart missing is still worth reading.

use plotters::prelude::*;

/// Colours, chosen to stay apart for the common forms of colour blindness.
pub mod palette {
    use plotters::style::RGBColor;
    pub const BLUE: RGBColor = RGBColor(0x1f, 0x6f, 0xb5);
    pub const ORANGE: RGBColor = RGBColor(0xe0, 0x7b, 0x1a);
    pub const RED: RGBColor = RGBColor(0xc0, 0x39, 0x2b);
    pub const GREEN: RGBColor = RGBColor(0x2e, 0x8b, 0x57);
    pub const PURPLE: RGBColor = RGBColor(0x7b, 0x4f, 0xa8);
    pub const GREY: RGBColor = RGBColor(0x70, 0x70, 0x70);
    pub const TEAL: RGBColor = RGBColor(0x13, 0x8d, 0x90);
    pub const BROWN: RGBColor = RGBColor(0x8c, 0x56, 0x3c);
    pub const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
    pub const GRID: RGBColor = RGBColor(0xe6, 0xe6, 0xe6);
    pub const WARMUP: RGBColor = RGBColor(0xf2, 0xf2, 0xf2);

    /// For series without a meaning of their own (one line per request name).
    pub const CYCLE: [RGBColor; 8] = [BLUE, ORANGE, GREEN, PURPLE, TEAL, BROWN, RED, GREY];
}

/// One line of a chart.
pub struct Line {
    pub label: String,
    pub color: RGBColor,
    pub points: Vec<(f64, f64)>,
    /// Drawn dashed: thresholds and plans, as opposed to measurements.
    pub dashed: bool,
}

const WIDTH: u32 = 960;
const HEIGHT: u32 = 300;

/// A time chart: `lines` over seconds from the run's start, the first `warmup_s` shaded.
/// Spans of time every time chart marks: the warmup, and the fault windows of a run that
/// injected faults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bands {
    pub warmup_s: f64,
    /// `(start, end)` in seconds from the start of the run.
    pub faults: Vec<(f64, f64)>,
}

pub const FAULT: RGBColor = RGBColor(0xf9, 0xd6, 0xd2);

/// The static SVG (what prints, and what a page without script shows) in a holder that
/// carries the same data for the page's script, which redraws it with hover values and
/// zoom (`crate::web`).
pub fn time_chart(title: &str, y_desc: &str, bands: &Bands, lines: &[Line]) -> String {
    let svg = static_time_chart(title, y_desc, bands, lines);
    let hex = |c: RGBColor| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2);
    let mut shaded = Vec::new();
    if bands.warmup_s > 0.0 {
        shaded.push(serde_json::json!({ "from": 0.0, "to": bands.warmup_s, "color": hex(palette::WARMUP), "label": "warmup" }));
    }
    for &(a, b) in &bands.faults {
        shaded.push(
            serde_json::json!({ "from": a, "to": b, "color": hex(FAULT), "label": "fault window" }),
        );
    }
    let spec = serde_json::json!({
        "title": title,
        "y": y_desc,
        "x": "seconds from start",
        "bands": shaded,
        "lines": lines.iter().map(|l| serde_json::json!({
            "label": l.label,
            "color": hex(l.color),
            "dashed": l.dashed,
            "points": l.points.iter().filter(|p| p.0.is_finite() && p.1.is_finite()).map(|p| [p.0, p.1]).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    format!(
        "<div class=\"lc-live\" data-chart=\"{}\">{svg}</div>",
        crate::report::escape::esc(&spec.to_string())
    )
}

fn static_time_chart(title: &str, y_desc: &str, bands: &Bands, lines: &[Line]) -> String {
    let warmup_s = bands.warmup_s;
    let (mut x0, mut x1, mut y1) = (0.0f64, 1.0f64, 0.0f64);
    for l in lines {
        for &(x, y) in &l.points {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    }
    let y1 = if y1 > 0.0 { y1 * 1.12 } else { 1.0 };
    draw(title, |root| {
        let mut chart = cartesian(root, title, x0..x1, y1)?;
        if warmup_s > 0.0 {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (warmup_s.min(x1), y1)],
                    palette::WARMUP.filled(),
                )))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(bands.faults.iter().map(|&(a, b)| {
                Rectangle::new([(a.max(x0), 0.0), (b.min(x1).max(a), y1)], FAULT.filled())
            }))
            .map_err(|e| e.to_string())?;
        let desc = match (warmup_s > 0.0, bands.faults.is_empty()) {
            (true, true) => "seconds from start (shaded: warmup)",
            (true, false) => "seconds from start (shaded: warmup; red: fault window)",
            (false, false) => "seconds from start (red: fault window)",
            (false, true) => "seconds from start",
        };
        mesh(&mut chart)
            .x_desc(desc)
            .y_desc(y_desc)
            .y_label_formatter(&|v| short_number(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        series(&mut chart, lines)
    })
}

/// Latency against percentile on a "nines" axis (50%, 90%, 99%, 99.9%, …), as HdrHistogram
/// plots it: `points` are (percentile 0..100, ms).
pub fn spectrum_chart(title: &str, lines: &[Line]) -> String {
    // x = -log10(1 - p): 90% → 1, 99% → 2, 99.9% → 3.
    let nines = |p: f64| -(1.0 - (p / 100.0).min(0.999_999)).log10();
    let lines: Vec<Line> = lines
        .iter()
        .map(|l| Line {
            label: l.label.clone(),
            color: l.color,
            points: l.points.iter().map(|&(p, v)| (nines(p), v)).collect(),
            dashed: l.dashed,
        })
        .collect();
    let x1 = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0))
        .fold(2.0f64, f64::max)
        .ceil();
    let y1 = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let y1 = if y1 > 0.0 { y1 * 1.12 } else { 1.0 };
    draw(title, |root| {
        let mut chart = cartesian(root, title, 0.0..x1, y1)?;
        mesh(&mut chart)
            .x_labels(x1 as usize + 1)
            .x_label_formatter(&|x| nines_label(*x))
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .y_label_formatter(&|v| short_number(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        series(&mut chart, &lines)
    })
}

/// A chart of `lines` over a plain x axis (`x_desc`), both axes from the data: what a
/// capacity search's throughput–latency curve is drawn on.
pub fn xy_chart(title: &str, x_desc: &str, y_desc: &str, lines: &[Line]) -> String {
    let points = || lines.iter().flat_map(|l| l.points.iter());
    let x0 = points().map(|p| p.0).fold(f64::INFINITY, f64::min);
    let x1 = points().map(|p| p.0).fold(0.0f64, f64::max);
    let (x0, x1) = if x0.is_finite() && x1 > x0 {
        (0.0f64.max(x0 - (x1 - x0) * 0.05), x1 + (x1 - x0) * 0.05)
    } else {
        (0.0, x1.max(1.0))
    };
    let y1 = points().map(|p| p.1).fold(0.0f64, f64::max);
    let y1 = if y1 > 0.0 { y1 * 1.12 } else { 1.0 };
    draw(title, |root| {
        let mut chart = cartesian(root, title, x0..x1, y1)?;
        mesh(&mut chart)
            .x_desc(x_desc)
            .y_desc(y_desc)
            .x_label_formatter(&|v| short_number(*v))
            .y_label_formatter(&|v| short_number(*v))
            .draw()
            .map_err(|e| e.to_string())?;
        series(&mut chart, lines)
    })
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

/// The frame every chart shares: caption, margins, label areas, y from 0.
fn cartesian<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    title: &str,
    x: std::ops::Range<f64>,
    y1: f64,
) -> Result<Chart<'a, 'b>, String> {
    ChartBuilder::on(root)
        .margin(12)
        .caption(title, ("sans-serif", 16).into_font().color(&palette::INK))
        .x_label_area_size(34)
        .y_label_area_size(64)
        .build_cartesian_2d(x, 0.0..y1)
        .map_err(|e| e.to_string())
}

/// Grid, axes and labels in the report's style; callers add the axis texts.
fn mesh<'a, 'b, 'c>(
    chart: &'c mut Chart<'a, 'b>,
) -> plotters::chart::MeshStyle<
    'a,
    'c,
    plotters::coord::types::RangedCoordf64,
    plotters::coord::types::RangedCoordf64,
    SVGBackend<'b>,
> {
    let mut m = chart.configure_mesh();
    m.light_line_style(palette::GRID)
        .bold_line_style(palette::GRID)
        .axis_style(palette::GREY)
        .label_style(("sans-serif", 12).into_font().color(&palette::INK));
    m
}

fn series<'a, 'b: 'a>(chart: &mut Chart<'a, 'b>, lines: &[Line]) -> Result<(), String> {
    for l in lines {
        let color = l.color;
        let style = color.stroke_width(2);
        let anno = if l.dashed {
            chart
                .draw_series(DashedLineSeries::new(l.points.iter().copied(), 6, 4, style))
                .map_err(|e| e.to_string())?
        } else {
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), style))
                .map_err(|e| e.to_string())?
        };
        anno.label(l.label.clone()).legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
        });
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(palette::GRID)
            .label_font(("sans-serif", 12).into_font().color(&palette::INK))
            .draw()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn draw(
    title: &str,
    body: impl FnOnce(&DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Result<(), String>,
) -> String {
    let mut svg = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| e.to_string())
            .and_then(|_| body(&root))
            .and_then(|_| root.present().map_err(|e| e.to_string()))
    };
    match result {
        // Scale with the page: the fixed size becomes the aspect ratio.
        Ok(()) => svg.replacen(
            &format!(r#"width="{WIDTH}" height="{HEIGHT}""#),
            &format!(
                r#"viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}""#,
                super::esc(title)
            ),
            1,
        ),
        Err(e) => format!(
            r#"<p class="note">chart “{}” could not be drawn: {}</p>"#,
            super::esc(title),
            super::esc(&e)
        ),
    }
}

fn short_number(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn nines_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    if x < 0.5 {
        "0%".into()
    } else {
        let s = format!("{p:.4}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_axis_labels() {
        assert_eq!(nines_label(0.0), "0%");
        assert_eq!(nines_label(1.0), "90%");
        assert_eq!(nines_label(2.0), "99%");
        assert_eq!(nines_label(3.0), "99.9%");
    }

    #[test]
    fn a_chart_is_scalable_svg() {
        let svg = time_chart(
            "rps",
            "req/s",
            &Bands {
                warmup_s: 2.0,
                faults: vec![(4.0, 6.0)],
            },
            &[Line {
                label: "achieved".into(),
                color: palette::BLUE,
                points: (0..10).map(|i| (i as f64, 100.0)).collect(),
                dashed: false,
            }],
        );
        // The static chart inside a holder that carries the same data for the script.
        let (holder, rest) = svg.split_once('>').unwrap();
        assert!(
            holder.starts_with(r#"<div class="lc-live" data-chart=""#),
            "{holder}"
        );
        assert!(holder.contains("&quot;from&quot;:4.0,&quot;label&quot;:&quot;fault window&quot;,&quot;to&quot;:6.0"), "{holder}");
        assert!(
            holder.contains("&quot;label&quot;:&quot;achieved&quot;"),
            "{holder}"
        );
        assert!(rest.starts_with("<svg"), "{}", &rest[..100.min(rest.len())]);
        assert!(rest.ends_with("</svg>\n</div>"), "{rest}");
        assert!(rest.contains(r#"viewBox="0 0 960 300""#));
        assert!(rest.contains("achieved"));
        assert!(rest.contains("red: fault window"));
    }
}
