//! cbrrel: a knowledge-graph pipeline for Chinese clinical reports around CBRRel, a joint
//! entity–relation extractor (encoder → BiLSTM → relative-position attention → subject tagger →
//! U-Net fusion → relation-specific object taggers).
//!
//! Modules follow the data's path (../shared/docs/DESIGN.md): `corpus` (annotated corpora,
//! schema, checks, splits, statistics) → `text` (segments, tokens, training labels) → `eval`
//! (P/R/F1) → `model` (CBRRel) → `infer` (a trained model's directory, batches, decoding,
//! prediction) → `train`; the nightly graph: `ingest` (EMR dumps) → `extract` (sharded
//! prediction) → `graph` (RDF, Oxigraph, SPARQL, exports), run in order by `nightly`; `serve`
//! answers SPARQL over HTTP and serves the clinician's page (`cbrrel serve`); `annotate` sends
//! predictions on a dump to doccano and reads the annotators' corrections back as a corpus.
//! `fixtures` writes the synthetic reports the project ships; `atomic` is the one way files are
//! written; `output` is how every command prints its summary (text or JSON). Each stage's
//! command-line flags live beside it (`args.rs`: `#[derive(clap::Args)]` structs and the typed
//! settings or command they resolve to); the binary (`main.rs`, `cli.rs`) alone sees every
//! module, and only parses, makes one call per subcommand and prints.
//!
//! A module imports only from the layers before it, and a module's files never import each
//! other in a cycle; `tests/layers.rs` checks both against this line:
//!
//! Layers, lowest first: output → atomic → corpus → text → eval → model → infer → train → ingest →
//! extract → graph → serve → nightly → annotate → fixtures

pub mod annotate;
pub mod atomic;
pub mod corpus;
pub mod eval;
pub mod extract;
pub mod fixtures;
pub mod graph;
pub mod infer;
pub mod ingest;
pub mod model;
pub mod nightly;
pub mod output;
pub mod serve;
pub mod text;
pub mod train;
