//! Field overrides by path (`--set populations[0].count=500`, sweep axes).
//!
//! Overrides act on the scenario's serde data model (a JSON tree), not on RON text: a typed
//! scenario converts to JSON and back without loss, whereas `ron::Value` forgets enum variants.
//! After the edit, the tree is deserialized into the typed scenario again, so every
//! override is checked by the same `deny_unknown_fields` rules as the file.

use serde_json::Value;
use std::fmt;

/// One segment of a field path.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathSegment {
    /// A struct field or map key.
    Field(String),
    /// A list index.
    Index(usize),
}

/// A parsed field path such as `populations[0].params.speed`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<PathSegment>);

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                PathSegment::Field(name) if i == 0 => write!(f, "{name}")?,
                PathSegment::Field(name) => write!(f, ".{name}")?,
                PathSegment::Index(idx) => write!(f, "[{idx}]")?,
            }
        }
        Ok(())
    }
}

/// Why an override could not be applied.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum OverrideError {
    /// `--set` text without `=`.
    #[error("override `{0}` has no `=`; write it as path=value, e.g. populations[0].count=500")]
    MissingEquals(String),
    /// The path does not parse.
    #[error("bad field path `{path}`: {reason}")]
    BadPath {
        /// The path as written.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The value is not a RON literal.
    #[error("bad value `{value}` for `{path}`: {reason}")]
    BadValue {
        /// The path being set.
        path: String,
        /// The value as written.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The path walks through something that is not a struct or list.
    #[error("cannot set `{path}`: `{at}` is {found}, not a struct or list")]
    NotAContainer {
        /// The full path.
        path: String,
        /// The prefix that is not a container.
        at: String,
        /// What was found there.
        found: &'static str,
    },
    /// A list index past the end.
    #[error("cannot set `{path}`: index {index} is out of range (the list has {len} items)")]
    IndexOutOfRange {
        /// The full path.
        path: String,
        /// The index asked for.
        index: usize,
        /// The list's length.
        len: usize,
    },
}

impl FieldPath {
    /// Parses `a.b[0].c` (also accepts `a.b.0.c`).
    pub fn parse(text: &str) -> Result<FieldPath, OverrideError> {
        let bad = |reason: &str| OverrideError::BadPath {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        let text_trim = text.trim();
        if text_trim.is_empty() {
            return Err(bad("empty path"));
        }
        let mut segments = Vec::new();
        for part in text_trim.split('.') {
            if part.is_empty() {
                return Err(bad(
                    "empty segment (two dots in a row, or a leading/trailing dot)",
                ));
            }
            let (name, mut rest) = match part.find('[') {
                Some(pos) => (&part[..pos], &part[pos..]),
                None => (part, ""),
            };
            if !name.is_empty() {
                if name.bytes().all(|b| b.is_ascii_digit()) {
                    segments.push(PathSegment::Index(
                        name.parse().map_err(|_| bad("index too large"))?,
                    ));
                } else if name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
                {
                    segments.push(PathSegment::Field(name.to_owned()));
                } else {
                    return Err(bad(&format!("`{name}` is not a field name")));
                }
            } else if segments.is_empty() && rest.is_empty() {
                return Err(bad("empty segment"));
            }
            while !rest.is_empty() {
                let close = rest.find(']').ok_or_else(|| bad("`[` without `]`"))?;
                let idx = &rest[1..close];
                let idx: usize = idx
                    .trim()
                    .parse()
                    .map_err(|_| bad(&format!("`[{idx}]` is not a list index")))?;
                segments.push(PathSegment::Index(idx));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(bad("unexpected text after `]`"));
                }
            }
        }
        Ok(FieldPath(segments))
    }
}

/// Parses a value written on the command line or in a sweep axis into the data model.
///
/// RON literals are accepted (`0.5`, `true`, `"text"`, `[1, 2]`, `(a: 1)`, `Some(3)`, `None`);
/// a bare identifier such as `Torus` or `flocking` becomes a string, which is how serde
/// represents a unit enum variant, so enum fields and name fields both work unquoted.
pub fn parse_value(path: &str, text: &str) -> Result<Value, OverrideError> {
    let t = text.trim();
    let is_ident = !t.is_empty()
        && t.bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    match t {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        "None" => return Ok(Value::Null),
        _ if is_ident => return Ok(Value::String(t.to_owned())),
        _ => {}
    }
    let bad = |e: ron::error::SpannedError| OverrideError::BadValue {
        path: path.to_owned(),
        value: text.to_owned(),
        reason: e.code.to_string(),
    };
    // `Variant(args)`: RON into the JSON model would drop the variant name, so keep it as
    // serde's externally tagged form, `{"Variant": args}` (`Fixed(2)`, `Uniform(1, 3)`,
    // `WattsStrogatz(6, 0.1)`, `Disc(5.0, 5.0, 2.0)`, `Kill(count: 3)`).
    if let Some((name, args)) = t.split_once('(')
        && name != "Some"
        && name.bytes().next().is_some_and(|b| b.is_ascii_uppercase())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && t.ends_with(')')
    {
        let inner = ron::from_str::<Value>(&format!("({args}")).map_err(bad)?;
        let inner = match inner {
            Value::Array(mut items) if items.len() == 1 => items.remove(0),
            other => other,
        };
        let mut tagged = serde_json::Map::new();
        tagged.insert(name.to_owned(), inner);
        return Ok(Value::Object(tagged));
    }
    ron::from_str::<Value>(t).map_err(bad)
}

/// Splits `path=value` and parses both halves.
pub fn parse_assignment(text: &str) -> Result<(FieldPath, Value), OverrideError> {
    let (path, value) = text
        .split_once('=')
        .ok_or_else(|| OverrideError::MissingEquals(text.to_owned()))?;
    let parsed = FieldPath::parse(path)?;
    let value = parse_value(path.trim(), value)?;
    Ok((parsed, value))
}

fn kind_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty (None)",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a struct",
    }
}

