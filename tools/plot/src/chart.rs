//! Line charts with optional confidence bands, to SVG or PNG.
//!
//! One drawing routine serves both formats; PNG is rendered at twice the SVG's pixel size
//! (every length scaled) so it stays sharp in print and on high-density screens. Colors are
//! the Okabe-Ito palette, which stays distinguishable under common color-vision deficiencies
//! and in grayscale print.

use crate::font::{FAMILY, ensure_registered, font_ref};
use crate::text::CrispText;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// One point of a series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChartPoint {
    /// Abscissa.
    pub x: f64,
    /// Ordinate; non-finite values break the line.
    pub y: f64,
    /// Band around `y` (e.g. a confidence interval), if any.
    pub band: Option<(f64, f64)>,
}

/// A named line.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text (empty: no legend entry).
    pub label: String,
    /// Points, drawn in x order.
    pub points: Vec<ChartPoint>,
}

/// A line chart.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Legend heading (e.g. the grouping parameter; default empty).
    pub legend_title: String,
    /// The lines.
    pub series: Vec<Series>,
    /// Category names for a categorical x axis: point `x = i` is labelled `categories[i]`
    /// (default empty: numeric axis).
    pub categories: Vec<String>,
}

/// Output format, chosen by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    /// `.svg`.
    Svg,
    /// `.png`.
    Png,
}

impl ImageFormat {
    /// The format for a path's extension.
    pub fn from_path(path: &Path) -> Option<ImageFormat> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "svg" => Some(ImageFormat::Svg),
            "png" => Some(ImageFormat::Png),
            _ => None,
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Svg => "svg",
            ImageFormat::Png => "png",
        }
    }
}

/// Why a chart could not be drawn.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// Unknown extension.
    #[error("{0}: unsupported image format; expected a .svg or .png file name")]
    Format(PathBuf),
    /// The embedded font failed to load.
    #[error("the embedded chart font could not be loaded")]
    Font,
    /// Drawing or writing failed.
    #[error("{path}: {message}")]
    Draw {
        /// The output file.
        path: PathBuf,
        /// The backend's message.
        message: String,
    },
    /// Reading input data failed.
    #[error("{path}: {message}")]
    Input {
        /// The input file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// Okabe-Ito colors, yellow last (weakest on white).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(240, 228, 66),
];

const WIDTH: u32 = 860;
const HEIGHT: u32 = 520;
const PANEL_WIDTH: u32 = 560;
const PANEL_HEIGHT: u32 = 360;
const PNG_SCALE: f64 = 2.0;

/// Tick text: up to 4 decimals with trailing zeros removed, scientific notation outside
/// `[1e-3, 1e5)`.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return if v.is_finite() {
            "0".into()
        } else {
            v.to_string()
        };
    }
    let a = v.abs();
    let text = if !(1e-3..1e5).contains(&a) {
        let s = format!("{v:.2e}");
        match s.split_once('e') {
            Some((m, e)) => format!("{}e{e}", trim_zeros(m)),
            None => s,
        }
    } else {
        trim_zeros(&format!("{v:.4}")).to_owned()
    };
    if text == "-0" { "0".into() } else { text }
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Draws one chart to `path` (`.svg` or `.png`).
pub fn draw_chart(chart: &LineChart, path: &Path) -> Result<(), PlotError> {
    draw_panels(std::slice::from_ref(chart), 1, path)
}

