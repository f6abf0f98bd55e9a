//! The PHI guard (issue 12 §3): direct identifiers that Chinese EMRs carry, found in a report's
//! text before it reaches extraction or the store. Dumps are supposed to be anonymized; this
//! catches the nights they are not.
//!
//! What is looked for, each with its usual shape and, where the shape alone would catch
//! clinical text, a marker word in front:
//! - `resident_id`: an 18-character resident identity number (GB 11643: six-digit area code,
//!   a birth date 18xx–20xx that exists, a sequence number, and the ISO 7064 MOD 11-2 check
//!   character) standing alone — not inside a longer run of digits or letters (a lot number);
//! - `mobile`: 1[3-9] and nine more digits (spaces or dashes allowed as 3-4-4), optionally
//!   after +86, standing alone;
//! - `landline`: an area code 0xx/0xxx with a dash or in brackets and a 7–8 digit number, or
//!   any 7–12 digit number after 电话/联系电话/手机/Tel;
//! - `record_number`: the number after 住院号, 病案号, 门诊号, 病历号, 就诊号, 登记号, 病人ID, 患者ID;
//! - `name`: two to four Han characters after 姓名 (with a colon), or two or three after
//!   患者/病人 that start with a common surname and are followed by the sex (患者张三，男);
//! - `address`: the text after 住址, 地址, 家庭住址, 现住址, 户籍地址, 家住, and a street address
//!   (…路/街/巷 + number + 号);
//! - `birth_date`: a date after 出生日期/出生年月/出生/生日/DOB, or a date followed by 出生/生.
//!
//! Not identifiers, and left alone (the tests hold them): dates of the procedure, doses (肝素
//! 2000u), device sizes and lot numbers (批号 LOT2024…, 货号 with a long digit run), French
//! sizes, percentages, and a name-like pair of characters after 患者 that is not followed by
//! the sex. Offsets are in chars, like every span of the pipeline; masking replaces each char
//! of a span by `*`, so offsets stay valid.

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

/// What the ingest does with a report whose text holds a direct identifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum PhiPolicy {
    /// The row goes to quarantine.csv with reason `phi_detected` and the kinds found (never
    /// the identifier: its preview is masked).
    #[default]
    Quarantine,
    /// The identifiers are replaced by `*` (same length) and the report goes on; the spans
    /// are listed in phi_masked.csv.
    Mask,
    /// No check (a dump already checked upstream).
    Off,
}

/// A kind of direct identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PhiKind {
    ResidentId,
    Mobile,
    Landline,
    RecordNumber,
    Name,
    Address,
    BirthDate,
}

impl PhiKind {
    pub fn code(self) -> &'static str {
        match self {
            PhiKind::ResidentId => "resident_id",
            PhiKind::Mobile => "mobile",
            PhiKind::Landline => "landline",
            PhiKind::RecordNumber => "record_number",
            PhiKind::Name => "name",
            PhiKind::Address => "address",
            PhiKind::BirthDate => "birth_date",
        }
    }
}

/// One identifier found: its kind and its char span `[start, end)` in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PhiHit {
    pub kind: PhiKind,
    pub start: usize,
    pub end: usize,
}

/// A pattern and the capture group that is the identifier (0: the whole match).
struct Rule {
    kind: PhiKind,
    re: Regex,
    group: usize,
    /// The match must not touch an ASCII letter or digit on either side (a number inside a
    /// longer code is not this identifier).
    standalone: bool,
}

fn rule(kind: PhiKind, re: &str, group: usize, standalone: bool) -> Rule {
    Rule {
        kind,
        re: Regex::new(re).expect("a valid PHI pattern"),
        group,
        standalone,
    }
}

/// Common Chinese surnames (the first character of a name after 患者/病人): a marker-less name
/// is only taken when it starts with one, so that 患者老年男性 is not a name.
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";

