//! Typed CloudFormation intrinsic functions: only those the stack uses.

use serde::ser::{Serialize, SerializeMap, Serializer};

/// A CloudFormation string value: a literal, or an intrinsic function that
/// resolves to a string when the stack is deployed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expr {
    /// A literal string.
    Literal(String),
    /// `{"Ref": name}`: a parameter's value, a resource's primary identifier
    /// (its name, URL or ARN, depending on the resource type) or a pseudo
    /// parameter such as `AWS::Region`.
    Ref(String),
    /// `{"Fn::GetAtt": [logical id, attribute]}`.
    GetAtt(String, String),
    /// `{"Fn::Sub": template}`: `${Param}`, `${LogicalId}`,
    /// `${LogicalId.Attribute}` and `${AWS::Pseudo}` placeholders are replaced.
    Sub(String),
}

impl Expr {
    /// A literal string.
    pub fn lit(value: impl Into<String>) -> Self {
        Self::Literal(value.into())
    }

    /// `{"Ref": name}`.
    pub fn reference(name: impl Into<String>) -> Self {
        Self::Ref(name.into())
    }

    /// `{"Fn::GetAtt": [logical_id, attribute]}`.
    pub fn get_att(logical_id: impl Into<String>, attribute: impl Into<String>) -> Self {
        Self::GetAtt(logical_id.into(), attribute.into())
    }

    /// `{"Fn::Sub": template}`.
    pub fn sub(template: impl Into<String>) -> Self {
        Self::Sub(template.into())
    }

    /// `value` as compact JSON text inside one `Fn::Sub`, for the properties
    /// CloudFormation takes as a JSON *string* (a dashboard body, a key
    /// policy the local emulator needs as a string). Every intrinsic in
    /// `value` becomes its `${...}` placeholder; a literal `${` is escaped
    /// as `${!`. Object keys come out sorted, so the text is deterministic
    /// whichever way `serde_json` keeps maps in this build (its
    /// `preserve_order` feature is on in some builds of the workspace).
    ///
    /// # Panics
    /// If `value` does not serialize to JSON (never for the model's types), or
    /// holds a `Fn::Sub` whose template is not a plain string.
    pub fn sub_json(value: &impl Serialize) -> Self {
        let mut value = serde_json::to_value(value).expect("the model serializes to JSON");
        inline_intrinsics(&mut value);
        let text = serde_json::to_string(&sorted(value)).expect("a JSON value serializes");
        if text.contains("${") {
            Self::Sub(text)
        } else {
            Self::Literal(text)
        }
    }

    /// The expression as a piece of a `Fn::Sub` template.
    pub fn to_sub_template(&self) -> String {
        match self {
            Self::Literal(value) => value.replace("${", "${!"),
            Self::Ref(name) => format!("${{{name}}}"),
            Self::GetAtt(logical_id, attribute) => format!("${{{logical_id}.{attribute}}}"),
            Self::Sub(template) => template.clone(),
        }
    }
}

/// `value` with every object's keys inserted in sorted order.
fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// Replaces every intrinsic object in `value` by its `${...}` placeholder
/// and escapes `${` in literal strings.
fn inline_intrinsics(value: &mut serde_json::Value) {
    use serde_json::Value;
    let replacement = match value {
        Value::String(text) => Some(text.replace("${", "${!")),
        Value::Object(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().expect("one entry");
            match (key.as_str(), inner) {
                ("Ref", Value::String(name)) => Some(format!("${{{name}}}")),
                ("Fn::GetAtt", Value::Array(parts)) => {
                    let parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                    Some(format!("${{{}}}", parts.join(".")))
                }
                ("Fn::Sub", Value::String(template)) => Some(template.clone()),
                ("Fn::Sub", _) => panic!("only a plain Fn::Sub template can be inlined"),
                _ => None,
            }
        }
        _ => None,
    };
    if let Some(text) = replacement {
        *value = Value::String(text);
        return;
    }
    match value {
        Value::Object(map) => map.values_mut().for_each(inline_intrinsics),
        Value::Array(items) => items.iter_mut().for_each(inline_intrinsics),
        _ => {}
    }
}

impl From<&str> for Expr {
    fn from(value: &str) -> Self {
        Self::lit(value)
    }
}

impl From<String> for Expr {
    fn from(value: String) -> Self {
        Self::Literal(value)
    }
}

impl Serialize for Expr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Literal(value) => serializer.serialize_str(value),
            Self::Ref(name) => single_key(serializer, "Ref", name),
            Self::GetAtt(logical_id, attribute) => {
                single_key(serializer, "Fn::GetAtt", &[logical_id, attribute])
            }
            Self::Sub(template) => single_key(serializer, "Fn::Sub", template),
        }
    }
}

/// Serializes `{key: value}`, the shape of every intrinsic function.
fn single_key<S: Serializer, V: Serialize + ?Sized>(
    serializer: S,
    key: &str,
    value: &V,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(1))?;
    map.serialize_entry(key, value)?;
    map.end()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn intrinsics_serialize_to_cloudformation_json() {
        let cases = [
            (Expr::lit("x"), json!("x")),
            (Expr::reference("Stage"), json!({"Ref": "Stage"})),
            (
                Expr::get_att("Queue", "Arn"),
                json!({"Fn::GetAtt": ["Queue", "Arn"]}),
            ),
            (Expr::sub("a-${Stage}"), json!({"Fn::Sub": "a-${Stage}"})),
        ];
        for (expr, expected) in cases {
            assert_eq!(serde_json::to_value(&expr).unwrap(), expected);
        }
    }

    #[test]
    fn json_in_a_sub_inlines_intrinsics_and_escapes_literals() {
        let value = json!({
            "b": [Expr::reference("Stage"), Expr::get_att("Queue", "Arn")],
            "a": Expr::sub("arn:${AWS::Partition}:x"),
            "c": "literal ${not} a placeholder",
        });
        assert_eq!(
            Expr::sub_json(&value),
            Expr::sub(
                r#"{"a":"arn:${AWS::Partition}:x","b":["${Stage}","${Queue.Arn}"],"c":"literal ${!not} a placeholder"}"#
            )
        );
        assert_eq!(Expr::sub_json(&json!({"a": 1})), Expr::lit(r#"{"a":1}"#));
        assert_eq!(Expr::lit("a${b").to_sub_template(), "a${!b");
        assert_eq!(Expr::get_att("K", "Arn").to_sub_template(), "${K.Arn}");
    }
}
