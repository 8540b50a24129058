//! Cost before work: an operation's size is bounded before async-graphql validates or runs it.
//!
//! Validation walks every fragment spread expanded, so a one-kilobyte document whose fragments
//! each spread the one below twice asks for 2^n steps. Here each fragment's size is computed
//! once (memoised), so the check itself is linear in the document, and an oversized operation
//! is refused before anything else looks at it. The same pass prices the operation for the
//! rate limiter: one per root field (two for a mutation's), plus its expanded size.

use std::collections::HashMap;

use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, OperationDefinition, OperationType, Selection, SelectionSet,
};

/// The limits of one GraphQL document and of the operation it runs.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_query_bytes: usize,
    pub max_tokens: usize,
    pub max_fragments: usize,
    pub max_expanded_fields: usize,
    pub max_aliases: usize,
    pub max_root_fields: usize,
}

impl Bounds {
    pub fn from_config(config: &crate::config::Config) -> Self {
        Self {
            max_query_bytes: config.graphql_max_query_bytes,
            max_tokens: config.graphql_max_tokens,
            max_fragments: config.graphql_max_fragments,
            max_expanded_fields: config.graphql_max_expanded_fields,
            max_aliases: config.graphql_max_aliases,
            max_root_fields: config.graphql_max_root_fields,
        }
    }
}

/// Brackets nested deeper than this are refused before parsing (the parser recurses on them).
const MAX_NESTING: usize = 64;

/// What the checked operation will cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cost {
    pub root_fields: u64,
    pub expanded_fields: u64,
    pub aliases: u64,
    pub mutation: bool,
}

impl Cost {
    /// Rate-limit units: each root field is a request of its own (a mutation's counts twice),
    /// and every hundred selected fields beyond that count one more.
    pub fn units(&self) -> u32 {
        let per_root = if self.mutation { 2 } else { 1 };
        let units = self.root_fields.saturating_mul(per_root) + self.expanded_fields / 100;
        u32::try_from(units.max(1)).unwrap_or(u32::MAX)
    }
}

/// Why a document was refused, in words for the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// The checked document (parsed once, handed on to the executor) and its cost. A document
/// that does not parse is handed on unparsed, so the client gets the parser's own error.
#[derive(Debug)]
pub struct Checked {
    pub document: Option<ExecutableDocument>,
    pub cost: Cost,
}

pub fn check(query: &str, operation_name: Option<&str>, bounds: &Bounds) -> Result<Checked, Refusal> {
    if query.len() > bounds.max_query_bytes {
        return Err(Refusal(format!(
            "the query is {} bytes long; at most {} are allowed",
            query.len(),
            bounds.max_query_bytes
        )));
    }
    let lexed = lex(query);
    if lexed.tokens > bounds.max_tokens {
        return Err(Refusal(format!("the query has more than {} tokens", bounds.max_tokens)));
    }
    if lexed.max_nesting > MAX_NESTING {
        return Err(Refusal(format!("the query nests brackets deeper than {MAX_NESTING}")));
    }
    let Ok(document) = async_graphql::parser::parse_query(query) else {
        return Ok(Checked {
            document: None,
            cost: Cost {
                root_fields: 1,
                expanded_fields: 0,
                aliases: 0,
                mutation: false,
            },
        });
    };
    if document.fragments.len() > bounds.max_fragments {
        return Err(Refusal(format!(
            "the query defines {} fragments; at most {} are allowed",
            document.fragments.len(),
            bounds.max_fragments
        )));
    }
    let mut sizes = FragmentSizes::new(&document);
    let mut cost: Option<Cost> = None;
    for operation in selected_operations(&document, operation_name) {
        let tally = sizes.of_set(&operation.selection_set.node)?;
        let this = Cost {
            root_fields: tally.root_fields,
            expanded_fields: tally.fields,
            aliases: tally.aliases,
            mutation: operation.ty == OperationType::Mutation,
        };
        // Without a name among several operations, execution fails anyway; price the dearest.
        if cost.is_none_or(|c| this.units() > c.units()) {
            cost = Some(this);
        }
    }
    let cost = cost.unwrap_or(Cost {
        root_fields: 1,
        expanded_fields: 0,
        aliases: 0,
        mutation: false,
    });
    let over = |what: &str, have: u64, limit: usize| {
        Err(Refusal(format!(
            "the operation has {have} {what} with its fragments expanded; at most {limit} are allowed"
        )))
    };
    if cost.aliases > bounds.max_aliases as u64 {
        return over("aliases", cost.aliases, bounds.max_aliases);
    }
    if cost.expanded_fields > bounds.max_expanded_fields as u64 {
        return over("fields", cost.expanded_fields, bounds.max_expanded_fields);
    }
    if cost.root_fields > bounds.max_root_fields as u64 {
        return over("root fields", cost.root_fields, bounds.max_root_fields);
    }
    Ok(Checked {
        document: Some(document),
        cost,
    })
}

