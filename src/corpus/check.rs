//! `cbrrel corpus check` as a value: a corpus's problems counted per kind, printed for people
//! (one line per problem, then the totals) or serialised for scripts. Also the rule every
//! command that scores or trains applies to its inputs: a file with rejected records is
//! refused, because results on it would be silently partial.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::problem::{Action, Problem};
use super::reader::{Corpus, Format};
use super::CorpusError;

/// What `corpus check` reports; serialises as its `--format json` prints it.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    pub file: String,
    pub format: Format,
    pub read: usize,
    pub accepted: usize,
    pub rejected: usize,
    pub problems: usize,
    pub per_kind: BTreeMap<&'static str, usize>,
    pub details: &'a [Problem],
    /// Problems listed in the text form (all are counted).
    #[serde(skip)]
    pub max_lines: usize,
}

impl<'a> CheckReport<'a> {
    pub fn new(corpus: &'a Corpus, max_lines: usize) -> CheckReport<'a> {
        let mut per_kind = BTreeMap::new();
        for p in &corpus.problems {
            *per_kind.entry(p.kind.as_str()).or_default() += 1;
        }
        CheckReport {
            file: corpus.path.display().to_string(),
            format: corpus.format,
            read: corpus.read,
            accepted: corpus.records.len(),
            rejected: corpus.rejected(),
            problems: corpus.problems.len(),
            per_kind,
            details: &corpus.problems,
            max_lines,
        }
    }

    /// No problem at all (the command's exit code 0).
    pub fn is_clean(&self) -> bool {
        self.problems == 0
    }
}

/// At most `max_lines` problems, then `read = accepted + rejected` and the count per kind.
impl fmt::Display for CheckReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in self.details.iter().take(self.max_lines) {
            writeln!(f, "{p}")?;
        }
        if self.problems > self.max_lines {
            writeln!(
                f,
                "… {} more (use --max-lines or --format json)",
                self.problems - self.max_lines
            )?;
        }
        writeln!(
            f,
            "{}: {} records read = {} accepted + {} rejected; {} problems",
            self.file, self.read, self.accepted, self.rejected, self.problems
        )?;
        for (k, n) in &self.per_kind {
            writeln!(f, "  {k:<24} {n}")?;
        }
        Ok(())
    }
}

impl Corpus {
    /// Refuse a file with rejected records (scores or a model on it would be silently
    /// partial); warn on stderr about problems the reader kept. `what` names the file's role.
    pub fn refuse_rejected(&self, what: &str) -> Result<(), CorpusError> {
        let rejected = self.rejected();
        if rejected > 0 {
            let first = self
                .problems
                .iter()
                .find(|p| p.action == Action::RecordRejected)
                .expect("counted");
            return Err(CorpusError::Invalid(format!(
                "{what} file {}: {rejected} records rejected (first: {first}); run `cbrrel corpus check`",
                self.path.display()
            )));
        }
        if !self.problems.is_empty() {
            eprintln!(
                "cbrrel: warning: {what} file {}: {} record problems (scored as given; see `cbrrel corpus check`)",
                self.path.display(),
                self.problems.len()
            );
        }
        Ok(())
    }
}
