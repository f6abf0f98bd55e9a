//! The shipped questions (ontology/queries/*.rq) as named, parameterised queries.
//!
//! A query's leading `#` lines are its description; the variables of its first `VALUES`
//! block are its parameters, each typed by its default value: a number (`?min` 70), a text
//! (`?body_part` "前降支近段", normalised like the graph's entity texts) or an IRI
//! (`?rel` cb:hasFinding). A request's values are parsed as that type and written into a
//! new `VALUES` block as RDF terms (Oxigraph's N-Triples form of a literal or IRI, escaped),
//! never spliced as text; the result is parsed again before it runs.

use std::collections::BTreeMap;
use std::path::Path;

use oxigraph::model::vocab::xsd;
use oxigraph::model::{Literal, NamedNode, Term};
use oxigraph::sparql::{QueryResults, SparqlEvaluator};
use oxigraph::store::Store;
use serde::Serialize;

/// ontology/queries as compiled into the binary.
const SHIPPED: [(&str, &str); 12] = [
    (
        "body_parts_with_stenosis",
        include_str!("../../ontology/queries/body_parts_with_stenosis.rq"),
    ),
    (
        "examinations_and_findings",
        include_str!("../../ontology/queries/examinations_and_findings.rq"),
    ),
    (
        "findings_of_body_part",
        include_str!("../../ontology/queries/findings_of_body_part.rq"),
    ),
    (
        "findings_per_segment",
        include_str!("../../ontology/queries/findings_per_segment.rq"),
    ),
    (
        "relation_counts",
        include_str!("../../ontology/queries/relation_counts.rq"),
    ),
    (
        "reports_behind_link",
        include_str!("../../ontology/queries/reports_behind_link.rq"),
    ),
    (
        "stenosis_in_segment",
        include_str!("../../ontology/queries/stenosis_in_segment.rq"),
    ),
    (
        "stenosis_per_segment",
        include_str!("../../ontology/queries/stenosis_per_segment.rq"),
    ),
    (
        "stents_per_vessel",
        include_str!("../../ontology/queries/stents_per_vessel.rq"),
    ),
    (
        "symptoms_per_body_part",
        include_str!("../../ontology/queries/symptoms_per_body_part.rq"),
    ),
    (
        "timi_below_3_after_pci",
        include_str!("../../ontology/queries/timi_below_3_after_pci.rq"),
    ),
    (
        "treatments_per_body_part",
        include_str!("../../ontology/queries/treatments_per_body_part.rq"),
    ),
];

/// What a parameter's values are parsed as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamKind {
    /// A decimal number (written as xsd:integer when it has no fraction).
    Number,
    /// A text, normalised as the graph normalises entity texts (NFKC, Latin lower case …).
    Text,
    /// An IRI: absolute, `prefix:local` with the query's prefixes, or a bare local name in
    /// the namespace of the default.
    Iri,
}

/// One parameter: a variable of the query's VALUES block.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    pub kind: ParamKind,
    /// The values the shipped query asks (one per row of its VALUES block).
    pub default: Vec<String>,
}

/// A shipped question.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShippedQuery {
    pub name: String,
    /// Its leading comment, without the `#`s.
    pub description: String,
    pub params: Vec<Param>,
    pub sparql: String,
    #[serde(skip)]
    values: Option<ValuesBlock>,
}

#[derive(Debug, Clone, PartialEq)]
struct ValuesBlock {
    /// Byte range of `VALUES … { … }` in the text.
    range: (usize, usize),
    vars: Vec<String>,
    /// The query's PREFIX declarations (prefix → namespace).
    prefixes: BTreeMap<String, String>,
    /// Per variable, its default terms (one per row; None for UNDEF).
    defaults: Vec<Vec<Option<Term>>>,
}

/// The shipped questions by name.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    queries: BTreeMap<String, ShippedQuery>,
}

impl Catalog {
    /// ontology/queries as compiled in.
    pub fn shipped() -> Catalog {
        let mut queries = BTreeMap::new();
        for (name, text) in SHIPPED {
            let q = ShippedQuery::parse(name, text)
                .unwrap_or_else(|e| panic!("ontology/queries/{name}.rq: {e}"));
            queries.insert(name.to_owned(), q);
        }
        Catalog { queries }
    }

    /// The `*.rq` files of `dir`.
    pub fn from_dir(dir: &Path) -> Result<Catalog, String> {
        let mut queries = BTreeMap::new();
        let entries = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
        for entry in entries {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.extension().is_none_or(|e| e != "rq") {
                continue;
            }
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| format!("{}: not a UTF-8 name", path.display()))?
                .to_owned();
            let text =
                std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            let q = ShippedQuery::parse(&name, &text)
                .map_err(|e| format!("{}: {e}", path.display()))?;
            queries.insert(name, q);
        }
        Ok(Catalog { queries })
    }

    pub fn get(&self, name: &str) -> Option<&ShippedQuery> {
        self.queries.get(name)
    }

    pub fn list(&self) -> impl Iterator<Item = &ShippedQuery> {
        self.queries.values()
    }
}