static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    vec![
        rule(PhiKind::ResidentId, r"[1-9][0-9]{16}[0-9Xx]", 0, true),
        rule(
            PhiKind::Mobile,
            r"(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}",
            0,
            true,
        ),
        rule(
            PhiKind::Landline,
            r"(?:0[1-9][0-9]{1,2}-|[(（]0[1-9][0-9]{1,2}[)）])[0-9]{7,8}",
            0,
            true,
        ),
        rule(
            PhiKind::Landline,
            r"(?i:联系电话|电话|手机|tel|phone)[:：]?\s*([0-9][0-9 -]{5,14}[0-9])",
            1,
            true,
        ),
        rule(
            PhiKind::RecordNumber,
            r"(?:住院号|病案号|门诊号|病历号|就诊号|登记号|住院病案号|(?:病人|患者)\s*ID)\s*[:：#]?\s*([A-Za-z0-9][A-Za-z0-9-]{3,})",
            1,
            true,
        ),
        rule(PhiKind::Name, r"姓\s*名\s*[:：]\s*(\p{Han}{2,4})", 1, false),
        rule(
            PhiKind::Name,
            r"(?:患者|病人)\s*[:：]?\s*(\p{Han}{2,3})\s*[，,、\s]?\s*[（(]?\s*(?:男|女)",
            1,
            false,
        ),
        rule(
            PhiKind::Address,
            r"(?:家庭住址|现住址|户籍地址|住址|地址|家住)\s*[:：]?\s*([^\s，,。；;]{2,40})",
            1,
            false,
        ),
        rule(
            PhiKind::Address,
            r"\p{Han}{2,12}(?:路|街|巷|大道)[0-9]{1,5}(?:弄[0-9]{1,4})?号",
            0,
            false,
        ),
        rule(
            PhiKind::BirthDate,
            r"(?:出生日期|出生年月|出生|生日|(?i:dob))\s*[:：]?\s*((?:19|20)[0-9]{2}\s*[-/.年]\s*[0-9]{1,2}(?:\s*[-/.月]\s*[0-9]{1,2}\s*日?)?)",
            1,
            false,
        ),
        rule(
            PhiKind::BirthDate,
            r"((?:19|20)[0-9]{2}年[0-9]{1,2}月[0-9]{1,2}日)\s*(?:出生|生)",
            1,
            false,
        ),
    ]
});

/// The ISO 7064 MOD 11-2 check character of the first 17 digits of a resident id.
fn check_character(first17: &[u8]) -> u8 {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = first17
        .iter()
        .zip(W)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

/// GB 11643 check: area code, a real birth date, the MOD 11-2 check character.
fn is_resident_id(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 18 || check_character(&b[..17]) != b[17].to_ascii_uppercase() {
        return false;
    }
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(0);
    let (y, m, d) = (num(6..10), num(10..12), num(12..14));
    (1850..=2100).contains(&y) && chrono::NaiveDate::from_ymd_opt(y as i32, m, d).is_some()
}

fn ascii_alnum_at(text: &str, byte: usize, before: bool) -> bool {
    let c = if before {
        text[..byte].chars().next_back()
    } else {
        text[byte..].chars().next()
    };
    c.is_some_and(|c| c.is_ascii_alphanumeric())
}

/// Every identifier in `text`, by start (overlapping hits of different rules merged into the
/// earliest kind listed above).
pub fn find(text: &str) -> Vec<PhiHit> {
    let mut spans: Vec<(usize, usize, PhiKind)> = Vec::new();
    for r in RULES.iter() {
        for c in r.re.captures_iter(text) {
            let (Some(whole), Some(m)) = (c.get(0), c.get(r.group)) else {
                continue;
            };
            if r.standalone
                && (ascii_alnum_at(text, whole.start(), true)
                    || ascii_alnum_at(text, whole.end(), false))
            {
                continue;
            }
            if r.kind == PhiKind::ResidentId && !is_resident_id(m.as_str()) {
                continue;
            }
            // A pseudonym (王某, 张**) is what anonymization leaves: not a name. Without the
            // 姓名 marker, a name starts with a common surname.
            if r.kind == PhiKind::Name
                && (m.as_str().contains('某')
                    || (!whole.as_str().starts_with('姓')
                        && !m
                            .as_str()
                            .chars()
                            .next()
                            .is_some_and(|f| SURNAMES.contains(f))))
            {
                continue;
            }
            spans.push((m.start(), m.end(), r.kind));
        }
    }
    spans.sort_by_key(|&(s, e, k)| (s, std::cmp::Reverse(e), k));
    // Merge overlaps: a phone number after 电话 is found by two rules.
    let mut merged: Vec<(usize, usize, PhiKind)> = Vec::new();
    for (s, e, k) in spans {
        match merged.last_mut() {
            Some(last) if s < last.1 => {
                last.1 = last.1.max(e);
                last.2 = last.2.min(k);
            }
            _ => merged.push((s, e, k)),
        }
    }
    // Byte offsets to char offsets.
    merged
        .into_iter()
        .map(|(s, e, kind)| {
            let start = text[..s].chars().count();
            PhiHit {
                kind,
                start,
                end: start + text[s..e].chars().count(),
            }
        })
        .collect()
}

/// `text` with every char of every hit replaced by `*` (same number of chars, so offsets into
/// the masked text are offsets into the original).
pub fn mask(text: &str, hits: &[PhiHit]) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if hits.iter().any(|h| h.start <= i && i < h.end) {
                '*'
            } else {
                c
            }
        })
        .collect()
}