/// Sets `path` in `root` to `value`.
///
/// A missing struct field is created (the typed re-check afterwards rejects unknown names with
/// the list of valid ones); an empty optional section (`null`) is turned into a struct so that
/// `comms.loss=0.1` works when the file has no `comms` section.
pub fn set_path(root: &mut Value, path: &FieldPath, value: Value) -> Result<(), OverrideError> {
    let full = path.to_string();
    let mut cur = root;
    for (depth, seg) in path.0.iter().enumerate() {
        let is_last = depth + 1 == path.0.len();
        let at = FieldPath(path.0[..depth].to_vec()).to_string();
        if cur.is_null() {
            *cur = match seg {
                PathSegment::Field(_) => Value::Object(Default::default()),
                PathSegment::Index(_) => Value::Array(Vec::new()),
            };
        }
        let found = kind_name(cur);
        cur = match (seg, cur) {
            (PathSegment::Field(name), Value::Object(map)) => {
                if is_last {
                    map.insert(name.clone(), value);
                    return Ok(());
                }
                map.entry(name.clone()).or_insert(Value::Null)
            }
            (PathSegment::Index(index), Value::Array(items)) => {
                let len = items.len();
                if *index >= len {
                    return Err(OverrideError::IndexOutOfRange {
                        path: full,
                        index: *index,
                        len,
                    });
                }
                if is_last {
                    items[*index] = value;
                    return Ok(());
                }
                &mut items[*index]
            }
            _ => {
                return Err(OverrideError::NotAContainer {
                    path: full,
                    at: if at.is_empty() {
                        "the scenario".into()
                    } else {
                        at
                    },
                    found,
                });
            }
        };
    }
    *cur = value;
    Ok(())
}

/// Reads the value at `path`, if present.
pub fn get_path<'v>(root: &'v Value, path: &FieldPath) -> Option<&'v Value> {
    let mut cur = root;
    for seg in &path.0 {
        cur = match (seg, cur) {
            (PathSegment::Field(name), Value::Object(map)) => map.get(name)?,
            (PathSegment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(cur)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse_in_both_index_styles() {
        let a = FieldPath::parse("populations[0].params.speed").unwrap();
        let b = FieldPath::parse("populations.0.params.speed").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "populations[0].params.speed");
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a[x]").is_err());
        assert!(FieldPath::parse("").is_err());
    }

    #[test]
    fn values_accept_ron_and_bare_identifiers() {
        assert_eq!(parse_value("p", "0.5").unwrap(), json!(0.5));
        assert_eq!(parse_value("p", "Torus").unwrap(), json!("Torus"));
        assert_eq!(parse_value("p", "\"a b\"").unwrap(), json!("a b"));
        assert_eq!(parse_value("p", "[1, 2]").unwrap(), json!([1, 2]));
        assert_eq!(parse_value("p", "(a: 1)").unwrap(), json!({"a": 1}));
        assert_eq!(parse_value("p", "None").unwrap(), Value::Null);
        assert!(parse_value("p", "(a: ").is_err());
    }

    #[test]
    fn enum_variants_with_arguments_keep_their_names() {
        assert_eq!(
            parse_value("x", "Uniform(1, 3)").unwrap(),
            json!({"Uniform": [1, 3]})
        );
        assert_eq!(parse_value("x", "Fixed(2)").unwrap(), json!({"Fixed": 2}));
        assert_eq!(
            parse_value("x", "Kill(count: 3)").unwrap(),
            json!({"Kill": {"count": 3}})
        );
        assert_eq!(
            parse_value("x", r#"EdgeList("g.txt")"#).unwrap(),
            json!({"EdgeList": "g.txt"})
        );
        assert_eq!(parse_value("x", "Some(3)").unwrap(), json!(3));
    }

    #[test]
    fn set_creates_fields_and_rejects_bad_indices() {
        let mut v = json!({"populations": [{"count": 1}], "comms": null});
        set_path(
            &mut v,
            &FieldPath::parse("populations[0].count").unwrap(),
            json!(5),
        )
        .unwrap();
        set_path(&mut v, &FieldPath::parse("comms.loss").unwrap(), json!(0.1)).unwrap();
        assert_eq!(
            v,
            json!({"populations": [{"count": 5}], "comms": {"loss": 0.1}})
        );
        let err = set_path(
            &mut v,
            &FieldPath::parse("populations[3].count").unwrap(),
            json!(1),
        );
        assert!(matches!(
            err,
            Err(OverrideError::IndexOutOfRange { len: 1, .. })
        ));
        let err = set_path(
            &mut v,
            &FieldPath::parse("populations[0].count.x").unwrap(),
            json!(1),
        );
        assert!(matches!(err, Err(OverrideError::NotAContainer { .. })));
    }
}
