//! A typed model of the part of CloudFormation the stack uses: the template,
//! its parameters and outputs, the resource types, and the intrinsic
//! functions. It knows nothing about the reconciler; [`crate::stack`] does.
//!
//! Every struct serializes with serde to CloudFormation JSON. Struct fields
//! serialize in declaration order and every map is a [`BTreeMap`], so the
//! same model always gives byte-identical JSON.

pub mod cloudwatch;
pub mod dashboard;
pub mod dynamodb;
pub mod events;
pub mod iam;
pub mod intrinsic;
pub mod kms;
pub mod lambda;
pub mod logs;
pub mod sns;
pub mod sqs;

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

pub use intrinsic::Expr;

/// A CloudFormation template.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    /// Always `2010-09-09`, the only format version there is.
    #[serde(rename = "AWSTemplateFormatVersion")]
    pub format_version: &'static str,
    /// What the stack is.
    pub description: String,
    /// Parameters by name.
    pub parameters: BTreeMap<String, Parameter>,
    /// Conditions by name: `{"Fn::Equals": [a, b]}` (see [`Flag::When`]).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub conditions: BTreeMap<String, serde_json::Value>,
    /// Resources by logical id.
    pub resources: BTreeMap<String, Resource>,
    /// Outputs by name.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub outputs: BTreeMap<String, Output>,
}

impl Template {
    /// An empty template.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            format_version: "2010-09-09",
            description: description.into(),
            parameters: BTreeMap::new(),
            conditions: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Adds a parameter.
    ///
    /// # Panics
    /// If a parameter of that name exists already (a bug in the stack).
    pub fn add_parameter(&mut self, name: &str, parameter: Parameter) {
        let previous = self.parameters.insert(name.to_owned(), parameter);
        assert!(previous.is_none(), "duplicate parameter {name}");
    }

    /// Adds the condition `name`: the parameter `parameter` equals `value`.
    ///
    /// # Panics
    /// If a condition of that name exists already (a bug in the stack).
    pub fn add_condition_equals(&mut self, name: &str, parameter: &str, value: &str) {
        let condition = serde_json::json!({"Fn::Equals": [{"Ref": parameter}, value]});
        let previous = self.conditions.insert(name.to_owned(), condition);
        assert!(previous.is_none(), "duplicate condition {name}");
    }

    /// Adds a resource.
    ///
    /// # Panics
    /// If a resource of that logical id exists already (a bug in the stack).
    pub fn add_resource(&mut self, logical_id: &str, resource: impl Into<Resource>) {
        let previous = self
            .resources
            .insert(logical_id.to_owned(), resource.into());
        assert!(previous.is_none(), "duplicate resource {logical_id}");
    }

    /// Adds an output.
    ///
    /// # Panics
    /// If an output of that name exists already (a bug in the stack).
    pub fn add_output(&mut self, name: &str, output: Output) {
        let previous = self.outputs.insert(name.to_owned(), output);
        assert!(previous.is_none(), "duplicate output {name}");
    }

    /// The parameters, by name.
    pub fn parameters(&self) -> &BTreeMap<String, Parameter> {
        &self.parameters
    }

    /// The resources, by logical id.
    pub fn resources(&self) -> &BTreeMap<String, Resource> {
        &self.resources
    }

    /// One resource by logical id.
    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources.get(logical_id)
    }

    /// The resources of one CloudFormation type (e.g. `AWS::SQS::Queue`),
    /// with their logical ids, in logical-id order.
    pub fn resources_of_type<'a>(
        &'a self,
        type_name: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a Resource)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, resource)| resource.type_name() == type_name)
            .map(|(id, resource)| (id.as_str(), resource))
    }

    /// The outputs, by name.
    pub fn outputs(&self) -> &BTreeMap<String, Output> {
        &self.outputs
    }

    /// The template as a JSON value (for assertions).
    ///
    /// # Panics
    /// Never: every part of the model serializes.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("a template always serializes")
    }

    /// The template as CloudFormation receives it: compact JSON, so that
    /// it fits the 51,200 bytes `TemplateBody` allows (the pretty form of
    /// staging and prod does not); byte-identical for equal templates.
    ///
    /// # Panics
    /// Never: every part of the model serializes.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a template always serializes")
    }

    /// The template for people (`cargo xtask synth`, the snapshots):
    /// pretty-printed with two-space indentation and a trailing newline;
    /// byte-identical for equal templates. The same JSON as [`Self::to_json`].
    ///
    /// # Panics
    /// Never: every part of the model serializes.
    pub fn to_pretty_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a template always serializes");
        json.push('\n');
        json
    }
}

