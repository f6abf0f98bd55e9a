//! An [`EvalReport`] as Markdown: the same numbers as the JSON, laid out like the paper's
//! tables (overall, span-exact, per relation, per overlap class, per entity type), ratios as
//! percentages with two decimals, counts next to every ratio so that a reader can check them.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::metrics::{EvalReport, Prf};
use crate::corpus::overlap::Unit;

const COLUMNS: &str = "Gold | Pred | TP | FP | FN | P (%) | R (%) | F1 (%) |";
const ALIGN: &str = "--: | --: | --: | --: | --: | --: | --: | --: |";

/// Render `r` as a Markdown document headed `title`.
pub fn to_markdown(r: &EvalReport, title: &str) -> String {
    // `write!` into a String cannot fail; the results are ignored for that reason alone.
    let mut s = String::new();
    let _ = writeln!(s, "# {}\n", cell(title));
    let _ = writeln!(
        s,
        "{} gold records, {} prediction records; {} gold and {} predicted triples (distinct per record).\n",
        r.records, r.predicted_records, r.gold_triples, r.predicted_triples
    );

    let _ = writeln!(s, "## Overall: (subject text, relation, object text)\n");
    table(&mut s, "Score", [("text triples", &r.overall())]);

    let _ = writeln!(s, "## Span-exact: (subject span, relation, object span)\n");
    match &r.span_exact {
        Some(p) => table(&mut s, "Score", [("span triples", p)]),
        None => s.push_str("Not scored: both files need offsets (see the notes).\n\n"),
    }

    let _ = writeln!(s, "## Per relation\n");
    keyed_table(&mut s, "Relation", &r.per_relation);

    let o = &r.per_overlap;
    let unit = match o.unit {
        Unit::Sentence => "sentence",
        Unit::Record => "record",
    };
    let _ = writeln!(s, "## Per overlap class (unit: {unit})\n");
    let _ = writeln!(s, "| Class | Units | {COLUMNS}\n|---| --: | {ALIGN}");
    for (name, units, p) in [
        ("Normal", o.units.normal, &o.normal),
        ("SEO", o.units.seo, &o.seo),
        ("EPO", o.units.epo, &o.epo),
    ] {
        let _ = writeln!(s, "| {name} | {units} | {} |", numbers(p));
    }
    let _ = writeln!(
        s,
        "\n{} units have no gold triple; predictions there count in no class. A unit both SEO and EPO counts in both.\n",
        o.units.none
    );

    let _ = writeln!(s, "## Per entity type\n");
    keyed_table(&mut s, "Entity type", &r.per_entity_type);

    if !r.notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in &r.notes {
            let _ = writeln!(s, "- {n}");
        }
        s.push('\n');
    }
    s.push_str("P = 0 when nothing is predicted, R = 0 when there is no gold triple, F1 = 0 when P + R = 0.\n");
    s
}

fn table<'p>(s: &mut String, head: &str, rows: impl IntoIterator<Item = (&'p str, &'p Prf)>) {
    let _ = writeln!(s, "| {head} | {COLUMNS}\n|---| {ALIGN}");
    for (name, p) in rows {
        let _ = writeln!(s, "| {} | {} |", cell(name), numbers(p));
    }
    s.push('\n');
}

fn keyed_table(s: &mut String, head: &str, rows: &BTreeMap<String, Prf>) {
    if rows.is_empty() {
        s.push_str("No triples on either side.\n\n");
    } else {
        table(s, head, rows.iter().map(|(k, p)| (k.as_str(), p)));
    }
}

fn numbers(p: &Prf) -> String {
    format!(
        "{} | {} | {} | {} | {} | {} | {} | {}",
        p.gold(),
        p.predicted(),
        p.tp,
        p.fp,
        p.fn_,
        percent(p.precision),
        percent(p.recall),
        percent(p.f1)
    )
}

fn percent(x: f64) -> String {
    format!("{:.2}", 100.0 * x)
}

/// A name as one table cell: relation and type names come from data and may hold `|`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::metrics::tests::hand_example;
    use crate::eval::{evaluate, EvalOptions};

    #[test]
    fn markdown_has_the_tables() {
        let (gold, pred) = hand_example();
        let r = evaluate(&gold, &pred, &EvalOptions::default()).unwrap();
        let md = to_markdown(&r, "pred.jsonl vs gold.jsonl");
        assert!(md.starts_with("# pred.jsonl vs gold.jsonl\n"));
        for heading in [
            "## Overall",
            "## Span-exact",
            "## Per relation",
            "## Per overlap class (unit: sentence)",
            "## Per entity type",
        ] {
            assert!(md.contains(heading), "no {heading} in\n{md}");
        }
        // 2 of 3 right: 66.67 % everywhere on the overall and span-exact rows.
        assert!(
            md.contains("| text triples | 3 | 3 | 2 | 1 | 1 | 66.67 | 66.67 | 66.67 |"),
            "{md}"
        );
        assert!(
            md.contains("| span triples | 3 | 3 | 2 | 1 | 1 | 66.67 | 66.67 | 66.67 |"),
            "{md}"
        );
        assert!(
            md.contains("| McBp | 1 | 1 | 0 | 1 | 1 | 0.00 | 0.00 | 0.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| BpSy | 1 | 1 | 1 | 0 | 0 | 100.00 | 100.00 | 100.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| Normal | 1 | 1 | 1 | 1 | 0 | 0 | 100.00 | 100.00 | 100.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| SEO | 1 | 2 | 2 | 1 | 1 | 1 | 50.00 | 50.00 | 50.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| EPO | 0 | 0 | 0 | 0 | 0 | 0 | 0.00 | 0.00 | 0.00 |"),
            "{md}"
        );
        assert!(
            md.contains("| Bp | 2 | 2 | 1 | 1 | 1 | 50.00 | 50.00 | 50.00 |"),
            "{md}"
        );
        assert!(!md.contains("## Notes"));
    }

    #[test]
    fn markdown_without_spans_says_why_and_escapes_names() {
        let (gold, pred) = hand_example();
        let mut r = evaluate(&gold, &pred, &EvalOptions::default()).unwrap();
        r.span_exact = None;
        r.notes.push("span-exact scores skipped".into());
        let bp = r.per_relation["BpSy"];
        r.per_relation.insert("a|b".into(), bp);
        let md = to_markdown(&r, "t");
        assert!(md.contains("Not scored: both files need offsets"));
        assert!(md.contains("## Notes\n\n- span-exact scores skipped\n"));
        assert!(md.contains("| a\\|b | 1 |"));
    }
}
