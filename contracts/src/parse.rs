//! Reading contract YAML: syntax and schema (serde-saphyr, unknown fields
//! denied), then the semantic checks of [`crate::validate`]. Every error
//! names the file, line, column and field, and says what was expected.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Budget, Options, Spanned};

pub use crate::error::{ContractError, ErrorKind};
use crate::model::Contract;

/// Largest contract file, in bytes.
pub const MAX_CONTRACT_BYTES: usize = 256 * 1024;
/// Deepest nesting of YAML collections.
pub const MAX_CONTRACT_DEPTH: usize = 16;
/// Most YAML nodes in one contract.
pub const MAX_CONTRACT_NODES: usize = 50_000;

/// Reads a contract: syntax, schema and semantic checks.
pub fn parse_contract(file: &str, text: &str) -> Result<Contract, ContractError> {
    let contract = parse_schema(file, text)?;
    if let Err(issue) = crate::validate::validate(&contract) {
        let (line, column) = locate(text, &issue.path).unwrap_or((0, 0));
        return Err(ContractError {
            file: file.to_string(),
            line,
            column,
            field: issue.path,
            kind: issue.kind,
            message: issue.message,
        });
    }
    Ok(contract)
}

fn options() -> Options {
    let mut budget = Budget::default();
    budget.max_depth = MAX_CONTRACT_DEPTH;
    budget.max_nodes = MAX_CONTRACT_NODES;
    budget.max_events = 4 * MAX_CONTRACT_NODES;
    budget.max_aliases = 64;
    budget.max_anchors = 64;
    budget.max_documents = 1;
    let mut options = Options::default();
    options.budget = Some(budget);
    options
}

/// Syntax and schema only.
pub fn parse_schema(file: &str, text: &str) -> Result<Contract, ContractError> {
    let error = |kind, field: &str, message: String, line, column| ContractError {
        file: file.to_string(),
        line,
        column,
        field: field.to_string(),
        kind,
        message,
    };
    if text.len() > MAX_CONTRACT_BYTES {
        return Err(error(
            ErrorKind::TooLarge,
            "",
            format!(
                "{} bytes; a contract may have at most {MAX_CONTRACT_BYTES}",
                text.len()
            ),
            0,
            0,
        ));
    }
    let mut path = String::new();
    let result = serde_saphyr::with_deserializer_from_str_with_options(text, options(), |de| {
        serde_path_to_error::deserialize::<_, Contract>(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    result.map_err(|e| {
        let (line, column) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        let full = e.to_string();
        // serde-saphyr renders a snippet after the first line; keep the
        // message, without the location we report in our own fields.
        let first = full.lines().next().unwrap_or("");
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let message = match first.split_once(": ") {
            Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => {
                rest.to_string()
            }
            _ => first.to_string(),
        };
        let kind = classify(&message);
        let field = if path == "." {
            String::new()
        } else {
            path.clone()
        };
        error(kind, &field, explain(kind, &message), line, column)
    })
}

fn classify(message: &str) -> ErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains("unknown field") {
        ErrorKind::UnknownField
    } else if m.contains("missing field") {
        ErrorKind::MissingField
    } else if m.contains("unknown variant") {
        ErrorKind::UnknownName
    } else if m.contains("budget")
        || m.contains("limit")
        || m.contains("too many")
        || m.contains("depth")
    {
        ErrorKind::TooLarge
    } else if m.contains("invalid") || m.contains("expected") {
        ErrorKind::WrongType
    } else {
        ErrorKind::Syntax
    }
}

fn explain(kind: ErrorKind, message: &str) -> String {
    match kind {
        ErrorKind::WrongType
            if message.contains("i64") || message.contains("u32") || message.contains("u64") =>
        {
            format!(
                "{message}: expected a whole number (no decimals; money in cents, measurements in the declared unit)"
            )
        }
        _ => message.to_string(),
    }
}

/// A YAML tree with the location of every node, to place semantic errors.
#[derive(Debug)]
enum Node {
    Map(Vec<(String, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML node")
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Node>>()? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<Spanned<Node>>()?;
            entries.push((key, value));
        }
        Ok(Node::Map(entries))
    }
}

/// The (line, column) of the node at `path` (`a.b[2].c`) in `text`, or of
/// its nearest existing ancestor.
pub fn locate(text: &str, path: &str) -> Option<(u64, u64)> {
    let root: Spanned<Node> = serde_saphyr::from_str_with_options(text, options()).ok()?;
    let mut node = &root;
    let mut best = (node.referenced.line(), node.referenced.column());
    'walk: for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, indices) = match segment.find('[') {
            Some(i) => (&segment[..i], &segment[i..]),
            None => (segment, ""),
        };
        if !key.is_empty() {
            let Node::Map(entries) = &node.value else {
                break 'walk;
            };
            let Some((_, child)) = entries.iter().find(|(k, _)| k == key) else {
                break 'walk;
            };
            node = child;
            best = (node.referenced.line(), node.referenced.column());
        }
        for index in indices.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Ok(i) = index.parse::<usize>() else {
                break 'walk;
            };
            let Node::Seq(items) = &node.value else {
                break 'walk;
            };
            let Some(child) = items.get(i) else {
                break 'walk;
            };
            node = child;
            best = (node.referenced.line(), node.referenced.column());
        }
    }
    Some(best)
}
