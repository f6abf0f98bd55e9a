//! A scored pair of files under the title that says what was scored: what `cbrrel eval`
//! prints (Markdown for people, the report alone as JSON) and writes with `--report DIR`.
//! The title lives beside the report rather than in it so that the JSON stays the report's.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use super::metrics::EvalReport;
use super::report::to_markdown;
use crate::atomic::WriteError;

/// An [`EvalReport`] and its title ("pred.jsonl vs gold.jsonl", or the model and data).
#[derive(Debug, Clone)]
pub struct TitledReport {
    pub report: EvalReport,
    pub title: String,
}

impl TitledReport {
    /// Write `eval.md` (Markdown) and `eval.json` (the report, pretty) into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<(), WriteError> {
        crate::atomic::write(&dir.join("eval.md"), self.to_string().as_bytes())?;
        let json = serde_json::to_string_pretty(&self.report).expect("the report serialises");
        crate::atomic::write(&dir.join("eval.json"), json.as_bytes())
    }
}

/// The report alone: the title is the command's, not a score.
impl Serialize for TitledReport {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.report.serialize(s)
    }
}

/// The Markdown document headed by the title.
impl fmt::Display for TitledReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&to_markdown(&self.report, &self.title))
    }
}
