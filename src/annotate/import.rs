//! `cbrrel annotate import`: annotators' corrections from doccano back into the corpus format.
//!
//! doccano exports a relation project two ways, and both are read:
//! - "JSONL (relation)": `{"id", "text", "entities": [{"id", "label", "start_offset",
//!   "end_offset"}], "relations": [{"id", "from_id", "to_id", "type"}], "Comments": [...]}`;
//! - plain "JSONL": `{"id", "text", "label": [[start, end, "label"], ...]}` — spans only: the
//!   relations are not in the file (the summary says so, loudly).
//!
//! Either may carry the task's fields at the top level or under `"meta"`, and `"data"` for
//! `"text"` (older doccano). doccano replaces the task's `id` with its own example id, so the
//! record's id comes from `report_id`; the text must still hash to the exported `content_hash`.
//! Every line is rewritten to the shape `corpus::read_corpus` reads and read by it, so the
//! problems are exactly those `cbrrel corpus check` reports, plus `text_edited` and
//! `not_a_task`; `read = imported + rejected`.
//!
//! Given the exported tasks (`--tasks`), the import also lists what the annotators changed.
//! Entities are matched first (same span and label; same span, new label = relabelled; same
//! label, overlapping span = moved), then relations through the matched entities, so a moved
//! span is one change, not a removed and an added relation.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::{Map, Value};

use super::AnnotateError;
use crate::corpus::{
    jsonl_lines, read_corpus, read_corpus_bytes, record_to_doccano, Action, Format, Problem,
    ProblemKind, Record, Schema,
};
use crate::ingest::content_hash;

/// Which doccano export a line was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Variant {
    /// `entities` + `relations` ("JSONL (relation)").
    Relation,
    /// `label: [[start, end, label]]` (plain "JSONL": no relations).
    SpanLabels,
}

/// The task fields of one line, kept beside the rewritten line.
#[derive(Debug, Clone, Default)]
struct TaskFields {
    report_id: Option<String>,
    content_hash: Option<String>,
}

fn string_field(obj: &Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Rewrite one doccano export object to the corpus reader's doccano shape; None when it is not
/// an object (the reader reports it).
fn normalize(value: Value) -> Option<(Value, Variant, TaskFields)> {
    let Value::Object(mut obj) = value else {
        return None;
    };
    if let Some(Value::Object(meta)) = obj.remove("meta") {
        for (k, v) in meta {
            obj.entry(k).or_insert(v);
        }
    }
    if !obj.contains_key("text") {
        if let Some(data) = obj.remove("data") {
            obj.insert("text".into(), data);
        }
    }
    let mut variant = Variant::Relation;
    if !obj.contains_key("entities") {
        let spans = obj.remove("label").or_else(|| obj.remove("labels"));
        if let Some(Value::Array(spans)) = spans {
            variant = Variant::SpanLabels;
            let entities: Vec<Value> = spans
                .into_iter()
                .enumerate()
                .map(|(k, span)| match span {
                    Value::Array(a) if a.len() == 3 => serde_json::json!({
                        "id": k + 1,
                        "start_offset": a[0],
                        "end_offset": a[1],
                        "label": a[2],
                    }),
                    // Left for the reader to report as a malformed entity.
                    other => serde_json::json!({ "id": k + 1, "span": other }),
                })
                .collect();
            obj.insert("entities".into(), Value::Array(entities));
        }
    }
    let fields = TaskFields {
        report_id: string_field(&obj, "report_id"),
        content_hash: string_field(&obj, "content_hash"),
    };
    if let Some(id) = &fields.report_id {
        obj.insert("id".into(), Value::String(id.clone()));
    }
    Some((Value::Object(obj), variant, fields))
}

/// One change an annotator made to a task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub report_id: String,
    pub kind: ChangeKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    EntityAdded,
    EntityRemoved,
    EntityRelabelled,
    EntityMoved,
    RelationAdded,
    RelationRemoved,
    RelationRetyped,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::EntityAdded => "entity_added",
            ChangeKind::EntityRemoved => "entity_removed",
            ChangeKind::EntityRelabelled => "entity_relabelled",
            ChangeKind::EntityMoved => "entity_moved",
            ChangeKind::RelationAdded => "relation_added",
            ChangeKind::RelationRemoved => "relation_removed",
            ChangeKind::RelationRetyped => "relation_retyped",
        }
    }
}

