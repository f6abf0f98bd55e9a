//! Typed clinical values read from an entity's normalised text.
//!
//! A finding node "狭窄70%" is only useful to a query that can ask for "stenosis ≥ 70%" if the
//! 70 is a number, not part of a string; the same holds for TIMI grades, device sizes, French
//! sizes and drug doses. This module reads those values out of the *normalised* text
//! ([`super::normalize::normalize`]: NFKC, whitespace collapsed, spaces next to CJK removed,
//! ASCII lower-cased), so one entity node gets one set of values whichever report it came from.
//!
//! The parsers are hand-written over `char`s (no regex dependency) and never guess: a text that
//! calls for a value (a trigger is present: "狭窄", "timi", "mm", a dose number…) but whose value
//! does not read unambiguously lists that kind in [`Values::unparsed`] instead of carrying an
//! invented number. Numbers are exact decimals ([`Dec`]); unit conversion shifts the decimal
//! point, so 200 µg is exactly 0.2 mg.
//!
//! Decisions a reader needs (each is tested below):
//! - A [`Dec`] prints in the XSD 1.1 canonical form of `xsd:decimal`: no exponent, no trailing
//!   fraction zeros, and no decimal point for whole numbers ("3.0" prints "3", "2.50" prints
//!   "2.5").
//! - Stenosis is a (min, max) pair of percents. "<20%", "小于20%", "20%以下" are (0, 20);
//!   ">90%", "大于90%", "90%以上" are (90, 100). A negated stenosis ("无明显狭窄", "未见狭窄",
//!   "支架内无狭窄") is (0, 0): the clinical "no significant stenosis". "闭塞", "完全闭塞" and
//!   "cto" are 100, "次全闭塞" is 99; "近乎闭塞", "功能性闭塞" and a negated occlusion carry no
//!   number and are unparsed. Qualitative grades ("轻度狭窄", "重度狭窄") are unparsed: we do
//!   not map words to percents. A percent above 100, a reversed range, two different percents,
//!   or a percent and a word that disagree ("闭塞,狭窄50%") are unparsed. A percent labelled as
//!   another measure (plaque burden 负荷, systolic compression 压缩 of a myocardial bridge,
//!   area 面积, ejection fraction, saturation) is not a diameter stenosis and triggers nothing.
//! - In-stent restenosis needs the stent in the text ("支架内再狭窄", "架内再狭窄",
//!   "支架…再狭窄") or the abbreviation "isr", and no negation ("支架内无再狭窄" is stenosis 0,
//!   no ISR). A bare "再狭窄" could follow balloon angioplasty alone: no flag, and an unparsed
//!   stenosis. An ISR finding without a percent is not an unparsed stenosis: the flag is the
//!   value it carries.
//! - A TIMI range ("ii-iii级", "2-3级"), "2+", a grade outside 0–3, or two different grades in
//!   one text ("由0级恢复至3级") are unparsed.
//! - Device sizes: "d×l mm" (separators `*`, `×`, `x`, `/`) is diameter then length, and the
//!   diameter must be the smaller; two numbers joined by a separator with no "mm" at all are
//!   unparsed (the unit is missing). A lone "n mm" is a diameter only when below 6 mm
//!   (coronary balloons and stents come from about 6 mm long, so from 6 mm up it could be
//!   either), unless "长度" or "直径" says which. A number glued to letters ("ebu3.5", "jl4",
//!   "firebird2") is a model name, never a lone size. French sizes need a digit right before
//!   "f"/"fr" and no letter or digit after ("6f", "7fr"; not "fielder"). Two different sizes
//!   are unparsed.
//! - Doses: one number with a known unit, converted exactly to "mg" (g, µg/ug/mcg, ng), "U"
//!   (u, iu, 单位; 万 multiplies by 10^4) or "ml" (l), per-weight and per-time suffixes kept
//!   ("mg/kg", "U/h"). A concentration ("2%利多卡因") is part of the drug's name, not a dose:
//!   "2%利多卡因" alone has no dose and is *not* unparsed, just like a name with no digit
//!   ("硝酸甘油"); "2%利多卡因5ml" is 5 ml of the drug "2%利多卡因". Two doses ("2000u+2000u"),
//!   a number without a unit, or an unknown unit ("mg/ml", "mg/kg·min") are unparsed.

use std::cmp::Ordering;
use std::fmt;

/// The most fraction digits a [`Dec`] built here carries. Eighteen keeps every comparison
/// (`mantissa × 10^k`, k ≤ 18) inside `i128` and is far beyond any clinical precision.
pub const MAX_SCALE: u32 = 18;

/// An exact decimal, `mantissa × 10^-scale`.
///
/// Clinical numbers are decimal strings and the graph stores them as `xsd:decimal`; a binary
/// float would turn "0.2 mg" into 0.2000000000000000111. Values built by [`Dec::new`],
/// [`Dec::parse`] and [`Dec::shift`] are canonical (no trailing fraction zeros, zero has scale
/// 0), so the derived equality is value equality: "3.0" == "3".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dec {
    pub mantissa: i64,
    pub scale: u32,
}

impl Dec {
    /// The canonical decimal `mantissa × 10^-scale`; `None` when more than [`MAX_SCALE`]
    /// fraction digits remain after dropping trailing zeros.
    pub fn new(mantissa: i64, scale: u32) -> Option<Dec> {
        let (mut m, mut s) = (mantissa, scale);
        while s > 0 && m % 10 == 0 {
            m /= 10;
            s -= 1;
        }
        if m == 0 {
            return Some(Dec {
                mantissa: 0,
                scale: 0,
            });
        }
        (s <= MAX_SCALE).then_some(Dec {
            mantissa: m,
            scale: s,
        })
    }

    /// A whole number.
    pub fn from_int(n: i64) -> Dec {
        Dec {
            mantissa: n,
            scale: 0,
        }
    }

