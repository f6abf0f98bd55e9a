//! BERT WordPiece tokenization with char offsets (the `tokenizers` crate).
//!
//! Chinese BERT vocabularies split CJK text into single characters and Latin letters and digits
//! into word pieces ("6F" → `6`, `##f`; "2.5*15mm" → `2`, `.`, `5`, `*`, `15`, `##mm`). Every
//! token keeps the half-open char span of the *original* text it came from — the normalizer's
//! alignments survive lower-casing, accent stripping and the spaces put around CJK chars — so a
//! corpus span maps to the tokens overlapping it, whatever full-width chars, spaces or [UNK]s
//! lie inside.
//!
//! A word piece has one span, so an entity boundary inside "6F", "TIMI3" or "LAD90" cannot be
//! a token boundary (issue 11 §3). [`BertTokenizer::encode_chars`] splits every such run into
//! single characters before WordPiece, as the normalizer already does for CJK characters; a
//! model records which of the two it was trained with (`SegmentConfig::split_alnum`).

use std::path::{Path, PathBuf};

use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::bert::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::fixed_length::FixedLength;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::Tokenizer;

/// Errors loading or running a tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    #[error("{path}: neither tokenizer.json nor vocab.txt")]
    NotFound { path: PathBuf },
    #[error("{path}: {message}")]
    Load { path: PathBuf, message: String },
    #[error("tokenizer has no `{0}` token")]
    MissingSpecial(&'static str),
    #[error("encoding failed: {0}")]
    Encode(String),
}

/// Tokens of one text, without special tokens.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tokens {
    pub ids: Vec<u32>,
    /// Half-open char span of each token in the encoded text.
    pub offsets: Vec<(usize, usize)>,
}

impl Tokens {
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Inclusive range of the tokens overlapping chars `start..end`, or `None` when no token
    /// does (a span of whitespace or of chars the normalizer removes).
    pub fn token_span(&self, start: usize, end: usize) -> Option<(usize, usize)> {
        // Offsets are sorted by start; the first candidate is the first token ending after `start`.
        let first = self.offsets.partition_point(|o| o.1 <= start);
        let last_excl = self.offsets.partition_point(|o| o.0 < end);
        (first < last_excl).then(|| (first, last_excl - 1))
    }

    /// Index range of the tokens whose first char lies in `start..end`.
    pub fn tokens_starting_in(&self, start: usize, end: usize) -> std::ops::Range<usize> {
        self.offsets.partition_point(|o| o.0 < start)..self.offsets.partition_point(|o| o.0 < end)
    }
}

/// A BERT tokenizer with the ids of its special tokens.
#[derive(Clone)]
pub struct BertTokenizer {
    inner: Tokenizer,
    /// `inner` with every pre-token cut into single characters (`encode_chars`).
    chars: Tokenizer,
    /// Where it was loaded from (a checkpoint copies this file).
    pub source: PathBuf,
    pub cls_id: u32,
    pub sep_id: u32,
    pub pad_id: u32,
    pub unk_id: u32,
}

impl std::fmt::Debug for BertTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BertTokenizer")
            .field("source", &self.source)
            .field("vocab", &self.vocab_size())
            .finish()
    }
}

impl BertTokenizer {
    /// Load from a `tokenizer.json`, a `vocab.txt`, or a folder holding either
    /// (`tokenizer.json` preferred: it records the normalizer settings of its model).
    pub fn from_path(path: &Path) -> Result<BertTokenizer, TokenizeError> {
        if path.is_dir() {
            for name in ["tokenizer.json", "vocab.txt"] {
                if path.join(name).is_file() {
                    return BertTokenizer::from_path(&path.join(name));
                }
            }
            return Err(TokenizeError::NotFound {
                path: path.to_owned(),
            });
        }
        let load_err = |e: &dyn std::fmt::Display| TokenizeError::Load {
            path: path.to_owned(),
            message: e.to_string(),
        };
        let mut inner = if path.extension().is_some_and(|e| e == "json") {
            Tokenizer::from_file(path).map_err(|e| load_err(&e))?
        } else {
            let lowercase = lowercase_from_config(path);
            BertTokenizer::wordpiece(path, lowercase).map_err(|e| load_err(&e))?
        };
        // We add [CLS]/[SEP] and cut segments ourselves; the file's own limits must not apply.
        inner.with_truncation(None).map_err(|e| load_err(&e))?;
        inner.with_padding(None);
        let special =
            |t: &'static str| inner.token_to_id(t).ok_or(TokenizeError::MissingSpecial(t));
        Ok(BertTokenizer {
            cls_id: special("[CLS]")?,
            sep_id: special("[SEP]")?,
            pad_id: special("[PAD]")?,
            unk_id: special("[UNK]")?,
            source: path.to_owned(),
            chars: char_split(&inner),
            inner,
        })
    }