/// What the annotators changed in one record against its task.
pub fn diff(task: &Record, corrected: &Record) -> Vec<Change> {
    let mut out = Vec::new();
    let mut change = |kind, detail: String| {
        out.push(Change {
            report_id: corrected.id.clone(),
            kind,
            detail,
        })
    };
    let span = |e: &crate::corpus::Entity| format!("{} {}..{} {}", e.label, e.start, e.end, e.text);
    // task entity index → corrected entity index
    let mut matched: HashMap<usize, usize> = HashMap::new();
    let mut taken = vec![false; corrected.entities.len()];
    let mut pass = |same: &dyn Fn(&crate::corpus::Entity, &crate::corpus::Entity) -> bool,
                    matched: &mut HashMap<usize, usize>|
     -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, t) in task.entities.iter().enumerate() {
            if matched.contains_key(&i) {
                continue;
            }
            if let Some(j) = (0..corrected.entities.len())
                .find(|&j| !taken[j] && same(t, &corrected.entities[j]))
            {
                taken[j] = true;
                matched.insert(i, j);
                pairs.push((i, j));
            }
        }
        pairs
    };
    pass(
        &|t, c| t.start == c.start && t.end == c.end && t.label == c.label,
        &mut matched,
    );
    for (i, j) in pass(&|t, c| t.start == c.start && t.end == c.end, &mut matched) {
        change(
            ChangeKind::EntityRelabelled,
            format!(
                "{} → {}",
                span(&task.entities[i]),
                corrected.entities[j].label
            ),
        );
    }
    for (i, j) in pass(
        &|t, c| t.label == c.label && t.start < c.end && c.start < t.end,
        &mut matched,
    ) {
        change(
            ChangeKind::EntityMoved,
            format!(
                "{} → {}..{} {}",
                span(&task.entities[i]),
                corrected.entities[j].start,
                corrected.entities[j].end,
                corrected.entities[j].text
            ),
        );
    }
    for (i, e) in task.entities.iter().enumerate() {
        if !matched.contains_key(&i) {
            change(ChangeKind::EntityRemoved, span(e));
        }
    }
    for (j, e) in corrected.entities.iter().enumerate() {
        if !taken[j] {
            change(ChangeKind::EntityAdded, span(e));
        }
    }
    // Relations by their ends in the corrected record's entity indices.
    let ends = |r: &crate::corpus::Relation, map: &dyn Fn(usize) -> Option<usize>| {
        Some((map(r.subject.entity?)?, map(r.object.entity?)?))
    };
    let from_task = |i: usize| matched.get(&i).copied();
    let same = |j: usize| Some(j);
    let task_rel: Vec<(Option<(usize, usize)>, &crate::corpus::Relation)> = task
        .relations
        .iter()
        .map(|r| (ends(r, &from_task), r))
        .collect();
    let mut used = vec![false; corrected.relations.len()];
    let describe =
        |r: &crate::corpus::Relation| format!("{} {} → {}", r.code, r.subject.text, r.object.text);
    let mut unmatched_task = Vec::new();
    for (e, r) in &task_rel {
        let hit =
            corrected.relations.iter().enumerate().position(|(j, c)| {
                !used[j] && e.is_some() && ends(c, &same) == *e && c.code == r.code
            });
        match hit {
            Some(j) => used[j] = true,
            None => unmatched_task.push((*e, *r)),
        }
    }
    for (e, r) in unmatched_task {
        let retyped = corrected
            .relations
            .iter()
            .enumerate()
            .position(|(j, c)| !used[j] && e.is_some() && ends(c, &same) == e);
        match retyped {
            Some(j) => {
                used[j] = true;
                change(
                    ChangeKind::RelationRetyped,
                    format!("{} → {}", describe(r), corrected.relations[j].code),
                );
            }
            None => change(ChangeKind::RelationRemoved, describe(r)),
        }
    }
    for (j, r) in corrected.relations.iter().enumerate() {
        if !used[j] {
            change(ChangeKind::RelationAdded, describe(r));
        }
    }
    out
}

