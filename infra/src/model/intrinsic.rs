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
}