    /// bert-base-chinese's pipeline from a bare vocab.txt: BertNormalizer (clean text, spaces
    /// around CJK chars, optional lower-casing) → BertPreTokenizer → WordPiece.
    fn wordpiece(vocab: &Path, lowercase: bool) -> tokenizers::Result<Tokenizer> {
        let model = WordPiece::from_file(&vocab.to_string_lossy())
            .unk_token("[UNK]".into())
            .build()?;
        let mut tok = Tokenizer::new(model);
        tok.with_normalizer(Some(BertNormalizer::new(true, true, None, lowercase)))?;
        tok.with_pre_tokenizer(Some(BertPreTokenizer));
        Ok(tok)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Whether `other` turns every text into the same tokens and ids: the same pipeline
    /// (normalizer, pre-tokenizer, vocabulary), compared by its serialized form, whichever
    /// file either was loaded from. Models whose probabilities are averaged must agree on it.
    pub fn same_as(&self, other: &BertTokenizer) -> bool {
        let form = |t: &BertTokenizer| t.inner.to_string(false).ok();
        match (form(self), form(other)) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// Encode `text` without special tokens; offsets are char offsets into `text`.
    pub fn encode(&self, text: &str) -> Result<Tokens, TokenizeError> {
        encode_by(&self.inner, text)
    }

    /// Encode `text` with every run of Latin letters and digits cut into single characters
    /// first ("6F" → `6`, `f`; "TIMI3" → `t`, `i`, `m`, `i`, `3`), so that every char boundary
    /// is a token boundary; CJK text encodes as with [`encode`](Self::encode). BERT vocabularies
    /// hold the single letters and digits as whole words, so this adds no [UNK] (a char missing
    /// from the vocabulary is one [UNK] of one char instead of a whole word's).
    pub fn encode_chars(&self, text: &str) -> Result<Tokens, TokenizeError> {
        encode_by(&self.chars, text)
    }

    /// [`encode_chars`](Self::encode_chars) when `split_alnum`, else [`encode`](Self::encode).
    pub fn encode_with(&self, text: &str, split_alnum: bool) -> Result<Tokens, TokenizeError> {
        if split_alnum {
            self.encode_chars(text)
        } else {
            self.encode(text)
        }
    }

    /// The token strings of ids (for debugging and tests).
    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }
}

/// Ids and char offsets of `text` through one of the two pipelines, without special tokens.
fn encode_by(tok: &Tokenizer, text: &str) -> Result<Tokens, TokenizeError> {
    let enc = tok
        .encode_char_offsets(text, false)
        .map_err(|e| TokenizeError::Encode(e.to_string()))?;
    Ok(Tokens {
        ids: enc.get_ids().to_vec(),
        offsets: enc.get_offsets().to_vec(),
    })
}

/// `tok` with its pre-tokenizer followed by a cut into single characters. The file's own
/// pre-tokenizer (BERT's: whitespace and punctuation splits) runs first, so spaces still
/// separate words and never become tokens; without one, BERT's is used.
fn char_split(tok: &Tokenizer) -> Tokenizer {
    let first = tok
        .get_pre_tokenizer()
        .cloned()
        .unwrap_or(PreTokenizerWrapper::BertPreTokenizer(BertPreTokenizer));
    let mut chars = tok.clone();
    chars.with_pre_tokenizer(Some(Sequence::new(vec![
        first,
        PreTokenizerWrapper::FixedLength(FixedLength::new(1)),
    ])));
    chars
}

/// `do_lower_case` from a `tokenizer_config.json` beside the vocab; BERT's default (true) else.
fn lowercase_from_config(vocab: &Path) -> bool {
    let cfg = vocab.with_file_name("tokenizer_config.json");
    std::fs::read_to_string(cfg)
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.get("do_lower_case").and_then(|b| b.as_bool()))
        .unwrap_or(true)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small vocab written by the test: enough CJK chars and pieces for the cases below.
    pub(crate) fn tiny_vocab_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let mut vocab: Vec<String> = [
            "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "6", "##f", "2", ".", "5", "*", "15",
            "##mm", "timi", "3", "%", "80",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        vocab.extend(
            "前降支近段狭窄置入动脉鞘，球囊扩张级血流。右冠远闭塞"
                .chars()
                .map(String::from),
        );
        std::fs::write(dir.path().join("vocab.txt"), vocab.join("\n")).unwrap();
        dir
    }