/// The type of a template parameter (only `String` is used).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ParameterType {
    /// A string.
    String,
}

/// A template parameter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    /// The parameter's type.
    #[serde(rename = "Type")]
    pub parameter_type: ParameterType,
    /// What the parameter is for.
    pub description: String,
    /// The value used when the deploy step gives none; `None`: required.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// The only values allowed, if not empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allowed_values: Vec<String>,
    /// A regular expression the value must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_pattern: Option<String>,
    /// Shown when the value breaks `AllowedPattern`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint_description: Option<String>,
}

impl Parameter {
    /// A string parameter without constraints.
    pub fn string(description: impl Into<String>) -> Self {
        Self {
            parameter_type: ParameterType::String,
            description: description.into(),
            default: None,
            allowed_values: Vec::new(),
            allowed_pattern: None,
            constraint_description: None,
        }
    }

    /// Sets the default value.
    pub fn with_default(mut self, default: impl Into<String>) -> Self {
        self.default = Some(default.into());
        self
    }

    /// Restricts the value to a list.
    pub fn with_allowed_values<I: IntoIterator<Item = S>, S: Into<String>>(
        mut self,
        values: I,
    ) -> Self {
        self.allowed_values = values.into_iter().map(Into::into).collect();
        self
    }

    /// Restricts the value to a pattern, explained by `description` on error.
    pub fn with_allowed_pattern(
        mut self,
        pattern: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.allowed_pattern = Some(pattern.into());
        self.constraint_description = Some(description.into());
        self
    }
}

/// A template output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Output {
    /// What the value is.
    pub description: String,
    /// The value.
    pub value: Expr,
}

impl Output {
    /// An output.
    pub fn new(description: impl Into<String>, value: Expr) -> Self {
        Self {
            description: description.into(),
            value,
        }
    }
}

/// What CloudFormation does with a resource's physical resource when the
/// stack is deleted (`DeletionPolicy`) or the resource replaced
/// (`UpdateReplacePolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum DeletionPolicy {
    /// Delete it.
    Delete,
    /// Keep it (it leaves the stack).
    Retain,
}

/// A resource: its typed properties and its resource attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// The resource type and its properties.
    pub kind: ResourceKind,
    /// `DeletionPolicy`, if set.
    pub deletion_policy: Option<DeletionPolicy>,
    /// `UpdateReplacePolicy`, if set.
    pub update_replace_policy: Option<DeletionPolicy>,
    /// `Metadata`: the checkov findings skipped on this resource, each with
    /// its reason. Empty: no `Metadata`.
    pub checkov_skips: Vec<CheckovSkip>,
}

/// A checkov check skipped on one resource (`Metadata.checkov.skip[]`), with
/// the one-sentence reason a reviewer reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CheckovSkip {
    /// The check, e.g. `CKV_AWS_117`.
    pub id: &'static str,
    /// Why it does not apply or is accepted.
    pub comment: String,
}

impl Resource {
    /// A resource with no resource attributes.
    pub fn new(kind: impl Into<ResourceKind>) -> Self {
        Self {
            kind: kind.into(),
            deletion_policy: None,
            update_replace_policy: None,
            checkov_skips: Vec::new(),
        }
    }

