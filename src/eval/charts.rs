//! The evaluation report's charts as SVG, drawn with plotters (its SVG backend only: text
//! stays `<text>`, so no font is needed to draw and a test can read the numbers back).
//!
//! Every bar carries its value as a label and every category its gold count, and every matrix
//! cell its count: a reader (and `tests`) can check a picture against `eval.json`.

use plotters::prelude::*;

/// A category of a bar chart: its name, its gold count and its P/R/F1 (ratios).
pub struct BarGroup<'a> {
    pub name: &'a str,
    pub gold: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

/// The label under a bar group: "BpSy (n=359)".
pub fn group_label(name: &str, gold: usize) -> String {
    format!("{name} (n={gold})")
}

/// A ratio as the label on its bar: percent, one decimal.
pub fn percent_label(x: f64) -> String {
    format!("{:.1}", x * 100.0)
}

const SERIES: [(&str, RGBColor); 3] = [
    ("P", RGBColor(0x4c, 0x72, 0xb0)),
    ("R", RGBColor(0xdd, 0x84, 0x52)),
    ("F1", RGBColor(0x55, 0xa8, 0x68)),
];

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("drawing the chart: {e:?}")
}

/// Grouped P/R/F1 bars (percent) per category, each bar labelled with its value.
pub fn bars(title: &str, groups: &[BarGroup<'_>]) -> Result<String, String> {
    let mut svg = String::new();
    let width = (160 + 150 * groups.len() as u32).max(480);
    {
        let root = SVGBackend::with_string(&mut svg, (width, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = groups.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..n, -14f64..124f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .disable_x_axis()
            .y_desc("%")
            .y_labels(6)
            .y_label_formatter(&|y| {
                if *y < 0.0 || *y > 100.0 {
                    String::new()
                } else {
                    format!("{y:.0}")
                }
            })
            .draw()
            .map_err(err)?;
        for (i, g) in groups.iter().enumerate() {
            let x0 = i as f64;
            for (k, (value, (_, color))) in
                [g.precision, g.recall, g.f1].iter().zip(SERIES).enumerate()
            {
                let left = x0 + 0.12 + k as f64 * 0.26;
                let v = value * 100.0;
                if v > 0.0 {
                    chart
                        .draw_series(std::iter::once(Rectangle::new(
                            [(left, 0.0), (left + 0.24, v)],
                            color.filled(),
                        )))
                        .map_err(err)?;
                }
                chart
                    .draw_series(std::iter::once(Text::new(
                        percent_label(*value),
                        (left, v + 6.0),
                        ("sans-serif", 11).into_font(),
                    )))
                    .map_err(err)?;
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    group_label(g.name, g.gold),
                    (x0 + 0.12, -5.0),
                    ("sans-serif", 13).into_font(),
                )))
                .map_err(err)?;
        }
        // The legend, top left.
        for (k, (name, color)) in SERIES.iter().enumerate() {
            let x = 0.05 + k as f64 * 0.3;
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(x, 114.0), (x + 0.08, 120.0)],
                    color.filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    name.to_string(),
                    (x + 0.1, 120.0),
                    ("sans-serif", 12).into_font(),
                )))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Lines over a shared x axis: (series name, points); y in `y_range`.
pub fn lines(
    title: &str,
    x_desc: &str,
    y_desc: &str,
    y_range: std::ops::Range<f64>,
    series: &[(&str, Vec<(f64, f64)>)],
) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let xs = series.iter().flat_map(|s| s.1.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let (lo, hi) = if lo <= hi {
            (lo, hi.max(lo + 1e-9))
        } else {
            (0.0, 1.0)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(52)
            .build_cartesian_2d(lo..hi, y_range)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        let palette = [
            RGBColor(0x4c, 0x72, 0xb0),
            RGBColor(0xdd, 0x84, 0x52),
            RGBColor(0x55, 0xa8, 0x68),
            RGBColor(0xc4, 0x4e, 0x52),
        ];
        for (k, (name, points)) in series.iter().enumerate() {
            let color = palette[k % palette.len()];
            chart
                .draw_series(LineSeries::new(
                    points.iter().copied(),
                    color.stroke_width(2),
                ))
                .map_err(err)?
                .label(*name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            chart
                .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A matrix of counts: rows are `row_desc`, columns `col_desc`, each cell shaded by its share
/// of its row and labelled with its count.
pub fn heatmap(
    title: &str,
    labels: &[String],
    counts: &[Vec<usize>],
    row_desc: &str,
    col_desc: &str,
) -> Result<String, String> {
    let mut svg = String::new();
    let n = labels.len().max(1);
    let side = (120 + 64 * n as u32).max(400);
    {
        let root = SVGBackend::with_string(&mut svg, (side + 40, side + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(48)
            .y_label_area_size(72)
            .build_cartesian_2d(0f64..n as f64, 0f64..n as f64)
            .map_err(err)?;
        let name = |v: &f64| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 1e-6 && i < labels.len() {
                labels[i].clone()
            } else {
                String::new()
            }
        };
        // Row i is drawn at y = n - 1 - i, so the first gold relation is on top.
        let row_name = |v: &f64| {
            let i = v.floor() as usize;
            if (v - v.floor() - 0.5).abs() < 1e-6 && i < labels.len() {
                labels[labels.len() - 1 - i].clone()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(2 * n + 1)
            .y_labels(2 * n + 1)
            .x_label_formatter(&name)
            .y_label_formatter(&row_name)
            .x_desc(col_desc)
            .y_desc(row_desc)
            .draw()
            .map_err(err)?;
        for (i, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (j, &c) in row.iter().enumerate() {
                let share = if total > 0 {
                    c as f64 / total as f64
                } else {
                    0.0
                };
                let y = (n - 1 - i) as f64;
                let shade = RGBColor(
                    (255.0 - 180.0 * share) as u8,
                    (255.0 - 120.0 * share) as u8,
                    255,
                );
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(j as f64, y), (j as f64 + 1.0, y + 1.0)],
                        shade.filled(),
                    )))
                    .map_err(err)?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        c.to_string(),
                        (j as f64 + 0.4, y + 0.55),
                        ("sans-serif", 13).into_font(),
                    )))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}