    /// Parse `[+-]digits[.digits]` (no exponent, no leading or trailing point). `None` on any
    /// other text, on overflow of `i64`, or on more than [`MAX_SCALE`] significant fraction
    /// digits: a value we cannot hold exactly is not a value.
    pub fn parse(s: &str) -> Option<Dec> {
        let (neg, body) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty()
            || !digits(int)
            || !digits(frac)
            || (body.contains('.') && frac.is_empty())
        {
            return None;
        }
        let frac = frac.trim_end_matches('0');
        let scale = u32::try_from(frac.len()).ok()?;
        if scale > MAX_SCALE {
            return None;
        }
        let mut m: i64 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            m = m.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
        }
        Dec::new(if neg { -m } else { m }, scale)
    }

    /// The nearest `f64` (through the decimal string, so it is correctly rounded).
    pub fn to_f64(self) -> f64 {
        self.to_string().parse().unwrap_or(f64::NAN)
    }

    /// `self × 10^exp`, exactly: unit conversion moves the decimal point and nothing else
    /// (g → mg is `shift(3)`, µg → mg is `shift(-3)`). `None` on overflow or when the result
    /// would need more than [`MAX_SCALE`] fraction digits.
    pub fn shift(self, exp: i32) -> Option<Dec> {
        let e = exp.unsigned_abs();
        if exp >= 0 {
            if e <= self.scale {
                Dec::new(self.mantissa, self.scale - e)
            } else {
                let m = self
                    .mantissa
                    .checked_mul(10i64.checked_pow(e - self.scale)?)?;
                Dec::new(m, 0)
            }
        } else {
            Dec::new(self.mantissa, self.scale.checked_add(e)?)
        }
    }

    /// Numeric order (the derived `Eq` compares representations, which agree with values only
    /// for canonical decimals; this compares values whatever the representation).
    pub fn value_cmp(self, other: Dec) -> Ordering {
        let s = self.scale.max(other.scale);
        let scaled = |d: Dec| {
            10i128
                .checked_pow(s - d.scale)
                .and_then(|p| i128::from(d.mantissa).checked_mul(p))
        };
        match (scaled(self), scaled(other)) {
            (Some(a), Some(b)) => a.cmp(&b),
            _ => self
                .to_f64()
                .partial_cmp(&other.to_f64())
                .unwrap_or(Ordering::Equal),
        }
    }
}

impl fmt::Display for Dec {
    /// XSD 1.1 canonical `xsd:decimal`: "3", "0.2", "2.75", "-1.5", "2000".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mantissa == 0 {
            return f.write_str("0");
        }
        if self.mantissa < 0 {
            f.write_str("-")?;
        }
        let digits = self.mantissa.unsigned_abs().to_string();
        let scale = usize::try_from(self.scale).unwrap_or(usize::MAX);
        if scale == 0 {
            return f.write_str(&digits);
        }
        if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            let frac = frac.trim_end_matches('0');
            f.write_str(int)?;
            if !frac.is_empty() {
                f.write_str(".")?;
                f.write_str(frac)?;
            }
            Ok(())
        } else {
            let frac = digits.trim_end_matches('0');
            f.write_str("0.")?;
            for _ in 0..(scale - digits.len()) {
                f.write_str("0")?;
            }
            f.write_str(frac)
        }
    }
}

/// The kinds of value a text can call for; what [`Values::unparsed`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ValueKind {
    Stenosis,
    Timi,
    DeviceSize,
    French,
    Dose,
}

/// The values of one entity text. Everything is optional: most texts carry none.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Values {
    /// Percent diameter stenosis: min and max (equal for a single value); None when absent.
    pub stenosis: Option<(Dec, Dec)>,
    /// In-stent restenosis (支架内再狭窄, isr…).
    pub in_stent_restenosis: bool,
    /// TIMI flow grade 0–3.
    pub timi: Option<u8>,
    /// Device diameter in mm (absent when the text gives a length only, or no size).
    pub diameter_mm: Option<Dec>,
    /// Device length in mm ("3.0mm球囊" has a diameter only).
    pub length_mm: Option<Dec>,
    /// French size of a catheter or sheath (6f, 6fr, 7f).
    pub french: Option<Dec>,
    /// Drug dose: the drug name (text before the number, trimmed; None if empty), value and
    /// canonical unit.
    pub dose: Option<Dose>,
    /// Kinds the text called for (a trigger was present) but that did not parse — counted by
    /// the load as `values_unparsed`.
    pub unparsed: Vec<ValueKind>,
}

/// A dose in a canonical unit, so that "200ug" and "0.2mg" are one value.
#[derive(Debug, Clone, PartialEq)]
pub struct Dose {
    pub drug: Option<String>,
    pub value: Dec,
    /// "mg", "U" or "ml", with any per-weight or per-time suffix kept ("mg/kg", "U/kg",
    /// "mg/kg/min", "U/h").
    pub unit: String,
}

/// The values of an entity of type `type_code` ("Sy", "Mc", "Do"; any other type has none)
/// whose normalised text is `normalized`.
pub fn parse_values(type_code: &str, normalized: &str) -> Values {
    let c: Vec<char> = normalized.chars().collect();
    let mut v = Values::default();
    let u = &mut v.unparsed;
    match type_code {
        "Sy" => {
            let s = stenosis(&c);
            v.in_stent_restenosis = s.isr;
            v.stenosis = s.value.noted(ValueKind::Stenosis, u);
            v.timi = timi(&c).noted(ValueKind::Timi, u);
        }
        "Mc" => {
            if let Some((d, l)) = device_size(&c).noted(ValueKind::DeviceSize, u) {
                v.diameter_mm = d;
                v.length_mm = l;
            }
            v.french = french(&c).noted(ValueKind::French, u);
        }
        "Do" => v.dose = dose(&c).noted(ValueKind::Dose, u),
        _ => {}
    }
    v
}

/// What one parser found: nothing called for it, a value, or a trigger without a clear value.
#[derive(Debug, Clone, PartialEq)]
enum Parsed<T> {
    Absent,
    Value(T),
    Unparsed,
}

impl<T> Parsed<T> {
    /// The value, if one parsed; a trigger without a clear value is noted in `unparsed` as
    /// `kind` (kept as text, counted, never guessed).
    fn noted(self, kind: ValueKind, unparsed: &mut Vec<ValueKind>) -> Option<T> {
        match self {
            Parsed::Value(v) => Some(v),
            Parsed::Unparsed => {
                unparsed.push(kind);
                None
            }
            Parsed::Absent => None,
        }
    }
}

/// The one value all readings agree on; `Unparsed` when any reading failed or two differ.
fn agree<T: PartialEq>(readings: Vec<Option<T>>) -> Parsed<T> {
    let mut out: Option<T> = None;
    for r in readings {
        match (r, &out) {
            (None, _) => return Parsed::Unparsed,
            (Some(x), Some(y)) if x != *y => return Parsed::Unparsed,
            (Some(x), None) => out = Some(x),
            (Some(_), Some(_)) => {}
        }
    }
    match out {
        Some(x) => Parsed::Value(x),
        None => Parsed::Absent,
    }
}

// ---------------------------------------------------------------------------------------------
// Character helpers.

fn at(c: &[char], i: usize, pat: &str) -> bool {
    (i..).zip(pat.chars()).all(|(j, p)| c.get(j) == Some(&p))
}

fn ends_at(c: &[char], end: usize, pat: &str) -> bool {
    let n = pat.chars().count();
    end >= n && at(c, end - n, pat)
}

fn len(pat: &str) -> usize {
    pat.chars().count()
}

fn is_digit(c: &[char], i: usize) -> bool {
    c.get(i).is_some_and(|ch| ch.is_ascii_digit())
}

fn is_alpha(c: &[char], i: usize) -> bool {
    c.get(i).is_some_and(|ch| ch.is_ascii_alphabetic())
}

