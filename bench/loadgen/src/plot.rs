//! PNG plots of a run: throughput against offered rate (W-HOLD) and the hold latency
//! distribution (W-HOT), one series per system.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::FontStyle;

use crate::report::SystemRun;
use crate::stats::PERCENTILES;

/// Where plotting went wrong.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// No font to draw labels with.
    #[error("cannot load the label font {path}: {detail}")]
    Font {
        /// The font file.
        path: String,
        /// Why.
        detail: String,
    },
    /// Drawing or writing the PNG failed.
    #[error("cannot draw {path}: {detail}")]
    Draw {
        /// The PNG.
        path: String,
        /// Why.
        detail: String,
    },
}

/// The label font: plotters draws text with a font we hand it (DejaVu Sans from Debian's
/// `fonts-dejavu-core` unless `font` names another TrueType file).
pub fn register_font(font: &Path) -> Result<(), PlotError> {
    let err = |detail: String| PlotError::Font {
        path: font.display().to_string(),
        detail,
    };
    let bytes = std::fs::read(font).map_err(|e| err(e.to_string()))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| err("not a TrueType font".into()))
}

const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn draw_err(path: &Path) -> impl Fn(String) -> PlotError + '_ {
    move |detail| PlotError::Draw {
        path: path.display().to_string(),
        detail,
    }
}

/// Decided holds per second against offered holds per second, W-HOLD, every system.
pub fn throughput(runs: &[SystemRun], path: &Path) -> Result<(), PlotError> {
    let err = draw_err(path);
    let series: Vec<(&str, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|r| {
            let steps = &r.hold.as_ref()?.steps;
            Some((
                r.system.as_str(),
                steps
                    .iter()
                    .map(|s| (s.rate, s.summary.decided_per_s))
                    .collect(),
            ))
        })
        .collect();
    let max = series
        .iter()
        .flat_map(|(_, p)| p.iter().flat_map(|(x, y)| [*x, *y]))
        .fold(1.0, f64::max)
        * 1.05;
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "W-HOLD: decided holds/s against offered",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..max, 0.0..max)
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("offered holds/s")
        .y_desc("decided holds/s (201 + 409)")
        .draw()
        .map_err(|e| err(e.to_string()))?;
    chart
        .draw_series(LineSeries::new([(0.0, 0.0), (max, max)], BLACK.mix(0.3)))
        .map_err(|e| err(e.to_string()))?
        .label("offered")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], BLACK.mix(0.3)));
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
        chart
            .draw_series(
                points
                    .into_iter()
                    .map(|p| Circle::new(p, 4, color.filled())),
            )
            .map_err(|e| err(e.to_string()))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

/// Position of a percentile on the "nines" axis: 90 -> 1, 99 -> 2, 99.9 -> 3.
fn nines(percentile: f64) -> f64 {
    -(1.0 - percentile / 100.0).max(1e-5).log10()
}

/// The hold latency distribution of W-HOT, every system, on a log scale.
pub fn latency(runs: &[SystemRun], path: &Path) -> Result<(), PlotError> {
    let err = draw_err(path);
    let series: Vec<(&str, Vec<(f64, f64)>)> = runs
        .iter()
        .filter_map(|r| {
            let hot = r.hot.as_ref()?;
            let points = PERCENTILES
                .iter()
                .zip(&hot.holds.distribution_ms)
                .map(|(p, ms)| (nines(*p), ms.max(0.01)))
                .collect();
            Some((r.system.as_str(), points))
        })
        .collect();
    let max_ms = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max)
        * 1.5;
    let root = BitMapBackend::new(path, (1000, 640)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(e.to_string()))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "W-HOT: hold latency from the scheduled send time",
            ("sans-serif", 24),
        )
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(0.0..5.0, (0.1..max_ms).log_scale())
        .map_err(|e| err(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("ms")
        .x_labels(6)
        .x_label_formatter(&|x: &f64| format!("{}", 100.0 - 100.0 * 10f64.powf(-*x)))
        .draw()
        .map_err(|e| err(e.to_string()))?;
    for (i, (name, points)) in series.into_iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| err(e.to_string()))?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| err(e.to_string()))?;
    root.present().map_err(|e| err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nines_put_each_nine_one_unit_further() {
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.0) - 2.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(100.0) - 5.0).abs() < 1e-9);
    }
}
