//! `cbrrel load --rebuild`: rewrite a store in the current layout from its own report graphs.
//!
//! Two users need it: a store written by the first layout (entity copies and mention nodes in
//! every report graph, issue 4) must be migrated before a load may write into it, and a store
//! whose segment table (ontology/segments.toml) was edited needs its segment links and counts
//! recomputed. The report graphs hold everything a load needs — report metadata, each
//! relation's entities, spans, confidence, surface text and extraction run — so the rebuild
//! reads every report back, bulk-loads them into a fresh store beside the old one, and swaps
//! the directories. Each report keeps its original extraction run.
//!
//! Crash safety: the new store is complete before a marker file (`{store}.rebuild-done`) is
//! written; the swap (old → `{store}.pre-rebuild`, new → `{store}`) happens after it, and a
//! rebuild that finds the marker finishes the swap instead of starting over. Until the marker
//! exists the old store is untouched and a crash costs only the half-built copy.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use oxigraph::model::vocab::rdf;
use oxigraph::model::{GraphName, NamedNode, NamedOrBlankNode, Quad, Term};
use oxigraph::store::Store;
use serde::Serialize;

use super::rdf::{
    entity_type_of, graph, parse_span, parse_spans, report_id_of, ReportInput, RunInfo, Vocabulary,
    DCTERMS, ENTITIES_GRAPH, PROV, STORE_GRAPH,
};
use super::store::{load, open_store, read_mark, LoadContext, LoadSummary};
use super::GraphError;
use crate::extract::TripleRow;

/// The numbers of one rebuild.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RebuildSummary {
    /// Layout of the store before (None: the first layout, which had no version mark).
    pub from_layout: Option<u32>,
    pub reports: usize,
    pub triples: usize,
    /// Quads before and after.
    pub quads_before: usize,
    pub load: LoadSummary,
    pub seconds: f64,
}

/// One report read back from a store.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub report_id: String,
    pub content_hash: String,
    pub patient_id: Option<String>,
    pub date: Option<String>,
    pub department: Option<String>,
    pub run: Option<RunInfo>,
    /// Rows as the extraction wrote them (`report_id` and `model_id` filled from the report
    /// graph and its run).
    pub triples: Vec<TripleRow>,
}

impl StoredReport {
    pub fn as_input(&self) -> ReportInput<'_> {
        ReportInput {
            report_id: &self.report_id,
            content_hash: &self.content_hash,
            patient_id: self.patient_id.as_deref(),
            date: self.date.as_deref(),
            department: self.department.as_deref(),
            run: self.run.as_ref(),
            triples: self.triples.iter().map(Cow::Borrowed).collect(),
        }
    }
}

fn lit(t: &Term) -> Option<&str> {
    match t {
        Term::Literal(l) => Some(l.value()),
        _ => None,
    }
}

fn node(t: &Term) -> Option<&NamedNode> {
    match t {
        Term::NamedNode(n) => Some(n),
        _ => None,
    }
}