/// The numbers of one import.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportSummary {
    pub input: PathBuf,
    pub out: PathBuf,
    /// Non-blank lines read; `read = imported + rejected`.
    pub read: usize,
    pub imported: usize,
    pub rejected: usize,
    pub entities: usize,
    pub relations: usize,
    /// Lines per doccano export variant.
    pub variants: BTreeMap<String, usize>,
    /// Problems per kind (as `cbrrel corpus check` names them).
    pub problem_kinds: BTreeMap<String, usize>,
    pub problems: Vec<Problem>,
    /// With `--tasks`: the changes per kind, the tasks the file does not return, the
    /// imported records that were not among the tasks, and every change.
    pub change_kinds: BTreeMap<String, usize>,
    pub records_changed: usize,
    pub records_unchanged: usize,
    pub tasks_not_returned: usize,
    pub records_without_task: usize,
    pub changes: Vec<Change>,
}

impl ImportSummary {
    pub fn adds_up(&self) -> bool {
        self.read == self.imported + self.rejected
    }

    /// Problems that left a record, an entity or a relation out of the corpus.
    pub fn dropped(&self) -> usize {
        self.problems
            .iter()
            .filter(|p| p.action != Action::Kept)
            .count()
    }
}

/// Lines of problems or changes the text summary prints (`--format json` has them all).
const SHOWN: usize = 100;

impl std::fmt::Display for ImportSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "read {} records from {}: {} imported, {} rejected; {} entities, {} relations → {}",
            self.read,
            self.input.display(),
            self.imported,
            self.rejected,
            self.entities,
            self.relations,
            self.out.display()
        )?;
        writeln!(f, "doccano export variants: {:?}", self.variants)?;
        if self.variants.contains_key("span_labels") {
            writeln!(
                f,
                "WARNING: lines in doccano's plain JSONL export carry spans only; their relations are not in the file (export as \"JSONL (relation)\")"
            )?;
        }
        if !self.problems.is_empty() {
            writeln!(
                f,
                "{} problems {:?}:",
                self.problems.len(),
                self.problem_kinds
            )?;
            for p in self.problems.iter().take(SHOWN) {
                writeln!(f, "  {p}")?;
            }
            if self.problems.len() > SHOWN {
                writeln!(
                    f,
                    "  … {} more (--format json lists all)",
                    self.problems.len() - SHOWN
                )?;
            }
        }
        if !self.change_kinds.is_empty() || self.records_unchanged > 0 {
            writeln!(
                f,
                "against the tasks: {} records changed, {} unchanged, {} tasks not in the file, {} records not among the tasks; changes {:?}",
                self.records_changed,
                self.records_unchanged,
                self.tasks_not_returned,
                self.records_without_task,
                self.change_kinds
            )?;
            for c in self.changes.iter().take(SHOWN) {
                writeln!(f, "  {} {}: {}", c.report_id, c.kind.as_str(), c.detail)?;
            }
            if self.changes.len() > SHOWN {
                writeln!(
                    f,
                    "  … {} more (--format json lists all)",
                    self.changes.len() - SHOWN
                )?;
            }
        }
        Ok(())
    }
}

/// A doccano export as read: the records kept, every problem, the non-blank lines read and the
/// lines per export variant.
pub struct ReadExport {
    pub records: Vec<Record>,
    pub problems: Vec<Problem>,
    pub read: usize,
    pub variants: BTreeMap<String, usize>,
}

