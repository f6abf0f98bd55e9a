//! Records for unit tests, built from spans rather than from doccano lines.

use super::{char_slice, Arg, Entity, Record, Relation};

/// A record from (text, entities as (label, start, end), relations as (code, subject
/// entity, object entity)).
pub fn record(
    id: &str,
    text: &str,
    ents: &[(&str, usize, usize)],
    rels: &[(&str, usize, usize)],
) -> Record {
    let entities: Vec<Entity> = ents
        .iter()
        .enumerate()
        .map(|(i, &(label, start, end))| Entity {
            id: i.to_string(),
            label: label.into(),
            start,
            end,
            text: char_slice(text, start, end).unwrap().to_owned(),
            confidence: None,
        })
        .collect();
    let arg = |i: usize| Arg {
        text: entities[i].text.clone(),
        label: entities[i].label.clone(),
        entity: Some(i),
    };
    let relations = rels
        .iter()
        .enumerate()
        .map(|(g, &(code, s, o))| Relation {
            id: g.to_string(),
            code: code.into(),
            subject: arg(s),
            object: arg(o),
            group: g,
            confidence: None,
        })
        .collect();
    Record {
        id: id.into(),
        text: text.into(),
        entities,
        relations,
        line: 1,
        raw: String::new(),
    }
}
