//! `prelabel bench --plot`: frames per second against batch size, one line per measurement, as
//! a self-contained SVG.

use std::fmt::Write as _;

use crate::bench::Report;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
/// Plot area margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (70.0, 190.0, 50.0, 55.0);

/// One line of the plot: a name, a colour, and (batch size, fps) points.
struct Series {
    name: String,
    colour: &'static str,
    points: Vec<(f64, f64)>,
    dashed: bool,
}

/// The SVG text of the report's plot. Ceilings that do not depend on the batch size (decode,
/// the Python baseline) are dashed horizontal lines across the measured batch sizes.
pub fn svg(report: &Report) -> String {
    let measured: Vec<_> =
        report.batches.iter().filter_map(|b| Some((f64::from(b.batch_size), b.inference.as_ref()?, b.full.as_ref()?))).collect();
    let batch_sizes: Vec<f64> = measured.iter().map(|(b, _, _)| *b).collect();
    let (first, last) = (batch_sizes.first().copied().unwrap_or(1.0), batch_sizes.last().copied().unwrap_or(1.0));
    // The batch-size axis is log2 and reaches half a doubling beyond the sizes measured, so a
    // single size sits in the middle and the flat lines span the plot.
    let (lo, hi) = (first.log2() - 0.5, last.log2() + 0.5);
    let flat = |fps: f64| vec![(lo.exp2(), fps), (hi.exp2(), fps)];
    let mut series = vec![
        Series { name: "decode ceiling".into(), colour: "#6b7280", points: flat(report.decode.fps), dashed: true },
        Series {
            name: "inference ceiling".into(),
            colour: "#2563eb",
            points: measured.iter().map(|(b, i, _)| (*b, i.fps)).collect(),
            dashed: false,
        },
        Series {
            name: "full pipeline".into(),
            colour: "#dc2626",
            points: measured.iter().map(|(b, _, f)| (*b, f.fps)).collect(),
            dashed: false,
        },
    ];
    if let Some(python) = &report.baseline {
        series.push(Series { name: "Python baseline".into(), colour: "#d97706", points: flat(python.fps), dashed: true });
    }

    let (left, right, top, bottom) = MARGIN;
    let (plot_w, plot_h) = (WIDTH - left - right, HEIGHT - top - bottom);
    let fps_max = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).fold(0.0f64, f64::max);
    let y_max = nice_ceiling(fps_max);
    let x_of = |b: f64| left + (b.log2() - lo) / (hi - lo) * plot_w;
    let y_of = |fps: f64| top + plot_h - fps / y_max * plot_h;

    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let title = format!("{} on {}", file_name(&report.model), file_name(&report.video));
    let subtitle = format!(
        "{} threads, {} detector sessions, frame stride {}, {} cores, {}",
        report.threads.map_or_else(|| "all".to_owned(), |t| t.to_string()),
        report.sessions,
        report.frame_stride,
        report.machine.cores,
        report.machine.date
    );
    let _ = writeln!(svg, "<text x=\"{left}\" y=\"20\" font-size=\"14\" font-weight=\"bold\">{}</text>", escape(&title));
    let _ = writeln!(svg, "<text x=\"{left}\" y=\"38\" fill=\"#4b5563\">{}</text>", escape(&subtitle));
    // Axes, grid and ticks.
    let _ = writeln!(svg, "<path d=\"M{left},{top} V{} H{}\" stroke=\"black\" fill=\"none\"/>", top + plot_h, left + plot_w);
    for i in 0..=4 {
        let fps = y_max * f64::from(i) / 4.0;
        let y = y_of(fps);
        let _ = writeln!(svg, "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#e5e7eb\"/>", left + plot_w);
        let _ = writeln!(svg, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{fps:.0}</text>", left - 6.0, y + 4.0);
    }
    for &b in &batch_sizes {
        let x = x_of(b);
        let _ = writeln!(svg, "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{b}</text>", top + plot_h + 18.0);
    }
    let _ = writeln!(svg, "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">batch size</text>", left + plot_w / 2.0, HEIGHT - 12.0);
    let _ = writeln!(
        svg,
        "<text transform=\"translate(18,{:.1}) rotate(-90)\" text-anchor=\"middle\">video frames per second</text>",
        top + plot_h / 2.0
    );
    // Lines, points and the legend.
    for (k, s) in series.iter().enumerate() {
        let path: Vec<String> = s.points.iter().map(|&(b, fps)| format!("{:.1},{:.1}", x_of(b), y_of(fps))).collect();
        let dash = if s.dashed { " stroke-dasharray=\"6 4\"" } else { "" };
        let _ = writeln!(svg, "<polyline points=\"{}\" stroke=\"{}\" stroke-width=\"2\" fill=\"none\"{dash}/>", path.join(" "), s.colour);
        if !s.dashed {
            for &(b, fps) in &s.points {
                let _ = writeln!(svg, "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{}\"/>", x_of(b), y_of(fps), s.colour);
            }
        }
        let y = top + 10.0 + 22.0 * k as f64;
        let x = left + plot_w + 16.0;
        let _ =
            writeln!(svg, "<line x1=\"{x}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"{dash}/>", x + 24.0, s.colour);
        let _ = writeln!(svg, "<text x=\"{}\" y=\"{}\">{}</text>", x + 30.0, y + 4.0, escape(&s.name));
    }
    svg.push_str("</svg>\n");
    svg
}

/// The smallest of 1, 2, 5 × 10^k at or above `value` (at least 1).
fn nice_ceiling(value: f64) -> f64 {
    let value = value.max(1.0);
    let magnitude = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * magnitude).find(|&v| v >= value).unwrap_or(10.0 * magnitude)
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_tops_are_round_numbers_at_or_above_the_largest_value() {
        assert_eq!(nice_ceiling(93.0), 100.0);
        assert_eq!(nice_ceiling(1083.4), 2000.0);
        assert_eq!(nice_ceiling(45.0), 50.0);
        assert_eq!(nice_ceiling(0.0), 1.0);
    }
}
