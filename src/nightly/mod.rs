//! The nightly graph job: `config` (pipeline/nightly.toml) and `run` (the stages ingest →
//! extract → load, each reading only its predecessor's files in the work directory).

pub mod config;
pub mod error;
pub mod run;

pub use config::{DumpKind, NightlyConfig, Overrides};
pub use error::NightlyError;
pub use run::{
    run_extract, run_ingest, run_load, run_rebuild, run_retract, ExtractOptions, NightlySummary,
    Stage,
};