fn contains(c: &[char], pat: &str) -> bool {
    (0..c.len()).any(|i| at(c, i, pat))
}

/// Start indices of `pat` in `c`.
fn find_all(c: &[char], pat: &str) -> Vec<usize> {
    (0..c.len()).filter(|&i| at(c, i, pat)).collect()
}

/// Maximal runs of ASCII letters, as strings: "isr", "cto", "lvef" are whole words only.
fn ascii_words(c: &[char]) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for &ch in c {
        if ch.is_ascii_alphabetic() {
            cur.push(ch);
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A number starting at `i` (an ASCII digit): `digits[.digits]`. `value` is `None` when it
/// does not fit a [`Dec`]; `glued` when it sticks to a preceding letter or point, as the digits
/// of a model name do ("ebu3.5", "jl4", "sal.75", "b12").
struct Num {
    start: usize,
    end: usize,
    value: Option<Dec>,
    glued: bool,
}

fn scan_number(c: &[char], i: usize) -> Num {
    let mut j = i;
    while is_digit(c, j) {
        j += 1;
    }
    if c.get(j) == Some(&'.') && is_digit(c, j + 1) {
        j += 1;
        while is_digit(c, j) {
            j += 1;
        }
    }
    let text: String = c.get(i..j).unwrap_or_default().iter().collect();
    let glued = i > 0 && (is_alpha(c, i - 1) || c.get(i - 1) == Some(&'.'));
    Num {
        start: i,
        end: j,
        value: Dec::parse(&text),
        glued,
    }
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while c.get(i).is_some_and(|ch| ch.is_whitespace()) {
        i += 1;
    }
    i
}

const RANGE_CHARS: &[char] = &['-', '~', '–', '—', '〜', '至', '到'];

// ---------------------------------------------------------------------------------------------
// Stenosis and in-stent restenosis.

struct Stenosis {
    value: Parsed<(Dec, Dec)>,
    isr: bool,
}

/// Words between a negation and 狭窄 that keep the negation's scope: "无明显狭窄", "未见有意义的
/// 狭窄", "无残余狭窄", "无再狭窄". "严重" is not among them: "无严重狭窄" allows a mild one.
const NEGATION_MODIFIERS: &[&str] = &[
    "明显",
    "显著",
    "明确",
    "确切",
    "有意义的",
    "有意义",
    "残余",
    "再",
    "的",
];
const NEGATIONS: &[&str] = &["无", "未见", "未发现", "没有", "未", "不伴", "否认"];

/// Whether the word ending at `end` is negated ("无明显|狭窄").
fn negated(c: &[char], mut end: usize) -> bool {
    'strip: loop {
        for m in NEGATION_MODIFIERS {
            if ends_at(c, end, m) {
                end -= len(m);
                continue 'strip;
            }
        }
        break;
    }
    NEGATIONS.iter().any(|n| ends_at(c, end, n))
}

/// Words right before 闭塞 that make it less than total: no number can be read from them.
const PARTIAL_OCCLUSION: &[&str] = &[
    "近乎",
    "几乎",
    "接近",
    "不完全",
    "不全",
    "功能性",
    "亚",
    "近",
    "次",
    "部分",
];

/// Markers of a percent that is some other measure than diameter stenosis.
const OTHER_PERCENT_MEASURES: &[&str] = &["负荷", "压缩", "面积", "射血分数", "饱和度"];

#[derive(Debug, Clone, Copy, PartialEq)]
enum PTok {
    Num(Option<Dec>),
    Pct,
    Range,
    /// "<", "小于"… before a number.
    Below,
    /// ">", "大于"… before a number.
    Above,
    /// "以下" after a percent.
    BelowSuffix,
    /// "以上" after a percent.
    AboveSuffix,
    Other,
}

const BELOW_WORDS: &[&str] = &[
    "小于等于",
    "不超过",
    "不足",
    "小于",
    "低于",
    "少于",
    "<=",
    "≤",
    "<",
];
const ABOVE_WORDS: &[&str] = &["大于等于", "超过", "大于", "高于", ">=", "≥", ">"];

fn percent_tokens(c: &[char]) -> Vec<PTok> {
    let mut out = Vec::new();
    let mut i = 0;
    'outer: while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch.is_ascii_digit() {
            let n = scan_number(c, i);
            out.push(PTok::Num(n.value));
            i = n.end;
            continue;
        }
        for (words, tok) in [(BELOW_WORDS, PTok::Below), (ABOVE_WORDS, PTok::Above)] {
            for w in words {
                if at(c, i, w) {
                    out.push(tok);
                    i += len(w);
                    continue 'outer;
                }
            }
        }
        for (w, tok) in [("以下", PTok::BelowSuffix), ("以上", PTok::AboveSuffix)] {
            if at(c, i, w) {
                out.push(tok);
                i += len(w);
                continue 'outer;
            }
        }
        out.push(match ch {
            '%' => PTok::Pct,
            _ if RANGE_CHARS.contains(&ch) => PTok::Range,
            _ => PTok::Other,
        });
        i += 1;
    }
    out
}