/// Draws charts as a grid of panels, `columns` per row, to `path` (`.svg` or `.png`). A single
/// chart gets the full-size layout with room for a legend.
pub fn draw_panels(charts: &[LineChart], columns: usize, path: &Path) -> Result<(), PlotError> {
    let format = ImageFormat::from_path(path).ok_or_else(|| PlotError::Format(path.to_owned()))?;
    if !ensure_registered() {
        return Err(PlotError::Font);
    }
    let cols = columns.clamp(1, charts.len().max(1));
    let rows = charts.len().div_ceil(cols).max(1);
    let (w, h) = if charts.len() == 1 {
        (WIDTH, HEIGHT)
    } else {
        (PANEL_WIDTH * cols as u32, PANEL_HEIGHT * rows as u32)
    };
    let err = |e: &dyn std::fmt::Display| PlotError::Draw {
        path: path.to_owned(),
        message: e.to_string(),
    };
    match format {
        ImageFormat::Svg => {
            let root = SVGBackend::new(path, (w, h)).into_drawing_area();
            draw_grid(&root, charts, cols, 1.0).map_err(|e| err(&e))?;
            root.present().map_err(|e| err(&e))
        }
        ImageFormat::Png => {
            let size = (
                (f64::from(w) * PNG_SCALE) as u32,
                (f64::from(h) * PNG_SCALE) as u32,
            );
            let font = font_ref().ok_or(PlotError::Font)?;
            let root = CrispText::new(BitMapBackend::new(path, size), font).into_drawing_area();
            draw_grid(&root, charts, cols, PNG_SCALE).map_err(|e| err(&e))?;
            root.present().map_err(|e| err(&e))
        }
    }
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn draw_grid<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    charts: &[LineChart],
    cols: usize,
    s: f64,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let rows = charts.len().div_ceil(cols).max(1);
    let panels = root.split_evenly((rows, cols));
    for (chart, area) in charts.iter().zip(panels.iter()) {
        draw_one(area, chart, s, charts.len() > 1)?;
    }
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |acc, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })
}

fn padded((lo, hi): (f64, f64), frac: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 {
        (lo - span * frac, hi + span * frac)
    } else {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        (lo - d, hi + d)
    }
}

