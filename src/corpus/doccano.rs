//! doccano relation JSONL: `{"id", "text", "entities": [{"id", "label", "start_offset",
//! "end_offset"}], "relations": [{"id", "from_id", "to_id", "type"}]}`, offsets in chars,
//! end exclusive, `from_id` the subject. Labels and types are the schema's Chinese names or
//! codes. Predictions may add `"confidence"` to entities and relations.

use std::collections::HashMap;
use std::io::Write;

use serde_json::{json, Map, Value};

use super::fields::{
    confidence, grapheme_boundaries, id_string, json_object, problem_sink, required_text, round4,
};
use super::problem::{Action, Problem, ProblemKind};
use super::record::{char_slice, Arg, Entity, Record, Relation};
use super::schema::Schema;

pub(crate) fn parse(
    line: usize,
    raw: &str,
    value: &Value,
    schema: &Schema,
    problems: &mut Vec<Problem>,
) -> Option<Record> {
    let mut problem = problem_sink(line, problems);
    let obj = json_object(value, &mut problem)?;
    let Some(id) = obj.get("id").and_then(id_string) else {
        problem(
            None,
            ProblemKind::MalformedJson,
            Action::RecordRejected,
            "missing or invalid `id`".into(),
        );
        return None;
    };
    let rid = Some(id.as_str());
    let text = required_text(obj, rid, &mut problem)?;
    let list = |key: &str| -> Result<Vec<Value>, String> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(a)) => Ok(a.clone()),
            Some(_) => Err(format!("`{key}` is not an array")),
        }
    };
    let (raw_entities, raw_relations) = match (list("entities"), list("relations")) {
        (Ok(e), Ok(r)) => (e, r),
        (Err(e), _) | (_, Err(e)) => {
            problem(rid, ProblemKind::MalformedJson, Action::RecordRejected, e);
            return None;
        }
    };
    let n_chars = text.chars().count();
    let boundaries = grapheme_boundaries(text);
    let mut entities: Vec<Entity> = Vec::new();
    let mut by_id: HashMap<String, usize> = HashMap::new();
    let mut dropped_ids: HashMap<String, ProblemKind> = HashMap::new();
    for e in &raw_entities {
        let eid = e.get("id").and_then(id_string);
        let label = e.get("label").and_then(Value::as_str);
        let start = e.get("start_offset").and_then(Value::as_u64);
        let end = e.get("end_offset").and_then(Value::as_u64);
        let (Some(eid), Some(label), Some(start), Some(end)) = (eid.clone(), label, start, end)
        else {
            problem(
                rid,
                ProblemKind::MalformedJson,
                Action::EntityDropped,
                format!(
                    "entity {} lacks id, label, start_offset or end_offset",
                    eid.as_deref().unwrap_or("?")
                ),
            );
            if let Some(eid) = eid {
                dropped_ids.insert(eid, ProblemKind::MalformedJson);
            }
            continue;
        };
        let (start, end) = (start as usize, end as usize);
        if by_id.contains_key(&eid) {
            problem(
                rid,
                ProblemKind::DuplicateEntityId,
                Action::EntityDropped,
                format!("entity id {eid} used twice"),
            );
            continue;
        }
        let Some(etype) = schema.entity(label) else {
            problem(
                rid,
                ProblemKind::UnknownEntityLabel,
                Action::EntityDropped,
                format!("entity {eid}: label `{label}`"),
            );
            dropped_ids.insert(eid, ProblemKind::UnknownEntityLabel);
            continue;
        };
        if start >= end || end > n_chars {
            problem(
                rid,
                ProblemKind::OffsetOutOfRange,
                Action::EntityDropped,
                format!("entity {eid}: span {start}..{end} in a text of {n_chars} chars"),
            );
            dropped_ids.insert(eid, ProblemKind::OffsetOutOfRange);
            continue;
        }
        if let Some(b) = &boundaries {
            if !b.contains(&start) || !b.contains(&end) {
                problem(
                    rid,
                    ProblemKind::OffsetSplitsCharacter,
                    Action::Kept,
                    format!("entity {eid}: span {start}..{end} cuts a character cluster"),
                );
            }
        }
        let confidence = confidence(e);
        let etext = char_slice(text, start, end)
            .expect("range checked")
            .to_owned();
        by_id.insert(eid.clone(), entities.len());
        entities.push(Entity {
            id: eid,
            label: etype.code.clone(),
            start,
            end,
            text: etext,
            confidence,
        });
    }
    report_overlaps(&entities, |detail| {
        problem(rid, ProblemKind::OverlappingSpans, Action::Kept, detail)
    });

    let mut relations: Vec<Relation> = Vec::new();
    for r in &raw_relations {
        let relid = r
            .get("id")
            .and_then(id_string)
            .unwrap_or_else(|| format!("#{}", relations.len()));
        let from = r.get("from_id").and_then(id_string);
        let to = r.get("to_id").and_then(id_string);
        let rtype = r.get("type").and_then(Value::as_str);
        let (Some(from), Some(to), Some(rtype)) = (from, to, rtype) else {
            problem(
                rid,
                ProblemKind::MalformedJson,
                Action::RelationDropped,
                format!("relation {relid} lacks from_id, to_id or type"),
            );
            continue;
        };
        let Some(code) = schema.relation_code(rtype) else {
            problem(
                rid,
                ProblemKind::UnknownRelationType,
                Action::RelationDropped,
                format!("relation {relid}: type `{rtype}`"),
            );
            continue;
        };
        let mut ends = [None, None];
        for (slot, eid) in ends.iter_mut().zip([&from, &to]) {
            match by_id.get(eid) {
                Some(&i) => *slot = Some(i),
                None => {
                    let why = match dropped_ids.get(eid) {
                        Some(kind) => format!("entity {eid} was dropped ({})", kind.as_str()),
                        None => format!("no entity with id {eid}"),
                    };
                    problem(
                        rid,
                        ProblemKind::DanglingRelation,
                        Action::RelationDropped,
                        format!("relation {relid}: {why}"),
                    );
                }
            }
        }
        let [Some(si), Some(oi)] = ends else { continue };
        let (s, o) = (&entities[si], &entities[oi]);
        if !schema.allows(code, &s.label, &o.label) {
            let (kind, what) = if schema.allows(code, &o.label, &s.label) {
                (ProblemKind::ReversedRelation, "stored reversed")
            } else {
                (ProblemKind::LabelMismatch, "labels contradict the type")
            };
            problem(
                rid,
                kind,
                Action::Kept,
                format!(
                    "relation {relid} {code}: {} ({}) → {} ({}): {what}",
                    s.text, s.label, o.text, o.label
                ),
            );
        }
        if relations
            .iter()
            .any(|x| x.code == code && x.subject.entity == Some(si) && x.object.entity == Some(oi))
        {
            problem(
                rid,
                ProblemKind::DuplicateRelation,
                Action::Kept,
                format!("relation {relid} {code} {from}→{to} repeated"),
            );
        }
        let confidence = confidence(r);
        relations.push(Relation {
            id: relid,
            code: code.to_owned(),
            subject: Arg {
                text: s.text.clone(),
                label: s.label.clone(),
                entity: Some(si),
            },
            object: Arg {
                text: o.text.clone(),
                label: o.label.clone(),
                entity: Some(oi),
            },
            group: relations.len(),
            confidence,
        });
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

/// Report each pair of overlapping entities once (nested, crossing, or the same span twice).
pub(crate) fn report_overlaps(entities: &[Entity], mut report: impl FnMut(String)) {
    let mut order: Vec<usize> = (0..entities.len()).collect();
    order.sort_by_key(|&i| (entities[i].start, entities[i].end));
    for (k, &i) in order.iter().enumerate() {
        for &j in &order[k + 1..] {
            let (a, b) = (&entities[i], &entities[j]);
            if b.start >= a.end {
                break;
            }
            if a.start == b.start && a.end == b.end && a.label == b.label {
                report(format!(
                    "entities {} and {} annotate the same span {}..{} twice",
                    a.id, b.id, a.start, a.end
                ));
            } else {
                report(format!(
                    "entities {} {}..{} ({}) and {} {}..{} ({}) overlap",
                    a.id, a.start, a.end, a.label, b.id, b.start, b.end, b.label
                ));
            }
        }
    }
}

/// A record as a doccano JSON object. Labels and types are written with the schema's Chinese
/// names (what the annotation tool shows); numeric ids stay numbers. Relations whose ends are
/// not grounded cannot be written in doccano and are returned as the second value.
pub fn record_to_doccano(record: &Record, schema: Option<&Schema>) -> (Value, usize) {
    let id_value = |s: &str| {
        s.parse::<u64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::from(s))
    };
    let entity_name = |code: &str| {
        schema
            .and_then(|s| s.entity(code))
            .map(|e| e.zh.clone())
            .unwrap_or(code.to_owned())
    };
    let relation_name = |code: &str| {
        schema
            .and_then(|s| s.relation_rows(code).next())
            .map(|r| r.zh.clone())
            .unwrap_or(code.to_owned())
    };
    let entities: Vec<Value> = record
        .entities
        .iter()
        .map(|e| {
            let mut m = Map::new();
            m.insert("id".into(), id_value(&e.id));
            m.insert("label".into(), entity_name(&e.label).into());
            m.insert("start_offset".into(), e.start.into());
            m.insert("end_offset".into(), e.end.into());
            if let Some(c) = e.confidence {
                m.insert("confidence".into(), json!(round4(c)));
            }
            Value::Object(m)
        })
        .collect();
    let mut skipped = 0;
    let mut relations = Vec::new();
    for r in &record.relations {
        let (Some(si), Some(oi)) = (r.subject.entity, r.object.entity) else {
            skipped += 1;
            continue;
        };
        let mut m = Map::new();
        m.insert("id".into(), id_value(&r.id));
        m.insert("from_id".into(), id_value(&record.entities[si].id));
        m.insert("to_id".into(), id_value(&record.entities[oi].id));
        m.insert("type".into(), relation_name(&r.code).into());
        if let Some(c) = r.confidence {
            m.insert("confidence".into(), json!(round4(c)));
        }
        relations.push(Value::Object(m));
    }
    let value = json!({
        "id": id_value(&record.id),
        "text": record.text,
        "entities": entities,
        "relations": relations,
    });
    (value, skipped)
}

