//! Ingest: EMR dumps (CSV, Parquet, NDJSON; one file or a glob) → one Parquet table of
//! accepted reports and one CSV of quarantined rows. The first stage of the nightly graph.
//!
//! - `dump` reads the files row by row, mapping the dump's column names to ours.
//! - `validate` decides, per row, accepted or quarantined (and why): missing id or text,
//!   invalid UTF-8, empty text, text over the size limit, one id with two different texts.
//! - `output` writes `reports.parquet` (with a SHA-256 content hash and a status per report:
//!   `new`, `changed` or `unchanged` against the hashes of the last load) and `quarantine.csv`,
//!   both atomically, and `missing.csv`: reports in the store that the dump does not mention
//!   (neither accepted nor quarantined under their id). Whether those are withdrawn (a full
//!   dump) or merely not re-sent (an incremental one) is the load stage's decision.
//!
//! Accounting: every row read is either accepted or quarantined; `read = accepted +
//! quarantined` always holds, and `skipped` (unchanged since the last load) is a part of
//! `accepted`.

pub mod dump;
pub mod output;
pub mod phi;
pub mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use dump::{expand_inputs, read_dump, DumpFormat, RawRow};
pub use output::{
    read_missing, read_reports, write_missing, write_phi_masked, write_quarantine, write_reports,
    IngestedReport, ReportStatus,
};
pub use validate::{validate, QuarantineReason, QuarantinedRow, Validated};

/// Everything that can stop the ingest stage (as opposed to a bad row, which is quarantined).
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Input(String),
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    #[error("parquet {path}: {message}")]
    Parquet { path: PathBuf, message: String },
}

impl IngestError {
    pub fn io(path: &Path, source: std::io::Error) -> IngestError {
        IngestError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// Which column of the dump holds what (`[columns]` of pipeline/nightly.toml).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// Report id (required).
    pub id: String,
    /// Report text (required).
    pub text: String,
    #[serde(default)]
    pub patient: Option<String>,
    #[serde(default)]
    pub date: Option<String>,
    #[serde(default)]
    pub department: Option<String>,
}

impl Default for ColumnMap {
    fn default() -> Self {
        ColumnMap {
            id: "report_id".into(),
            text: "text".into(),
            patient: Some("patient_id".into()),
            date: Some("date".into()),
            department: Some("department".into()),
        }
    }
}

/// The numbers of one ingest run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestSummary {
    pub files: usize,
    pub read: usize,
    pub accepted: usize,
    pub quarantined: usize,
    /// Accepted reports unchanged since the last load (not re-processed).
    pub skipped: usize,
    pub new: usize,
    pub changed: usize,
    /// Quarantined rows per reason code.
    pub quarantine_reasons: BTreeMap<String, usize>,
    /// Reports in the store before this ingest.
    #[serde(default)]
    pub in_store: usize,
    /// Stored reports the dump does not mention at all (listed in `missing.csv`). A report
    /// whose row was quarantined tonight is mentioned, so it is not missing.
    #[serde(default)]
    pub missing: usize,
    /// Accepted reports whose text the PHI guard masked (`phi = "mask"`; their spans are in
    /// `phi_masked.csv`). Quarantined ones count under `phi_detected`.
    #[serde(default)]
    pub phi_masked: usize,
}

impl IngestSummary {
    /// `read = accepted + quarantined` and `accepted = new + changed + skipped`.
    pub fn adds_up(&self) -> bool {
        self.read == self.accepted + self.quarantined
            && self.accepted == self.new + self.changed + self.skipped
            && self.quarantine_reasons.values().sum::<usize>() == self.quarantined
    }
}

