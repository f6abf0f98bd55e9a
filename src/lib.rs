//! cbrrel: a knowledge-graph pipeline for Chinese clinical reports around CBRRel, a joint
//! entity–relation extractor (encoder → BiLSTM → relative-position attention → subject tagger →
//! U-Net fusion → relation-specific object taggers).
//!
//! Modules follow the data's path (../shared/docs/DESIGN.md): `corpus` (annotated corpora,
//! schema, checks, splits, statistics) → `text` (segments, tokens, training labels) → `eval`
//! (P/R/F1) → `model` → `train` → `extract`; the nightly graph: `ingest` (EMR dumps) →
//! `extract` (sharded) → `graph` (RDF, Oxigraph, SPARQL, exports), run in order by `nightly`.
//! `fixtures` writes the synthetic reports the project ships. A module imports only
//! from the modules before it; `main.rs`/`cli.rs` alone see them all.

pub mod atomic;
pub mod corpus;
pub mod eval;
pub mod extract;
pub mod fixtures;
pub mod graph;
pub mod ingest;
pub mod model;
pub mod nightly;
pub mod text;
pub mod train;
