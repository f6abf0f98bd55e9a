//! The schema: which entity types and relation types a corpus may use.
//!
//! A schema is data, loaded from a file: the project's own TOML (`ontology/casmed.toml`, the
//! CASMeD schema of the paper) or the spo schema files that CMeIE and DuIE ship (one JSON object
//! per line, or CMeIE-V2's `#`-commented JSON array). Every later stage names types by `code`;
//! the Chinese names (`zh`) are what annotation tools and the corpus files use.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CorpusError;

/// The CASMeD schema shipped in `ontology/casmed.toml`, compiled in so that a binary run from
/// any directory has it.
pub const CASMED_TOML: &str = include_str!("../../ontology/casmed.toml");

/// One entity type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityType {
    /// Short code used everywhere downstream (`Bp`).
    pub code: String,
    /// Chinese name, as annotation files write it (`身体部位`).
    pub zh: String,
    /// English name.
    pub en: String,
    /// Local name of the OWL class in the schema's `namespace` (`BodyPart`); absent for spo
    /// schemas, which have no ontology.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iri: Option<String>,
}

/// One relation type: a subject (head) type and an object (tail) type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationType {
    /// Short code (`BpSy`); for spo schemas the predicate itself.
    pub code: String,
    /// Chinese name, as annotation files write it (`身体部位_症状体征`).
    pub zh: String,
    /// English name.
    pub en: String,
    /// Entity code of the subject.
    pub head: String,
    /// Entity code of the object.
    pub tail: String,
    /// Local name of the OWL object property in the schema's `namespace` (`hasFinding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iri: Option<String>,
}

/// A set of entity and relation types.
///
/// Relation codes are unique except in spo schemas, where one predicate may join several
/// type pairs (CMeIE's 同义词 joins ten): such a predicate is one relation *class* for the model
/// and has several `RelationType` rows here, one per (head, tail) pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    /// Name of the schema (`casmed`, or the spo schema file's stem).
    pub name: String,
    /// Namespace of the ontology's classes and properties (`ontology/cbrrel.ttl`); the graph
    /// stage needs it, training and evaluation do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(rename = "entity")]
    pub entities: Vec<EntityType>,
    #[serde(rename = "relation")]
    pub relations: Vec<RelationType>,
}

impl Schema {
    /// The CASMeD schema compiled into the binary.
    pub fn casmed() -> Schema {
        Schema::from_toml_str(CASMED_TOML).expect("ontology/casmed.toml is valid")
    }

    /// Parse the project's TOML schema format and validate it.
    pub fn from_toml_str(s: &str) -> Result<Schema, CorpusError> {
        let schema: Schema = toml::from_str(s).map_err(|e| CorpusError::Schema(e.to_string()))?;
        schema.validate()?;
        Ok(schema)
    }

    /// Load a schema file: `.toml` in the project's format, anything else as an spo schema
    /// (JSON lines of `{"subject_type", "predicate", "object_type"}`, or a JSON array after
    /// `#` comment lines; an `object_type` may be DuIE 2.0's `{"@value": …}` object).
    pub fn load(path: &Path) -> Result<Schema, CorpusError> {
        let text = std::fs::read_to_string(path).map_err(|e| CorpusError::io(path, e))?;
        if path.extension().is_some_and(|e| e == "toml") {
            return Schema::from_toml_str(&text);
        }
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Schema::from_spo_schema_str(&name, &text)
    }