/// SHA-256 of a report's text, hex: a report whose hash is unchanged is not re-processed.
pub fn content_hash(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Run the ingest stage: read every input, validate, compare with `previous` hashes (report id →
/// hash of the last load), write `out_dir/reports.parquet` and `out_dir/quarantine.csv`.
pub fn ingest(
    inputs: &[PathBuf],
    format: Option<DumpFormat>,
    columns: &ColumnMap,
    max_text_chars: usize,
    phi: phi::PhiPolicy,
    previous: &BTreeMap<String, String>,
    out_dir: &Path,
) -> Result<IngestSummary, IngestError> {
    let mut rows = Vec::new();
    for path in inputs {
        rows.extend(read_dump(path, format, columns)?);
    }
    let Validated {
        accepted,
        quarantined,
        masked,
    } = validate(rows, max_text_chars, phi);
    let mut summary = IngestSummary {
        files: inputs.len(),
        ..Default::default()
    };
    summary.read = accepted.len() + quarantined.len();
    summary.quarantined = quarantined.len();
    for q in &quarantined {
        *summary
            .quarantine_reasons
            .entry(q.reason.code().to_owned())
            .or_default() += 1;
    }
    let reports: Vec<IngestedReport> = accepted
        .into_iter()
        .map(|row| {
            let text = row.text_str().expect("validated").to_owned();
            let hash = content_hash(&text);
            let status = match previous.get(row.id_str().expect("validated")) {
                None => ReportStatus::New,
                Some(h) if *h == hash => ReportStatus::Unchanged,
                Some(_) => ReportStatus::Changed,
            };
            IngestedReport {
                report_id: row.id_str().expect("validated").to_owned(),
                patient_id: row.patient.clone(),
                date: row.date.clone(),
                department: row.department.clone(),
                text,
                content_hash: hash,
                status,
                source: row.source.display().to_string(),
                row: row.row as u64,
            }
        })
        .collect();
    summary.accepted = reports.len();
    for r in &reports {
        match r.status {
            ReportStatus::New => summary.new += 1,
            ReportStatus::Changed => summary.changed += 1,
            ReportStatus::Unchanged => summary.skipped += 1,
        }
    }
    let mentioned: std::collections::HashSet<&str> = reports
        .iter()
        .map(|r| r.report_id.as_str())
        .chain(quarantined.iter().filter_map(|q| q.row.id_str()))
        .collect();
    let missing: Vec<String> = previous
        .keys()
        .filter(|id| !mentioned.contains(id.as_str()))
        .cloned()
        .collect();
    summary.in_store = previous.len();
    summary.missing = missing.len();
    summary.phi_masked = masked.len();
    std::fs::create_dir_all(out_dir).map_err(|e| IngestError::io(out_dir, e))?;
    write_reports(&out_dir.join(output::REPORTS_FILE), &reports)?;
    write_quarantine(&out_dir.join(output::QUARANTINE_FILE), &quarantined)?;
    write_missing(&out_dir.join(output::MISSING_FILE), &missing)?;
    write_phi_masked(&out_dir.join(output::PHI_MASKED_FILE), &masked)?;
    debug_assert!(summary.adds_up());
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dump with a clean report, one with a phone number and one with a name, ingested under
    /// each policy: counts add up, nothing written anywhere shows an identifier.
    #[test]
    fn the_phi_guard_quarantines_or_masks_and_the_counts_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let dump = dir.path().join("dump.csv");
        std::fs::write(
            &dump,
            "report_id,text\n\
             1,冠脉造影示前降支近段狭窄90%。\n\
             2,家属电话13812345678，右冠中段狭窄70%。\n\
             3,患者王建国，男，回旋支远段闭塞。\n",
        )
        .unwrap();
        let run = |policy: phi::PhiPolicy, out: &str| {
            let out = dir.path().join(out);
            let s = ingest(
                std::slice::from_ref(&dump),
                None,
                &ColumnMap::default(),
                20_000,
                policy,
                &BTreeMap::new(),
                &out,
            )
            .unwrap();
            assert!(s.adds_up(), "{s:?}");
            let files: String = [
                output::QUARANTINE_FILE,
                output::PHI_MASKED_FILE,
                output::MISSING_FILE,
            ]
            .iter()
            .map(|f| std::fs::read_to_string(out.join(f)).unwrap())
            .collect();
            let texts: Vec<String> = read_reports(&out.join(output::REPORTS_FILE))
                .unwrap()
                .into_iter()
                .map(|r| r.text)
                .collect();
            if policy != phi::PhiPolicy::Off {
                for secret in ["13812345678", "王建国"] {
                    assert!(!files.contains(secret), "{secret} in {files}");
                    assert!(!texts.iter().any(|t| t.contains(secret)), "{secret}");
                }
            }
            (s, files, texts)
        };
        let (s, files, _) = run(phi::PhiPolicy::Quarantine, "q");
        assert_eq!((s.read, s.accepted, s.quarantined), (3, 1, 2));
        assert_eq!(s.quarantine_reasons["phi_detected"], 2);
        assert!(
            files.contains("phi_detected") && files.contains("mobile") && files.contains("name")
        );
        assert!(
            files.contains("家属电话***********，右冠中段狭窄70%"),
            "{files}"
        );

        let (s, files, texts) = run(phi::PhiPolicy::Mask, "m");
        assert_eq!(
            (s.read, s.accepted, s.quarantined, s.phi_masked),
            (3, 3, 0, 2)
        );
        assert!(
            files.contains("2,mobile,4,15") && files.contains("3,name,2,5"),
            "{files}"
        );
        assert!(
            texts.contains(&"患者***，男，回旋支远段闭塞。".to_owned()),
            "{texts:?}"
        );

        let (s, _, _) = run(phi::PhiPolicy::Off, "o");
        assert_eq!((s.accepted, s.quarantined, s.phi_masked), (3, 0, 0));
    }
}