    /// Sets both `DeletionPolicy` and `UpdateReplacePolicy` to `policy`.
    pub fn with_policies(mut self, policy: DeletionPolicy) -> Self {
        self.deletion_policy = Some(policy);
        self.update_replace_policy = Some(policy);
        self
    }

    /// Skips the checkov check `id` on this resource, for `comment`.
    ///
    /// # Panics
    /// If the comment is empty or the check is skipped twice (a bug in the stack).
    pub fn with_checkov_skip(mut self, id: &'static str, comment: impl Into<String>) -> Self {
        let comment = comment.into();
        assert!(
            !comment.trim().is_empty(),
            "checkov skip {id} needs a reason"
        );
        assert!(
            self.checkov_skips.iter().all(|skip| skip.id != id),
            "checkov skip {id} twice"
        );
        self.checkov_skips.push(CheckovSkip { id, comment });
        self
    }

    /// The CloudFormation type, e.g. `AWS::DynamoDB::Table`.
    pub fn type_name(&self) -> &'static str {
        self.kind.type_name()
    }
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("Type", self.type_name())?;
        if let Some(policy) = &self.deletion_policy {
            map.serialize_entry("DeletionPolicy", policy)?;
        }
        if let Some(policy) = &self.update_replace_policy {
            map.serialize_entry("UpdateReplacePolicy", policy)?;
        }
        if !self.checkov_skips.is_empty() {
            // `{"checkov": {"skip": [{"id", "comment"}]}}`, the form checkov
            // reads (a misspelled key is silently ignored, a wrong shape crashes it).
            let skips = BTreeMap::from([("skip", &self.checkov_skips)]);
            map.serialize_entry("Metadata", &BTreeMap::from([("checkov", skips)]))?;
        }
        map.serialize_entry("Properties", &PropertiesOf(&self.kind))?;
        map.end()
    }
}

/// Serializes the properties of a resource kind, without its type.
struct PropertiesOf<'a>(&'a ResourceKind);

/// Declares [`ResourceKind`] with one variant per resource type, its
/// CloudFormation type name, and a `From` conversion from each properties
/// struct (so `template.add_resource(id, table)` works).
macro_rules! resource_kinds {
    ($($(#[$doc:meta])* $variant:ident($properties:ty) = $type_name:literal,)*) => {
        /// The resource types the model knows, each with its properties.
        #[derive(Clone, Debug, PartialEq)]
        pub enum ResourceKind {
            $($(#[$doc])* $variant($properties),)*
        }

        impl ResourceKind {
            /// The CloudFormation type name.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $type_name,)*
                }
            }
        }

        impl Serialize for PropertiesOf<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                match self.0 {
                    $(ResourceKind::$variant(properties) => properties.serialize(serializer),)*
                }
            }
        }

        $(
            impl From<$properties> for ResourceKind {
                fn from(properties: $properties) -> Self {
                    Self::$variant(properties)
                }
            }

            impl From<$properties> for Resource {
                fn from(properties: $properties) -> Self {
                    Self::new(properties)
                }
            }
        )*
    };
}

