//! Entity text normalisation: the key of an entity node.
//!
//! "前降支近段" written in two reports must become one node, and so must "ＲＣＡ 近段", "RCA近段"
//! and "rca近段". The steps, in order: Unicode NFKC (full-width Latin, digits and punctuation
//! → half-width, ideographic space → space, compatibility ideographs → unified), whitespace
//! runs → one space and trimmed, spaces next to a CJK character removed (they are layout, not
//! meaning: "RCA 近段" is "RCA近段"; "TIMI 3级" keeps its space), Latin lower-cased. Digits, units and percent signs are kept: 狭窄70% and
//! 狭窄90% are different findings.

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F | 0x3000..=0x303F | 0xFF00..=0xFFEF)
}

/// Normalise an entity's surface text. NFKC only when its quick check says the text may
/// change (a load normalises every surface text of every report).
pub fn normalize(text: &str) -> String {
    match is_nfkc_quick(text.chars()) {
        IsNormalized::Yes => fold(text),
        _ => fold(&text.nfkc().collect::<String>()),
    }
}

/// The steps after NFKC, in one pass: whitespace runs collapse to one space, dropped at either
/// end and next to CJK; Latin lower-cased.
fn fold(nfkc: &str) -> String {
    let mut out = String::with_capacity(nfkc.len());
    let mut pending_space = false;
    for c in nfkc.chars() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            let prev = out.chars().next_back().expect("non-empty");
            if !(is_cjk(prev) || is_cjk(c)) {
                out.push(' ');
            }
            pending_space = false;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_case_and_spaces_fold_to_one_key() {
        assert_eq!(normalize("ＲＣＡ 近段"), "rca近段");
        assert_eq!(normalize("RCA近段"), "rca近段");
        assert_eq!(normalize("  前降支\u{3000}近段 "), "前降支近段");
        assert_eq!(normalize("狭窄９０％"), "狭窄90%");
        assert_eq!(normalize("TIMI  3级"), "timi 3级");
        assert_eq!(normalize("2.5*15mm 支架"), "2.5*15mm支架");
        assert_ne!(normalize("狭窄70%"), normalize("狭窄90%"));
        assert_eq!(normalize(""), "");
    }

    proptest::proptest! {
        #[test]
        fn the_quick_check_never_skips_a_text_nfkc_changes(
            text in "[ a-zA-Z0-9%.*\u{3000}\u{00a0}\u{2163}\u{ff10}-\u{ff5a}\u{4e00}-\u{4e20}\u{f900}-\u{f910}\u{00c0}-\u{00ff}\u{0300}-\u{0310}]{0,24}"
        ) {
            proptest::prop_assert_eq!(normalize(&text), fold(&text.nfkc().collect::<String>()));
        }
    }
}
