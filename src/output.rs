//! How a command shows what it did: its summary's `Display` for people, or one JSON object
//! for schedulers and scripts (`--format json`). Every command's flags share this one
//! `--format`, and every summary type is printed by [`print`], so the two forms never drift.

use std::io::Write;

use clap::ValueEnum;

/// Output style of a command's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// For people.
    #[default]
    Text,
    /// One JSON object on stdout, for schedulers and scripts.
    Json,
}

/// Print a summary on stdout: its `Display` for people, one JSON line with `--format json`.
pub fn print<T: serde::Serialize + std::fmt::Display>(
    format: OutputFormat,
    value: &T,
) -> std::io::Result<()> {
    print_with(format, value, || value.to_string())
}

/// [`print`] for a value whose text form is a function rather than `Display`.
pub fn print_with<T: serde::Serialize>(
    format: OutputFormat,
    value: &T,
    human: impl FnOnce() -> String,
) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        OutputFormat::Json => writeln!(stdout, "{}", serde_json::to_string(value)?),
        OutputFormat::Text => write!(stdout, "{}", human()),
    }
}
