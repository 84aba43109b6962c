//! Reading the contract's JSON by hand (the core has no serde derive): every
//! field is looked up by its name and checked, and anything missing or of
//! the wrong kind is a [`BadField`] naming its path.

use std::fmt;

use serde_json::{Map, Value};

use crate::event::kind;

/// A field of the contract's JSON that is missing or not what it must be.
/// `field` is its path (`account.available`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadField {
    pub field: String,
    pub problem: String,
}

impl fmt::Display for BadField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}` {}", self.field, self.problem)
    }
}

impl std::error::Error for BadField {}

/// A JSON object being read, and where it sits (for error paths).
pub(super) struct Object<'a> {
    path: String,
    map: &'a Map<String, Value>,
}

impl<'a> Object<'a> {
    /// `value`, which must be an object; `path` names it (`""` for the root).
    pub(super) fn of(value: &'a Value, path: &str) -> Result<Object<'a>, BadField> {
        match value.as_object() {
            Some(map) => Ok(Object {
                path: path.to_owned(),
                map,
            }),
            None => Err(BadField {
                field: if path.is_empty() { "$" } else { path }.to_owned(),
                problem: format!("must be a JSON object, got {}", kind(value)),
            }),
        }
    }

    fn path_of(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A field's problem, with its path.
    pub(super) fn bad(&self, name: &str, problem: impl Into<String>) -> BadField {
        BadField {
            field: self.path_of(name),
            problem: problem.into(),
        }
    }

    /// The field, absent (or `null`) as `None`.
    fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    fn required(&self, name: &str) -> Result<&'a Value, BadField> {
        self.get(name).ok_or_else(|| self.bad(name, "is missing"))
    }

    fn expect<T>(
        &self,
        name: &str,
        value: &'a Value,
        what: &str,
        read: impl Fn(&'a Value) -> Option<T>,
    ) -> Result<T, BadField> {
        read(value).ok_or_else(|| self.bad(name, format!("must be {what}, got {}", kind(value))))
    }

    pub(super) fn object(&self, name: &str) -> Result<Object<'a>, BadField> {
        Object::of(self.required(name)?, &self.path_of(name))
    }

    pub(super) fn optional_object(&self, name: &str) -> Result<Option<Object<'a>>, BadField> {
        self.get(name)
            .map(|v| Object::of(v, &self.path_of(name)))
            .transpose()
    }

    pub(super) fn string(&self, name: &str) -> Result<String, BadField> {
        let value = self.required(name)?;
        self.expect(name, value, "a string", |v| v.as_str().map(str::to_owned))
    }

    pub(super) fn optional_string(&self, name: &str) -> Result<Option<String>, BadField> {
        self.get(name)
            .map(|v| self.expect(name, v, "a string", |v| v.as_str().map(str::to_owned)))
            .transpose()
    }

    pub(super) fn integer(&self, name: &str) -> Result<i64, BadField> {
        let value = self.required(name)?;
        self.expect(name, value, "an integer", Value::as_i64)
    }

    pub(super) fn count(&self, name: &str) -> Result<u32, BadField> {
        let value = self.required(name)?;
        self.expect(name, value, "a count", |v| {
            v.as_u64().and_then(|n| u32::try_from(n).ok())
        })
    }

    pub(super) fn number(&self, name: &str) -> Result<f64, BadField> {
        let value = self.required(name)?;
        self.expect(name, value, "a number", Value::as_f64)
    }

    /// A string field read by `parse`; `what` says what it must be.
    pub(super) fn word<T>(
        &self,
        name: &str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, BadField> {
        let text = self.string(name)?;
        parse(&text).ok_or_else(|| self.bad(name, format!("is {text:?}, not {what}")))
    }
}
