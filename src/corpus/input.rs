//! The corpus a command reads: the file, its format and its schema, as every corpus-reading
//! command's flags give them (`cbrrel corpus …`, `cbrrel text`).

use std::path::PathBuf;

use clap::Args;

use super::Format;

/// How to read an annotated corpus file.
#[derive(Debug, Args, Clone)]
pub struct CorpusInput {
    /// Corpus file (doccano relation JSONL or spo_list JSONL).
    pub file: PathBuf,
    /// Corpus format; detected from the first record when not given.
    #[arg(long, value_enum)]
    pub input_format: Option<Format>,
    /// Schema file (`.toml` in ontology/'s format, or an spo schema such as CMeIE's
    /// 53_schemas.jsonl). Default: CASMeD for doccano files, labels as given for spo files.
    #[arg(long)]
    pub schema: Option<PathBuf>,
}
