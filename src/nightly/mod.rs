//! The nightly graph job: `config` (pipeline/nightly.toml) and `run` (the stages ingest →
//! extract → load, each reading only its predecessor's files in the work directory);
//! `command` runs what each nightly command of the binary runs and returns its summary.

pub mod args;
pub mod command;
pub mod config;
pub mod error;
pub mod run;

pub use command::{run_command, NightlyCommand, Worker};
pub use config::{DumpKind, NightlyConfig, Overrides};
pub use error::NightlyError;
pub use run::{
    run_extract, run_ingest, run_load, run_rebuild, run_retract, ExtractOptions, ExtractReport,
    IngestReport, NightlySummary, Stage,
};
