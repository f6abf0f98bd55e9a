//! Segments: the model's input units. A report is cut into sentences (`corpus::sentences`);
//! a sentence longer than the token budget is windowed, at the last `，`/`、`/`,`/space that
//! fits, else hard at the budget; with `merge`, neighbouring pieces are joined while they fit,
//! which keeps most cross-sentence relations inside one segment. Spans stay char offsets of the
//! report, so everything predicted maps back to it.

use serde::{Deserialize, Serialize};

use super::tokenize::Tokens;
use crate::corpus::sentences::sentence_spans;

/// How reports become segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// Most tokens in a segment, [CLS] and [SEP] included (the paper's Max_seq_length: 300).
    pub max_len: usize,
    /// Join neighbouring sentences while the result fits in `max_len`.
    pub merge: bool,
    /// Tokenize runs of Latin letters and digits as single characters
    /// ([`BertTokenizer::encode_chars`](super::BertTokenizer::encode_chars)), so that a span
    /// boundary inside "6F" or "TIMI3" is a token boundary. Absent (false) in run directories
    /// trained before it existed: those keep the WordPiece words they were trained on.
    #[serde(default)]
    pub split_alnum: bool,
}

impl Default for SegmentConfig {
    fn default() -> Self {
        SegmentConfig {
            max_len: 300,
            merge: false,
            split_alnum: false,
        }
    }
}

/// A segment of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// Half-open char span in the report.
    pub start: usize,
    pub end: usize,
    /// Half-open range of the report's tokens (indices into its `Tokens`).
    pub tok_start: usize,
    pub tok_end: usize,
}

impl Segment {
    pub fn contains(&self, start: usize, end: usize) -> bool {
        self.start <= start && end <= self.end
    }
}

const SOFT_BREAKS: &[char] = &['，', '、', ',', '：', ':', ' ', '\t'];

/// Cut a report into segments of at most `cfg.max_len - 2` tokens. `tokens` is the encoding
/// of the whole `text`. Returns the segments and the number of sentences that had to be windowed.
pub fn segment(text: &str, tokens: &Tokens, cfg: &SegmentConfig) -> (Vec<Segment>, usize) {
    let budget = cfg.max_len.saturating_sub(2).max(1);
    let chars: Vec<char> = text.chars().collect();
    let mut pieces: Vec<Segment> = Vec::new();
    let mut windowed = 0;
    for (s, e) in sentence_spans(text) {
        let toks = tokens.tokens_starting_in(s, e);
        if toks.len() <= budget {
            pieces.push(Segment {
                start: s,
                end: e,
                tok_start: toks.start,
                tok_end: toks.end,
            });
            continue;
        }
        windowed += 1;
        let mut piece_start_char = s;
        let mut t0 = toks.start;
        while toks.end - t0 > budget {
            let limit = t0 + budget; // first token not allowed in this piece
                                     // Last soft break inside the window: cut after the token that ends with it.
            let cut = (t0 + 1..limit)
                .rev()
                .find(|&t| {
                    let gap_end = tokens.offsets[t].0;
                    let prev_end = tokens.offsets[t - 1].1;
                    chars[prev_end.saturating_sub(1)..gap_end.max(prev_end)]
                        .iter()
                        .any(|c| SOFT_BREAKS.contains(c))
                })
                .unwrap_or(limit);
            let cut_char = tokens.offsets[cut].0;
            pieces.push(Segment {
                start: piece_start_char,
                end: cut_char,
                tok_start: t0,
                tok_end: cut,
            });
            piece_start_char = cut_char;
            t0 = cut;
        }
        pieces.push(Segment {
            start: piece_start_char,
            end: e,
            tok_start: t0,
            tok_end: toks.end,
        });
    }
    if !cfg.merge {
        return (pieces, windowed);
    }
    let mut merged: Vec<Segment> = Vec::new();
    for p in pieces {
        match merged.last_mut() {
            Some(last) if (p.tok_end - last.tok_start) <= budget => {
                last.end = p.end;
                last.tok_end = p.tok_end;
            }
            _ => merged.push(p),
        }
    }
    (merged, windowed)
}

/// The segment that wholly contains chars `start..end`, if any.
pub fn segment_of(segments: &[Segment], start: usize, end: usize) -> Option<usize> {
    let i = segments
        .partition_point(|s| s.start <= start)
        .checked_sub(1)?;
    segments[i].contains(start, end).then_some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One token per non-space char: enough to test the cutting rules without a vocab.
    fn char_tokens(text: &str) -> Tokens {
        let mut t = Tokens::default();
        for (i, c) in text.chars().enumerate() {
            if !c.is_whitespace() {
                t.ids.push(1);
                t.offsets.push((i, i + 1));
            }
        }
        t
    }

    #[test]
    fn sentences_merge_and_window() {
        let text = "前降支狭窄。右冠闭塞；回旋支正常。";
        let tokens = char_tokens(text);
        let (segs, w) = segment(
            text,
            &tokens,
            &SegmentConfig {
                max_len: 100,
                merge: false,
                split_alnum: false,
            },
        );
        assert_eq!((segs.len(), w), (3, 0));
        assert_eq!(
            (
                segs[1].start,
                segs[1].end,
                segs[1].tok_start,
                segs[1].tok_end
            ),
            (6, 11, 6, 11)
        );
        let (segs, _) = segment(
            text,
            &tokens,
            &SegmentConfig {
                max_len: 13,
                merge: true,
                split_alnum: false,
            },
        );
        assert_eq!(
            segs.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(),
            vec![(0, 11), (11, 17)]
        );
        // A 20-token sentence with a budget of 8: cut after the commas where they fit.
        let long = "左主干，前降支近段，中段，远段狭窄闭塞钙化。";
        let tokens = char_tokens(long);
        let (segs, w) = segment(
            long,
            &tokens,
            &SegmentConfig {
                max_len: 10,
                merge: false,
                split_alnum: false,
            },
        );
        assert_eq!(w, 1);
        assert!(
            segs.iter().all(|s| s.tok_end - s.tok_start <= 8),
            "{segs:?}"
        );
        assert_eq!((segs[0].start, segs[0].end), (0, 4));
        assert_eq!(segs.last().unwrap().end, long.chars().count());
        for pair in segs.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert_eq!(pair[0].tok_end, pair[1].tok_start);
        }
        assert_eq!(segment_of(&segs, 0, 3), Some(0));
        assert_eq!(segment_of(&segs, 2, 6), None);
    }

    proptest::proptest! {
        /// Whatever the text and budget: segments are in order, never overlap, hold at most
        /// `max_len - 2` tokens, and together hold every token exactly once.
        #[test]
        fn segments_partition_the_tokens(text in "[前降支狭窄，、。；\n 6F%]{0,120}", max_len in 3usize..40, merge: bool) {
            let tokens = char_tokens(&text);
            let (segs, _) = segment(&text, &tokens, &SegmentConfig { max_len, merge, split_alnum: false });
            let mut next_tok = 0;
            let mut last_end = 0;
            for s in &segs {
                proptest::prop_assert!(s.tok_end - s.tok_start <= max_len - 2);
                proptest::prop_assert!(s.start >= last_end && s.start <= s.end);
                // Tokens outside every sentence (none here: whitespace has no token) are skipped.
                proptest::prop_assert_eq!(s.tok_start, next_tok);
                next_tok = s.tok_end;
                last_end = s.end;
            }
            proptest::prop_assert_eq!(next_tok, tokens.len());
        }
    }
}
