//! Retraction: removing report graphs from the store.
//!
//! Two users need it. A full nightly dump (`[input] dump = "full"` in pipeline/nightly.toml)
//! lists every report the hospital still has, so a report stored earlier and absent tonight was
//! withdrawn or deleted upstream and its graph must go; and a data engineer sometimes has to
//! take one report out by hand (`cbrrel retract --report ID`), e.g. after a consent withdrawal.
//!
//! Dropping a report's named graph removes everything asserted from it; the counts its keys
//! held are decremented in the same transaction, and an entity node no report mentions any more
//! leaves the entities graph with its last count ([`super::counts`]). Graphs go in transactions
//! of `REPORTS_PER_TRANSACTION`; a crash leaves each report either present or gone (with its
//! counts), and running the same retraction again finishes it (a report already gone counts as
//! `not_in_store`, not as an error).

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::counts::{self, Deltas};
use super::ranking;
use super::rdf::{report_iri, Vocabulary};
use super::segments::SegmentTable;
use super::store::{check_mark, open_store, remove_report, REPORTS_PER_TRANSACTION};
use super::GraphError;

/// The numbers of one retraction.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RetractSummary {
    /// Distinct report ids asked for.
    pub requested: usize,
    /// Report graphs removed.
    pub retracted: usize,
    /// Ids with no graph in the store (never loaded, or retracted before).
    pub not_in_store: usize,
    /// Entity nodes removed with the last report that mentioned them.
    pub entities_removed: usize,
    /// Quads in the whole store afterwards.
    pub store_quads: usize,
    pub seconds: f64,
}

/// Remove the graphs of `report_ids` from the store at `dir`. The store must exist: retracting
/// from a path that holds no store is a typo, not a no-op.
pub fn retract(
    dir: &Path,
    report_ids: &[String],
    vocab: &Vocabulary,
    table: &SegmentTable,
) -> Result<RetractSummary, GraphError> {
    let t0 = Instant::now();
    if !dir.is_dir() {
        return Err(GraphError::NoStore(dir.to_owned()));
    }
    let mut ids: Vec<&str> = report_ids.iter().map(|s| s.trim()).collect();
    if let Some(blank) = ids.iter().position(|s| s.is_empty()) {
        return Err(GraphError::Invalid(format!(
            "report id #{} is empty",
            blank + 1
        )));
    }
    ids.sort_unstable();
    ids.dedup();
    let store = open_store(dir)?;
    if !store.is_empty()? {
        check_mark(dir, &store, vocab, table)?;
    }
    let mut summary = RetractSummary {
        requested: ids.len(),
        ..Default::default()
    };
    for chunk in ids.chunks(REPORTS_PER_TRANSACTION) {
        let mut t = store.start_transaction()?;
        let mut deltas = Deltas::new();
        for id in chunk {
            if remove_report(&mut t, report_iri(id).as_ref(), vocab, &mut deltas)? {
                summary.retracted += 1;
            } else {
                summary.not_in_store += 1;
            }
        }
        // Retraction only takes away: no entity gains a report, so nothing needs describing.
        let applied = counts::apply(&mut t, &deltas, vocab, &mut |_| None)?;
        summary.entities_removed += applied.entities_removed;
        ranking::update(&mut t, &applied, vocab)?;
        t.commit()?;
    }
    store.flush()?;
    summary.store_quads = store.len()?;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::TripleRow;
    use crate::graph::rdf::ReportInput;
    use crate::graph::testkit::{dump, Kit};
    use crate::graph::{load, stored_hashes};

    fn report<'a>(id: &'a str, finding: &'a str) -> ReportInput<'a> {
        let t = TripleRow::between(
            "BpSy",
            ("前降支", "Bp", (0, 3)),
            (finding, "Sy", (3, 3 + finding.chars().count() as u64)),
            0.9,
        );
        ReportInput {
            report_id: id,
            content_hash: id,
            patient_id: None,
            date: None,
            department: None,
            triples: vec![std::borrow::Cow::Owned(t)],
            run: None,
        }
    }

    #[test]
    fn retracting_a_report_leaves_what_loading_the_others_gives_and_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let kit = Kit::new();
        let (cx, run, vocab, table) = (kit.cx(), &kit.run, &kit.vocab, &kit.table);
        let only_a = tempfile::tempdir().unwrap();
        load(only_a.path(), &cx, &[report("A", "狭窄80%")], run).unwrap();
        // The same body part in both reports: B's retraction must keep it (A needs it) and
        // drop B's finding node and counts.
        load(
            dir.path(),
            &cx,
            &[report("A", "狭窄80%"), report("B", "狭窄90%")],
            run,
        )
        .unwrap();

        let s = retract(
            dir.path(),
            &["B".into(), "B".into(), "C".into()],
            vocab,
            table,
        )
        .unwrap();
        assert_eq!(
            (s.requested, s.retracted, s.not_in_store, s.entities_removed),
            (2, 1, 1, 1)
        );
        assert_eq!(
            dump(dir.path()),
            dump(only_a.path()),
            "the store is what loading A alone gives"
        );
        assert_eq!(
            stored_hashes(dir.path(), vocab)
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec!["A"]
        );
        let again = retract(dir.path(), &["B".into()], vocab, table).unwrap();
        assert_eq!((again.retracted, again.not_in_store), (0, 1));
        assert_eq!(dump(dir.path()), dump(only_a.path()));

        assert!(retract(dir.path(), &[" ".into()], vocab, table)
            .unwrap_err()
            .to_string()
            .contains("empty"));
        let missing = dir.path().join("no-such-store");
        assert!(matches!(
            retract(&missing, &["A".into()], vocab, table),
            Err(GraphError::NoStore(_))
        ));
        assert!(!missing.exists(), "a mistyped path is not created");
    }
}