    #[test]
    fn tokenizers_are_the_same_by_what_they_do_not_by_their_file() {
        let dir = tiny_vocab_dir();
        let a = BertTokenizer::from_path(dir.path()).unwrap();
        // The same vocabulary copied elsewhere: the same tokenizer.
        let copy = tempfile::tempdir().unwrap();
        std::fs::copy(dir.path().join("vocab.txt"), copy.path().join("vocab.txt")).unwrap();
        assert!(a.same_as(&BertTokenizer::from_path(copy.path()).unwrap()));
        // One more word, or lower-casing switched off: another.
        let vocab = std::fs::read_to_string(dir.path().join("vocab.txt")).unwrap();
        std::fs::write(copy.path().join("vocab.txt"), format!("{vocab}\n##x")).unwrap();
        assert!(!a.same_as(&BertTokenizer::from_path(copy.path()).unwrap()));
        std::fs::write(copy.path().join("vocab.txt"), &vocab).unwrap();
        std::fs::write(
            copy.path().join("tokenizer_config.json"),
            r#"{"do_lower_case": false}"#,
        )
        .unwrap();
        assert!(!a.same_as(&BertTokenizer::from_path(copy.path()).unwrap()));
    }

    #[test]
    fn offsets_survive_latin_digits_spaces_and_unknowns() {
        let dir = tiny_vocab_dir();
        let tok = BertTokenizer::from_path(dir.path()).unwrap();
        let text = "置入6F动脉鞘，2.5*15mm球囊 TIMI 3级，Ｘ狭窄";
        let t = tok.encode(text).unwrap();
        let pieces: Vec<String> = t.ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect();
        assert_eq!(&pieces[..4], ["置", "入", "6", "##f"]);
        assert!(pieces.contains(&"[UNK]".to_string()), "{pieces:?}");
        // Every token's span is the text it came from (modulo case).
        for (p, &(s, e)) in pieces.iter().zip(&t.offsets) {
            let src: String = text
                .chars()
                .skip(s)
                .take(e - s)
                .collect::<String>()
                .to_lowercase();
            if p != "[UNK]" {
                assert_eq!(p.trim_start_matches("##"), src, "{p} at {s}..{e}");
            }
        }
        // "2.5*15mm" = chars 8..16 → tokens 2 . 5 * 15 ##mm.
        let (a, b) = t.token_span(8, 16).unwrap();
        assert_eq!(b - a + 1, 6);
        // "TIMI 3级" keeps the space outside any token.
        let timi = text.find("TIMI").unwrap();
        let timi_c = text[..timi].chars().count();
        let (a, b) = t.token_span(timi_c, timi_c + 7).unwrap();
        assert_eq!(pieces[a..=b], ["timi", "3", "级"]);
        // A span of one space has no token.
        assert_eq!(t.token_span(timi_c + 4, timi_c + 5), None);
        // The full-width Ｘ is [UNK] but still has its own span.
        let x = text.chars().position(|c| c == 'Ｘ').unwrap();
        let (a, b) = t.token_span(x, x + 1).unwrap();
        assert_eq!((a, b, tok.unk_id), (a, a, t.ids[a]));
        assert_eq!(t.offsets[b], (x, x + 1));
    }

    #[test]
    fn split_alnum_makes_every_char_boundary_a_token_boundary() {
        let dir = tiny_vocab_dir();
        let mut vocab = std::fs::read_to_string(dir.path().join("vocab.txt")).unwrap();
        for c in ['f', 't', 'i', 'm', '1', '0'] {
            vocab.push_str(&format!("\n{c}"));
        }
        std::fs::write(dir.path().join("vocab.txt"), vocab).unwrap();
        let tok = BertTokenizer::from_path(dir.path()).unwrap();
        let text = "置入6F动脉鞘，2.5*15mm球囊 TIMI3级";
        let words = tok.encode(text).unwrap();
        let chars = tok.encode_chars(text).unwrap();
        let pieces = |t: &Tokens| -> Vec<String> {
            t.ids.iter().map(|&i| tok.id_to_token(i).unwrap()).collect()
        };
        // WordPiece keeps "6F" as one word of two pieces; the char split gives two words.
        assert_eq!(&pieces(&words)[2..4], ["6", "##f"]);
        assert_eq!(&pieces(&chars)[2..4], ["6", "f"]);
        // One token per non-space char, each exactly its char, the space skipped.
        let non_space: Vec<usize> = text
            .chars()
            .enumerate()
            .filter(|(_, c)| !c.is_whitespace())
            .map(|(i, _)| i)
            .collect();
        let expected: Vec<(usize, usize)> = non_space.iter().map(|&i| (i, i + 1)).collect();
        assert_eq!(chars.offsets, expected);
        assert!(
            !pieces(&chars).contains(&"[UNK]".to_string()),
            "{:?}",
            pieces(&chars)
        );
        // "TIMI3" → t i m i 3: the finding "3级" starts on a token of its own.
        let three = text.chars().position(|c| c == '3').unwrap();
        assert_eq!(
            chars.token_span(three, three + 2).map(|(a, b)| b - a),
            Some(1)
        );
        assert_eq!(
            words
                .token_span(three, three + 1)
                .map(|(a, _)| words.offsets[a].0),
            Some(three - 4)
        );
        // encode_with picks one or the other.
        assert_eq!(tok.encode_with(text, true).unwrap(), chars);
        assert_eq!(tok.encode_with(text, false).unwrap(), words);
    }
}
