//! A scored pair of files under the title that says what was scored: what `cbrrel eval`
//! prints (Markdown for people, the report alone as JSON) and writes with `--report DIR`
//! (eval.md with its pictures, eval.json with the pictures' numbers under `figures`,
//! figures/*.svg and .png, eval.html). The title lives beside the report rather than in it so
//! that the JSON stays the report's.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::figures::Figures;
use super::metrics::EvalReport;
use super::pictures::{markdown_links, pictures, write_pictures};
use super::report::to_markdown;
use crate::atomic::WriteError;

/// An [`EvalReport`] and its title ("pred.jsonl vs gold.jsonl", or the model and data), with
/// the numbers of its pictures.
#[derive(Debug, Clone)]
pub struct TitledReport {
    pub report: EvalReport,
    pub title: String,
    pub figures: Figures,
}

impl TitledReport {
    /// Write into `dir`: `eval.md` (Markdown, linking the pictures), `eval.json` (the report,
    /// pretty, and the pictures' own numbers under `figures`), `figures/<name>.svg` and `.png`,
    /// and `eval.html` (everything on one page).
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        let pictures = pictures(&self.report, &self.figures).map_err(|e| WriteError {
            path: dir.join("figures"),
            source: std::io::Error::other(e),
        })?;
        write_pictures(dir, &pictures)?;
        let md = format!("{self}\n{}", markdown_links(&pictures));
        crate::atomic::write(&dir.join("eval.md"), md.as_bytes())?;
        let mut json = serde_json::to_value(&self.report).expect("the report serialises");
        json["figures"] = serde_json::to_value(&self.figures).expect("the figures serialise");
        let json = serde_json::to_string_pretty(&json).expect("a JSON value serialises");
        crate::atomic::write(&dir.join("eval.json"), json.as_bytes())?;
        let html = super::html::page(&self.title, &self.report, &self.figures, &pictures);
        crate::atomic::write(&dir.join("eval.html"), html.as_bytes())
    }
}

/// The report alone: the title is the command's, not a score.
impl Serialize for TitledReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.report.serialize(s)
    }
}