/// Read a doccano export into records (ids = report ids, confidences dropped: the annotators'
/// word is gold), with every problem.
pub fn read_export(
    path: &Path,
    bytes: &[u8],
    schema: &Schema,
) -> Result<ReadExport, AnnotateError> {
    let mut rewritten: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut fields: HashMap<usize, TaskFields> = HashMap::new();
    let mut variants: BTreeMap<String, usize> = BTreeMap::new();
    for (line, raw) in jsonl_lines(bytes) {
        let parsed = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(s).ok())
            .and_then(normalize);
        match parsed {
            Some((v, variant, f)) => {
                let name = match variant {
                    Variant::Relation => "relation",
                    Variant::SpanLabels => "span_labels",
                };
                *variants.entry(name.into()).or_default() += 1;
                fields.insert(line, f);
                rewritten.extend_from_slice(v.to_string().as_bytes());
            }
            // Not JSON, not UTF-8 or not an object: the reader says which.
            None => rewritten.extend_from_slice(raw),
        }
        rewritten.push(b'\n');
    }
    let corpus = read_corpus_bytes(path, &rewritten, Some(Format::Doccano), Some(schema))?;
    let mut problems = corpus.problems;
    let mut records = Vec::new();
    for mut r in corpus.records {
        let f = fields.get(&r.line).cloned().unwrap_or_default();
        let reject = |kind, detail: String| Problem {
            line: r.line,
            record: Some(r.id.clone()),
            kind,
            action: Action::RecordRejected,
            detail,
        };
        let (Some(_), Some(hash)) = (&f.report_id, &f.content_hash) else {
            problems.push(reject(
                ProblemKind::NotATask,
                "no report_id or content_hash: not a task of `cbrrel annotate export`".into(),
            ));
            continue;
        };
        if content_hash(&r.text) != *hash {
            problems.push(reject(
                ProblemKind::TextEdited,
                "the text was edited in doccano: its SHA-256 is not the exported content_hash"
                    .into(),
            ));
            continue;
        }
        for e in &mut r.entities {
            e.confidence = None;
        }
        for x in &mut r.relations {
            x.confidence = None;
        }
        records.push(r);
    }
    problems.sort_by_key(|p| p.line);
    Ok(ReadExport {
        records,
        problems,
        read: corpus.read,
        variants,
    })
}