/// The distinct kinds of `hits`, in a stable order, for a quarantine row's detail.
pub fn kinds(hits: &[PhiHit]) -> Vec<&'static str> {
    let mut k: Vec<PhiKind> = hits.iter().map(|h| h.kind).collect();
    k.sort();
    k.dedup();
    k.into_iter().map(PhiKind::code).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid resident id for a birth date (synthetic: area 110101, sequence 123), with its
    /// check character computed.
    fn resident_id(birth: &str) -> String {
        let body = format!("110101{birth}123");
        format!("{body}{}", check_character(body.as_bytes()) as char)
    }

    fn found(text: &str) -> Vec<(&'static str, String)> {
        find(text)
            .into_iter()
            .map(|h| {
                (
                    h.kind.code(),
                    text.chars().skip(h.start).take(h.end - h.start).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn each_kind_of_identifier_is_found_with_its_span() {
        let id = resident_id("19580312");
        let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
            (
                format!("身份证号：{id}，冠脉造影示前降支狭窄。"),
                vec![("resident_id", id.as_str())],
            ),
            (
                "联系电话 13812345678。".into(),
                vec![("mobile", "13812345678")],
            ),
            (
                "家属手机138-1234-5678，".into(),
                vec![("mobile", "138-1234-5678")],
            ),
            (
                "电话：0571-87654321".into(),
                vec![("landline", "0571-87654321")],
            ),
            (
                "（021）62345678转心内科".into(),
                vec![("landline", "（021）62345678")],
            ),
            (
                "住院号：ZY20240917。".into(),
                vec![("record_number", "ZY20240917")],
            ),
            (
                "病案号 00123456 门诊号:M998877".into(),
                vec![("record_number", "00123456"), ("record_number", "M998877")],
            ),
            ("姓名：张建国 性别：男".into(), vec![("name", "张建国")]),
            (
                "患者李秀英，女，72岁，因胸痛入院。".into(),
                vec![("name", "李秀英")],
            ),
            (
                "住址：浙江省杭州市西湖区文三路，".into(),
                vec![("address", "浙江省杭州市西湖区文三路")],
            ),
            (
                "现居杭州市文三路478号。".into(),
                vec![("address", "现居杭州市文三路478号")],
            ),
            (
                "出生日期：1958-03-12。".into(),
                vec![("birth_date", "1958-03-12")],
            ),
            (
                "1958年3月12日出生，".into(),
                vec![("birth_date", "1958年3月12日")],
            ),
        ];
        for (text, want) in cases {
            let got = found(&text);
            let want: Vec<(&str, String)> = want.iter().map(|(k, s)| (*k, s.to_string())).collect();
            assert_eq!(got, want, "{text}");
        }
    }

    #[test]
    fn look_alikes_in_angiography_reports_pass() {
        let id = resident_id("19580312");
        // A check character that does not match, and the same number inside a longer code.
        let wrong_check = format!("{}{}", &id[..17], if id.ends_with('0') { '1' } else { '0' });
        for text in [
            "2024-09-23 行冠脉造影术，术中予肝素2000u、硝酸甘油200ug。".to_owned(),
            "手术日期：2024年9月23日；造影日期 2024/09/23。".into(),
            "于前降支近段植入Firebird2 3.0*18mm支架，批号LOT20240512A3。".into(),
            "6F JL4.0造影导管，0.014英寸导丝，球囊2.5×15mm 14atm扩张。".into(),
            "货号 110101195803121234567 的导管。".into(),
            format!("编号{wrong_check}。"),
            format!("条码A{id}。"),
            "患者老年男性，胸闷3天。患者，男，65岁。".into(),
            "患者胸闷，女儿陪同。患者王某，男，58岁。姓名：张某某".into(),
            "TIMI血流3级，狭窄90%，FFR 0.78，LVEF 55%。".into(),
            "术后第1天出院，随访电话待定。".into(),
        ] {
            assert_eq!(found(&text), vec![], "{text}");
        }
    }

    #[test]
    fn masking_keeps_every_offset() {
        let text = "患者王建国，男，电话13812345678，前降支近段狭窄90%。";
        let hits = find(text);
        assert_eq!(kinds(&hits), ["mobile", "name"]);
        let masked = mask(text, &hits);
        assert_eq!(masked.chars().count(), text.chars().count());
        assert_eq!(masked, "患者***，男，电话***********，前降支近段狭窄90%。");
        assert!(!masked.contains("王建国") && !masked.contains("138"));
    }
}