fn selected_operations<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Vec<&'a OperationDefinition> {
    match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => vec![&op.node],
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| &op.node).into_iter().collect(),
        (DocumentOperations::Multiple(ops), None) => ops.values().map(|op| &op.node).collect(),
    }
}

/// Counts of a selection set with every spread expanded; saturating, since a hostile
/// document describes numbers far beyond u64.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    fields: u64,
    aliases: u64,
    /// Fields at the top of the set (through spreads and inline fragments, not into fields).
    root_fields: u64,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.root_fields = self.root_fields.saturating_add(other.root_fields);
    }
}

/// Each fragment's tally, computed once.
struct FragmentSizes<'a> {
    document: &'a ExecutableDocument,
    known: HashMap<&'a str, Tally>,
    /// Fragments being expanded right now: meeting one again is a cycle.
    open: Vec<&'a str>,
}

impl<'a> FragmentSizes<'a> {
    fn new(document: &'a ExecutableDocument) -> Self {
        Self {
            document,
            known: HashMap::new(),
            open: Vec::new(),
        }
    }

    fn of_set(&mut self, set: &'a SelectionSet) -> Result<Tally, Refusal> {
        let mut tally = Tally::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let inner = self.of_set(&field.node.selection_set.node)?;
                    tally.add(Tally {
                        fields: inner.fields.saturating_add(1),
                        aliases: inner.aliases.saturating_add(u64::from(field.node.alias.is_some())),
                        root_fields: 1,
                    });
                }
                Selection::InlineFragment(inline) => tally.add(self.of_set(&inline.node.selection_set.node)?),
                Selection::FragmentSpread(spread) => {
                    tally.add(self.of_fragment(spread.node.fragment_name.node.as_str())?)
                }
            }
        }
        Ok(tally)
    }

    fn of_fragment(&mut self, name: &str) -> Result<Tally, Refusal> {
        if let Some(tally) = self.known.get(name) {
            return Ok(*tally);
        }
        // An unknown fragment is validation's to report; it adds nothing here.
        let Some((key, fragment)) = self.document.fragments.get_key_value(name) else {
            return Ok(Tally::default());
        };
        let key = key.as_str();
        if self.open.contains(&key) {
            return Err(Refusal(format!("fragment {name} spreads itself")));
        }
        self.open.push(key);
        let tally = self.of_set(&fragment.node.selection_set.node);
        self.open.pop();
        let tally = tally?;
        self.known.insert(key, tally);
        Ok(tally)
    }
}

struct Lexed {
    tokens: usize,
    max_nesting: usize,
}

