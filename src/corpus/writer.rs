//! Records out in either corpus format, to a file (atomically) or to stdout: what `cbrrel
//! predict` writes. The format-specific writers live beside their parsers (`doccano.rs`,
//! `spo.rs`); this file only picks one and a destination.

use std::io::Write;
use std::path::Path;

use super::reader::Format;
use super::record::Record;
use super::schema::Schema;
use super::{doccano, spo, CorpusError};

/// Write `records` as `format` JSON lines into `out`, or to stdout when `out` is `None`.
/// `schema` maps type codes back to the file's labels.
pub fn write_records(
    records: &[Record],
    format: Format,
    schema: Option<&Schema>,
    out: Option<&Path>,
) -> Result<(), CorpusError> {
    let mut buf = Vec::new();
    match format {
        Format::Doccano => {
            doccano::write_doccano(records, schema, &mut buf).map_err(CorpusError::Stdout)?;
        }
        Format::Spo => spo::write_spo(records, schema, &mut buf).map_err(CorpusError::Stdout)?,
    }
    match out {
        Some(out) => crate::atomic::write(out, &buf)?,
        None => (std::io::stdout().lock().write_all(&buf)).map_err(CorpusError::Stdout)?,
    }
    Ok(())
}
