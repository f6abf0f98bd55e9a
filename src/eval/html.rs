//! `eval.html`: the whole evaluation on one self-contained page — the headline numbers, every
//! picture inline (SVG), the threshold table and the worst sentences with their false
//! positives and negatives highlighted in the text. No script, no external file: it opens from
//! a mail attachment. Written as well-formed XHTML-compatible HTML, so a test reads it back.

use std::fmt::Write;

use super::figures::{ErrorTriple, Figures, SentenceErrors};
use super::metrics::EvalReport;
use super::pictures::Picture;

/// `&`, `<`, `>`, `"` escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

fn pct(x: f64) -> String {
    format!("{:.2}", x * 100.0)
}

/// The sentence with each char marked by the errors covering it: `fp` (a falsely predicted
/// relation's subject or object), `fn` (a missed one's), both.
fn highlighted(e: &SentenceErrors) -> String {
    let chars: Vec<char> = e.text.chars().collect();
    let mut marks = vec![(false, false); chars.len()];
    let mut cover = |t: &ErrorTriple, fp: bool| {
        for (a, b) in [t.subject, t.object] {
            for k in a.max(e.start)..b.min(e.end) {
                let m = &mut marks[k - e.start];
                if fp {
                    m.0 = true;
                } else {
                    m.1 = true;
                }
            }
        }
    };
    for t in &e.false_positives {
        cover(t, true);
    }
    for t in &e.false_negatives {
        cover(t, false);
    }
    let mut out = String::new();
    let mut k = 0;
    while k < chars.len() {
        let m = marks[k];
        let mut end = k;
        while end < chars.len() && marks[end] == m {
            end += 1;
        }
        let run: String = chars[k..end].iter().collect();
        let class = match m {
            (true, true) => Some("fp fn"),
            (true, false) => Some("fp"),
            (false, true) => Some("fn"),
            (false, false) => None,
        };
        match class {
            Some(c) => {
                let _ = write!(out, "<mark class=\"{c}\">{}</mark>", escape(&run));
            }
            None => out.push_str(&escape(&run)),
        }
        k = end;
    }
    out
}

fn triples(ts: &[ErrorTriple]) -> String {
    if ts.is_empty() {
        return "—".into();
    }
    let items: Vec<String> = ts
        .iter()
        .map(|t| {
            format!(
                "<li>{} <b>{}</b> {}</li>",
                escape(&t.subject_text),
                escape(&t.relation),
                escape(&t.object_text)
            )
        })
        .collect();
    format!("<ul>{}</ul>", items.join(""))
}

/// The page.
pub fn page(title: &str, report: &EvalReport, figures: &Figures, pictures: &[Picture]) -> String {
    let mut s = String::new();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"zh\"><head><meta charset=\"utf-8\"/><title>{t}</title><style>\
body{{font-family:sans-serif;margin:2em;max-width:72em}}table{{border-collapse:collapse}}\
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}}td.l,th.l{{text-align:left}}\
mark.fp{{background:#f8c9c4}}mark.fn{{background:#c4daf8}}mark.fp.fn{{background:#e0c4f8}}\
figure{{margin:1em 0}}ul{{margin:0;padding-left:1.2em;text-align:left}}</style></head><body>\n\
<h1>{t}</h1>\n",
        t = escape(title)
    );
    let o = report.overall();
    let _ = writeln!(
        s,
        "<table id=\"overall\"><tr><th class=\"l\">text triples</th><th>gold</th><th>pred</th><th>TP</th><th>FP</th><th>FN</th><th>P (%)</th><th>R (%)</th><th>F1 (%)</th></tr>\
<tr><td class=\"l\">overall</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr></table>",
        o.gold(),
        o.predicted(),
        o.tp,
        o.fp,
        o.fn_,
        pct(o.precision),
        pct(o.recall),
        pct(o.f1)
    );
    for p in pictures {
        let svg = p.svg.trim_start();
        let svg = match svg.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or(svg, |x| x.1),
            None => svg,
        };
        let _ = writeln!(
            s,
            "<figure id=\"{}\">{}<figcaption>{}</figcaption></figure>",
            p.name,
            svg,
            escape(&p.title)
        );
    }
    if let Some(t) = &figures.thresholds {
        s.push_str("<h2>Score against the confidence threshold</h2>\n<table id=\"thresholds\"><tr><th>threshold</th><th>predicted</th><th>P (%)</th><th>R (%)</th><th>F1 (%)</th></tr>");
        for p in t {
            let _ = write!(
                s,
                "<tr><td>{:.2}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                p.threshold,
                p.predicted,
                pct(p.precision),
                pct(p.recall),
                pct(p.f1)
            );
        }
        s.push_str("</table>\n");
    }
    if let Some(w) = &figures.worst_sentences {
        let _ = write!(
            s,
            "<h2>The {} worst sentences</h2>\n<p>Of {} sentences with an error (span-exact; a relation counts in its subject's sentence). \
<mark class=\"fp\">false positive</mark> <mark class=\"fn\">false negative</mark> <mark class=\"fp fn\">both</mark></p>\n\
<table id=\"worst\"><tr><th class=\"l\">record</th><th class=\"l\">sentence</th><th class=\"l\">false positives</th><th class=\"l\">false negatives</th></tr>",
            w.len(),
            figures.sentences_with_errors
        );
        for e in w {
            let _ = write!(
                s,
                "<tr><td class=\"l\">{} ({}..{})</td><td class=\"l\">{}</td><td class=\"l\">{}</td><td class=\"l\">{}</td></tr>",
                escape(&e.record),
                e.start,
                e.end,
                highlighted(e),
                triples(&e.false_positives),
                triples(&e.false_negatives)
            );
        }
        s.push_str("</table>\n");
    }
    for n in report.notes.iter().chain(&figures.notes) {
        let _ = writeln!(s, "<p class=\"note\">{}</p>", escape(n));
    }
    s.push_str("</body></html>\n");
    s
}
