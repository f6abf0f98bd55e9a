//! Sentences of a report: the unit the overlap classes (Normal/SEO/EPO) and the text layer's
//! segments start from. A sentence ends after 。；！？ (full- or half-width ; ! ?) or at a line
//! break; closing quotes and brackets right after the mark stay with it; whitespace at either
//! end is left out of the span. Spans are half-open char ranges of the report.

const ENDERS: &[char] = &['。', '；', '！', '？', ';', '!', '?'];
const CLOSERS: &[char] = &['”', '’', '」', '』', '）', ')', '"', '\''];

/// Char spans of the sentences of `text`, in order, non-empty, non-overlapping.
pub fn sentence_spans(text: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let push = |s: usize, e: usize, out: &mut Vec<(usize, usize)>| {
        let mut s = s;
        let mut e = e;
        while s < e && chars[s].is_whitespace() {
            s += 1;
        }
        while e > s && chars[e - 1].is_whitespace() {
            e -= 1;
        }
        if s < e {
            out.push((s, e));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' || c == '\r' {
            push(start, i, &mut out);
            start = i + 1;
        } else if ENDERS.contains(&c) {
            let mut end = i + 1;
            while end < chars.len()
                && (ENDERS.contains(&chars[end]) || CLOSERS.contains(&chars[end]))
            {
                end += 1;
            }
            push(start, end, &mut out);
            start = end;
            i = end;
            continue;
        }
        i += 1;
    }
    push(start, chars.len(), &mut out);
    out
}

/// Index of the sentence holding char `pos` (the last sentence starting at or before it).
pub fn sentence_of(spans: &[(usize, usize)], pos: usize) -> usize {
    spans.partition_point(|s| s.0 <= pos).saturating_sub(1)
}

/// Clause punctuation inside (and at the end of) a sentence: what the error analysis
/// (`eval::errors`) and the learned decoding rules (`infer::rules`) call a clause boundary.
pub const CLAUSE_MARKS: &[char] = &['，', ',', '；', ';', '。', '：', ':'];

/// Whether a clause mark (`is_mark`) stands between two char spans (half-open), outside both:
/// the two spans then sit in different clauses. Spans may come in either order and overlap.
pub fn separated(
    chars: &[char],
    a: (usize, usize),
    b: (usize, usize),
    is_mark: impl Fn(char) -> bool,
) -> bool {
    let (lo, hi) = (a.0.min(b.0), a.1.max(b.1).min(chars.len()));
    (lo..hi).any(|m| is_mark(chars[m]) && !(a.0 <= m && m < a.1) && !(b.0 <= m && m < b.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clause_marks_between_two_spans_separate_them() {
        let chars: Vec<char> = "前降支近段植入支架，回旋支中段狭窄".chars().collect();
        let mark = |c| CLAUSE_MARKS.contains(&c);
        // 前降支近段 (0..5) and 支架 (7..9): same clause; 回旋支中段 (10..15): the next one.
        assert!(!separated(&chars, (0, 5), (7, 9), mark));
        assert!(separated(&chars, (7, 9), (10, 15), mark));
        assert!(separated(&chars, (10, 15), (0, 5), mark));
        // A mark inside one of the spans does not separate them.
        assert!(!separated(&chars, (7, 11), (10, 15), mark));
    }

    #[test]
    fn splits_on_marks_and_line_breaks() {
        let t = "造影示：右冠优势型。左主干未见狭窄；前降支近段狭窄80%！\n术后安返病房";
        let spans = sentence_spans(t);
        let texts: Vec<String> = spans
            .iter()
            .map(|&(s, e)| t.chars().skip(s).take(e - s).collect())
            .collect();
        assert_eq!(
            texts,
            [
                "造影示：右冠优势型。",
                "左主干未见狭窄；",
                "前降支近段狭窄80%！",
                "术后安返病房"
            ]
        );
        assert_eq!(sentence_of(&spans, 0), 0);
        assert_eq!(sentence_of(&spans, 10), 1);
        assert_eq!(sentence_of(&spans, 30), 3);
    }

    #[test]
    fn keeps_decimals_closers_and_trims_space() {
        let t = "  送入2.5*15mm球囊。」  \r\n\r\n再次造影?";
        let spans = sentence_spans(t);
        assert_eq!(spans, vec![(2, 16), (22, 27)]);
        assert!(sentence_spans("").is_empty());
        assert!(sentence_spans(" \n ").is_empty());
    }
}
