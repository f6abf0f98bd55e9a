//! Evaluation layer: predicted triples against gold triples, as the paper scores them (§4.3).
//!
//! Input is two [`Corpus`](crate::corpus::Corpus)es of either format (doccano or spo_list),
//! gold and predicted, whose records are matched by id. Output is an [`EvalReport`]: micro
//! P/R/F1 over text triples (subject string, relation code, object string), the span-exact
//! variant when both files carry offsets, and the breakdowns of the paper's tables — per
//! relation, per overlap class (Table 5) and per entity type (Table 6). `report` renders it as
//! Markdown; the report itself serializes to JSON; `titled` pairs it with what was scored
//! (`cbrrel eval`'s output and `--report` files); `figures` computes what only the pictures
//! show (confusion matrix, threshold curve, worst sentences, training curves), `charts` draws
//! SVG (plotters), `raster` renders PNG (resvg), `pictures` picks the charts, `html` lays out
//! `eval.html`; `errors` puts each wrong triple under one cause (issue 13 §2). Imports only from
//! `corpus`.

mod args;
pub mod charts;
pub mod errors;
pub mod figures;
mod html;
mod metrics;
pub mod pictures;
mod raster;
mod report;
mod titled;

pub use args::EvalArgs;
pub use figures::{figures, training_curve, Figures};
pub use metrics::{evaluate, Counts, EvalOptions, EvalReport, PerOverlap, Prf};
pub use report::to_markdown;
pub use titled::TitledReport;

/// Why a pair of corpora cannot be scored. Scoring never skips data silently: a prediction
/// that cannot be matched to gold is an error, not a zero.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvalError {
    /// Prediction records whose id is not a gold record id: a mismatched pair of files (or a
    /// predictor that renumbered records), which would otherwise score as a silent zero.
    #[error("{count} prediction record id(s) not in the gold file (e.g. {})", .examples.join(", "))]
    UnknownIds { count: usize, examples: Vec<String> },
    /// One file holds two records with one id, so records cannot be matched. `read_corpus`
    /// already rejects these; a corpus built in code may still have them.
    #[error("{side} corpus: {count} record id(s) used more than once (e.g. {})", .examples.join(", "))]
    DuplicateIds {
        side: &'static str,
        count: usize,
        examples: Vec<String>,
    },
}

/// How many offending ids an error lists.
const MAX_EXAMPLES: usize = 5;
