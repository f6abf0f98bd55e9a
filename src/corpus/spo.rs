//! spo_list JSONL: `{"text", "spo_list": [{"subject", "subject_type", "predicate", "object",
//! "object_type"}]}` — CMeIE writes `object`/`object_type` as `{"@value": …}`, DuIE 1.0 as
//! plain strings. An `id` field is used when present, else the 1-based line number.
//!
//! **Grounding rule** (these files give no offsets): every non-overlapping occurrence of the
//! subject string, scanning left to right, is a subject mention; each is paired with the
//! occurrence of the object string nearest to it (char gap between the spans; a tie goes to
//! the occurrence after the subject) that does not overlap it. One spo item therefore yields
//! one relation per subject occurrence, all sharing the item's `group`; text-level scoring is
//! unaffected (a triple counts once per record). Our own writer adds `subject_offset` /
//! `object_offset` (`[start, end]`, chars) and `confidence`; when offsets are present and match
//! the strings they are used instead of the search.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Map, Value};

use super::fields::{confidence, id_string, json_object, problem_sink, required_text, round4};
use super::problem::{Action, Problem, ProblemKind};
use super::record::{char_slice, Arg, Entity, Record, Relation};
use super::schema::Schema;

/// The subject's and the object's char span, where the item gives one that checks out.
type SpanPair = (Option<(usize, usize)>, Option<(usize, usize)>);

/// A string or `{"@value": string}`.
fn value_str(v: Option<&Value>) -> Option<&str> {
    match v? {
        Value::String(s) => Some(s),
        Value::Object(m) => m.get("@value").and_then(Value::as_str),
        _ => None,
    }
}

fn offset_pair(v: Option<&Value>) -> Option<(usize, usize)> {
    let a = v?.as_array()?;
    match a.as_slice() {
        [s, e] => Some((s.as_u64()? as usize, e.as_u64()? as usize)),
        _ => None,
    }
}

/// Char-offset spans of the non-overlapping occurrences of `needle` in `text`.
pub fn occurrences(text: &str, needle: &str) -> Vec<(usize, usize)> {
    if needle.is_empty() {
        return Vec::new();
    }
    let needle_chars = needle.chars().count();
    let mut out = Vec::new();
    let mut last_byte = 0;
    let mut last_char = 0;
    for (b, _) in text.match_indices(needle) {
        last_char += text[last_byte..b].chars().count();
        last_byte = b;
        out.push((last_char, last_char + needle_chars));
    }
    out
}

fn nearest(subject: (usize, usize), candidates: &[(usize, usize)]) -> Option<(usize, usize)> {
    candidates
        .iter()
        .filter(|o| o.1 <= subject.0 || o.0 >= subject.1)
        // Gap between the spans; on a tie prefer the occurrence after the subject.
        .min_by_key(|o| {
            if o.0 >= subject.1 {
                (o.0 - subject.1, 0)
            } else {
                (subject.0 - o.1, 1)
            }
        })
        .copied()
}