/// A cheap pass over the document's lexical tokens: how many, and how deep brackets nest.
/// It only needs to be close to GraphQL's lexer; the parser has the last word on syntax.
fn lex(query: &str) -> Lexed {
    let bytes = query.as_bytes();
    let (mut i, mut tokens, mut depth, mut max_nesting) = (0, 0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => i += 1,
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i..].starts_with(b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
                tokens += 1;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                tokens += 1;
            }
            b'{' | b'(' | b'[' => {
                depth += 1;
                max_nesting = max_nesting.max(depth);
                tokens += 1;
                i += 1;
            }
            b'}' | b')' | b']' => {
                depth = depth.saturating_sub(1);
                tokens += 1;
                i += 1;
            }
            b'.' if bytes[i..].starts_with(b"...") => {
                tokens += 1;
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || matches!(bytes[i], b'_' | b'.' | b'-' | b'+'))
                {
                    i += 1;
                }
                tokens += 1;
            }
            _ => {
                tokens += 1;
                i += 1;
            }
        }
    }
    Lexed { tokens, max_nesting }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: Bounds = Bounds {
        max_query_bytes: 64 * 1024,
        max_tokens: 10_000,
        max_fragments: 100,
        max_expanded_fields: 2000,
        max_aliases: 50,
        max_root_fields: 20,
    };

    fn fan_out(levels: usize) -> String {
        let mut q = String::from("query { ...L0 }\nfragment L0 on QueryRoot { __typename }\n");
        for n in 1..=levels {
            q.push_str(&format!(
                "fragment L{n} on QueryRoot {{ ...L{m} ...L{m} }}\n",
                m = n - 1
            ));
        }
        q.replace("{ ...L0 }", &format!("{{ ...L{levels} }}"))
    }

    #[test]
    fn a_fragment_fan_out_is_counted_expanded_and_refused() {
        let refused = check(&fan_out(30), None, &BOUNDS).expect_err("refused");
        assert!(refused.0.contains("1073741824 fields"), "{}", refused.0);
        let small = check(&fan_out(3), None, &BOUNDS).expect("accepted");
        assert_eq!(small.cost.expanded_fields, 8);
        assert_eq!(small.cost.root_fields, 8);
    }

    #[test]
    fn a_hundred_levels_saturate_instead_of_overflowing() {
        let bounds = Bounds {
            max_fragments: 200,
            ..BOUNDS
        };
        let refused = check(&fan_out(100), None, &bounds).expect_err("refused");
        assert!(refused.0.contains(&u64::MAX.to_string()), "{}", refused.0);
    }

    #[test]
    fn aliases_and_root_fields_are_capped_and_priced() {
        let aliases: String = (0..51).map(|n| format!("a{n}: __typename ")).collect();
        let refused = check(&format!("{{ {aliases} }}"), None, &BOUNDS).expect_err("refused");
        assert!(refused.0.contains("51 aliases"), "{}", refused.0);
        let five = check(
            "mutation { a: __typename b: __typename c: __typename d: __typename e: __typename }",
            None,
            &BOUNDS,
        )
        .expect("accepted");
        assert_eq!(five.cost.units(), 10);
        let roots: String = (0..21).map(|_| "__typename ").collect();
        assert!(check(&format!("{{ {roots} }}"), None, &BOUNDS).is_err());
    }

    #[test]
    fn a_cycle_is_refused_without_recursing_forever() {
        let q = "{ ...A } fragment A on QueryRoot { ...B } fragment B on QueryRoot { ...A }";
        assert!(
            check(q, None, &BOUNDS)
                .expect_err("refused")
                .0
                .contains("spreads itself")
        );
    }

    #[test]
    fn length_tokens_nesting_and_fragment_count_are_bounded_before_parsing() {
        assert!(check(&"{a}".repeat(30_000), None, &BOUNDS).is_err());
        assert!(
            check(&"a ".repeat(10_001), None, &BOUNDS)
                .expect_err("refused")
                .0
                .contains("tokens")
        );
        assert!(check(&format!("{}{}", "{a".repeat(65), "}".repeat(65)), None, &BOUNDS).is_err());
        let fragments: String = (0..101)
            .map(|n| format!("fragment F{n} on QueryRoot {{ __typename }} "))
            .collect();
        assert!(
            check(&format!("{{ __typename }} {fragments}"), None, &BOUNDS)
                .expect_err("refused")
                .0
                .contains("101 fragments")
        );
    }

    #[test]
    fn the_lexer_skips_strings_and_comments() {
        let lexed = lex("# a comment { { {\n{ f(a: \"}}} \\\" {\", b: \"\"\"x\"\"\") }");
        assert_eq!(lexed.tokens, 11);
        assert_eq!(lexed.max_nesting, 2);
    }

    #[test]
    fn the_named_operation_is_the_one_priced() {
        let q = "query A { a: __typename } mutation B { b: __typename c: __typename }";
        assert_eq!(check(q, Some("A"), &BOUNDS).expect("accepted").cost.units(), 1);
        assert_eq!(check(q, Some("B"), &BOUNDS).expect("accepted").cost.units(), 4);
    }
}