/// Every report graph of `store`, in either layout, as the inputs that would rebuild it.
pub fn read_reports(store: &Store, vocab: &Vocabulary) -> Result<Vec<StoredReport>, GraphError> {
    let term = |l: &str| vocab.term(l);
    let entities = graph(ENTITIES_GRAPH);
    let store_graph = graph(STORE_GRAPH);
    let norm_text = term("normalizedText");
    let mut run_cache: HashMap<NamedNode, Option<RunInfo>> = HashMap::new();
    let read_run = |n: &NamedNode, quads: &[Quad]| -> Option<RunInfo> {
        let model = quads
            .iter()
            .find(|q| {
                q.subject == NamedOrBlankNode::from(n.clone()) && q.predicate == term("modelId")
            })
            .and_then(|q| lit(&q.object).map(str::to_owned))?;
        let ended = quads
            .iter()
            .find(|q| {
                q.subject == NamedOrBlankNode::from(n.clone())
                    && q.predicate.as_str() == format!("{PROV}endedAtTime")
            })
            .and_then(|q| lit(&q.object).map(str::to_owned))?;
        Some(RunInfo {
            model_id: model,
            ended_at: ended,
        })
    };
    let mut out = Vec::new();
    let mut graphs: Vec<NamedNode> = Vec::new();
    for g in store.named_graphs() {
        if let oxigraph::model::NamedOrBlankNode::NamedNode(n) = g? {
            if report_id_of(n.as_str()).is_some() {
                graphs.push(n);
            }
        }
    }
    graphs.sort();
    for g in graphs {
        let quads: Vec<Quad> = store
            .quads_for_pattern(
                None,
                None,
                None,
                Some(GraphName::NamedNode(g.clone()).as_ref()),
            )
            .collect::<Result<_, _>>()?;
        let mut by_subject: BTreeMap<String, Vec<&Quad>> = BTreeMap::new();
        for q in &quads {
            by_subject.entry(q.subject.to_string()).or_default().push(q);
        }
        let report_key = NamedOrBlankNode::from(g.clone()).to_string();
        let own = by_subject.get(&report_key).cloned().unwrap_or_default();
        let get = |qs: &[&Quad], p: &str| {
            qs.iter()
                .find(|q| q.predicate.as_str() == p)
                .map(|q| q.object.clone())
        };
        let bad = |why: &str| {
            GraphError::Inconsistent(format!(
                "report graph <{}>: {why}; nothing was rebuilt",
                g.as_str()
            ))
        };
        let report_id = get(&own, term("reportId").as_str())
            .and_then(|t| lit(&t).map(str::to_owned))
            .ok_or_else(|| bad("no cb:reportId"))?;
        let content_hash = get(&own, term("contentHash").as_str())
            .and_then(|t| lit(&t).map(str::to_owned))
            .ok_or_else(|| bad("no cb:contentHash"))?;
        let opt = |p: &str| get(&own, p).and_then(|t| lit(&t).map(str::to_owned));
        let mut report = StoredReport {
            report_id,
            content_hash,
            patient_id: opt(term("patientPseudoId").as_str()),
            date: opt(&format!("{DCTERMS}date")),
            department: opt(term("department").as_str()),
            run: None,
            triples: Vec::new(),
        };
        // The run: on the report node (layout 2, described in the store graph) or on each
        // assertion (layout 1, described in the report's graph).
        let generated = format!("{PROV}wasGeneratedBy");
        let run_node = get(&own, &generated).or_else(|| {
            quads
                .iter()
                .find(|q| q.predicate.as_str() == generated)
                .map(|q| q.object.clone())
        });
        if let Some(Term::NamedNode(r)) = run_node {
            let run = run_cache
                .entry(r.clone())
                .or_insert_with(|| {
                    let mut described: Vec<Quad> = quads
                        .iter()
                        .filter(|q| q.subject == NamedOrBlankNode::from(r.clone()))
                        .cloned()
                        .collect();
                    if described.is_empty() {
                        described = store
                            .quads_for_pattern(
                                Some(r.as_ref().into()),
                                None,
                                None,
                                Some(store_graph.as_ref()),
                            )
                            .filter_map(Result::ok)
                            .collect();
                    }
                    read_run(&r, &described)
                })
                .clone();
            report.run = run;
        }
        for (subject, qs) in &by_subject {
            let reifies = qs.iter().find(|q| q.predicate.as_ref() == rdf::REIFIES);
            let is_old = qs.iter().any(|q| {
                q.predicate.as_ref() == rdf::TYPE
                    && node(&q.object) == Some(&term("RelationAssertion"))
            });
            if reifies.is_none() && !is_old {
                continue;
            }
            let (s, p, o) = if let Some(q) = reifies {
                match &q.object {
                    Term::Triple(t) => match (&t.subject, &t.object) {
                        (NamedOrBlankNode::NamedNode(s), Term::NamedNode(o)) => {
                            (s.clone(), t.predicate.clone(), o.clone())
                        }
                        _ => {
                            return Err(bad(&format!(
                                "{subject}: rdf:reifies a triple without entity nodes"
                            )))
                        }
                    },
                    _ => {
                        return Err(bad(&format!(
                            "{subject}: rdf:reifies something that is not a triple term"
                        )))
                    }
                }
            } else {
                let part = |p: oxigraph::model::NamedNodeRef<'_>| {
                    qs.iter()
                        .find(|q| q.predicate.as_ref() == p)
                        .and_then(|q| node(&q.object).cloned())
                };
                match (part(rdf::SUBJECT), part(rdf::PREDICATE), part(rdf::OBJECT)) {
                    (Some(s), Some(p), Some(o)) => (s, p, o),
                    _ => {
                        return Err(bad(&format!(
                            "{subject}: an assertion without rdf:subject/predicate/object"
                        )))
                    }
                }
            };
            let (code, _, _) = vocab
                .relation_of(p.as_ref())
                .ok_or_else(|| bad(&format!("{subject}: unknown relation <{}>", p.as_str())))?;
            let confidence = get(qs, term("confidence").as_str())
                .and_then(|t| lit(&t).and_then(|v| v.parse::<f64>().ok()))
                .ok_or_else(|| bad(&format!("{subject}: no confidence")))?;
            // Text and span of each end: layouts 2–4 on the provenance node (the text only where
            // it differs from the entity's normalised text); layout 1 on mention nodes.
            let end =
                |which: &str, entity: &NamedNode| -> Result<(String, (u64, u64)), GraphError> {
                    if reifies.is_some() {
                        // Layout 4: both spans in one literal; layouts 2 and 3: one each.
                        let span = get(qs, term("spans").as_str())
                            .and_then(|t| lit(&t).and_then(parse_spans))
                            .map(|(s, o)| if which == "subject" { s } else { o })
                            .or_else(|| {
                                get(qs, term(&format!("{which}Span")).as_str())
                                    .and_then(|t| lit(&t).and_then(parse_span))
                            })
                            .ok_or_else(|| bad(&format!("{subject}: no {which} span")))?;
                        let text = match get(qs, term(&format!("{which}Text")).as_str())
                            .and_then(|t| lit(&t).map(str::to_owned))
                        {
                            Some(t) => t,
                            None => store
                                .quads_for_pattern(
                                    Some(entity.as_ref().into()),
                                    Some(norm_text.as_ref()),
                                    None,
                                    Some(entities.as_ref()),
                                )
                                .next()
                                .transpose()?
                                .and_then(|q| lit(&q.object).map(str::to_owned))
                                .ok_or_else(|| {
                                    bad(&format!(
                                        "entity <{}> has no normalised text",
                                        entity.as_str()
                                    ))
                                })?,
                        };
                        Ok((text, span))
                    } else {
                        let m = get(qs, term(&format!("{which}Mention")).as_str())
                            .and_then(|t| node(&t).cloned())
                            .ok_or_else(|| bad(&format!("{subject}: no {which} mention")))?;
                        let mq = by_subject
                            .get(&NamedOrBlankNode::from(m.clone()).to_string())
                            .cloned()
                            .unwrap_or_default();
                        let num = |p: &str| {
                            get(&mq, term(p).as_str())
                                .and_then(|t| lit(&t).and_then(|v| v.parse::<u64>().ok()))
                        };
                        let text = get(&mq, term("text").as_str())
                            .and_then(|t| lit(&t).map(str::to_owned));
                        match (text, num("start"), num("end")) {
                            (Some(t), Some(a), Some(b)) => Ok((t, (a, b))),
                            _ => Err(bad(&format!(
                                "mention <{}> lacks text, start or end",
                                m.as_str()
                            ))),
                        }
                    }
                };
            let (subject_text, subject_span) = end("subject", &s)?;
            let (object_text, object_span) = end("object", &o)?;
            let ty = |e: &NamedNode| {
                entity_type_of(e.as_str())
                    .ok_or_else(|| bad(&format!("<{}> is not an entity IRI", e.as_str())))
            };
            report.triples.push(TripleRow {
                report_id: report.report_id.clone(),
                relation: code.clone(),
                subject_type: ty(&s)?,
                object_type: ty(&o)?,
                subject_text,
                subject_start: subject_span.0,
                subject_end: subject_span.1,
                object_text,
                object_start: object_span.0,
                object_end: object_span.1,
                confidence,
                model_id: report
                    .run
                    .as_ref()
                    .map(|r| r.model_id.clone())
                    .unwrap_or_default(),
            });
        }
        out.push(report);
    }
    Ok(out)
}

fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    dir.with_file_name(name)
}

/// Finish a swap a crashed rebuild left behind (see the module doc).
fn finish_swap(dir: &Path) -> Result<(), GraphError> {
    let (fresh, old, done) = (
        sibling(dir, ".rebuild"),
        sibling(dir, ".pre-rebuild"),
        sibling(dir, ".rebuild-done"),
    );
    if done.exists() {
        if fresh.exists() {
            if dir.exists() && !old.exists() {
                std::fs::rename(dir, &old)?;
            } else if dir.exists() {
                std::fs::remove_dir_all(dir)?;
            }
            std::fs::rename(&fresh, dir)?;
        }
        std::fs::remove_file(&done)?;
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Rewrite the store at `dir` in the current layout (see the module doc). `run` is the run of
/// any report whose own run cannot be read back.
pub fn rebuild(
    dir: &Path,
    cx: &LoadContext<'_>,
    run: &RunInfo,
) -> Result<RebuildSummary, GraphError> {
    let t0 = Instant::now();
    finish_swap(dir)?;
    if !dir.is_dir() {
        return Err(GraphError::NoStore(dir.to_owned()));
    }
    let mut summary = RebuildSummary::default();
    let reports = {
        // Opened for writing: the lock keeps a nightly load out while the copy is made.
        let store = open_store(dir)?;
        summary.from_layout = read_mark(&store, cx.vocab)?.layout;
        summary.quads_before = store.len()?;
        read_reports(&store, cx.vocab)?
    };
    summary.reports = reports.len();
    summary.triples = reports.iter().map(|r| r.triples.len()).sum();
    let fresh = sibling(dir, ".rebuild");
    if fresh.exists() {
        std::fs::remove_dir_all(&fresh)?;
    }
    let inputs: Vec<ReportInput<'_>> = reports.iter().map(StoredReport::as_input).collect();
    summary.load = load(&fresh, cx, &inputs, run)?;
    std::fs::write(sibling(dir, ".rebuild-done"), b"")?;
    finish_swap(dir)?;
    summary.seconds = t0.elapsed().as_secs_f64();
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::testkit::{dump, Kit};
    use oxigraph::io::RdfFormat;

    /// A store of the first layout (written here as the issue-4 code wrote it) is rebuilt into
    /// exactly what loading the same reports into a fresh store gives.
    #[test]
    fn a_first_layout_store_is_migrated_to_what_a_fresh_load_gives() {
        let kit = Kit::new();
        let cx = kit.cx();
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let r = "https://w3id.org/cbrrel/data/report/A";
        let cb = "https://w3id.org/cbrrel/ontology#";
        let bp = crate::graph::rdf::entity_iri("Bp", "lad近段").into_string();
        let sy = crate::graph::rdf::entity_iri("Sy", "狭窄90%").into_string();
        let run = "https://w3id.org/cbrrel/data/run/m1/2026-11-01T02%3A00%3A00Z";
        let old = format!(
            "<{r}> {{
  <{r}> a <{cb}Report> ; <{cb}reportId> \"A\" ; <{cb}contentHash> \"h\" ; <{cb}department> \"心内科\" .
  <{run}> a <{cb}ExtractionRun> ; <{cb}modelId> \"m1\" ; <http://www.w3.org/ns/prov#endedAtTime> \"2026-11-01T02:00:00Z\"^^<http://www.w3.org/2001/XMLSchema#dateTime> .
  <{bp}> a <{cb}BodyPart> , <{cb}Entity> ; <{cb}normalizedText> \"lad近段\" .
  <{sy}> a <{cb}SymptomOrFinding> , <{cb}Entity> ; <{cb}normalizedText> \"狭窄90%\" .
  <{bp}> <{cb}hasFinding> <{sy}> .
  <{r}/mention/Bp/0-5> a <{cb}Mention> ; <{cb}mentionOf> <{bp}> ; <{cb}text> \"LAD近段\" ; <{cb}start> 0 ; <{cb}end> 5 .
  <{r}/mention/Sy/5-10> a <{cb}Mention> ; <{cb}mentionOf> <{sy}> ; <{cb}text> \"狭窄90%\" ; <{cb}start> 5 ; <{cb}end> 10 .
  <{r}/relation/BpSy/0-5/5-10> a <{cb}RelationAssertion> ; <http://www.w3.org/1999/02/22-rdf-syntax-ns#subject> <{bp}> ;
     <http://www.w3.org/1999/02/22-rdf-syntax-ns#predicate> <{cb}hasFinding> ; <http://www.w3.org/1999/02/22-rdf-syntax-ns#object> <{sy}> ;
     <{cb}confidence> 9.5e-1 ; <{cb}subjectMention> <{r}/mention/Bp/0-5> ; <{cb}objectMention> <{r}/mention/Sy/5-10> ;
     <http://www.w3.org/ns/prov#wasGeneratedBy> <{run}> .
}}"
        );
        Store::open(&store_dir)
            .unwrap()
            .load_from_slice(RdfFormat::TriG, old.as_bytes())
            .unwrap();
        let today = RunInfo {
            model_id: "m2".into(),
            ended_at: "2026-12-01T02:00:00Z".into(),
        };
        let s = rebuild(&store_dir, &cx, &today).unwrap();
        assert_eq!((s.from_layout, s.reports, s.triples), (None, 1, 1));
        // The same report loaded fresh, with its original run.
        let original = RunInfo {
            model_id: "m1".into(),
            ended_at: "2026-11-01T02:00:00Z".into(),
        };
        let t = TripleRow::between(
            "BpSy",
            ("LAD近段", "Bp", (0, 5)),
            ("狭窄90%", "Sy", (5, 10)),
            0.95,
        );
        let input = ReportInput {
            report_id: "A",
            content_hash: "h",
            patient_id: None,
            date: None,
            department: Some("心内科"),
            triples: vec![Cow::Owned(t)],
            run: Some(&original),
        };
        let clean = dir.path().join("clean");
        load(&clean, &cx, &[input], &original).unwrap();
        assert_eq!(dump(&store_dir), dump(&clean));
        assert!(
            !sibling(&store_dir, ".rebuild").exists()
                && !sibling(&store_dir, ".pre-rebuild").exists()
        );
        // Rebuilding a current store changes nothing.
        let again = rebuild(&store_dir, &cx, &today).unwrap();
        assert_eq!(again.from_layout, Some(crate::graph::rdf::LAYOUT_VERSION));
        assert_eq!(dump(&store_dir), dump(&clean));
    }
}
