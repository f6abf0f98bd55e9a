//! The pictures of an evaluation report: which charts, from which numbers, under which file
//! names (`figures/<name>.svg` and `.png` beside `eval.md`).

use std::path::Path;

use super::charts::{bars, heatmap, lines, BarGroup};
use super::figures::Figures;
use super::metrics::{EvalReport, Prf};
use super::raster::Rasterizer;
use crate::atomic::WriteError;

/// One chart: its file stem, its caption and its SVG.
#[derive(Debug, Clone)]
pub struct Picture {
    pub name: &'static str,
    pub title: String,
    pub svg: String,
}

fn groups<'a>(rows: impl IntoIterator<Item = (&'a str, &'a Prf)>) -> Vec<BarGroup<'a>> {
    rows.into_iter()
        .map(|(name, p)| BarGroup {
            name,
            gold: p.gold(),
            precision: p.precision,
            recall: p.recall,
            f1: p.f1,
        })
        .collect()
}

/// The charts `report` and `figures` call for (a part without numbers is left out).
pub fn pictures(report: &EvalReport, figures: &Figures) -> Result<Vec<Picture>, String> {
    let mut out = Vec::new();
    let mut add = |name, title: String, svg: String| {
        out.push(Picture { name, title, svg });
    };
    let rel = groups(report.per_relation.iter().map(|(k, p)| (k.as_str(), p)));
    let title = "P / R / F1 per relation (gold triples in brackets)".to_string();
    add("per_relation", title.clone(), bars(&title, &rel)?);
    let o = &report.per_overlap;
    let title = "Normal / SEO / EPO (the paper's Table 5)".to_string();
    let classes = groups([("Normal", &o.normal), ("SEO", &o.seo), ("EPO", &o.epo)]);
    add("overlap", title.clone(), bars(&title, &classes)?);
    let title = "P / R / F1 per entity type (Table 6)".to_string();
    let types = groups(report.per_entity_type.iter().map(|(k, p)| (k.as_str(), p)));
    add("entity_types", title.clone(), bars(&title, &types)?);
    if let Some(c) = &figures.confusion {
        let title = "Relation confusion on matching spans (— = none)".to_string();
        let svg = heatmap(&title, &c.labels, &c.counts, "gold", "predicted")?;
        add("confusion", title, svg);
    }
    if let Some(t) = &figures.thresholds {
        let series: Vec<(&str, Vec<(f64, f64)>)> = vec![
            (
                "P",
                t.iter()
                    .map(|p| (p.threshold, p.precision * 100.0))
                    .collect(),
            ),
            (
                "R",
                t.iter().map(|p| (p.threshold, p.recall * 100.0)).collect(),
            ),
            (
                "F1",
                t.iter().map(|p| (p.threshold, p.f1 * 100.0)).collect(),
            ),
        ];
        let title = "Score against the confidence threshold".to_string();
        let svg = lines(
            &title,
            "keep triples with confidence ≥",
            "%",
            0.0..100.0,
            &series,
        )?;
        add("threshold", title, svg);
    }
    if let Some(t) = figures.training.as_ref().filter(|t| !t.is_empty()) {
        let loss: Vec<(f64, f64)> = t.iter().map(|p| (p.epoch as f64, p.train_loss)).collect();
        let top = loss.iter().map(|p| p.1).fold(0.0, f64::max).max(1e-9) * 1.05;
        let title = "Training loss per epoch".to_string();
        let svg = lines(&title, "epoch", "loss", 0.0..top, &[("train loss", loss)])?;
        add("training_loss", title, svg);
        let dev = |f: fn(&super::figures::EpochPoint) -> Option<f64>| -> Vec<(f64, f64)> {
            t.iter()
                .filter_map(|p| Some((p.epoch as f64, f(p)? * 100.0)))
                .collect()
        };
        let series = vec![
            ("dev P", dev(|p| p.dev_precision)),
            ("dev R", dev(|p| p.dev_recall)),
            ("dev F1", dev(|p| p.dev_f1)),
        ];
        if series.iter().any(|s| !s.1.is_empty()) {
            let title = "Dev P / R / F1 per epoch".to_string();
            add(
                "training_dev",
                title.clone(),
                lines(&title, "epoch", "%", 0.0..100.0, &series)?,
            );
        }
    }
    Ok(out)
}

/// Write each picture as `dir/figures/<name>.svg` and `.png`.
pub fn write_pictures(dir: &Path, pictures: &[Picture]) -> Result<(), WriteError> {
    let figures = dir.join("figures");
    let raster = Rasterizer::new();
    for p in pictures {
        crate::atomic::write(&figures.join(format!("{}.svg", p.name)), p.svg.as_bytes())?;
        let png_path = figures.join(format!("{}.png", p.name));
        let png = raster.png(&p.svg).map_err(|e| WriteError {
            path: png_path.clone(),
            source: std::io::Error::other(e),
        })?;
        crate::atomic::write(&png_path, &png)?;
    }
    Ok(())
}

/// The Markdown section linking the pictures.
pub fn markdown_links(pictures: &[Picture]) -> String {
    let mut s = String::from("## Pictures\n\n");
    for p in pictures {
        s.push_str(&format!(
            "![{0}](figures/{1}.svg)\n\n{0}: [SVG](figures/{1}.svg), [PNG](figures/{1}.png)\n\n",
            p.title, p.name
        ));
    }
    s.push_str("All of it on one page, with the worst sentences: [eval.html](eval.html).\n");
    s
}
