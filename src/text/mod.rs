//! Text layer: reports → segments → tokens → model targets.
//!
//! `segment` cuts a report into sentences or windows of at most `max_len` tokens (char offsets
//! kept back to the report); `tokenize` wraps the `tokenizers` crate's BERT WordPiece with char
//! offsets; `labels` turns corpus relations into subject/object tagger targets, counting every
//! relation it cannot place; `run` labels a whole corpus and reports it (`cbrrel text`).
//! Imports only from `corpus`.

pub mod args;
pub mod labels;
pub mod run;
pub mod segment;
pub mod tokenize;
pub mod vocab;

pub use labels::{
    label_record, label_records, LabelReport, ObjectLabel, SegmentExample, SubjectLabel,
};
pub use run::{label_corpus, LabelRun, LabelRunError};
pub use segment::{segment, segment_of, Segment, SegmentConfig};
pub use tokenize::{BertTokenizer, TokenizeError, Tokens};