/// Import `input` (doccano's export) into `out` (the corpus format: doccano relation JSONL with
/// the schema's 中文 labels, ids = report ids, plus each record's `content_hash`), comparing
/// with the exported `tasks` when given.
pub fn import(
    input: &Path,
    out: &Path,
    tasks: Option<&Path>,
    schema: &Schema,
) -> Result<ImportSummary, AnnotateError> {
    let bytes = std::fs::read(input).map_err(|source| AnnotateError::Read {
        path: input.to_owned(),
        source,
    })?;
    let ReadExport {
        records,
        problems,
        read,
        variants,
    } = read_export(input, &bytes, schema)?;
    let mut text = String::new();
    for r in &records {
        let (mut v, _) = record_to_doccano(r, Some(schema));
        v.as_object_mut()
            .expect("object")
            .insert("content_hash".into(), content_hash(&r.text).into());
        text.push_str(&v.to_string());
        text.push('\n');
    }
    crate::atomic::write(out, text.as_bytes())?;
    let mut summary = ImportSummary {
        input: input.to_owned(),
        out: out.to_owned(),
        read,
        imported: records.len(),
        rejected: problems
            .iter()
            .filter(|p| p.action == Action::RecordRejected)
            .count(),
        entities: records.iter().map(|r| r.entities.len()).sum(),
        relations: records.iter().map(|r| r.relations.len()).sum(),
        variants,
        ..Default::default()
    };
    for p in &problems {
        *summary
            .problem_kinds
            .entry(p.kind.as_str().into())
            .or_default() += 1;
    }
    summary.problems = problems;
    if let Some(tasks) = tasks {
        let exported = read_corpus(tasks, Some(Format::Doccano), Some(schema))?;
        let by_id: HashMap<&str, &Record> = exported
            .records
            .iter()
            .map(|r| (r.id.as_str(), r))
            .collect();
        let mut returned = std::collections::HashSet::new();
        for r in &records {
            let Some(task) = by_id.get(r.id.as_str()) else {
                summary.records_without_task += 1;
                continue;
            };
            returned.insert(r.id.as_str());
            let changes = diff(task, r);
            if changes.is_empty() {
                summary.records_unchanged += 1;
            } else {
                summary.records_changed += 1;
            }
            summary.changes.extend(changes);
        }
        summary.tasks_not_returned = by_id.len() - returned.len();
        for c in &summary.changes {
            *summary
                .change_kinds
                .entry(c.kind.as_str().into())
                .or_default() += 1;
        }
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;

    const TEXT: &str = "前降支近段狭窄80%,右冠远段闭塞,置入支架1枚。";

    /// A task as `annotate export` writes it: two findings of two body parts, one stent.
    fn task_line() -> String {
        let hash = content_hash(TEXT);
        format!(
            r#"{{"id": "R7", "text": "{TEXT}", "entities": [{{"id": 0, "label": "身体部位", "start_offset": 0, "end_offset": 5, "confidence": 0.9}}, {{"id": 1, "label": "症状体征", "start_offset": 5, "end_offset": 10, "confidence": 0.8}}, {{"id": 2, "label": "身体部位", "start_offset": 11, "end_offset": 15}}, {{"id": 3, "label": "症状体征", "start_offset": 15, "end_offset": 17}}], "relations": [{{"id": 0, "from_id": 0, "to_id": 1, "type": "身体部位_症状体征", "confidence": 0.7}}], "report_id": "R7", "content_hash": "{hash}", "model_id": "cbrrel-x", "selection": "low-confidence", "score": 0.7}}"#
        )
    }

    fn read(line: &str) -> (Vec<Record>, Vec<Problem>, usize, BTreeMap<String, usize>) {
        let r = read_export(Path::new("t.jsonl"), line.as_bytes(), &Schema::casmed()).unwrap();
        (r.records, r.problems, r.read, r.variants)
    }

    fn task() -> Record {
        read_corpus_str(&task_line(), None, None).unwrap().records[0].clone()
    }

    #[test]
    fn an_unedited_task_comes_back_as_it_was_exported() {
        let (records, problems, read_lines, variants) = read(&task_line());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!((read_lines, records.len()), (1, 1));
        assert_eq!(variants["relation"], 1);
        let r = &records[0];
        assert_eq!(r.id, "R7");
        let t = task();
        assert_eq!(r.span_triples(), t.span_triples());
        let spans = |r: &Record| -> Vec<(usize, usize, String)> {
            r.entities
                .iter()
                .map(|e| (e.start, e.end, e.label.clone()))
                .collect()
        };
        assert_eq!(spans(r), spans(&t));
        assert!(r.entities.iter().all(|e| e.confidence.is_none()), "gold");
        assert!(diff(&t, r).is_empty());
    }

    /// What doccano gives back after an annotator's edits: its own ids, the task fields under
    /// `meta`, a `Comments` list; a relation added, a span moved, a label changed (and the
    /// relation on it retyped to match).
    #[test]
    fn a_hand_edited_export_imports_with_those_changes_and_nothing_else() {
        let mut v: Value = serde_json::from_str(&task_line()).unwrap();
        let obj = v.as_object_mut().unwrap();
        let mut meta = Map::new();
        for k in [
            "report_id",
            "content_hash",
            "model_id",
            "selection",
            "score",
        ] {
            meta.insert(k.into(), obj.remove(k).unwrap());
        }
        obj.insert("meta".into(), Value::Object(meta));
        obj.insert("id".into(), 4711.into());
        obj.insert("Comments".into(), serde_json::json!([]));
        let entities = obj["entities"].as_array_mut().unwrap();
        for (k, e) in entities.iter_mut().enumerate() {
            e["id"] = (100 + k).into();
            e.as_object_mut().unwrap().remove("confidence");
        }
        // 右冠远段 (11..15) → 右冠远 (11..14): moved.
        entities[2]["end_offset"] = 14.into();
        // 前降支近段 relabelled an examination, and its relation an examination's finding
        // (InSy), as an annotator changes both.
        entities[0]["label"] = "检查检验".into();
        let relations = obj["relations"].as_array_mut().unwrap();
        relations[0]["from_id"] = 100.into();
        relations[0]["to_id"] = 101.into();
        relations[0]["type"] = "检查检验_症状体征".into();
        // A relation the model missed: 右冠远段 → 闭塞.
        relations.push(
            serde_json::json!({"id": 9, "from_id": 102, "to_id": 103, "type": "身体部位_症状体征"}),
        );
        let (records, problems, _, _) = read(&v.to_string());
        assert!(problems.is_empty(), "{problems:?}");
        let changes = diff(&task(), &records[0]);
        let kinds: Vec<ChangeKind> = changes.iter().map(|c| c.kind).collect();
        assert_eq!(
            kinds,
            [
                ChangeKind::EntityRelabelled,
                ChangeKind::EntityMoved,
                ChangeKind::RelationRetyped,
                ChangeKind::RelationAdded
            ],
            "{changes:#?}"
        );
        assert!(changes.iter().all(|c| c.report_id == "R7"));
        assert!(changes[1].detail.contains("11..15") && changes[1].detail.contains("11..14"));
        assert!(changes[3].detail.contains("BpSy"), "{}", changes[3].detail);
    }

    #[test]
    fn problems_are_reported_and_counts_add_up() {
        let good = task_line();
        let edited = good
            .replacen("闭塞", "狭窄", 1)
            .replacen("\"R7\"", "\"R8\"", 2);
        let anonymous = good
            .replacen(r#""report_id": "R7", "#, "", 1)
            .replacen("\"R7\"", "\"R9\"", 1);
        let unknown = good.replacen("\"R7\"", "\"R10\"", 2).replacen(
            "症状体征\", \"start_offset\": 15",
            "器官\", \"start_offset\": 15",
            1,
        );
        let spans_only = format!(
            r#"{{"id": 3, "data": "{TEXT}", "label": [[0, 5, "身体部位"], [5, 10, "症状体征"]], "report_id": "R11", "content_hash": "{}"}}"#,
            content_hash(TEXT)
        );
        let text = [
            good,
            edited,
            anonymous,
            unknown,
            spans_only,
            "{not json".into(),
        ]
        .join("\n");
        let (records, problems, read_lines, variants) = read(&text);
        let ids: Vec<&str> = records.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["R7", "R10", "R11"]);
        let rejected = problems
            .iter()
            .filter(|p| p.action == Action::RecordRejected)
            .count();
        assert_eq!(read_lines, records.len() + rejected, "{problems:#?}");
        let kinds: Vec<(ProblemKind, Action)> =
            problems.iter().map(|p| (p.kind, p.action)).collect();
        assert_eq!(
            kinds,
            [
                (ProblemKind::TextEdited, Action::RecordRejected),
                (ProblemKind::NotATask, Action::RecordRejected),
                (ProblemKind::UnknownEntityLabel, Action::EntityDropped),
                (ProblemKind::MalformedJson, Action::RecordRejected),
            ]
        );
        assert_eq!(variants["span_labels"], 1);
        assert_eq!(records[2].entities.len(), 2);
        assert!(records[2].relations.is_empty());
    }
}