impl ShippedQuery {
    /// Read a query: its comment, its VALUES block and the default terms in it.
    pub fn parse(name: &str, text: &str) -> Result<ShippedQuery, String> {
        let _ = crate::graph::query::parse_read_only(text).map_err(|e| e.to_string())?;
        let description = text
            .lines()
            .take_while(|l| l.trim_start().starts_with('#'))
            .map(|l| l.trim_start().trim_start_matches('#').trim())
            .collect::<Vec<_>>()
            .join(" ");
        let values = values_block(text)?;
        let params = match &values {
            None => Vec::new(),
            Some(v) => v
                .vars
                .iter()
                .zip(&v.defaults)
                .map(|(name, terms)| Param {
                    name: name.clone(),
                    kind: kind_of(terms.iter().flatten().next()),
                    default: terms
                        .iter()
                        .map(|t| match t {
                            Some(Term::Literal(l)) => l.value().to_owned(),
                            Some(Term::NamedNode(n)) => shorten(n.as_str(), &v.prefixes),
                            Some(t) => t.to_string(),
                            None => String::new(),
                        })
                        .collect(),
                })
                .collect(),
        };
        Ok(ShippedQuery {
            name: name.to_owned(),
            description,
            params,
            sparql: text.to_owned(),
            values,
        })
    }