pub(crate) fn parse(
    line: usize,
    raw: &str,
    value: &Value,
    schema: Option<&Schema>,
    problems: &mut Vec<Problem>,
) -> Option<Record> {
    let mut problem = problem_sink(line, problems);
    let obj = json_object(value, &mut problem)?;
    let id = obj
        .get("id")
        .and_then(id_string)
        .unwrap_or_else(|| line.to_string());
    let rid = Some(id.as_str());
    let text = required_text(obj, rid, &mut problem)?;
    let items = match obj.get("spo_list") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => {
            problem(
                rid,
                ProblemKind::MalformedJson,
                Action::RecordRejected,
                "`spo_list` is not an array".into(),
            );
            return None;
        }
    };
    let n_chars = text.chars().count();
    let mut entities: Vec<Entity> = Vec::new();
    let mut entity_index: HashMap<(usize, usize, String), usize> = HashMap::new();
    let mut intern = |span: (usize, usize), label: &str, confidence: Option<f32>| -> usize {
        *entity_index
            .entry((span.0, span.1, label.to_owned()))
            .or_insert_with(|| {
                entities.push(Entity {
                    id: format!("T{}", entities.len() + 1),
                    label: label.to_owned(),
                    start: span.0,
                    end: span.1,
                    text: char_slice(text, span.0, span.1)
                        .unwrap_or_default()
                        .to_owned(),
                    confidence,
                });
                entities.len() - 1
            })
    };
    let mut relations: Vec<Relation> = Vec::new();
    let mut seen: Vec<(String, String, String, String, String)> = Vec::new();
    for (group, item) in items.iter().enumerate() {
        let subject = value_str(item.get("subject"));
        let object = value_str(item.get("object"));
        let predicate = item.get("predicate").and_then(Value::as_str);
        let (Some(subject), Some(object), Some(predicate)) = (subject, object, predicate) else {
            problem(
                rid,
                ProblemKind::MalformedJson,
                Action::RelationDropped,
                format!("spo item {group} lacks subject, predicate or object"),
            );
            continue;
        };
        let s_type = value_str(item.get("subject_type")).unwrap_or("");
        let o_type = value_str(item.get("object_type")).unwrap_or("");
        let (code, s_label, o_label) = match schema {
            None => (predicate.to_owned(), s_type.to_owned(), o_type.to_owned()),
            Some(schema) => {
                let Some(code) = schema.relation_code(predicate) else {
                    problem(
                        rid,
                        ProblemKind::UnknownRelationType,
                        Action::RelationDropped,
                        format!("spo item {group}: predicate `{predicate}`"),
                    );
                    continue;
                };
                let (Some(s), Some(o)) = (schema.entity(s_type), schema.entity(o_type)) else {
                    problem(
                        rid,
                        ProblemKind::UnknownEntityLabel,
                        Action::RelationDropped,
                        format!("spo item {group}: types `{s_type}` / `{o_type}`"),
                    );
                    continue;
                };
                if !schema.allows(code, &s.code, &o.code) {
                    let kind = if schema.allows(code, &o.code, &s.code) {
                        ProblemKind::ReversedRelation
                    } else {
                        ProblemKind::LabelMismatch
                    };
                    problem(
                        rid,
                        kind,
                        Action::Kept,
                        format!("spo item {group}: {s_type} -{predicate}-> {o_type}"),
                    );
                }
                (code.to_owned(), s.code.clone(), o.code.clone())
            }
        };
        let key = (
            subject.to_owned(),
            code.clone(),
            object.to_owned(),
            s_label.clone(),
            o_label.clone(),
        );
        if seen.contains(&key) {
            problem(
                rid,
                ProblemKind::DuplicateRelation,
                Action::Kept,
                format!("spo item {group} repeats ({subject}, {predicate}, {object})"),
            );
        } else {
            seen.push(key);
        }
        let confidence = confidence(item);
        let given = |key: &str, s: &str| {
            offset_pair(item.get(key))
                .filter(|&(a, b)| a < b && b <= n_chars && char_slice(text, a, b) == Some(s))
        };
        let pairs: Vec<SpanPair> = match (
            given("subject_offset", subject),
            given("object_offset", object),
        ) {
            (Some(s), Some(o)) => vec![(Some(s), Some(o))],
            _ => {
                let s_occ = occurrences(text, subject);
                let o_occ = occurrences(text, object);
                for (what, s, occ) in [("subject", subject, &s_occ), ("object", object, &o_occ)] {
                    if occ.is_empty() {
                        problem(
                            rid,
                            ProblemKind::NotFoundInText,
                            Action::Kept,
                            format!("spo item {group}: {what} `{s}` not in text"),
                        );
                    }
                }
                if s_occ.is_empty() {
                    vec![(None, o_occ.first().copied())]
                } else {
                    s_occ
                        .iter()
                        .map(|&s| (Some(s), nearest(s, &o_occ)))
                        .collect()
                }
            }
        };
        for (s_span, o_span) in pairs {
            let si = s_span.map(|s| intern(s, &s_label, None));
            let oi = o_span.map(|o| intern(o, &o_label, None));
            relations.push(Relation {
                id: format!("R{}", relations.len() + 1),
                code: code.clone(),
                subject: Arg {
                    text: subject.to_owned(),
                    label: s_label.clone(),
                    entity: si,
                },
                object: Arg {
                    text: object.to_owned(),
                    label: o_label.clone(),
                    entity: oi,
                },
                group,
                confidence,
            });
        }
    }
    Some(Record {
        id,
        text: text.to_owned(),
        entities,
        relations,
        line,
        raw: raw.to_owned(),
    })
}

