//! Span decoding (DESIGN.md): a token whose start probability passes the threshold opens a
//! span, closed by the nearest token at or after it whose end probability passes the end
//! threshold. Positions are those of real tokens (no [CLS]/[SEP]). A start with no end after it
//! gives no span. Two starts may share an end (nested spans are the tagger's to make). With
//! `reach` (the bounded span rule of `rules.rs`), a start only looks for its end before
//! `reach[start]`.

/// A decoded span: inclusive token positions and the two probabilities behind it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanPred {
    pub start: usize,
    pub end: usize,
    pub p_start: f32,
    pub p_end: f32,
}

impl SpanPred {
    /// Geometric mean of the start and end probabilities.
    pub fn confidence(&self) -> f32 {
        (self.p_start * self.p_end).sqrt()
    }
}

/// Decode spans from start/end probabilities over positions `lo..hi`; a start at `s` ends
/// before `reach[s]` when `reach` is given.
pub fn decode_spans(
    p_start: &[f32],
    p_end: &[f32],
    (lo, hi): (usize, usize),
    (th_start, th_end): (f32, f32),
    reach: Option<&[usize]>,
) -> Vec<SpanPred> {
    let hi = hi.min(p_start.len()).min(p_end.len());
    let mut out = Vec::new();
    for (s, &ps) in p_start.iter().enumerate().take(hi).skip(lo) {
        if ps < th_start {
            continue;
        }
        let stop = reach.map_or(hi, |r| r.get(s).copied().unwrap_or(hi).min(hi));
        if let Some(e) = (s..stop).find(|&e| p_end[e] >= th_end) {
            out.push(SpanPred {
                start: s,
                end: e,
                p_start: ps,
                p_end: p_end[e],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_end_at_or_after_each_start() {
        let ps = [0.9, 0.1, 0.8, 0.0, 0.7, 0.6];
        let pe = [0.0, 0.9, 0.0, 0.9, 0.6, 0.1];
        let spans = decode_spans(&ps, &pe, (1, 6), (0.5, 0.5), None);
        let got: Vec<(usize, usize)> = spans.iter().map(|s| (s.start, s.end)).collect();
        // position 0 is [CLS], outside lo..hi; 5 has no end after it.
        assert_eq!(got, vec![(2, 3), (4, 4)]);
        assert!((spans[1].confidence() - (0.7f32 * 0.6).sqrt()).abs() < 1e-6);
        assert!(decode_spans(&ps, &pe, (0, 6), (0.95, 0.5), None).is_empty());
        // Reach: the start at 2 may end only before 3, so it opens nothing; 4 is unaffected.
        let reach = [6, 6, 3, 6, 6, 6];
        let got: Vec<(usize, usize)> = decode_spans(&ps, &pe, (1, 6), (0.5, 0.5), Some(&reach))
            .iter()
            .map(|s| (s.start, s.end))
            .collect();
        assert_eq!(got, vec![(4, 4)]);
    }
}
