//! `cbrrel text`'s flags: the corpus, the tokenizer and the segmenting settings.

use std::path::PathBuf;

use clap::Args;

use crate::corpus::CorpusInput;
use crate::output::OutputFormat;

#[derive(Debug, Args)]
pub struct TextArgs {
    #[command(flatten)]
    pub input: CorpusInput,
    /// Tokenizer: a tokenizer.json, a vocab.txt, or a model folder holding one.
    #[arg(long)]
    pub tokenizer: PathBuf,
    /// Most tokens per segment, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 300)]
    pub max_len: usize,
    /// Join neighbouring sentences while they fit in --max-len.
    #[arg(long)]
    pub merge: bool,
    /// Tokenize runs of Latin letters and digits as single characters (what a model trained
    /// with `train.split_alnum` sees): every span boundary falls between tokens.
    #[arg(long)]
    pub split_alnum: bool,
    /// Write the labelled segments as JSON lines here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t)]
    pub format: OutputFormat,
}