/// A record as an spo_list object (CMeIE style, `{"@value": …}` objects), one item per distinct
/// (subject, relation, object, types), with our `subject_offset`/`object_offset` when grounded.
pub fn record_to_spo(record: &Record, schema: Option<&Schema>) -> Value {
    let rel_name = |code: &str| {
        schema
            .and_then(|s| s.relation_rows(code).next())
            .map(|r| r.zh.clone())
            .unwrap_or(code.to_owned())
    };
    let ent_name = |code: &str| {
        schema
            .and_then(|s| s.entity(code))
            .map(|e| e.zh.clone())
            .unwrap_or(code.to_owned())
    };
    let mut items: Vec<Value> = Vec::new();
    let mut seen = Vec::new();
    for r in &record.relations {
        let key = (
            &r.subject.text,
            &r.code,
            &r.object.text,
            &r.subject.label,
            &r.object.label,
        );
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let mut m = Map::new();
        m.insert("predicate".into(), rel_name(&r.code).into());
        m.insert("subject".into(), r.subject.text.clone().into());
        m.insert("subject_type".into(), ent_name(&r.subject.label).into());
        m.insert("object".into(), json!({ "@value": r.object.text }));
        m.insert(
            "object_type".into(),
            json!({ "@value": ent_name(&r.object.label) }),
        );
        if let (Some(s), Some(o)) = (record.span(&r.subject), record.span(&r.object)) {
            m.insert("subject_offset".into(), json!([s.0, s.1]));
            m.insert("object_offset".into(), json!([o.0, o.1]));
        }
        if let Some(c) = r.confidence {
            m.insert("confidence".into(), json!(round4(c)));
        }
        items.push(Value::Object(m));
    }
    json!({ "id": record.id, "text": record.text, "spo_list": items })
}

/// Write records as spo_list JSONL.
pub fn write_spo<W: Write>(
    records: &[Record],
    schema: Option<&Schema>,
    mut w: W,
) -> std::io::Result<()> {
    for r in records {
        serde_json::to_writer(&mut w, &record_to_spo(r, schema))?;
        w.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::read_corpus_str;

    #[test]
    fn occurrences_are_char_offsets() {
        assert_eq!(
            occurrences("右冠右冠x右冠", "右冠"),
            vec![(0, 2), (2, 4), (5, 7)]
        );
        assert_eq!(occurrences("aaa", "aa"), vec![(0, 2)]);
        assert!(occurrences("abc", "").is_empty());
    }

    #[test]
    fn cmeie_and_duie_items_are_grounded_by_the_nearest_rule() {
        let cmeie = r#"{"text": "胰腺炎@咳嗽。另一胰腺炎，可见咳嗽。", "spo_list": [{"Combined": false, "predicate": "临床表现", "subject": "胰腺炎", "subject_type": "疾病", "object": {"@value": "咳嗽"}, "object_type": {"@value": "症状"}}]}"#;
        let c = read_corpus_str(cmeie, None, None).unwrap();
        let r = &c.records[0];
        assert_eq!(r.id, "1");
        assert_eq!(r.relations.len(), 2, "one relation per subject occurrence");
        assert_eq!(r.annotation_count(), 1);
        assert_eq!(
            r.span_triples(),
            vec![
                (0, 3, "临床表现".into(), 4, 6),
                (9, 12, "临床表现".into(), 15, 17)
            ]
        );
        assert_eq!(r.text_triples().len(), 1);
        let duie = r#"{"postag": [], "text": "《步步》作者桐华", "spo_list": [{"predicate": "作者", "object_type": "人物", "subject_type": "图书作品", "object": "桐华", "subject": "步步"}]}"#;
        let c = read_corpus_str(duie, None, None).unwrap();
        assert_eq!(
            c.records[0].text_triples(),
            vec![("步步".into(), "作者".into(), "桐华".into())]
        );
    }

    #[test]
    fn missing_strings_are_reported_and_kept_ungrounded() {
        let line = r#"{"text": "甲乙", "spo_list": [{"predicate": "p", "subject": "甲", "subject_type": "A", "object": "丙", "object_type": "B"}]}"#;
        let c = read_corpus_str(line, None, None).unwrap();
        assert_eq!(c.problems.len(), 1);
        assert_eq!(c.problems[0].kind, ProblemKind::NotFoundInText);
        assert_eq!(c.records[0].relations[0].object.entity, None);
        assert_eq!(c.records[0].text_triples().len(), 1);
    }

    #[test]
    fn writer_round_trips_with_offsets() {
        let line = r#"{"text": "咳嗽，胰腺炎可见咳嗽。", "spo_list": [{"predicate": "临床表现", "subject": "胰腺炎", "subject_type": "疾病", "object": {"@value": "咳嗽"}, "object_type": {"@value": "症状"}}]}"#;
        let c = read_corpus_str(line, None, None).unwrap();
        let mut out = Vec::new();
        write_spo(&c.records, None, &mut out).unwrap();
        let back = read_corpus_str(std::str::from_utf8(&out).unwrap(), None, None).unwrap();
        assert_eq!(back.records[0].span_triples(), c.records[0].span_triples());
        assert_eq!(
            back.records[0].span_triples(),
            vec![(3, 6, "临床表现".into(), 0, 2)]
        );
    }
}