/// Write records as doccano JSONL; returns the number of relations that could not be written
/// (ungrounded spo relations), so the caller can say so.
pub fn write_doccano<W: Write>(
    records: &[Record],
    schema: Option<&Schema>,
    mut w: W,
) -> std::io::Result<usize> {
    let mut skipped = 0;
    for r in records {
        let (v, s) = record_to_doccano(r, schema);
        skipped += s;
        serde_json::to_writer(&mut w, &v)?;
        w.write_all(b"\n")?;
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use crate::corpus::{read_corpus_str, Action, ProblemKind};

    fn problems_of(line: &str) -> Vec<(ProblemKind, Action)> {
        let c = read_corpus_str(line, None, None).unwrap();
        c.problems.iter().map(|p| (p.kind, p.action)).collect()
    }

    #[test]
    fn reads_offsets_and_maps_labels_to_codes() {
        let line = r#"{"id": 7, "text": "前降支近段狭窄80%。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5}, {"id": 2, "label": "症状体征", "start_offset": 5, "end_offset": 10}], "relations": [{"id": 3, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}]}"#;
        let c = read_corpus_str(line, None, None).unwrap();
        assert!(c.problems.is_empty(), "{:?}", c.problems);
        let r = &c.records[0];
        assert_eq!(r.id, "7");
        assert_eq!(r.entities[1].text, "狭窄80%");
        assert_eq!(r.entities[0].label, "Bp");
        assert_eq!(
            r.text_triples(),
            vec![("前降支近段".into(), "BpSy".into(), "狭窄80%".into())]
        );
        assert_eq!(r.span_triples(), vec![(0, 5, "BpSy".into(), 5, 10)]);
    }

    #[test]
    fn every_problem_kind_is_reported() {
        let reversed = r#"{"id": 1, "text": "右冠远段闭塞", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 4}, {"id": 2, "label": "症状体征", "start_offset": 4, "end_offset": 6}], "relations": [{"id": 3, "from_id": 2, "to_id": 1, "type": "身体部位_症状体征"}]}"#;
        assert_eq!(
            problems_of(reversed),
            vec![(ProblemKind::ReversedRelation, Action::Kept)]
        );
        let mismatch = r#"{"id": 1, "text": "右冠远段闭塞", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 4}, {"id": 2, "label": "治疗方式", "start_offset": 4, "end_offset": 6}], "relations": [{"id": 3, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}]}"#;
        assert_eq!(
            problems_of(mismatch),
            vec![(ProblemKind::LabelMismatch, Action::Kept)]
        );
        let out_of_range = r#"{"id": 1, "text": "右冠", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 9}], "relations": [{"id": 3, "from_id": 1, "to_id": 1, "type": "身体部位_症状体征"}]}"#;
        assert_eq!(
            problems_of(out_of_range),
            vec![
                (ProblemKind::OffsetOutOfRange, Action::EntityDropped),
                (ProblemKind::DanglingRelation, Action::RelationDropped),
                (ProblemKind::DanglingRelation, Action::RelationDropped)
            ]
        );
        let dangling = r#"{"id": 1, "text": "右冠", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 2}], "relations": [{"id": 3, "from_id": 1, "to_id": 99, "type": "身体部位_症状体征"}]}"#;
        assert_eq!(
            problems_of(dangling),
            vec![(ProblemKind::DanglingRelation, Action::RelationDropped)]
        );
        let overlap = r#"{"id": 1, "text": "右冠远段闭塞", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 4}, {"id": 2, "label": "症状体征", "start_offset": 2, "end_offset": 6}], "relations": []}"#;
        assert_eq!(
            problems_of(overlap),
            vec![(ProblemKind::OverlappingSpans, Action::Kept)]
        );
        // "e" + combining acute accent: offset 1 cuts the accent from its base.
        let splits = "{\"id\": 1, \"text\": \"Caf\\u0065\\u0301 狭窄\", \"entities\": [{\"id\": 1, \"label\": \"身体部位\", \"start_offset\": 0, \"end_offset\": 4}], \"relations\": []}";
        assert_eq!(
            problems_of(splits),
            vec![(ProblemKind::OffsetSplitsCharacter, Action::Kept)]
        );
        let unknown = r#"{"id": 1, "text": "右冠", "entities": [{"id": 1, "label": "器官", "start_offset": 0, "end_offset": 2}], "relations": [{"id": 2, "from_id": 1, "to_id": 1, "type": "部位_器官"}]}"#;
        assert_eq!(
            problems_of(unknown),
            vec![
                (ProblemKind::UnknownEntityLabel, Action::EntityDropped),
                (ProblemKind::UnknownRelationType, Action::RelationDropped)
            ]
        );
        let empty = r#"{"id": 1, "text": "", "entities": [], "relations": []}"#;
        assert_eq!(
            problems_of(empty),
            vec![(ProblemKind::EmptyText, Action::RecordRejected)]
        );
        let two = "{\"id\": 1, \"text\": \"a\", \"entities\": []}\n{\"id\": 1, \"text\": \"b\", \"entities\": []}\n{\"id\": 2, \"text\": ";
        let c = read_corpus_str(two, None, None).unwrap();
        assert_eq!(c.read, 3);
        assert_eq!(c.records.len() + c.rejected(), c.read);
        let kinds: Vec<_> = c.problems.iter().map(|p| p.kind).collect();
        assert_eq!(
            kinds,
            vec![ProblemKind::DuplicateId, ProblemKind::MalformedJson]
        );
    }

    #[test]
    fn invalid_utf8_is_a_rejected_record() {
        let mut bytes = br#"{"id": 1, "text": "ok", "entities": []}"#.to_vec();
        bytes.extend_from_slice(b"\n{\"id\": 2, \"text\": \"\xff\xfe\"}\n");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jsonl");
        std::fs::write(&p, bytes).unwrap();
        let c = crate::corpus::read_corpus(&p, None, None).unwrap();
        assert_eq!(c.records.len(), 1);
        assert_eq!(c.problems[0].kind, ProblemKind::InvalidUtf8);
        assert_eq!(c.problems[0].line, 2);
    }

    #[test]
    fn writer_round_trips() {
        let line = r#"{"id": 7, "text": "前降支近段狭窄80%。", "entities": [{"id": 1, "label": "身体部位", "start_offset": 0, "end_offset": 5}, {"id": 2, "label": "症状体征", "start_offset": 5, "end_offset": 10}], "relations": [{"id": 3, "from_id": 1, "to_id": 2, "type": "身体部位_症状体征"}]}"#;
        let c = read_corpus_str(line, None, None).unwrap();
        let mut out = Vec::new();
        let skipped = super::write_doccano(&c.records, c.schema.as_ref(), &mut out).unwrap();
        assert_eq!(skipped, 0);
        let back = read_corpus_str(std::str::from_utf8(&out).unwrap(), None, None).unwrap();
        assert_eq!(back.records[0].span_triples(), c.records[0].span_triples());
        assert_eq!(back.records[0].entities, c.records[0].entities);
    }
}