fn draw_one<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    chart: &LineChart,
    s: f64,
    compact: bool,
) -> DrawResult<DB> {
    let px = |v: f64| (v * s).round() as i32;
    let pxu = |v: f64| (v * s).round().max(0.0) as u32;
    let font = |size: f64| (FAMILY, size * s).into_font().color(&BLACK);
    let text_color = RGBColor(40, 40, 40);

    let labelled: Vec<(usize, &Series)> = chart
        .series
        .iter()
        .enumerate()
        .filter(|(_, se)| !se.label.is_empty())
        .collect();
    let legend_font = font(13.0);
    let legend_width = if labelled.is_empty() {
        0
    } else {
        let widest = labelled
            .iter()
            .map(|(_, se)| se.label.as_str())
            .chain(std::iter::once(chart.legend_title.as_str()))
            .map(|t| {
                area.estimate_text_size(t, &legend_font)
                    .map_or(0, |(w, _)| w)
            })
            .max()
            .unwrap_or(0);
        (widest + pxu(52.0)).min(area.dim_in_pixel().0 / 3)
    };
    let (plot_area, legend_area) = if legend_width > 0 {
        let (a, b) = area.split_horizontally(area.dim_in_pixel().0 - legend_width);
        (a, Some(b))
    } else {
        (area.clone(), None)
    };

    let is_categorical = !chart.categories.is_empty();
    let all = || chart.series.iter().flat_map(|se| se.points.iter());
    let x = if is_categorical {
        (-0.5, chart.categories.len() as f64 - 0.5)
    } else {
        bounds(all().map(|p| p.x)).map_or((0.0, 1.0), |b| padded(b, 0.03))
    };
    let y = bounds(all().flat_map(|p| {
        let (l, h) = p.band.unwrap_or((p.y, p.y));
        [p.y, l, h]
    }))
    .map_or((0.0, 1.0), |b| padded(b, 0.06));

    let title_size = if compact { 15.0 } else { 18.0 };
    let mut cc = ChartBuilder::on(&plot_area)
        .caption(&chart.title, font(title_size))
        .margin_top(px(10.0))
        .margin_left(px(10.0))
        .margin_right(px(if legend_area.is_some() { 8.0 } else { 22.0 }))
        .margin_bottom(px(8.0))
        .x_label_area_size(px(if compact { 40.0 } else { 48.0 }))
        .y_label_area_size(px(if compact { 58.0 } else { 66.0 }))
        .build_cartesian_2d(x.0..x.1, y.0..y.1)?;

    let categories = &chart.categories;
    let x_fmt = |v: &f64| -> String {
        if is_categorical {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < categories.len() {
                categories[i as usize].clone()
            } else {
                String::new()
            }
        } else {
            tick_label(*v)
        }
    };
    let y_fmt = |v: &f64| tick_label(*v);
    let x_ticks = if is_categorical {
        categories.len() + 1
    } else {
        8
    };
    cc.configure_mesh()
        .bold_line_style(RGBColor(228, 228, 228).stroke_width(pxu(1.0)))
        .light_line_style(TRANSPARENT)
        .axis_style(RGBColor(90, 90, 90).stroke_width(pxu(1.0)))
        .set_all_tick_mark_size(px(4.0))
        .x_labels(x_ticks)
        .y_labels(if compact { 5 } else { 7 })
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .label_style(font(12.5).color(&text_color))
        .axis_desc_style(font(14.0))
        .x_desc(chart.x_label.as_str())
        .y_desc(chart.y_label.as_str())
        .draw()?;

    let stroke = pxu(if compact { 1.6 } else { 2.0 });
    for (i, se) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let mut pts: Vec<ChartPoint> = se
            .points
            .iter()
            .copied()
            .filter(|p| p.x.is_finite())
            .collect();
        pts.sort_by(|a, b| a.x.total_cmp(&b.x));
        for run in pts.split(|p| !p.y.is_finite()) {
            let banded: Vec<&ChartPoint> = run
                .iter()
                .filter(|p| p.band.is_some_and(|(l, h)| l.is_finite() && h.is_finite()))
                .collect();
            if banded.len() >= 2 {
                let mut poly: Vec<(f64, f64)> = banded
                    .iter()
                    .map(|p| (p.x, p.band.map_or(p.y, |b| b.1)))
                    .collect();
                poly.extend(
                    banded
                        .iter()
                        .rev()
                        .map(|p| (p.x, p.band.map_or(p.y, |b| b.0))),
                );
                cc.draw_series(std::iter::once(Polygon::new(
                    poly,
                    color.mix(0.16).filled(),
                )))?;
            }
            cc.draw_series(LineSeries::new(
                run.iter().map(|p| (p.x, p.y)),
                color.stroke_width(stroke),
            ))?;
            if run.len() <= 40 {
                cc.draw_series(
                    run.iter()
                        .map(|p| Circle::new((p.x, p.y), px(3.2), color.filled())),
                )?;
            }
        }
    }

    if let Some(legend) = legend_area {
        let top = px(if compact { 44.0 } else { 56.0 });
        let line_h = px(22.0);
        let mut y_pos = top;
        if !chart.legend_title.is_empty() {
            legend.draw(&Text::new(
                chart.legend_title.clone(),
                (px(4.0), y_pos),
                legend_font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            y_pos += line_h;
        }
        for (i, se) in labelled {
            let color = PALETTE[i % PALETTE.len()];
            legend.draw(&Rectangle::new(
                [(px(6.0), y_pos - px(6.0)), (px(32.0), y_pos + px(6.0))],
                color.mix(0.16).filled(),
            ))?;
            legend.draw(&PathElement::new(
                vec![(px(6.0), y_pos), (px(32.0), y_pos)],
                color.stroke_width(stroke),
            ))?;
            legend.draw(&Text::new(
                se.label.clone(),
                (px(40.0), y_pos),
                legend_font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
            ))?;
            y_pos += line_h;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.30000000000000004), "0.3");
        assert_eq!(tick_label(2.0), "2");
        assert_eq!(tick_label(-0.00001), "-1e-5");
        assert_eq!(tick_label(150000.0), "1.5e5");
        assert_eq!(tick_label(12.345678), "12.3457");
        assert_eq!(tick_label(0.0), "0");
    }

    #[test]
    fn writes_svg_and_png() {
        let dir = tempfile::tempdir().unwrap();
        let chart = LineChart {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![Series {
                label: "a".into(),
                points: (0..5)
                    .map(|i| ChartPoint {
                        x: f64::from(i),
                        y: f64::from(i * i),
                        band: Some((0.0, 30.0)),
                    })
                    .collect(),
            }],
            ..LineChart::default()
        };
        for name in ["c.svg", "c.png"] {
            let p = dir.path().join(name);
            draw_chart(&chart, &p).unwrap();
            let bytes = std::fs::read(&p).unwrap();
            assert!(bytes.len() > 1000, "{name}: {} bytes", bytes.len());
        }
        assert!(
            std::fs::read_to_string(dir.path().join("c.svg"))
                .unwrap()
                .contains("\na\n</text>")
        );
        assert_eq!(
            &std::fs::read(dir.path().join("c.png")).unwrap()[1..4],
            b"PNG"
        );
        assert!(matches!(
            draw_chart(&chart, &dir.path().join("c.gif")),
            Err(PlotError::Format(_))
        ));
    }
}
