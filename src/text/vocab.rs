//! A character-level BERT vocabulary built from a corpus, for from-scratch models when no
//! pretrained vocabulary is at hand (the fixture model of `make graph`, the tests).
//!
//! BERT's normaliser puts spaces around CJK characters and lower-cases (the default for a bare
//! vocab.txt), so every CJK character is a whole word; any other character can also appear
//! inside a word ("15mm", "5μg"), so it gets a `##` continuation piece as well. The special
//! tokens come first, in bert-base-chinese's order of ids 0, 100–103 collapsed to 0–4.

use std::collections::BTreeSet;

/// Special tokens, in id order.
pub const SPECIAL_TOKENS: [&str; 5] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// The vocabulary (one token per line of a vocab.txt) covering every char of `texts`.
pub fn char_vocab<'a>(texts: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut pieces: BTreeSet<String> = BTreeSet::new();
    for text in texts {
        for c in text
            .to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace() && !c.is_control())
        {
            pieces.insert(c.to_string());
            if !is_cjk(c) {
                pieces.insert(format!("##{c}"));
            }
        }
    }
    SPECIAL_TOKENS
        .iter()
        .map(|s| s.to_string())
        .chain(pieces)
        .collect()
}

/// Write the vocabulary of `texts` to `out` as a vocab.txt (`cbrrel corpus vocab`); returns its
/// size in tokens.
pub fn write_char_vocab<'a>(
    texts: impl IntoIterator<Item = &'a str>,
    out: &std::path::Path,
) -> Result<usize, crate::atomic::WriteError> {
    let vocab = char_vocab(texts);
    crate::atomic::write(out, (vocab.join("\n") + "\n").as_bytes())?;
    Ok(vocab.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::BertTokenizer;

    #[test]
    fn every_char_of_the_corpus_tokenizes_without_unk() {
        let texts = [
            "置入2.5*15mm支架，TIMI 3级。",
            "肝素5000IU、替罗非班10μg/kg",
        ];
        let vocab = char_vocab(texts);
        assert_eq!(&vocab[..5], &SPECIAL_TOKENS.map(String::from));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("vocab.txt");
        std::fs::write(&path, vocab.join("\n")).unwrap();
        let tok = BertTokenizer::from_path(&path).unwrap();
        for t in texts {
            let tokens = tok.encode(t).unwrap();
            assert!(!tokens.ids.contains(&tok.unk_id), "{t}: {:?}", tokens.ids);
        }
    }
}