    /// Parse an spo schema (CMeIE / DuIE). Entity codes are the type names themselves.
    pub fn from_spo_schema_str(name: &str, text: &str) -> Result<Schema, CorpusError> {
        let body: String = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let trimmed = body.trim();
        let rows: Vec<serde_json::Value> = if trimmed.starts_with('[') {
            serde_json::from_str(trimmed)
                .map_err(|e| CorpusError::Schema(format!("{name}: {e}")))?
        } else {
            trimmed
                .lines()
                .filter(|l| !l.trim().is_empty())
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_str(l.trim())
                        .map_err(|e| CorpusError::Schema(format!("{name} line {}: {e}", i + 1)))
                })
                .collect::<Result<_, _>>()?
        };
        let mut entities: Vec<EntityType> = Vec::new();
        let mut relations: Vec<RelationType> = Vec::new();
        let type_name = |v: &serde_json::Value| -> Option<String> {
            match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Object(m) => {
                    m.get("@value").and_then(|x| x.as_str()).map(str::to_owned)
                }
                _ => None,
            }
        };
        for (i, row) in rows.iter().enumerate() {
            let field = |k: &str| {
                row.get(k).and_then(type_name).ok_or_else(|| {
                    CorpusError::Schema(format!("{name} entry {}: missing or invalid `{k}`", i + 1))
                })
            };
            let (head, pred, tail) = (
                field("subject_type")?,
                field("predicate")?,
                field("object_type")?,
            );
            for t in [&head, &tail] {
                if !entities.iter().any(|e| &e.code == t) {
                    entities.push(EntityType {
                        code: t.clone(),
                        zh: t.clone(),
                        en: t.clone(),
                        iri: None,
                    });
                }
            }
            let dup = relations
                .iter()
                .any(|r| r.code == pred && r.head == head && r.tail == tail);
            if !dup {
                relations.push(RelationType {
                    code: pred.clone(),
                    zh: pred.clone(),
                    en: pred,
                    head,
                    tail,
                    iri: None,
                });
            }
        }
        let schema = Schema {
            name: name.to_owned(),
            namespace: None,
            entities,
            relations,
        };
        schema.validate()?;
        Ok(schema)
    }

    fn validate(&self) -> Result<(), CorpusError> {
        let mut seen = BTreeMap::new();
        for e in &self.entities {
            for key in [&e.code, &e.zh] {
                if let Some(other) = seen.insert(key.clone(), e.code.clone()) {
                    if other != e.code {
                        return Err(CorpusError::Schema(format!(
                            "entity name `{key}` used by both {other} and {}",
                            e.code
                        )));
                    }
                }
            }
        }
        for r in &self.relations {
            for t in [&r.head, &r.tail] {
                if self.entity(t).is_none() {
                    return Err(CorpusError::Schema(format!(
                        "relation {} names unknown entity type `{t}`",
                        r.code
                    )));
                }
            }
        }
        if self.relations.is_empty() {
            return Err(CorpusError::Schema(format!(
                "schema {} has no relation types",
                self.name
            )));
        }
        Ok(())
    }

    /// The entity type with this code or Chinese name.
    pub fn entity(&self, name: &str) -> Option<&EntityType> {
        self.entities
            .iter()
            .find(|e| e.code == name || e.zh == name)
    }

    /// The relation types with this code or Chinese name (several only in spo schemas).
    pub fn relation_rows<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = &'a RelationType> + 'a {
        self.relations
            .iter()
            .filter(move |r| r.code == name || r.zh == name)
    }

    /// The code of the relation with this code or Chinese name.
    pub fn relation_code(&self, name: &str) -> Option<&str> {
        self.relations
            .iter()
            .find(|r| r.code == name || r.zh == name)
            .map(|r| r.code.as_str())
    }

    /// Whether `head` → `tail` (entity codes) is a signature of relation `code`.
    pub fn allows(&self, code: &str, head: &str, tail: &str) -> bool {
        self.relation_rows(code)
            .any(|r| r.head == head && r.tail == tail)
    }

    /// Distinct relation codes in schema order: the model's relation classes.
    pub fn relation_codes(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.relations {
            if !out.contains(&r.code) {
                out.push(r.code.clone());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn casmed_has_six_entities_and_eight_relations() {
        let s = Schema::casmed();
        assert_eq!(s.entities.len(), 6);
        assert_eq!(
            s.relation_codes(),
            ["BpSy", "BpIn", "BpTm", "TmDo", "TmMc", "InSy", "InMc", "McBp"]
        );
        assert_eq!(s.relation_code("身体部位_症状体征"), Some("BpSy"));
        assert_eq!(s.entity("医疗耗材").unwrap().code, "Mc");
        assert!(s.allows("McBp", "Mc", "Bp"));
        assert!(!s.allows("McBp", "Bp", "Mc"));
    }

    #[test]
    fn spo_schema_lines_and_commented_array() {
        let lines = "{\"subject_type\": \"疾病\", \"predicate\": \"同义词\", \"object_type\": \"疾病\"}\r\n\
                     {\"subject_type\": \"其他\", \"predicate\": \"同义词\", \"object_type\": \"其他\"}\r\n";
        let s = Schema::from_spo_schema_str("cmeie", lines).unwrap();
        assert_eq!(s.relation_codes(), ["同义词"]);
        assert_eq!(s.relations.len(), 2);
        let arr = "# direction: 0\n[\n{\"subject_type\":\"疾病\",\"predicate\":\"预防\",\"object_type\":\"其他\",\"direction\":\"1\"}\n]";
        let s = Schema::from_spo_schema_str("v2", arr).unwrap();
        assert!(s.allows("预防", "疾病", "其他"));
        let duie2 = "{\"object_type\": {\"inWork\": \"影视作品\", \"@value\": \"人物\"}, \"predicate\": \"配音\", \"subject_type\": \"娱乐人物\"}";
        let s = Schema::from_spo_schema_str("duie2", duie2).unwrap();
        assert!(s.allows("配音", "娱乐人物", "人物"));
    }

    #[test]
    fn bad_schema_is_an_error() {
        let bad = "name='x'\n[[entity]]\ncode='A'\nzh='a'\nen='a'\n[[relation]]\ncode='R'\nzh='r'\nen='r'\nhead='A'\ntail='B'\n";
        assert!(Schema::from_toml_str(bad)
            .unwrap_err()
            .to_string()
            .contains("unknown entity type `B`"));
    }
}