    /// The query with its VALUES block holding `args` (parameter name → values; a parameter
    /// given once is used for every row, one not given keeps its default). Unknown names, values
    /// that do not parse as their type, or rows of unequal length are an error, in a sentence.
    pub fn with_args(&self, args: &[(String, String)]) -> Result<String, String> {
        let Some(v) = &self.values else {
            if let Some((k, _)) = args.first() {
                return Err(format!("{} takes no parameters (got `{k}`)", self.name));
            }
            return Ok(self.sparql.clone());
        };
        let mut given: BTreeMap<&str, Vec<Term>> = BTreeMap::new();
        for (k, value) in args {
            let Some(i) = v.vars.iter().position(|x| x == k) else {
                return Err(format!(
                    "{} has no parameter `{k}`; its parameters: {}",
                    self.name,
                    v.vars.join(", ")
                ));
            };
            let kind = self.params[i].kind;
            let default = v.defaults[i].iter().flatten().next();
            let term = term_of(value, kind, default, &v.prefixes)
                .map_err(|e| format!("parameter `{k}`: {e}"))?;
            given.entry(v.vars[i].as_str()).or_default().push(term);
        }
        if given.is_empty() {
            return Ok(self.sparql.clone());
        }
        let columns: Vec<Vec<Option<Term>>> = v
            .vars
            .iter()
            .zip(&v.defaults)
            .map(|(name, d)| match given.remove(name.as_str()) {
                Some(terms) => terms.into_iter().map(Some).collect(),
                None => d.clone(),
            })
            .collect();
        let rows = columns.iter().map(Vec::len).max().unwrap_or(0);
        if let Some((i, c)) = columns
            .iter()
            .enumerate()
            .find(|(_, c)| c.len() != 1 && c.len() != rows)
        {
            return Err(format!(
                "`{}` has {} values but another parameter has {rows}: give each once or as often as the other",
                v.vars[i],
                c.len()
            ));
        }
        let cell = |c: &[Option<Term>], r: usize| -> String {
            match if c.len() == 1 { &c[0] } else { &c[r] } {
                Some(t) => t.to_string(),
                None => "UNDEF".to_owned(),
            }
        };
        let vars: Vec<String> = v.vars.iter().map(|x| format!("?{x}")).collect();
        let block = if v.vars.len() == 1 {
            let cells: Vec<String> = (0..rows).map(|r| cell(&columns[0], r)).collect();
            format!("VALUES {} {{ {} }}", vars[0], cells.join(" "))
        } else {
            let rows: Vec<String> = (0..rows)
                .map(|r| {
                    let cells: Vec<String> = columns.iter().map(|c| cell(c, r)).collect();
                    format!("({})", cells.join(" "))
                })
                .collect();
            format!("VALUES ({}) {{ {} }}", vars.join(" "), rows.join(" "))
        };
        let mut out = self.sparql.clone();
        out.replace_range(v.range.0..v.range.1, &block);
        let _ = crate::graph::query::parse_read_only(&out).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

fn kind_of(t: Option<&Term>) -> ParamKind {
    match t {
        Some(Term::NamedNode(_)) => ParamKind::Iri,
        Some(Term::Literal(l))
            if [xsd::INTEGER, xsd::DECIMAL, xsd::DOUBLE, xsd::FLOAT].contains(&l.datatype()) =>
        {
            ParamKind::Number
        }
        _ => ParamKind::Text,
    }
}

fn shorten(iri: &str, prefixes: &BTreeMap<String, String>) -> String {
    for (p, ns) in prefixes {
        if let Some(local) = iri.strip_prefix(ns.as_str()) {
            if !local.is_empty() && local.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return format!("{p}:{local}");
            }
        }
    }
    iri.to_owned()
}

/// A request's value as the term its parameter takes.
fn term_of(
    value: &str,
    kind: ParamKind,
    default: Option<&Term>,
    prefixes: &BTreeMap<String, String>,
) -> Result<Term, String> {
    let value = value.trim();
    match kind {
        ParamKind::Number => {
            let number = regex::Regex::new(r"^[+-]?[0-9]+(\.[0-9]+)?$").expect("valid");
            if !number.is_match(value) {
                return Err(format!("`{value}` is not a number"));
            }
            let datatype = if value.contains('.') {
                xsd::DECIMAL
            } else {
                xsd::INTEGER
            };
            Ok(Literal::new_typed_literal(value, datatype).into())
        }
        ParamKind::Text => {
            if value.is_empty() {
                return Err("empty".into());
            }
            let text = crate::graph::normalize(value);
            Ok(match default {
                Some(Term::Literal(l)) if l.language().is_some() => {
                    Literal::new_language_tagged_literal(text, l.language().unwrap_or_default())
                        .map_err(|e| e.to_string())?
                        .into()
                }
                _ => Literal::new_simple_literal(text).into(),
            })
        }
        ParamKind::Iri => {
            let iri = if value.contains("://") {
                value.to_owned()
            } else if let Some((p, local)) = value.split_once(':') {
                let ns = prefixes
                    .get(p)
                    .ok_or_else(|| format!("unknown prefix `{p}:`"))?;
                format!("{ns}{local}")
            } else {
                let Some(Term::NamedNode(d)) = default else {
                    return Err(format!("`{value}` is not an IRI"));
                };
                let ns = d
                    .as_str()
                    .rfind(['#', '/'])
                    .map(|i| &d.as_str()[..=i])
                    .unwrap_or_default();
                format!("{ns}{value}")
            };
            if !iri
                .rsplit(['#', '/'])
                .next()
                .is_some_and(|l| l.chars().all(|c| c.is_alphanumeric() || "_-.".contains(c)))
            {
                return Err(format!("`{value}` is not an IRI this query takes"));
            }
            Ok(NamedNode::new(iri).map_err(|e| e.to_string())?.into())
        }
    }
}

/// The first VALUES block outside comments, strings and IRIs, with its default terms
/// (evaluated by Oxigraph on an empty store, so every SPARQL term form reads right).
fn values_block(text: &str) -> Result<Option<ValuesBlock>, String> {
    let prefixes = prefixes_of(text);
    let Some(start) = find_keyword(text, "VALUES") else {
        return Ok(None);
    };
    let open = text[start..]
        .find('{')
        .map(|i| start + i)
        .ok_or("VALUES without `{`")?;
    let head = &text[start + "VALUES".len()..open];
    let vars: Vec<String> = head
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_start_matches(['?', '$']).to_owned())
        .collect();
    let close = matching_brace(text, open).ok_or("VALUES block without its `}`")?;
    let block = &text[start..=close];
    let declared: String = prefixes
        .iter()
        .map(|(p, ns)| format!("PREFIX {p}: <{ns}>\n"))
        .collect();
    let probe = format!("{declared}SELECT * WHERE {{ {block} }}");
    let store = Store::new().map_err(|e| e.to_string())?;
    let QueryResults::Solutions(solutions) = SparqlEvaluator::new()
        .parse_query(&probe)
        .map_err(|e| format!("its VALUES block: {e}"))?
        .on_store(&store)
        .execute()
        .map_err(|e| e.to_string())?
    else {
        return Err("its VALUES block is not a table".into());
    };
    let mut defaults = vec![Vec::new(); vars.len()];
    for row in solutions {
        let row = row.map_err(|e| e.to_string())?;
        for (i, v) in vars.iter().enumerate() {
            defaults[i].push(row.get(v.as_str()).cloned());
        }
    }
    Ok(Some(ValuesBlock {
        range: (start, close + 1),
        vars,
        prefixes,
        defaults,
    }))
}

fn prefixes_of(text: &str) -> BTreeMap<String, String> {
    let re =
        regex::Regex::new(r"(?mi)^\s*PREFIX\s+([A-Za-z][\w-]*)?:\s*<([^>\s]*)>").expect("valid");
    re.captures_iter(text)
        .map(|c| {
            (
                c.get(1).map(|m| m.as_str()).unwrap_or("").to_owned(),
                c[2].to_owned(),
            )
        })
        .collect()
}

