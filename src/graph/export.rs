//! `cbrrel export`: the store as N-Quads (every graph, provenance kept), or N-Triples / Turtle
//! of the union graph for analysts.
//!
//! Streaming: quads are read from the store and written one by one. The union graph is a set,
//! but the same asserted triple sits in the graph of every report that extracted it; N-Triples
//! and Turtle therefore skip a triple already written, remembered as a 128-bit hash (16 bytes
//! per distinct triple, never the triples themselves). The provenance nodes use RDF 1.2 triple
//! terms (`rdf:reifies <<( s p o )>>`), written in the 1.2 syntax of each format.

use std::collections::HashSet;
use std::io::Write;
use std::path::Path;

use clap::ValueEnum;
use oxigraph::io::{RdfFormat, RdfSerializer};
use sha2::{Digest, Sha256};

use super::GraphError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// N-Triples, union of all graphs (distinct triples).
    Nt,
    /// N-Quads, every graph kept.
    Nq,
    /// Turtle, union of all graphs (distinct triples).
    Ttl,
}

/// Counts of an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportSummary {
    pub quads_read: usize,
    pub written: usize,
}

impl std::fmt::Display for ExportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "export: {} quads read, {} written",
            self.quads_read, self.written
        )
    }
}

/// Write the store at `dir` to `out`.
pub fn export(
    dir: &Path,
    format: ExportFormat,
    out: &mut dyn Write,
) -> Result<ExportSummary, GraphError> {
    let store = super::store::open_read_only(dir)?;
    let mut summary = ExportSummary::default();
    match format {
        ExportFormat::Nq => {
            let mut ser = RdfSerializer::from_format(RdfFormat::NQuads).for_writer(&mut *out);
            for q in store.iter() {
                let q = q?;
                ser.serialize_quad(&q)?;
                summary.quads_read += 1;
                summary.written += 1;
            }
            ser.finish()?;
        }
        ExportFormat::Nt | ExportFormat::Ttl => {
            let rdf = if format == ExportFormat::Nt {
                RdfFormat::NTriples
            } else {
                RdfFormat::Turtle
            };
            let mut ser = RdfSerializer::from_format(rdf);
            if format == ExportFormat::Ttl {
                for (p, iri) in [
                    ("cb", "https://w3id.org/cbrrel/ontology#"),
                    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
                    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
                    ("prov", "http://www.w3.org/ns/prov#"),
                    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
                ] {
                    ser = ser
                        .with_prefix(p, iri)
                        .map_err(|e| GraphError::Invalid(e.to_string()))?;
                }
            }
            let mut ser = ser.for_writer(&mut *out);
            let mut seen: HashSet<u128> = HashSet::new();
            for q in store.iter() {
                let q = q?;
                summary.quads_read += 1;
                let t: oxigraph::model::TripleRef<'_> = q.as_ref().into();
                let key = Sha256::digest(format!("{t}").as_bytes());
                let key = u128::from_le_bytes(key[..16].try_into().expect("16 bytes"));
                if seen.insert(key) {
                    ser.serialize_triple(t)?;
                    summary.written += 1;
                }
            }
            ser.finish()?;
        }
    }
    Ok(summary)
}