/// Every percent expression of the text: `Some((min, max))`, or `None` for one that names a
/// percent but cannot be read (over 100, reversed range, conflicting qualifiers, a bare "%").
fn percent_expressions(c: &[char]) -> Vec<Option<(Dec, Dec)>> {
    let t = percent_tokens(c);
    let get = |i: usize| t.get(i).copied();
    let hundred = Dec::from_int(100);
    let mut out = Vec::new();
    let mut i = 0;
    while i < t.len() {
        let (lo, hi, next) = match (get(i), get(i + 1), get(i + 2), get(i + 3), get(i + 4)) {
            (
                Some(PTok::Num(a)),
                Some(PTok::Pct),
                Some(PTok::Range),
                Some(PTok::Num(b)),
                Some(PTok::Pct),
            ) => (a, Some(b), i + 5),
            (Some(PTok::Num(a)), Some(PTok::Range), Some(PTok::Num(b)), Some(PTok::Pct), _) => {
                (a, Some(b), i + 4)
            }
            (Some(PTok::Num(a)), Some(PTok::Pct), ..) => (a, None, i + 2),
            (Some(PTok::Pct), ..) => {
                // A "%" with no number before it.
                out.push(None);
                i += 1;
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let before = i.checked_sub(1).and_then(get);
        let below = before == Some(PTok::Below) || get(next) == Some(PTok::BelowSuffix);
        let above = before == Some(PTok::Above) || get(next) == Some(PTok::AboveSuffix);
        let expr = match (lo, hi) {
            (Some(a), None) => match (below, above) {
                (false, false) => Some((a, a)),
                (true, false) => Some((Dec::from_int(0), a)),
                (false, true) => Some((a, hundred)),
                (true, true) => None,
            },
            (Some(a), Some(Some(b))) if !below && !above => Some((a, b)),
            _ => None,
        };
        let valid = |(a, b): (Dec, Dec)| {
            a.mantissa >= 0
                && a.value_cmp(b) != Ordering::Greater
                && b.value_cmp(hundred) != Ordering::Greater
        };
        out.push(expr.filter(|&r| valid(r)));
        i = next;
    }
    out
}

fn stenosis(c: &[char]) -> Stenosis {
    let words = ascii_words(c);
    let narrow = find_all(c, "狭窄");
    let occl = find_all(c, "闭塞");
    let cto = words.iter().any(|w| w == "cto");
    let other_measure = OTHER_PERCENT_MEASURES.iter().any(|m| contains(c, m))
        || words.iter().any(|w| w == "ef" || w == "lvef");

    // In-stent restenosis: a non-negated 再狭窄 after a stent, or "isr".
    let isr = words.iter().any(|w| w == "isr")
        || narrow.iter().any(|&p| {
            p >= 1
                && c[p - 1] == '再'
                && !negated(c, p)
                && (contains(&c[..p - 1], "支架") || ends_at(c, p - 1, "架内"))
        });

    // Values the words say: 0 for a negated 狭窄, 99 or 100 for an occlusion.
    let mut word_values: Vec<Dec> = Vec::new();
    let mut word_unreadable = false;
    for &p in &narrow {
        if negated(c, p) {
            word_values.push(Dec::from_int(0));
        }
    }
    for &p in &occl {
        if ends_at(c, p, "次全") {
            word_values.push(Dec::from_int(99));
        } else if PARTIAL_OCCLUSION.iter().any(|w| ends_at(c, p, w)) || negated(c, p) {
            word_unreadable = true;
        } else {
            word_values.push(Dec::from_int(100));
        }
    }
    if cto {
        word_values.push(Dec::from_int(100));
    }

    let triggered =
        !narrow.is_empty() || !occl.is_empty() || cto || (c.contains(&'%') && !other_measure);
    let exprs = if other_measure {
        Vec::new()
    } else {
        percent_expressions(c)
    };

    let value = if !exprs.is_empty() {
        match agree(exprs) {
            Parsed::Value((lo, hi)) => {
                let inside = |v: &Dec| {
                    v.value_cmp(lo) != Ordering::Less && v.value_cmp(hi) != Ordering::Greater
                };
                if word_values.iter().all(inside) {
                    Parsed::Value((lo, hi))
                } else {
                    Parsed::Unparsed
                }
            }
            _ => Parsed::Unparsed,
        }
    } else if !word_values.is_empty() {
        match agree(word_values.into_iter().map(Some).collect()) {
            Parsed::Value(v) => Parsed::Value((v, v)),
            _ => Parsed::Unparsed,
        }
    } else if word_unreadable || (triggered && !isr) {
        Parsed::Unparsed
    } else {
        Parsed::Absent
    };
    Stenosis { value, isr }
}

// ---------------------------------------------------------------------------------------------
// TIMI flow grade.

/// What may stand between "timi" and the grade: "timi血流达3级", "timi flow grade 3".
const TIMI_FILLERS: &[&str] = &[
    "血流分级",
    "血流",
    "分级",
    "flow",
    "grade",
    "可达",
    "达到",
    "达",
    "恢复至",
    "恢复到",
    "恢复",
    "仍为",
    "为",
    "呈",
    "是",
    ":",
];

/// The grade after the "timi" ending at `i`; `None` when there is none or it is a range.
fn timi_grade(c: &[char], mut i: usize) -> Option<u8> {
    'skip: loop {
        i = skip_ws(c, i);
        for f in TIMI_FILLERS {
            if at(c, i, f) {
                i += len(f);
                continue 'skip;
            }
        }
        break;
    }
    let grade_at = |i: usize| -> Option<(u8, usize)> {
        if is_digit(c, i) {
            let n = scan_number(c, i);
            let g = match n.value {
                Some(d) if d.scale == 0 && (0..=3).contains(&d.mantissa) && n.end == i + 1 => {
                    u8::try_from(d.mantissa).ok()
                }
                _ => None,
            }?;
            Some((g, n.end))
        } else if is_alpha(c, i) {
            let mut j = i;
            while is_alpha(c, j) {
                j += 1;
            }
            let word: String = c.get(i..j).unwrap_or_default().iter().collect();
            let g = match word.as_str() {
                "i" => 1,
                "ii" => 2,
                "iii" => 3,
                _ => return None,
            };
            Some((g, j))
        } else {
            None
        }
    };
    let (grade, mut j) = grade_at(i)?;
    j = skip_ws(c, j);
    if c.get(j) == Some(&'级') {
        j = skip_ws(c, j + 1);
    }
    match c.get(j) {
        // "2+" is a sub-grade we do not model.
        Some('+') => None,
        Some(&ch) if RANGE_CHARS.contains(&ch) || ch == '/' || ch == '或' || ch == '、' => {
            let k = skip_ws(c, j + 1);
            if is_digit(c, k) || is_alpha(c, k) {
                None
            } else {
                Some(grade)
            }
        }
        _ => Some(grade),
    }
}

/// Every "timi" must give the same grade. A "timi" inside a longer word ("timing") is not one;
/// right after it only a Roman grade may follow as a letter ("timiiii级" is "timi" + "iii").
fn timi(c: &[char]) -> Parsed<u8> {
    let hits = find_all(c, "timi").into_iter().filter(|&p| {
        !is_alpha(c, p.wrapping_sub(1)) && (!is_alpha(c, p + 4) || c.get(p + 4) == Some(&'i'))
    });
    agree(hits.map(|p| timi_grade(c, p + 4)).collect())
}

// ---------------------------------------------------------------------------------------------
// Device sizes and French sizes.

/// Below this a lone "n mm" is a diameter; from here up it could be a length as well.
const LONE_DIAMETER_BELOW_MM: i64 = 6;

#[derive(Debug, Clone, Copy, PartialEq)]
enum STok {
    Num(Option<Dec>, bool),
    Mm,
    Sep,
    Phi,
    LengthCue,
    DiameterCue,
    Other,
}

fn size_tokens(c: &[char]) -> Vec<STok> {
    let mut out: Vec<STok> = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch.is_ascii_digit() {
            let n = scan_number(c, i);
            out.push(STok::Num(n.value, n.glued));
            i = n.end;
            continue;
        }
        let last_is_size = matches!(out.last(), Some(STok::Num(..) | STok::Mm));
        if at(c, i, "mm")
            && !is_alpha(c, i.wrapping_sub(1))
            && !c
                .get(i + 2)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '²')
        {
            out.push(STok::Mm);
            i += 2;
            continue;
        }
        if ch == 'x' && last_is_size && is_digit(c, skip_ws(c, i + 1)) {
            out.push(STok::Sep);
            i += 1;
            continue;
        }
        if ch.is_ascii_alphabetic() {
            while is_alpha(c, i) {
                i += 1;
            }
            out.push(STok::Other);
            continue;
        }
        let (tok, n) = if at(c, i, "长度") {
            (STok::LengthCue, 2)
        } else if at(c, i, "直径") {
            (STok::DiameterCue, 2)
        } else {
            let tok = match ch {
                '*' | '×' | '/' | '✕' => STok::Sep,
                'φ' | 'Φ' | 'ф' | 'Ф' | 'ø' | 'Ø' | '⌀' => STok::Phi,
                '长' => STok::LengthCue,
                '径' => STok::DiameterCue,
                _ => STok::Other,
            };
            (tok, 1)
        };
        out.push(tok);
        i += n;
    }
    out
}