/// Byte offsets of the code of `text`: skips `#` comments, string literals and `<…>` IRIs.
fn code_positions(text: &str) -> Vec<usize> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'<' => {
                // An IRI has no whitespace before its `>`; otherwise `<` is an operator.
                let rest = &b[i + 1..];
                match rest
                    .iter()
                    .position(|&c| c == b'>' || c.is_ascii_whitespace())
                {
                    Some(j) if rest[j] == b'>' => i += j + 2,
                    _ => {
                        out.push(i);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(i);
                i += 1;
            }
        }
    }
    out
}

fn find_keyword(text: &str, keyword: &str) -> Option<usize> {
    let b = text.as_bytes();
    let is_word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    code_positions(text).into_iter().find(|&i| {
        text.get(i..i + keyword.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(keyword))
            && (i == 0 || !is_word(b[i - 1]))
            && b.get(i + keyword.len()).is_none_or(|&c| !is_word(c))
    })
}

fn matching_brace(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for i in code_positions(text).into_iter().filter(|&i| i >= open) {
        match text.as_bytes()[i] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_in_queries_are_the_files_of_ontology_queries() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ontology/queries");
        let on_disk = Catalog::from_dir(&dir).unwrap();
        let shipped = Catalog::shipped();
        let names = |c: &Catalog| c.list().map(|q| q.name.clone()).collect::<Vec<_>>();
        assert_eq!(names(&on_disk), names(&shipped));
        for q in shipped.list() {
            assert_eq!(Some(q), on_disk.get(&q.name));
            assert!(!q.description.is_empty(), "{} has no comment", q.name);
        }
    }

    /// A query with IRIs in its VALUES (none of the shipped ones has: a VALUES of predicates
    /// is the first thing Oxigraph joins, so timi_below_3_after_pci.rq spells its two
    /// relations as a UNION).
    fn relation_query() -> ShippedQuery {
        ShippedQuery::parse(
            "links",
            "# Links of some relations.\nPREFIX cb: <https://w3id.org/cbrrel/ontology#>\n\
             SELECT ?x ?y WHERE { VALUES ?rel { cb:hasFinding cb:revealsFinding } GRAPH ?g { ?x ?rel ?y } }",
        )
        .unwrap()
    }

    #[test]
    fn values_become_typed_parameters() {
        let c = Catalog::shipped();
        let q = c.get("stenosis_in_segment").unwrap();
        let kinds: Vec<(&str, ParamKind, &[String])> = q
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.kind, p.default.as_slice()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("syntax", ParamKind::Text, &["6".to_owned()][..]),
                ("min", ParamKind::Number, &["70".to_owned()][..])
            ]
        );
        let rel = &relation_query().params[0];
        assert_eq!(
            (rel.kind, rel.default.clone()),
            (
                ParamKind::Iri,
                vec!["cb:hasFinding".into(), "cb:revealsFinding".into()]
            )
        );
        assert!(c.get("relation_counts").unwrap().params.is_empty());
    }

    #[test]
    fn arguments_are_written_as_escaped_terms_never_spliced() {
        let c = Catalog::shipped();
        let q = c.get("reports_behind_link").unwrap();
        let s = q
            .with_args(&[
                ("subject".into(), "LAD近段".into()),
                ("object".into(), "x\" } DELETE WHERE { ?s ?p ?o } #".into()),
            ])
            .unwrap();
        assert!(
            s.contains(
                r#"VALUES (?subject ?object) { ("lad近段" "x\" } delete where { ?s ?p ?o } #") }"#
            ),
            "{s}"
        );
        let q = c.get("stenosis_in_segment").unwrap();
        let s = q
            .with_args(&[
                ("min".into(), "50".into()),
                ("syntax".into(), "7".into()),
                ("syntax".into(), "6".into()),
            ])
            .unwrap();
        assert!(
            s.contains(r#"VALUES (?syntax ?min) { ("7" "50"^^<http://www.w3.org/2001/XMLSchema#integer>) ("6" "50"^^<http://www.w3.org/2001/XMLSchema#integer>) }"#),
            "{s}"
        );
        for bad in [("min", "70) } DELETE"), ("min", "abc"), ("nope", "1")] {
            let e = q.with_args(&[(bad.0.into(), bad.1.into())]).unwrap_err();
            assert!(e.contains(bad.0), "{e}");
        }
        let t = relation_query();
        let s = t.with_args(&[("rel".into(), "treatedBy".into())]).unwrap();
        assert!(
            s.contains("VALUES ?rel { <https://w3id.org/cbrrel/ontology#treatedBy> }"),
            "{s}"
        );
        assert!(t
            .with_args(&[("rel".into(), "x> } DELETE".into())])
            .is_err());
    }
}