/// The Markdown document headed by the title.
impl fmt::Display for TitledReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_markdown(&self.report, &self.title))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;
    use crate::eval::figures::{figures, training_curve};
    use crate::eval::{evaluate, EvalOptions};
    use resvg::usvg::roxmltree;

    const GOLD: &str = r#"{"id": 1, "text": "前降支近段狭窄80%。右冠远段闭塞。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5}, {"id": 2, "label": "症状体征", "start_offset": 5, "end_offset": 10}, {"id": 3, "label": "身体部位", "start_offset": 11, "end_offset": 15}, {"id": 4, "label": "症状体征", "start_offset": 15, "end_offset": 17}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}, {"id": 2, "from_id": 3, "to_id": 4, "type": "身体部位_症状体征"}]}"#;
    const PRED: &str = r#"{"id": 1, "text": "前降支近段狭窄80%。右冠远段闭塞。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5}, {"id": 2, "label": "症状体征", "start_offset": 5, "end_offset": 10}, {"id": 3, "label": "身体部位", "start_offset": 11, "end_offset": 15}, {"id": 4, "label": "检查检验", "start_offset": 15, "end_offset": 17}], "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征", "confidence": 0.9}, {"id": 2, "from_id": 3, "to_id": 4, "type": "身体部位_检查检验", "confidence": 0.6}]}"#;

    /// The `<text>` contents of an SVG, in document order.
    fn texts(svg: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        doc.descendants()
            .filter(|n| n.has_tag_name("text"))
            .map(|n| n.text().unwrap_or_default().trim().to_owned())
            .collect()
    }

    /// `--report DIR` writes valid SVG, PNG and HTML whose numbers are eval.json's.
    #[test]
    fn report_pictures_are_valid_and_show_eval_json_numbers() {
        let gold = read_corpus_str(GOLD, None, None).unwrap();
        let pred = read_corpus_str(PRED, None, None).unwrap();
        let report = evaluate(&gold, &pred, &EvalOptions::default()).unwrap();
        let mut fig = figures(&gold, &pred);
        fig.training = Some(
            training_curve(
                "{\"epoch\":1,\"train_loss\":2.0,\"dev_precision\":0.5,\"dev_recall\":0.25,\"dev_f1\":0.3333}\n{\"epoch\":2,\"train_loss\":0.5,\"dev_precision\":1.0,\"dev_recall\":0.5,\"dev_f1\":0.6667}\n",
            )
            .0,
        );
        let titled = TitledReport {
            report,
            title: "pred vs gold".into(),
            figures: fig,
        };
        let dir = tempfile::tempdir().unwrap();
        titled.write_to(dir.path()).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("eval.json")).unwrap())
                .unwrap();
        let md = std::fs::read_to_string(dir.path().join("eval.md")).unwrap();
        let names = [
            "per_relation",
            "overlap",
            "entity_types",
            "confusion",
            "threshold",
            "training_loss",
            "training_dev",
        ];
        let options = resvg::usvg::Options::default();
        for name in names {
            let svg = std::fs::read_to_string(dir.path().join(format!("figures/{name}.svg")))
                .unwrap_or_else(|e| panic!("{name}.svg: {e}"));
            let tree = resvg::usvg::Tree::from_str(&svg, &options).expect("valid SVG");
            let png = std::fs::read(dir.path().join(format!("figures/{name}.png"))).unwrap();
            let pixmap = resvg::tiny_skia::Pixmap::decode_png(&png).expect("valid PNG");
            let size = tree.size().to_int_size();
            assert_eq!(
                (pixmap.width(), pixmap.height()),
                (size.width(), size.height())
            );
            assert!(
                md.contains(&format!("figures/{name}.svg")),
                "eval.md links {name}"
            );
        }

        // Per relation: each group's label carries its gold count, and the three labels before
        // it are its P, R and F1 as eval.json has them.
        let t =
            texts(&std::fs::read_to_string(dir.path().join("figures/per_relation.svg")).unwrap());
        let per = json["per_relation"].as_object().unwrap();
        assert_eq!(per.len(), 2, "BpIn and BpSy");
        for (code, p) in per {
            let gold = p["tp"].as_u64().unwrap() + p["fn"].as_u64().unwrap();
            let at = t
                .iter()
                .position(|x| *x == format!("{code} (n={gold})"))
                .unwrap_or_else(|| panic!("{code} (n={gold}) in {t:?}"));
            let shown: Vec<f64> = t[at - 3..at].iter().map(|x| x.parse().unwrap()).collect();
            for (k, key) in ["precision", "recall", "f1"].iter().enumerate() {
                let want = p[*key].as_f64().unwrap() * 100.0;
                assert!(
                    (shown[k] - want).abs() <= 0.05 + 1e-9,
                    "{code} {key}: {shown:?}"
                );
            }
        }

        // Confusion: the cells, row by row, are the last texts and eval.json's counts.
        let t = texts(&std::fs::read_to_string(dir.path().join("figures/confusion.svg")).unwrap());
        let counts: Vec<u64> = json["figures"]["confusion"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|row| row.as_array().unwrap().iter().map(|c| c.as_u64().unwrap()))
            .collect();
        assert_eq!(counts, [0, 0, 0, 1, 1, 0, 0, 0, 0]);
        let cells: Vec<u64> = t[t.len() - counts.len()..]
            .iter()
            .map(|x| x.parse().unwrap())
            .collect();
        assert_eq!(cells, counts);

        // The page: well-formed, every picture inline, the worst sentence highlighted.
        let html = std::fs::read_to_string(dir.path().join("eval.html")).unwrap();
        let doc = roxmltree::Document::parse(html.trim_start_matches("<!DOCTYPE html>\n"))
            .expect("well-formed eval.html");
        let figure_ids: Vec<&str> = doc
            .descendants()
            .filter(|n| n.has_tag_name("figure"))
            .filter_map(|n| n.attribute("id"))
            .collect();
        assert_eq!(figure_ids, names);
        let marks: Vec<(String, String)> = doc
            .descendants()
            .filter(|n| n.has_tag_name("mark") && n.text().is_some())
            .map(|n| {
                (
                    n.attribute("class").unwrap().into(),
                    n.text().unwrap().into(),
                )
            })
            .collect();
        assert!(
            marks.contains(&("fp fn".into(), "右冠远段闭塞".into())),
            "{marks:?}"
        );
        let worst = &json["figures"]["worst_sentences"][0];
        assert_eq!(worst["text"], "右冠远段闭塞。");
        assert!(html.contains("右冠远段 <b>BpIn</b> 闭塞"));
    }
}
