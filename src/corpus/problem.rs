//! What can be wrong with an annotated record, and what the reader did about it.
//!
//! Nothing is dropped silently: every record, entity or relation a reader does not keep is a
//! `Problem`, and so is every oddity it keeps (a reversed relation stays as the file says).

use serde::Serialize;

/// The kinds of record problems `cbrrel corpus check` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The line is not valid UTF-8.
    InvalidUtf8,
    /// The line is not JSON, or not an object of the expected shape.
    MalformedJson,
    /// Two records share one id.
    DuplicateId,
    /// The record's text is empty.
    EmptyText,
    /// An entity's offsets fall outside the text, or end ≤ start.
    OffsetOutOfRange,
    /// An entity boundary falls inside a user-perceived character (a combining mark or
    /// variation selector is cut from its base).
    OffsetSplitsCharacter,
    /// Two entities overlap (or share a span with different labels).
    OverlappingSpans,
    /// An entity id is used twice in one record.
    DuplicateEntityId,
    /// An entity label the schema does not know.
    UnknownEntityLabel,
    /// A relation type the schema does not know.
    UnknownRelationType,
    /// A relation points to an entity id that does not exist (or was dropped).
    DanglingRelation,
    /// A relation is stored tail → head: its ends carry the relation's tail and head types.
    ReversedRelation,
    /// An end's entity label contradicts the relation type's head or tail type.
    LabelMismatch,
    /// The same relation (same ends, same type) is annotated twice.
    DuplicateRelation,
    /// An spo subject or object string does not occur in the text.
    NotFoundInText,
    /// `annotate import`: the text is not the one exported (its SHA-256 differs from the
    /// task's `content_hash`), so its offsets no longer point into the report.
    TextEdited,
    /// `annotate import`: the record lacks the `report_id` or `content_hash` that
    /// `annotate export` writes, so it cannot be traced to a report.
    NotATask,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::InvalidUtf8 => "invalid_utf8",
            ProblemKind::MalformedJson => "malformed_json",
            ProblemKind::DuplicateId => "duplicate_id",
            ProblemKind::EmptyText => "empty_text",
            ProblemKind::OffsetOutOfRange => "offset_out_of_range",
            ProblemKind::OffsetSplitsCharacter => "offset_splits_character",
            ProblemKind::OverlappingSpans => "overlapping_spans",
            ProblemKind::DuplicateEntityId => "duplicate_entity_id",
            ProblemKind::UnknownEntityLabel => "unknown_entity_label",
            ProblemKind::UnknownRelationType => "unknown_relation_type",
            ProblemKind::DanglingRelation => "dangling_relation",
            ProblemKind::ReversedRelation => "reversed_relation",
            ProblemKind::LabelMismatch => "label_mismatch",
            ProblemKind::DuplicateRelation => "duplicate_relation",
            ProblemKind::NotFoundInText => "not_found_in_text",
            ProblemKind::TextEdited => "text_edited",
            ProblemKind::NotATask => "not_a_task",
        }
    }
}

/// What the reader did with the thing the problem is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// The whole record was rejected (quarantined).
    RecordRejected,
    /// The entity was left out of the record (and with it any relation using it).
    EntityDropped,
    /// The relation was left out of the record.
    RelationDropped,
    /// Kept as the file says; reported so a person can fix the source.
    Kept,
}

/// One problem of one record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// 1-based line in the source file.
    pub line: usize,
    /// Record id, when the line got far enough to have one.
    pub record: Option<String>,
    pub kind: ProblemKind,
    pub action: Action,
    /// What exactly: the entity or relation id, the offsets, the labels.
    pub detail: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rec = self.record.as_deref().unwrap_or("-");
        let action = match self.action {
            Action::RecordRejected => "record rejected",
            Action::EntityDropped => "entity dropped",
            Action::RelationDropped => "relation dropped",
            Action::Kept => "kept",
        };
        write!(
            f,
            "line {} record {}: {}: {} ({action})",
            self.line,
            rec,
            self.kind.as_str(),
            self.detail
        )
    }
}
