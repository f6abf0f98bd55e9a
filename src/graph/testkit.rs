//! What the graph's unit tests share: the shipped vocabulary, shapes and segment table, a run,
//! and a store dumped as sorted N-Quads lines (stores are compared whole: an incremental load,
//! a retraction or a rebuild must equal a clean load).

use std::path::Path;

use oxigraph::store::Store;

use super::rdf::{RunInfo, Vocabulary};
use super::segments::SegmentTable;
use super::store::{LoadContext, Shipped};
use crate::extract::TripleRow;

pub(crate) struct Kit {
    shipped: Shipped,
    pub vocab: Vocabulary,
    pub table: SegmentTable,
    pub run: RunInfo,
}

impl Kit {
    pub fn new() -> Kit {
        let shipped = Shipped::load().unwrap();
        let (vocab, table) = (shipped.vocab.clone(), shipped.table.clone());
        Kit {
            shipped,
            vocab,
            table,
            run: RunInfo {
                model_id: "m".into(),
                ended_at: "2026-11-25T02:00:00Z".into(),
            },
        }
    }

    pub fn cx(&self) -> LoadContext<'_> {
        self.shipped.context()
    }
}

/// Every quad of the store at `dir`, as sorted N-Quads lines.
pub(crate) fn dump(dir: &Path) -> Vec<String> {
    let store = Store::open_read_only(dir).unwrap();
    let mut v: Vec<String> = store.iter().map(|q| q.unwrap().to_string()).collect();
    v.sort();
    v
}

/// A relation between two mentions given as (text, type, start): each span runs over its text.
pub(crate) fn triple(rel: &str, s: (&str, &str, u64), o: (&str, &str, u64)) -> TripleRow {
    TripleRow::between(
        rel,
        (s.0, s.1, (s.2, s.2 + s.0.chars().count() as u64)),
        (o.0, o.1, (o.2, o.2 + o.0.chars().count() as u64)),
        0.8,
    )
}
