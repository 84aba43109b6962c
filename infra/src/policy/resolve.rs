//! A synthesized template with its intrinsics resolved as CloudFormation
//! would for one account and region, with the parameters' defaults: the
//! policies then hold the ARNs AWS evaluates.
//!
//! Only what the stack uses: `Ref`, `Fn::GetAtt`, `Fn::Sub` (with `${!…}`
//! escapes), and `Fn::If` / `Fn::Equals` for the template's conditions;
//! anything else is refused. Physical ids follow each type's documented
//! `Ref` and `GetAtt` values; two are stand-ins, since CloudFormation makes
//! them up: an unnamed role is `<stack>-<logical id>` and a key's id is
//! derived from its logical id. Parameters without a default get a
//! placeholder (they only name the code's bucket and keys).

use std::collections::BTreeMap;

use serde_json::Value;

use super::PolicyError;

/// Where a template is evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    /// The account id (12 digits).
    pub account: String,
    /// The region, e.g. `eu-west-1`.
    pub region: String,
    /// The partition, e.g. `aws`.
    pub partition: String,
}

impl Environment {
    /// An example account and region (AWS's documentation account).
    pub fn example() -> Environment {
        Environment {
            account: "111122223333".to_owned(),
            region: "eu-west-1".to_owned(),
            partition: "aws".to_owned(),
        }
    }
}

/// A template with every intrinsic resolved, and each resource's ARN.
#[derive(Clone, Debug, PartialEq)]
pub struct Resolved {
    /// The template, intrinsics replaced by their values.
    pub template: Value,
    /// Each resource's ARN (`Fn::GetAtt [id, Arn]`), by logical id, for the
    /// types that have one.
    pub arns: BTreeMap<String, String>,
}

/// Resolves `template` (a template's JSON) in `env`.
///
/// # Errors
/// An intrinsic the stack does not use, or a reference to nothing.
pub fn resolve(template: &Value, env: &Environment) -> Result<Resolved, PolicyError> {
    let resolver = Resolver { template, env };
    let resources = template["Resources"]
        .as_object()
        .ok_or_else(|| PolicyError("the template has no Resources".to_owned()))?;
    let mut arns = BTreeMap::new();
    for id in resources.keys() {
        if let Ok(arn) = resolver.get_att(id, "Arn", 0) {
            arns.insert(id.clone(), arn);
        }
    }
    let mut resolved = template.clone();
    for section in ["Resources", "Outputs"] {
        resolved[section] = resolver.value(&template[section], 0)?;
    }
    Ok(Resolved {
        template: resolved,
        arns,
    })
}

struct Resolver<'a> {
    template: &'a Value,
    env: &'a Environment,
}

/// Deeper than any chain of references in the stack: a cycle.
const MAX_DEPTH: usize = 16;

fn fail<T>(what: String) -> Result<T, PolicyError> {
    Err(PolicyError(what))
}