type Size = (Option<Dec>, Option<Dec>);

/// Diameter then length; the diameter must be the smaller, or the order is not the usual one.
fn size_pair(d: Option<Dec>, l: Option<Dec>) -> Option<Size> {
    let (d, l) = (d?, l?);
    (d.value_cmp(l) == Ordering::Less).then_some((Some(d), Some(l)))
}

fn device_size(c: &[char]) -> Parsed<Size> {
    let t = size_tokens(c);
    let get = |i: usize| t.get(i).copied();
    let mut readings: Vec<Option<Size>> = Vec::new();
    let mut i = 0;
    while i < t.len() {
        match get(i) {
            Some(STok::Phi) => {
                let Some(STok::Num(d, _)) = get(i + 1) else {
                    readings.push(None);
                    i += 1;
                    continue;
                };
                let mut j = i + 2;
                if get(j) == Some(STok::Mm) {
                    j += 1;
                }
                if let (Some(STok::Sep), Some(STok::Num(l, _)), Some(STok::Mm)) =
                    (get(j), get(j + 1), get(j + 2))
                {
                    readings.push(size_pair(d, l));
                    i = j + 3;
                } else {
                    readings.push(d.map(|d| (Some(d), None)));
                    i = j;
                }
            }
            Some(STok::Num(d, glued)) => {
                let mut j = i + 1;
                let mm1 = get(j) == Some(STok::Mm);
                if mm1 {
                    j += 1;
                }
                if let (Some(STok::Sep), Some(STok::Num(l, _))) = (get(j), get(j + 1)) {
                    let mut k = j + 2;
                    let mm2 = get(k) == Some(STok::Mm);
                    if mm2 {
                        k += 1;
                    }
                    let third =
                        matches!((get(k), get(k + 1)), (Some(STok::Sep), Some(STok::Num(..))));
                    if third {
                        readings.push(None);
                    } else if mm1 || mm2 {
                        readings.push(size_pair(d, l));
                    } else if !glued {
                        // "2.0*10" with no unit: a size without its unit is not read.
                        readings.push(None);
                    }
                    i = k;
                } else if mm1 {
                    let before = i.checked_sub(1).and_then(get);
                    let reading = match (d, before) {
                        // "ebu3.5mm": a model name's digits, or a size glued to it; not read.
                        _ if glued => None,
                        (Some(d), Some(STok::LengthCue)) => Some((None, Some(d))),
                        (Some(d), Some(STok::DiameterCue)) => Some((Some(d), None)),
                        // "…/18mm": the other half of the pair is not a number.
                        (_, Some(STok::Sep)) => None,
                        (Some(d), _) => (d.value_cmp(Dec::from_int(LONE_DIAMETER_BELOW_MM))
                            == Ordering::Less)
                            .then_some((Some(d), None)),
                        (None, _) => None,
                    };
                    readings.push(reading);
                    i = j;
                } else {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    let triggered = t.iter().any(|x| matches!(x, STok::Mm | STok::Phi));
    match agree(readings) {
        Parsed::Absent if triggered => Parsed::Unparsed,
        p => p,
    }
}

/// "6f", "6fr", "7f动脉鞘": a number directly followed by f or fr and then no letter or digit.
fn french(c: &[char]) -> Parsed<Dec> {
    let mut readings = Vec::new();
    for j in 1..c.len() {
        if c[j] != 'f' || !is_digit(c, j - 1) {
            continue;
        }
        let unit_end = if c.get(j + 1) == Some(&'r') {
            j + 2
        } else {
            j + 1
        };
        if c.get(unit_end).is_some_and(|n| n.is_ascii_alphanumeric()) {
            continue;
        }
        let mut start = j;
        while start > 0 && is_digit(c, start - 1) {
            start -= 1;
        }
        if start >= 2 && c[start - 1] == '.' && is_digit(c, start - 2) {
            start -= 1;
            while start > 0 && is_digit(c, start - 1) {
                start -= 1;
            }
        }
        let n = scan_number(c, start);
        readings.push(if n.glued || n.end != j { None } else { n.value });
    }
    agree(readings)
}

// ---------------------------------------------------------------------------------------------
// Doses.

/// Known dose units: spelling, canonical unit, power of ten to it.
const DOSE_UNITS: &[(&str, &str, i32)] = &[
    ("units", "U", 0),
    ("unit", "U", 0),
    ("mcg", "mg", -3),
    ("μg", "mg", -3),
    ("µg", "mg", -3),
    ("ug", "mg", -3),
    ("mg", "mg", 0),
    ("ng", "mg", -6),
    ("iu", "U", 0),
    ("ml", "ml", 0),
    ("u", "U", 0),
    ("g", "mg", 3),
    ("l", "ml", 3),
    ("国际单位", "U", 0),
    ("单位", "U", 0),
    ("毫克", "mg", 0),
    ("微克", "mg", -3),
    ("克", "mg", 3),
    ("毫升", "ml", 0),
    ("升", "ml", 3),
];

/// Per-weight and per-time denominators kept on the unit.
const PER_UNITS: &[(&str, &str)] = &[
    ("kg", "kg"),
    ("min", "min"),
    ("hr", "h"),
    ("h", "h"),
    ("小时", "h"),
    ("分钟", "min"),
];

/// A unit spelling at `i`, where an ASCII one must not run on into further letters.
fn unit_at(c: &[char], i: usize, spelling: &str) -> bool {
    at(c, i, spelling)
        && !(spelling.ends_with(|ch: char| ch.is_ascii_alphabetic())
            && is_alpha(c, i + len(spelling)))
}

/// The dose whose number starts at `n`: its canonical value and unit and where it ends;
/// `None` when the number has no known unit.
fn dose_at(c: &[char], n: &Num) -> Option<(Dec, String, usize)> {
    let mut k = skip_ws(c, n.end);
    let mut exp = 0;
    if c.get(k) == Some(&'万') {
        exp = 4;
        k = skip_ws(c, k + 1);
    }
    let &(spelling, canon, to_canon) = DOSE_UNITS.iter().find(|(s, ..)| unit_at(c, k, s))?;
    k += len(spelling);
    let mut unit = canon.to_string();
    while c.get(k) == Some(&'/') {
        let &(s, per) = PER_UNITS.iter().find(|(s, _)| unit_at(c, k + 1, s))?;
        unit.push('/');
        unit.push_str(per);
        k += 1 + len(s);
    }
    // "mg/kg·min": a compound unit we do not read; taking "mg/kg" would turn a rate into a bolus.
    if c.get(k)
        .is_some_and(|ch| matches!(ch, '·' | '•' | '⋅' | '*'))
    {
        return None;
    }
    let value = n.value?.shift(exp + to_canon)?;
    Some((value, unit, k))
}

/// Punctuation around a drug name that is layout, not name.
fn name_trim(ch: char) -> bool {
    ch.is_whitespace() || ",:;、。()[]".contains(ch)
}

fn dose(c: &[char]) -> Parsed<Dose> {
    let mut doses: Vec<(usize, Dec, String)> = Vec::new();
    let mut stray = false;
    let mut i = 0;
    while i < c.len() {
        if !c[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let n = scan_number(c, i);
        if n.glued {
            // Part of a name ("维生素b12").
            i = n.end;
            continue;
        }
        let after = skip_ws(c, n.end);
        if c.get(after) == Some(&'%') {
            // A concentration: part of the preparation's name ("2%利多卡因").
            i = after + 1;
            continue;
        }
        match dose_at(c, &n) {
            Some((value, unit, end)) => {
                doses.push((n.start, value, unit));
                i = end;
            }
            None => {
                stray = true;
                i = n.end;
            }
        }
    }
    if stray || doses.len() > 1 {
        return Parsed::Unparsed;
    }
    let Some((start, value, unit)) = doses.pop() else {
        return Parsed::Absent;
    };
    let name: String = c.get(..start).unwrap_or_default().iter().collect();
    let name = name.trim_matches(name_trim);
    Parsed::Value(Dose {
        drug: (!name.is_empty()).then(|| name.to_string()),
        value,
        unit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).expect("test decimal")
    }

    /// A one-line rendering of [`Values`] for the tables: "sten=70..80", "sten=90", "isr",
    /// "timi=3", "d=3 l=18", "F=6", "dose=肝素|2000|U", and "?Kind" for each unparsed kind.
    fn describe(v: &Values) -> String {
        let mut out: Vec<String> = Vec::new();
        if let Some((a, b)) = v.stenosis {
            out.push(if a == b {
                format!("sten={a}")
            } else {
                format!("sten={a}..{b}")
            });
        }
        if v.in_stent_restenosis {
            out.push("isr".into());
        }
        if let Some(g) = v.timi {
            out.push(format!("timi={g}"));
        }
        if let Some(x) = v.diameter_mm {
            out.push(format!("d={x}"));
        }
        if let Some(x) = v.length_mm {
            out.push(format!("l={x}"));
        }
        if let Some(x) = v.french {
            out.push(format!("F={x}"));
        }
        if let Some(x) = &v.dose {
            let drug = x.drug.as_deref().unwrap_or("-");
            out.push(format!("dose={drug}|{}|{}", x.value, x.unit));
        }
        for k in &v.unparsed {
            out.push(format!("?{k:?}"));
        }
        out.join(" ")
    }

    fn check(type_code: &str, table: &[(&str, &str)]) {
        for &(text, want) in table {
            assert_eq!(
                describe(&parse_values(type_code, text)),
                want,
                "{type_code} {text:?}"
            );
        }
    }

    #[test]
    fn decimals_are_exact_and_print_canonically() {
        assert_eq!(d("3.0"), d("3"));
        assert_eq!(d("3.0").to_string(), "3");
        assert_eq!(d("2.50").to_string(), "2.5");
        assert_eq!(d("0.2").to_string(), "0.2");
        assert_eq!(d("2000").to_string(), "2000");
        assert_eq!(d("2.75").to_string(), "2.75");
        assert_eq!(d("0.05").to_string(), "0.05");
        assert_eq!(d("-1.5").to_string(), "-1.5");
        assert_eq!(d("000.000").to_string(), "0");
        assert_eq!(d("200").shift(-3), Some(d("0.2")));
        assert_eq!(d("1.5").shift(3), Some(d("1500")));
        assert_eq!(d("0.75").shift(4), Some(d("7500")));
        assert_eq!(d("3.5").to_f64(), 3.5);
        assert_eq!(d("99.5").value_cmp(d("100")), Ordering::Less);
        let raw = Dec {
            mantissa: 30,
            scale: 1,
        };
        assert_eq!(raw.value_cmp(d("3")), Ordering::Equal);
        assert_eq!(raw.to_string(), "3");
        assert_eq!(
            Dec {
                mantissa: 5,
                scale: 3
            }
            .to_string(),
            "0.005"
        );
        let min = Dec {
            mantissa: i64::MIN,
            scale: 2,
        };
        assert_eq!(min.to_string(), "-92233720368547758.08");
        for bad in [
            "", ".", "1.", ".5", "1e3", "1.2.3", "--1", "+-1", "1 2", "٣",
        ] {
            assert_eq!(Dec::parse(bad), None, "{bad:?}");
        }
        assert_eq!(Dec::parse("99999999999999999999"), None, "overflow");
        assert_eq!(
            Dec::parse("1.0000000000000000001"),
            None,
            "19 fraction digits"
        );
        assert_eq!(Dec::parse("1.000000000000000000000"), Some(d("1")));
        assert_eq!(Dec::from_int(i64::MAX).shift(1), None);
        assert_eq!(d("1").shift(-19), None);
        assert_eq!(Dec::new(7, 19), None);
    }

    #[test]
    fn stenosis_percent_and_words() {
        check(
            "Sy",
            &[
                ("狭窄90%", "sten=90"),
                ("90%狭窄", "sten=90"),
                ("狭窄约90%", "sten=90"),
                ("狭窄程度约90%", "sten=90"),
                ("狭窄最重处约95%", "sten=95"),
                ("最重处狭窄约85%", "sten=85"),
                ("管状病变,狭窄80%", "sten=80"),
                ("近段75%狭窄", "sten=75"),
                ("狭窄99.5%", "sten=99.5"),
                ("狭窄0%", "sten=0"),
                ("狭窄100%", "sten=100"),
                ("收缩期狭窄约60%", "sten=60"),
                ("70-80%狭窄", "sten=70..80"),
                ("70~80%", "sten=70..80"),
                ("70%-80%", "sten=70..80"),
                ("狭窄70%~80%", "sten=70..80"),
                ("狭窄约70-90%", "sten=70..90"),
                ("狭窄40%至60%", "sten=40..60"),
                ("狭窄60 % - 70 %", "sten=60..70"),
                ("次全闭塞", "sten=99"),
                ("闭塞", "sten=100"),
                ("完全闭塞", "sten=100"),
                ("慢性完全闭塞", "sten=100"),
                ("100%闭塞", "sten=100"),
                ("cto病变", "sten=100"),
            ],
        );
    }

    #[test]
    fn stenosis_bounds_and_negations() {
        check(
            "Sy",
            &[
                ("残余狭窄<20%", "sten=0..20"),
                ("残余狭窄小于30%", "sten=0..30"),
                ("残余狭窄< 10%", "sten=0..10"),
                ("残余狭窄20%以下", "sten=0..20"),
                ("狭窄>90%", "sten=90..100"),
                ("狭窄90%以上", "sten=90..100"),
                ("无明显狭窄", "sten=0"),
                ("未发现明显狭窄", "sten=0"),
                ("未见狭窄", "sten=0"),
                ("无狭窄", "sten=0"),
                ("支架内无狭窄", "sten=0"),
                ("无残余狭窄", "sten=0"),
                ("无明显狭窄,狭窄0%", "sten=0"),
            ],
        );
    }

    #[test]
    fn stenosis_that_does_not_read_is_unparsed() {
        check(
            "Sy",
            &[
                ("狭窄", "?Stenosis"),
                ("轻度狭窄", "?Stenosis"),
                ("中度狭窄", "?Stenosis"),
                ("无严重狭窄", "?Stenosis"),
                ("狭窄无明显变化", "?Stenosis"),
                ("狭窄120%", "?Stenosis"),
                ("狭窄999999999999999999999%", "?Stenosis"),
                ("狭窄80-70%", "?Stenosis"),
                ("狭窄50%,残余狭窄20%", "?Stenosis"),
                ("<20%-30%", "?Stenosis"),
                ("狭窄%", "?Stenosis"),
                ("%%%", "?Stenosis"),
                ("近乎闭塞", "?Stenosis"),
                ("功能性闭塞", "?Stenosis"),
                ("未见闭塞", "?Stenosis"),
                ("闭塞,狭窄50%", "?Stenosis"),
                ("面积狭窄70%", "?Stenosis"),
                ("再狭窄", "?Stenosis"),
                // No trigger, no value.
                ("管状病变", ""),
                ("斑块负荷60%", ""),
                ("收缩期压缩40%", ""),
                ("lvef 55%", ""),
                ("冠状动脉扩张", ""),
                ("0.78", ""),
                ("", ""),
            ],
        );
    }

    #[test]
    fn in_stent_restenosis_needs_the_stent() {
        check(
            "Sy",
            &[
                // The flag is the value: no unparsed stenosis without a percent.
                ("支架内再狭窄", "isr"),
                ("支架内再狭窄70%", "sten=70 isr"),
                ("支架内再狭窄,弥漫型", "isr"),
                ("架内再狭窄", "isr"),
                ("支架近端再狭窄", "isr"),
                ("isr", "isr"),
                ("isr病变", "isr"),
                ("支架内无再狭窄", "sten=0"),
                ("支架内未见明显再狭窄", "sten=0"),
                ("disrupted", ""),
            ],
        );
    }

    #[test]
    fn timi_grades() {
        check(
            "Sy",
            &[
                ("timi血流3级", "timi=3"),
                ("timi 3级", "timi=3"),
                ("timi3级", "timi=3"),
                ("timi血流iii级", "timi=3"),
                ("timi iii级", "timi=3"),
                ("timi血流达3级", "timi=3"),
                ("pci后timi血流达3级", "timi=3"),
                ("timi 0级", "timi=0"),
                ("timi血流i级", "timi=1"),
                ("timi血流ii级", "timi=2"),
                ("timi3", "timi=3"),
                ("timi flow grade 2", "timi=2"),
                ("timi血流恢复至3级", "timi=3"),
                ("timi血流:3级", "timi=3"),
                ("术前timi 3级,支架后timi iii级", "timi=3"),
                ("timi血流ii-iii级", "?Timi"),
                ("timi 2-3级", "?Timi"),
                ("timi血流2~3级", "?Timi"),
                ("timi血流1+", "?Timi"),
                ("timi 4级", "?Timi"),
                ("timi 31", "?Timi"),
                ("timi iv级", "?Timi"),
                ("timi血流正常", "?Timi"),
                ("timi血流由0级恢复至3级", "?Timi"),
                ("术前timi 0级,术后timi 3级", "?Timi"),
                ("前向血流3级", ""),
                ("timing", ""),
                ("timiiii级", "timi=3"),
            ],
        );
    }

    #[test]
    fn device_sizes() {
        check(
            "Mc",
            &[
                ("3.0*18mm", "d=3 l=18"),
                ("3.0×18mm", "d=3 l=18"),
                ("3.0x18mm", "d=3 l=18"),
                ("3.0 * 18mm", "d=3 l=18"),
                ("2.5*15 mm", "d=2.5 l=15"),
                ("3.5mm*20mm", "d=3.5 l=20"),
                ("3.5mm x 20mm", "d=3.5 l=20"),
                ("2.75/15mm", "d=2.75 l=15"),
                ("φ3.5mm", "d=3.5"),
                ("Φ3.5mm球囊", "d=3.5"),
                ("ф4.0", "d=4"),
                ("φ3.0*15mm", "d=3 l=15"),
                ("firebird2 3.0*29mm", "d=3 l=29"),
                ("firebird2 3.0mm", "d=3"),
                ("sprinter legend 2.0*15mm球囊", "d=2 l=15"),
                ("nc trek 3.5*12mm", "d=3.5 l=12"),
                ("trek2.5*15mm", "d=2.5 l=15"),
                ("药物支架2.50*24mm", "d=2.5 l=24"),
                ("3.0mm球囊", "d=3"),
                ("直径3.5mm", "d=3.5"),
                ("长度18mm", "l=18"),
                ("3.0*18mm 6f", "d=3 l=18 F=6"),
            ],
        );
    }

    #[test]
    fn model_digits_are_not_sizes() {
        check(
            "Mc",
            &[
                ("sion blue", ""),
                ("fielder xt-r", ""),
                ("ultimate bros 3", ""),
                ("jl4", ""),
                ("jr4.0", ""),
                ("ebu3.5", ""),
                ("xb3.5指引导管", ""),
                ("al1", ""),
                ("sal.75指引导管", ""),
                ("pilot50", ""),
                ("f sal.75", ""),
                ("miracle 6", ""),
            ],
        );
    }

    #[test]
    fn device_sizes_that_do_not_read() {
        check(
            "Mc",
            &[
                ("18mm支架", "?DeviceSize"),
                ("ebu3.5mm", "?DeviceSize"),
                ("2.0*10双导丝球囊", "?DeviceSize"),
                ("15*2.5mm", "?DeviceSize"),
                ("3.0*18*2mm", "?DeviceSize"),
                ("3.0*18mm+3.5*20mm", "?DeviceSize"),
                ("mm", "?DeviceSize"),
                ("φ", "?DeviceSize"),
            ],
        );
    }

    #[test]
    fn french_sizes() {
        check(
            "Mc",
            &[
                ("6f", "F=6"),
                ("6fr", "F=6"),
                ("6f jl4", "F=6"),
                ("7f动脉鞘", "F=7"),
                ("6f ebu3.5", "F=6"),
                ("5fr多功能导管", "F=5"),
                ("7f jl 3.5", "F=7"),
                ("6f 6f", "F=6"),
                ("6f6f", "?French"),
                ("fielder", ""),
                ("6fielder", ""),
                ("6f/7f", "?French"),
                ("ebu3.5f", "?French"),
            ],
        );
    }

    #[test]
    fn doses_in_canonical_units() {
        check(
            "Do",
            &[
                ("肝素2000u", "dose=肝素|2000|U"),
                ("肝素3000u", "dose=肝素|3000|U"),
                ("3000u", "dose=-|3000|U"),
                ("普通肝素6000iu", "dose=普通肝素|6000|U"),
                ("肝素5000单位", "dose=肝素|5000|U"),
                ("尿激酶50万u", "dose=尿激酶|500000|U"),
                ("硝酸甘油200ug", "dose=硝酸甘油|0.2|mg"),
                ("硝酸甘油200μg", "dose=硝酸甘油|0.2|mg"),
                ("硝酸甘油100mcg", "dose=硝酸甘油|0.1|mg"),
                ("0.2mg", "dose=-|0.2|mg"),
                ("阿司匹林300mg", "dose=阿司匹林|300|mg"),
                ("氯吡格雷600 mg", "dose=氯吡格雷|600|mg"),
                ("替格瑞洛0.18g", "dose=替格瑞洛|180|mg"),
                ("替罗非班10ug/kg", "dose=替罗非班|0.01|mg/kg"),
                ("比伐芦定0.75mg/kg", "dose=比伐芦定|0.75|mg/kg"),
                ("比伐芦定1.75mg/kg/h", "dose=比伐芦定|1.75|mg/kg/h"),
                ("替罗非班0.15ug/kg/min", "dose=替罗非班|0.00015|mg/kg/min"),
                ("肝素100u/kg", "dose=肝素|100|U/kg"),
                ("肝素800u/h", "dose=肝素|800|U/h"),
                ("造影剂100ml", "dose=造影剂|100|ml"),
                ("碘克沙醇150ml", "dose=碘克沙醇|150|ml"),
                ("生理盐水0.5l", "dose=生理盐水|500|ml"),
                ("利多卡因2%5ml", "dose=利多卡因2%|5|ml"),
                ("2%利多卡因5ml", "dose=2%利多卡因|5|ml"),
                ("肝素:2000u", "dose=肝素|2000|U"),
                ("肝素0iu", "dose=肝素|0|U"),
            ],
        );
    }

    #[test]
    fn doses_absent_or_unparsed() {
        check(
            "Do",
            &[
                // A name, with or without its strength, has no dose and is not a failure.
                ("硝酸甘油", ""),
                ("替罗非班注射液", ""),
                ("2%利多卡因", ""),
                (";1%利多卡因", ""),
                ("维生素b12", ""),
                ("", ""),
                // Several doses, a number without a unit, an unknown unit.
                ("肝素2000u+2000u", "?Dose"),
                ("肝素2000u,追加1000u", "?Dose"),
                ("肝素2000-3000u", "?Dose"),
                ("肝素2000", "?Dose"),
                ("氯化钾10mmol", "?Dose"),
                ("肝素12500u/ml", "?Dose"),
                ("肝素99999999999999999999u", "?Dose"),
                ("0.0000000000000000001ug", "?Dose"),
                ("替罗非班0.15ug/kg·min", "?Dose"),
            ],
        );
    }

    #[test]
    fn only_sy_mc_do_carry_values() {
        for ty in ["Bp", "Tm", "In", "", "xx"] {
            for text in ["狭窄90%", "timi 3级", "3.0*18mm", "6f", "肝素2000u"] {
                assert_eq!(parse_values(ty, text), Values::default(), "{ty} {text}");
            }
        }
        // Each type reads only its own kinds.
        check("Sy", &[("3.0*18mm 6f", ""), ("肝素2000u", "")]);
        check("Mc", &[("狭窄90%", ""), ("timi 3级", "")]);
        check("Do", &[("timi 3级", "?Dose")]);
    }

    #[test]
    fn odd_input_never_panics() {
        let mut inputs: Vec<String> = [
            "",
            "%",
            "%%%",
            "999999999999999999999%",
            "0",
            "1234567890",
            ".",
            "..",
            "-",
            "~",
            "timi",
            "timi ",
            "timiiii",
            "timi-",
            "timi9999999999999999999999",
            "mm",
            "φ",
            "φφ",
            "*",
            "x",
            "3x",
            "x3",
            "3.",
            ".3",
            "f",
            "6f",
            "ffffr",
            "1f.",
            "万",
            "1万",
            "1万u",
            "9999999999999万u",
            "1/",
            "1u/",
            "1u//",
            "1u/kg/",
            "次全",
            "闭塞闭塞",
            "狭窄狭窄",
            "无",
            "再狭窄再",
            "<",
            "<%",
            ">>%",
            "以上",
            "1-",
            "-1%",
            "1%-",
            "1%-2",
            "1--2%",
            "0.0000000000000000001ug",
            "9223372036854775807g",
            "9223372036854775807%",
            "\u{0}",
            "\u{FFFF}",
            "🙂3.0*18mm🙂",
            "isr",
            "cto",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let alphabet: Vec<char> =
            "0123456789.%-~*×x/φmfruglkh万狭窄闭塞无次全timi级 <>以上下支架内再isr、+:"
                .chars()
                .collect();
        // A small deterministic generator (xorshift): thousands of odd strings.
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        for n in 0..4000 {
            let mut s = String::new();
            for _ in 0..(n % 23) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let k = usize::try_from(seed % alphabet.len() as u64).unwrap_or(0);
                s.push(alphabet[k]);
            }
            inputs.push(s);
        }
        inputs.push("9".repeat(5000));
        inputs.push("狭窄".repeat(2000));
        inputs.push("1.".repeat(3000));
        inputs.push("3.0*".repeat(2000));
        for s in &inputs {
            for ty in ["Sy", "Mc", "Do", "Bp"] {
                let v = parse_values(ty, s);
                if let Some((a, b)) = v.stenosis {
                    assert_ne!(a.value_cmp(b), Ordering::Greater, "{s:?}");
                    assert_ne!(b.value_cmp(Dec::from_int(100)), Ordering::Greater, "{s:?}");
                }
                assert!(v.timi.is_none_or(|g| g <= 3), "{s:?}");
                let decimals = [v.diameter_mm, v.length_mm, v.french];
                for x in decimals
                    .into_iter()
                    .flatten()
                    .chain(v.dose.map(|d| d.value))
                {
                    assert_eq!(Dec::parse(&x.to_string()), Some(x), "{s:?}");
                }
            }
        }
    }
}