resource_kinds! {
    /// `AWS::CloudWatch::Alarm`.
    Alarm(cloudwatch::Alarm) = "AWS::CloudWatch::Alarm",
    /// `AWS::CloudWatch::Dashboard`.
    Dashboard(cloudwatch::Dashboard) = "AWS::CloudWatch::Dashboard",
    /// `AWS::DynamoDB::Table`.
    Table(dynamodb::Table) = "AWS::DynamoDB::Table",
    /// `AWS::Events::EventBus`.
    EventBus(events::EventBus) = "AWS::Events::EventBus",
    /// `AWS::Events::Rule`.
    Rule(events::Rule) = "AWS::Events::Rule",
    /// `AWS::Events::Archive`.
    Archive(events::Archive) = "AWS::Events::Archive",
    /// `AWS::IAM::Role`.
    Role(iam::Role) = "AWS::IAM::Role",
    /// `AWS::KMS::Key`.
    Key(kms::Key) = "AWS::KMS::Key",
    /// `AWS::KMS::Alias`.
    Alias(kms::Alias) = "AWS::KMS::Alias",
    /// `AWS::Lambda::EventInvokeConfig`.
    EventInvokeConfig(lambda::EventInvokeConfig) = "AWS::Lambda::EventInvokeConfig",
    /// `AWS::Lambda::Function`.
    Function(lambda::Function) = "AWS::Lambda::Function",
    /// `AWS::Lambda::Permission`.
    Permission(lambda::Permission) = "AWS::Lambda::Permission",
    /// `AWS::Logs::LogGroup`.
    LogGroup(logs::LogGroup) = "AWS::Logs::LogGroup",
    /// `AWS::SNS::Subscription`.
    Subscription(sns::Subscription) = "AWS::SNS::Subscription",
    /// `AWS::SNS::Topic`.
    Topic(sns::Topic) = "AWS::SNS::Topic",
    /// `AWS::SNS::TopicPolicy`.
    TopicPolicy(sns::TopicPolicy) = "AWS::SNS::TopicPolicy",
    /// `AWS::SQS::Queue`.
    Queue(sqs::Queue) = "AWS::SQS::Queue",
    /// `AWS::SQS::QueuePolicy`.
    QueuePolicy(sqs::QueuePolicy) = "AWS::SQS::QueuePolicy",
}

/// A Boolean property: a literal, or true exactly when a condition of the
/// template holds (`{"Fn::If": [condition, true, false]}`): a real Boolean
/// either way, where a parameter's `"false"` string would be one only
/// after CloudFormation's coercion (and is truthy to some emulators).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Flag {
    /// `true` or `false`.
    Literal(bool),
    /// True when the named condition holds.
    When(String),
}

impl Serialize for Flag {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Flag::Literal(value) => serializer.serialize_bool(*value),
            Flag::When(condition) => {
                serde_json::json!({"Fn::If": [condition, true, false]}).serialize(serializer)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_attributes_surround_the_properties() {
        let queue = sqs::Queue {
            queue_name: Expr::sub("q-${Stage}"),
            message_retention_period: 60,
            encryption: sqs::QueueEncryption::SqsManaged,
        };
        let resource = Resource::new(queue)
            .with_policies(DeletionPolicy::Retain)
            .with_checkov_skip("CKV_AWS_27", "Encrypted with SSE-SQS.");
        let json = serde_json::to_string(&resource).unwrap();
        assert_eq!(
            json,
            r#"{"Type":"AWS::SQS::Queue","DeletionPolicy":"Retain","UpdateReplacePolicy":"Retain","Metadata":{"checkov":{"skip":[{"id":"CKV_AWS_27","comment":"Encrypted with SSE-SQS."}]}},"Properties":{"QueueName":{"Fn::Sub":"q-${Stage}"},"MessageRetentionPeriod":60,"SqsManagedSseEnabled":true}}"#
        );
    }

    #[test]
    fn to_pretty_json_is_pretty_with_a_trailing_newline_and_to_json_compact() {
        let mut template = Template::new("t");
        template.add_parameter("Stage", Parameter::string("s").with_default("dev"));
        let json = template.to_pretty_json();
        assert!(json.ends_with("}\n"));
        assert!(json.contains("\n  \"Parameters\": {\n    \"Stage\": {"));
        let compact = template.to_json();
        assert!(!compact.contains('\n'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&compact).unwrap(),
            serde_json::from_str::<serde_json::Value>(&json).unwrap()
        );
    }

    #[test]
    #[should_panic(expected = "duplicate resource Q")]
    fn duplicate_logical_ids_are_refused() {
        let queue = sqs::Queue {
            queue_name: Expr::lit("q"),
            message_retention_period: 60,
            encryption: sqs::QueueEncryption::SqsManaged,
        };
        let mut template = Template::new("t");
        template.add_resource("Q", queue.clone());
        template.add_resource("Q", queue);
    }
}