impl Resolver<'_> {
    fn value(&self, v: &Value, depth: usize) -> Result<Value, PolicyError> {
        if depth > MAX_DEPTH {
            return fail(format!("references nest too deep (a cycle?) at {v}"));
        }
        match v {
            Value::Object(map) if map.len() == 1 => {
                let (key, arg) = map.iter().next().expect("one entry");
                match key.as_str() {
                    "Ref" => Ok(Value::String(self.reference(str_of(arg)?, depth)?)),
                    "Fn::GetAtt" => {
                        let parts: Vec<&str> = arg
                            .as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).collect())
                            .unwrap_or_default();
                        let [id, attribute] = parts.as_slice() else {
                            return fail(format!("Fn::GetAtt {arg}"));
                        };
                        Ok(Value::String(self.get_att(id, attribute, depth)?))
                    }
                    "Fn::Sub" => Ok(Value::String(self.sub(str_of(arg)?, depth)?)),
                    "Fn::If" => self.if_(arg, depth),
                    other if other.starts_with("Fn::") => fail(format!("{other} is not resolved")),
                    _ => self.object(map, depth),
                }
            }
            Value::Object(map) => self.object(map, depth),
            Value::Array(items) => items.iter().map(|i| self.value(i, depth + 1)).collect(),
            other => Ok(other.clone()),
        }
    }

    fn object(
        &self,
        map: &serde_json::Map<String, Value>,
        depth: usize,
    ) -> Result<Value, PolicyError> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.value(v, depth + 1)?)))
            .collect::<Result<serde_json::Map<_, _>, _>>()
            .map(Value::Object)
    }

    fn if_(&self, arg: &Value, depth: usize) -> Result<Value, PolicyError> {
        let Some([condition, then, otherwise]) = arg.as_array().map(Vec::as_slice) else {
            return fail(format!("Fn::If {arg}"));
        };
        let condition = str_of(condition)?;
        let equals = &self.template["Conditions"][condition]["Fn::Equals"];
        let Some([a, b]) = equals.as_array().map(Vec::as_slice) else {
            return fail(format!("condition {condition} is not an Fn::Equals"));
        };
        let holds = self.value(a, depth + 1)? == self.value(b, depth + 1)?;
        self.value(if holds { then } else { otherwise }, depth + 1)
    }

    fn reference(&self, name: &str, depth: usize) -> Result<String, PolicyError> {
        let env = self.env;
        match name {
            "AWS::AccountId" => return Ok(env.account.clone()),
            "AWS::Region" => return Ok(env.region.clone()),
            "AWS::Partition" => return Ok(env.partition.clone()),
            "AWS::URLSuffix" => return Ok("amazonaws.com".to_owned()),
            "AWS::StackName" => return self.stack_name(),
            _ => {}
        }
        if let Some(parameter) = self.template["Parameters"].get(name) {
            return Ok(parameter["Default"].as_str().map_or_else(
                || format!("{}-placeholder", name.to_ascii_lowercase()),
                str::to_owned,
            ));
        }
        let resource = self.resource(name)?;
        let physical = self.name_of(name, depth)?;
        Ok(match resource["Type"].as_str().unwrap_or_default() {
            "AWS::SQS::Queue" => format!(
                "https://sqs.{}.amazonaws.com/{}/{physical}",
                env.region, env.account
            ),
            "AWS::SNS::Topic" | "AWS::SNS::Subscription" => self.get_att(name, "Arn", depth)?,
            "AWS::KMS::Key" => key_id(name),
            _ => physical,
        })
    }

    fn get_att(&self, id: &str, attribute: &str, depth: usize) -> Result<String, PolicyError> {
        let resource = self.resource(id)?;
        let type_name = resource["Type"].as_str().unwrap_or_default();
        let Environment {
            account,
            region,
            partition,
        } = self.env;
        let arn = |service: &str, rest: String| {
            format!("arn:{partition}:{service}:{region}:{account}:{rest}")
        };
        let name = || self.name_of(id, depth);
        let value = match (type_name, attribute) {
            ("AWS::SQS::Queue", "QueueName")
            | ("AWS::Events::EventBus", "Name")
            | ("AWS::SNS::Topic", "TopicName") => name()?,
            ("AWS::SQS::Queue", "Arn") => arn("sqs", name()?),
            ("AWS::SNS::Topic", "Arn" | "TopicArn") => arn("sns", name()?),
            ("AWS::Lambda::Function", "Arn") => arn("lambda", format!("function:{}", name()?)),
            ("AWS::IAM::Role", "Arn") => format!("arn:{partition}:iam::{account}:role/{}", name()?),
            ("AWS::Events::EventBus", "Arn") => arn("events", format!("event-bus/{}", name()?)),
            ("AWS::Events::Rule", "Arn") => {
                let on_bus = &resource["Properties"]["EventBusName"];
                let rule = name()?;
                match on_bus {
                    Value::Null => arn("events", format!("rule/{rule}")),
                    bus => arn(
                        "events",
                        format!("rule/{}/{rule}", str_of(&self.value(bus, depth + 1)?)?),
                    ),
                }
            }
            ("AWS::Events::Archive", "Arn") => arn("events", format!("archive/{}", name()?)),
            ("AWS::DynamoDB::Table", "Arn") => arn("dynamodb", format!("table/{}", name()?)),
            ("AWS::Logs::LogGroup", "Arn") => arn("logs", format!("log-group:{}:*", name()?)),
            ("AWS::KMS::Key", "Arn") => arn("kms", format!("key/{}", key_id(id))),
            ("AWS::KMS::Key", "KeyId") => key_id(id),
            ("AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm", "Arn") => {
                arn("cloudwatch", format!("alarm:{}", name()?))
            }
            _ => {
                return fail(format!(
                    "Fn::GetAtt {id}.{attribute} ({type_name}) is not resolved"
                ));
            }
        };
        Ok(value)
    }

    /// The resource's physical name: its name property, or a stand-in.
    fn name_of(&self, id: &str, depth: usize) -> Result<String, PolicyError> {
        let resource = self.resource(id)?;
        let property = match resource["Type"].as_str().unwrap_or_default() {
            "AWS::SQS::Queue" => "QueueName",
            "AWS::SNS::Topic" => "TopicName",
            "AWS::Lambda::Function" => "FunctionName",
            "AWS::Events::EventBus" | "AWS::Events::Rule" => "Name",
            "AWS::Events::Archive" => "ArchiveName",
            "AWS::DynamoDB::Table" => "TableName",
            "AWS::Logs::LogGroup" => "LogGroupName",
            "AWS::KMS::Alias" => "AliasName",
            "AWS::CloudWatch::Alarm" | "AWS::CloudWatch::CompositeAlarm" => "AlarmName",
            "AWS::CloudWatch::Dashboard" => "DashboardName",
            _ => return Ok(format!("{}-{id}", self.stack_name()?)),
        };
        match resource["Properties"].get(property) {
            Some(name) => str_of(&self.value(name, depth + 1)?).map(str::to_owned),
            None => Ok(format!("{}-{id}", self.stack_name()?)),
        }
    }

    fn stack_name(&self) -> Result<String, PolicyError> {
        let stage = self.template["Parameters"]["Stage"]["Default"]
            .as_str()
            .ok_or_else(|| PolicyError("the template has no Stage default".to_owned()))?;
        Ok(crate::stack_name(
            stage.parse().map_err(|e| PolicyError(format!("{e}")))?,
        ))
    }

    fn resource(&self, id: &str) -> Result<&Value, PolicyError> {
        let resource = &self.template["Resources"][id];
        if resource.is_null() {
            return fail(format!("no parameter or resource {id}"));
        }
        Ok(resource)
    }

    /// `Fn::Sub` of a template string: `${Name}`, `${Id.Attribute}`,
    /// `${AWS::…}`; `${!x}` is the literal `${x}`.
    fn sub(&self, text: &str, depth: usize) -> Result<String, PolicyError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| PolicyError(format!("an unclosed ${{ in {text}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let (false, Some((id, attribute))) =
                (name.starts_with("AWS::"), name.split_once('.'))
            {
                out.push_str(&self.get_att(id, attribute, depth + 1)?);
            } else {
                out.push_str(&self.reference(name, depth + 1)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn str_of(v: &Value) -> Result<&str, PolicyError> {
    v.as_str()
        .ok_or_else(|| PolicyError(format!("{v} is not a string")))
}

/// A key id (a UUID's shape), the same for the same logical id.
fn key_id(logical_id: &str) -> String {
    let hash = logical_id.bytes().fold(0x811c_9dc5_u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    format!("{hash:08x}-0000-4000-8000-000000000000")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template() -> Value {
        json!({
            "Parameters": {"Stage": {"Default": "prod"}, "EventBusName": {"Default": "bus-prod"},
                           "Bucket": {"Type": "String"}},
            "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
            "Resources": {
                "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Fn::Sub": "q-${Stage}"}}},
                "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": {"Ref": "EventBusName"}}},
                "Rule": {"Type": "AWS::Events::Rule",
                         "Properties": {"Name": "r", "EventBusName": {"Fn::GetAtt": ["Bus", "Name"]}}},
                "Schedule": {"Type": "AWS::Events::Rule", "Properties": {"Name": "s"}},
                "Role": {"Type": "AWS::IAM::Role", "Properties": {}},
                "Key": {"Type": "AWS::KMS::Key", "Properties": {}},
                "Group": {"Type": "AWS::Logs::LogGroup", "Properties": {"LogGroupName": "/aws/lambda/f"}},
                "User": {"Type": "Custom::Thing", "Properties": {
                    "Url": {"Ref": "Queue"},
                    "Sub": {"Fn::Sub": "arn:${AWS::Partition}:x:${AWS::Region}:${AWS::AccountId}:${Queue.Arn}/${!Literal}"},
                    "If": {"Fn::If": ["IsProd", "yes", "no"]},
                    "Bucket": {"Ref": "Bucket"}
                }}
            }
        })
    }

    #[test]
    fn intrinsics_resolve_to_the_documented_physical_ids() {
        let resolved = resolve(&template(), &Environment::example()).unwrap();
        let arn = |id: &str| resolved.arns[id].as_str();
        assert_eq!(arn("Queue"), "arn:aws:sqs:eu-west-1:111122223333:q-prod");
        assert_eq!(
            arn("Bus"),
            "arn:aws:events:eu-west-1:111122223333:event-bus/bus-prod"
        );
        assert_eq!(
            arn("Rule"),
            "arn:aws:events:eu-west-1:111122223333:rule/bus-prod/r"
        );
        assert_eq!(
            arn("Schedule"),
            "arn:aws:events:eu-west-1:111122223333:rule/s"
        );
        assert_eq!(
            arn("Role"),
            "arn:aws:iam::111122223333:role/cc-agent-reconciler-prod-Role"
        );
        assert_eq!(
            arn("Group"),
            "arn:aws:logs:eu-west-1:111122223333:log-group:/aws/lambda/f:*"
        );
        assert!(arn("Key").starts_with("arn:aws:kms:eu-west-1:111122223333:key/"));
        let user = &resolved.template["Resources"]["User"]["Properties"];
        assert_eq!(
            user["Url"],
            "https://sqs.eu-west-1.amazonaws.com/111122223333/q-prod"
        );
        assert_eq!(
            user["Sub"],
            "arn:aws:x:eu-west-1:111122223333:arn:aws:sqs:eu-west-1:111122223333:q-prod/${Literal}"
        );
        assert_eq!(user["If"], "yes");
        assert_eq!(user["Bucket"], "bucket-placeholder");
    }

    #[test]
    fn unknown_intrinsics_and_references_are_refused() {
        let mut bad = template();
        bad["Resources"]["User"]["Properties"]["Join"] = json!({"Fn::Join": ["", ["a"]]});
        assert!(
            resolve(&bad, &Environment::example())
                .unwrap_err()
                .0
                .contains("Fn::Join")
        );
        let mut missing = template();
        missing["Resources"]["User"]["Properties"]["Url"] = json!({"Ref": "Nothing"});
        assert!(
            resolve(&missing, &Environment::example())
                .unwrap_err()
                .0
                .contains("Nothing")
        );
    }
}
