//! The security table of a diff, as `cdk diff` has one: the IAM statements
//! and resource policies a deploy adds, removes or changes, and whether it
//! *broadens* what anyone may do (a deploy stops for approval then, see
//! [`super::plan::approval`]). Pure functions over the two templates,
//! unit-tested.
//!
//! Every policy of the template is read as a list of grants: the statements
//! of role policies, trust policies, managed policies, queue, topic, bucket
//! and key policies, the bus's policies (its `Policy`, and any
//! `EventBusPolicy`), and each `AWS::Lambda::Permission` as the statement
//! it is. A grant is identified by its resource, its policy and its `Sid`
//! (its position when it has none), so a statement that changes is paired
//! with what it was. An `Allow` broadens when it is new or covers more
//! (an action, resource or principal the old one did not match, wildcards
//! included, or a condition relaxed); a `Deny` broadens when it goes or
//! covers less.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::changes::{effective_parameters, resolve};

/// One statement, normalized.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Grant {
    /// `Allow` or `Deny`.
    pub effect: String,
    /// `*`, `AWS:<arn>`, `Service:<name>`, … (empty: an identity policy,
    /// whose principal is the role it is attached to).
    pub principals: BTreeSet<String>,
    /// Actions (`NotAction` entries are prefixed `not `).
    pub actions: BTreeSet<String>,
    /// Resources (`NotResource` entries are prefixed `not `).
    pub resources: BTreeSet<String>,
    /// The condition block as compact JSON.
    pub condition: Option<String>,
}

/// Where a grant lives.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Place {
    /// The resource's logical id.
    pub resource: String,
    /// `PolicyDocument`, `Policies[LedgerAccess]`, `AssumeRolePolicyDocument`, …
    pub policy: String,
    /// The statement's `Sid`, or `#<position>`.
    pub sid: String,
}

/// What happens to a grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Added,
    Removed,
    Changed,
}

/// One row of the security table.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecurityChange {
    pub place: Place,
    pub kind: Kind,
    /// The grant before (`None`: added).
    pub old: Option<Grant>,
    /// The grant after (`None`: removed).
    pub new: Option<Grant>,
    /// Whether anyone may do more afterwards.
    pub broadens: bool,
}

/// The security changes from the deployed template to the new one (an
/// empty deployed template for a stack not created yet: everything is
/// added), by place.
pub fn changes(
    deployed_template: &Value,
    deployed_parameters: &BTreeMap<String, String>,
    template: &Value,
    parameters: &BTreeMap<String, String>,
) -> Vec<SecurityChange> {
    let old = grants(deployed_template, deployed_parameters);
    let new = grants(template, parameters);
    let places: BTreeSet<&Place> = old.keys().chain(new.keys()).collect();
    places
        .into_iter()
        .filter_map(|place| {
            let (before, after) = (old.get(place), new.get(place));
            let (kind, broadens) = match (before, after) {
                (None, Some(g)) => (Kind::Added, g.effect == "Allow"),
                (Some(g), None) => (Kind::Removed, g.effect == "Deny"),
                (Some(a), Some(b)) if a == b => return None,
                (Some(a), Some(b)) => (Kind::Changed, broadened(a, b)),
                (None, None) => return None,
            };
            Some(SecurityChange {
                place: place.clone(),
                kind,
                old: before.cloned(),
                new: after.cloned(),
                broadens,
            })
        })
        .collect()
}

/// Whether `after` lets anyone do more than `before`.
fn broadened(before: &Grant, after: &Grant) -> bool {
    if before.effect != after.effect {
        // An Allow turned Deny narrows; a Deny turned Allow broadens.
        return after.effect == "Allow";
    }
    let condition_changed = before.condition.is_some() && before.condition != after.condition;
    let (wider, narrower) = if after.effect == "Allow" {
        (after, before)
    } else {
        (before, after)
    };
    condition_changed
        || !covered(&wider.actions, &narrower.actions, true)
        || !covered(&wider.resources, &narrower.resources, false)
        || !covered(&wider.principals, &narrower.principals, false)
}

/// Whether every entry of `items` is matched by an entry of `by`
/// (wildcards `*` and `?` in `by`; actions compare case-insensitively).
fn covered(items: &BTreeSet<String>, by: &BTreeSet<String>, actions: bool) -> bool {
    items.iter().all(|item| {
        by.iter().any(|pattern| {
            if actions {
                glob(&pattern.to_lowercase(), &item.to_lowercase())
            } else {
                glob(pattern, item)
            }
        })
    })
}

/// `*` matches any run of characters, `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Every grant of a template, by place.
pub fn grants(template: &Value, parameters: &BTreeMap<String, String>) -> BTreeMap<Place, Grant> {
    let params = effective_parameters(template, parameters);
    let mut out = BTreeMap::new();
    let Some(resources) = template["Resources"].as_object() else {
        return out;
    };
    for (id, resource) in resources {
        let props = resolve(&resource["Properties"], &params);
        let mut document = |policy: String, doc: &Value| {
            for (place, grant) in statements(id, &policy, doc) {
                out.insert(place, grant);
            }
        };
        match resource["Type"].as_str().unwrap_or_default() {
            "AWS::IAM::Role" => {
                document(
                    "AssumeRolePolicyDocument".into(),
                    &props["AssumeRolePolicyDocument"],
                );
                for (i, policy) in props["Policies"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let name = policy["PolicyName"]
                        .as_str()
                        .map_or_else(|| format!("#{i}"), str::to_owned);
                    document(format!("Policies[{name}]"), &policy["PolicyDocument"]);
                }
                for arn in props["ManagedPolicyArns"].as_array().into_iter().flatten() {
                    out.insert(
                        Place {
                            resource: id.clone(),
                            policy: "ManagedPolicyArns".into(),
                            sid: text(arn),
                        },
                        Grant {
                            effect: "Allow".into(),
                            principals: BTreeSet::new(),
                            actions: BTreeSet::from(["(managed policy)".to_owned()]),
                            resources: BTreeSet::from([text(arn)]),
                            condition: None,
                        },
                    );
                }
            }
            "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy"
            | "AWS::IAM::RolePolicy"
            | "AWS::SQS::QueuePolicy"
            | "AWS::SNS::TopicPolicy"
            | "AWS::S3::BucketPolicy" => {
                document("PolicyDocument".into(), &props["PolicyDocument"])
            }
            "AWS::KMS::Key" => document("KeyPolicy".into(), &props["KeyPolicy"]),
            // The bus's own resource policy: its Deny statements say who
            // may put which events (the producers).
            "AWS::Events::EventBus" => document("Policy".into(), &props["Policy"]),
            "AWS::Events::EventBusPolicy" => {
                let statement = if props["Statement"].is_null() {
                    props.clone()
                } else {
                    props["Statement"].clone()
                };
                document(
                    "Statement".into(),
                    &serde_json::json!({"Statement": [statement]}),
                );
            }
            "AWS::Lambda::Permission" => {
                let mut condition = serde_json::Map::new();
                for key in ["SourceArn", "SourceAccount", "PrincipalOrgID"] {
                    if !props[key].is_null() {
                        condition.insert(key.to_owned(), props[key].clone());
                    }
                }
                out.insert(
                    Place {
                        resource: id.clone(),
                        policy: "Permission".into(),
                        sid: "#0".into(),
                    },
                    Grant {
                        effect: "Allow".into(),
                        principals: principal_set(&props["Principal"]),
                        actions: set(&props["Action"]),
                        resources: set(&props["FunctionName"]),
                        condition: (!condition.is_empty())
                            .then(|| Value::Object(condition).to_string()),
                    },
                );
            }
            _ => {}
        }
    }
    out
}

/// The statements of one policy document.
fn statements(resource: &str, policy: &str, document: &Value) -> Vec<(Place, Grant)> {
    let statements = match &document["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    };
    statements
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let prefixed = |key: &str, not_key: &str| -> BTreeSet<String> {
                let mut values = set(&s[key]);
                values.extend(set(&s[not_key]).into_iter().map(|v| format!("not {v}")));
                values
            };
            let mut principals = principal_set(&s["Principal"]);
            principals.extend(
                principal_set(&s["NotPrincipal"])
                    .into_iter()
                    .map(|p| format!("not {p}")),
            );
            (
                Place {
                    resource: resource.to_owned(),
                    policy: policy.to_owned(),
                    sid: s["Sid"]
                        .as_str()
                        .map_or_else(|| format!("#{i}"), str::to_owned),
                },
                Grant {
                    effect: s["Effect"].as_str().unwrap_or("Allow").to_owned(),
                    principals,
                    actions: prefixed("Action", "NotAction"),
                    resources: prefixed("Resource", "NotResource"),
                    condition: (!s["Condition"].is_null()).then(|| s["Condition"].to_string()),
                },
            )
        })
        .collect()
}

/// A string or a list of them (intrinsics shown as `${Logical.Attr}`).
fn set(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Null => BTreeSet::new(),
        Value::Array(items) => items.iter().map(text).collect(),
        one => BTreeSet::from([text(one)]),
    }
}

/// `*`, or `{"AWS": …, "Service": …}` as `AWS:…`, `Service:…`.
fn principal_set(value: &Value) -> BTreeSet<String> {
    match value {
        Value::Object(map) if !super::properties::is_intrinsic(value) => map
            .iter()
            .flat_map(|(kind, v)| set(v).into_iter().map(move |p| format!("{kind}:{p}")))
            .collect(),
        other => set(other),
    }
}

/// A value as text: strings as they are, `Ref` as `${X}`, `Fn::GetAtt` as
/// `${X.Attr}`, `Fn::Sub` as its string, anything else as compact JSON.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        v if v.get("Ref").is_some() => format!("${{{}}}", brief(&v["Ref"])),
        v if v.get("Fn::GetAtt").is_some() => match &v["Fn::GetAtt"] {
            Value::Array(parts) => format!(
                "${{{}}}",
                parts.iter().map(brief).collect::<Vec<_>>().join(".")
            ),
            other => format!("${{{}}}", brief(other)),
        },
        v if v.get("Fn::Sub").is_some() => match &v["Fn::Sub"] {
            Value::Array(parts) => parts.first().map(brief).unwrap_or_default(),
            other => brief(other),
        },
        other => other.to_string(),
    }
}

fn brief(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_owned)
}

/// Whether any change broadens.
pub fn any_broadening(changes: &[SecurityChange]) -> bool {
    changes.iter().any(|c| c.broadens)
}

/// The security table: one row per change, broadening ones marked `+`.
pub fn render(changes: &[SecurityChange]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let joined = |s: &BTreeSet<String>| {
        if s.is_empty() {
            "-".to_owned()
        } else {
            crate::base::ui::clip(&s.iter().cloned().collect::<Vec<_>>().join(", "), 60)
        }
    };
    let rows: Vec<Vec<String>> = changes
        .iter()
        .map(|c| {
            let grant = c.new.as_ref().or(c.old.as_ref());
            let kind = match (c.kind, c.broadens) {
                (Kind::Added, _) => "added",
                (Kind::Removed, _) => "removed",
                (Kind::Changed, true) => "broadened",
                (Kind::Changed, false) => "narrowed",
            };
            vec![
                if c.broadens { "+" } else { "-" }.to_owned(),
                kind.to_owned(),
                c.place.resource.clone(),
                format!("{} {}", c.place.policy, c.place.sid),
                grant.map(|g| g.effect.clone()).unwrap_or_default(),
                grant.map(|g| joined(&g.principals)).unwrap_or_default(),
                grant.map(|g| joined(&g.actions)).unwrap_or_default(),
                grant.map(|g| joined(&g.resources)).unwrap_or_default(),
                grant
                    .and_then(|g| g.condition.as_deref())
                    .map(|c| crate::base::ui::clip(c, 40))
                    .unwrap_or_else(|| "-".to_owned()),
            ]
        })
        .collect();
    let mut out = String::from("Security changes (IAM statements and resource policies):\n");
    out.push_str(&crate::base::ui::table(
        &[
            " ",
            "Change",
            "Resource",
            "Policy",
            "Effect",
            "Principal",
            "Action",
            "Resource",
            "Condition",
        ],
        &rows,
    ));
    if any_broadening(changes) {
        out.push_str("  + broadens who may do what: a deploy asks for approval\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn role(statements: Value) -> Value {
        json!({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
            "AssumeRolePolicyDocument": {"Statement": [{"Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "Ledger", "PolicyDocument": {"Statement": statements}}],
        }}}})
    }

    fn diff(old: &Value, new: &Value) -> Vec<SecurityChange> {
        changes(old, &BTreeMap::new(), new, &BTreeMap::new())
    }

    #[test]
    fn a_new_stack_adds_every_grant_and_broadens() {
        let new = role(json!([{"Sid": "Read", "Effect": "Allow",
            "Action": ["dynamodb:GetItem"], "Resource": {"Fn::GetAtt": ["Table", "Arn"]}}]));
        let found = diff(&json!({}), &new);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found.iter().all(|c| c.kind == Kind::Added && c.broadens));
        let read = found.iter().find(|c| c.place.sid == "Read").unwrap();
        assert_eq!(read.place.policy, "Policies[Ledger]");
        assert_eq!(
            read.new.as_ref().unwrap().resources,
            BTreeSet::from(["${Table.Arn}".to_owned()])
        );
        let trust = found
            .iter()
            .find(|c| c.place.policy == "AssumeRolePolicyDocument")
            .unwrap();
        assert_eq!(
            trust.new.as_ref().unwrap().principals,
            BTreeSet::from(["Service:lambda.amazonaws.com".to_owned()])
        );
        assert!(any_broadening(&found));
        let table = render(&found);
        assert!(table.contains("dynamodb:GetItem"), "{table}");
        assert!(table.contains("asks for approval"), "{table}");
    }

    #[test]
    fn the_same_template_has_no_security_changes() {
        let t = role(
            json!([{"Sid": "Read", "Effect": "Allow", "Action": "s3:GetObject",
            "Resource": "*"}]),
        );
        assert!(diff(&t, &t).is_empty());
        assert_eq!(render(&[]), "");
    }

    #[test]
    fn more_actions_resources_or_a_wildcard_broaden_and_fewer_narrow() {
        let narrow = role(json!([{"Sid": "S", "Effect": "Allow",
            "Action": ["dynamodb:GetItem"], "Resource": "arn:table/a"}]));
        for wider in [
            json!([{"Sid": "S", "Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": "arn:table/a"}]),
            json!([{"Sid": "S", "Effect": "Allow", "Action": ["dynamodb:Get*"], "Resource": "arn:table/a"}]),
            json!([{"Sid": "S", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": "*"}]),
            json!([{"Sid": "S", "Effect": "Allow", "Action": ["dynamodb:GetItem"], "Resource": ["arn:table/a", "arn:table/b"]}]),
        ] {
            let found = diff(&narrow, &role(wider.clone()));
            assert_eq!(found.len(), 1, "{wider}");
            assert_eq!(found[0].kind, Kind::Changed);
            assert!(found[0].broadens, "{wider} broadens");
            // And back: narrower.
            let back = diff(&role(wider.clone()), &narrow);
            assert!(!back[0].broadens, "{wider} -> narrow narrows");
            assert!(render(&back).contains("narrowed"));
        }
        // Case does not matter for actions.
        let same = role(json!([{"Sid": "S", "Effect": "Allow",
            "Action": ["DynamoDB:getitem"], "Resource": "arn:table/a"}]));
        assert!(!diff(&narrow, &same)[0].broadens);
    }

    #[test]
    fn a_relaxed_condition_or_principal_broadens_a_resource_policy() {
        let queue = |principal: Value, condition: Value| {
            json!({"Resources": {"QueuePolicy": {"Type": "AWS::SQS::QueuePolicy", "Properties": {
                "PolicyDocument": {"Statement": [{"Sid": "Send", "Effect": "Allow",
                    "Principal": principal, "Action": "sqs:SendMessage", "Resource": "arn:q",
                    "Condition": condition}]}}}}})
        };
        let tight = queue(
            json!({"Service": "events.amazonaws.com"}),
            json!({"ArnEquals": {"aws:SourceArn": "arn:rule"}}),
        );
        let no_condition = queue(json!({"Service": "events.amazonaws.com"}), Value::Null);
        let anyone = queue(
            json!("*"),
            json!({"ArnEquals": {"aws:SourceArn": "arn:rule"}}),
        );
        assert!(diff(&tight, &no_condition)[0].broadens);
        assert!(diff(&tight, &anyone)[0].broadens);
        // Adding a condition narrows.
        assert!(!diff(&no_condition, &tight)[0].broadens);
    }

    #[test]
    fn removing_a_deny_broadens_and_removing_an_allow_does_not() {
        let topic = |statements: Value| {
            json!({"Resources": {"TopicPolicy": {"Type": "AWS::SNS::TopicPolicy", "Properties": {
                "PolicyDocument": {"Statement": statements}}}}})
        };
        let both = topic(json!([
            {"Sid": "Publish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": "*"},
            {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Principal": "*", "Action": "sns:*", "Resource": "*",
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ]));
        let allow_only = topic(json!([
            both["Resources"]["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
        ]));
        let deny_only = topic(json!([
            both["Resources"]["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]
        ]));
        let found = diff(&both, &allow_only);
        assert_eq!((found[0].kind, found[0].broadens), (Kind::Removed, true));
        let found = diff(&both, &deny_only);
        assert_eq!((found[0].kind, found[0].broadens), (Kind::Removed, false));
        // A narrower Deny (fewer actions) broadens.
        let mut narrower = both.clone();
        narrower["Resources"]["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][1]["Action"] =
            json!("sns:Publish");
        assert!(diff(&both, &narrower)[0].broadens);
    }

    #[test]
    fn lambda_permissions_keys_and_managed_policies_are_read() {
        let t = json!({"Resources": {
            "Invoke": {"Type": "AWS::Lambda::Permission", "Properties": {
                "Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com",
                "FunctionName": {"Ref": "Fn"}, "SourceArn": {"Fn::GetAtt": ["Rule", "Arn"]}}},
            "Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [
                {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
                 "Action": "kms:*", "Resource": "*"}]}}},
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"ManagedPolicyArns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}},
        }});
        let found = grants(&t, &BTreeMap::new());
        let invoke = &found[&Place {
            resource: "Invoke".into(),
            policy: "Permission".into(),
            sid: "#0".into(),
        }];
        assert_eq!(invoke.resources, BTreeSet::from(["${Fn}".to_owned()]));
        assert!(invoke.condition.as_deref().unwrap().contains("Rule"));
        let key = &found[&Place {
            resource: "Key".into(),
            policy: "KeyPolicy".into(),
            sid: "Root".into(),
        }];
        assert_eq!(
            key.principals,
            BTreeSet::from(["AWS:arn:aws:iam::${AWS::AccountId}:root".to_owned()])
        );
        assert!(found.keys().any(|p| p.policy == "ManagedPolicyArns"));
    }

    #[test]
    fn removing_a_deny_from_the_bus_policy_broadens() {
        let bus = |statements: Value| {
            json!({"Resources": {"EventBus": {"Type": "AWS::Events::EventBus", "Properties": {
                "Name": "bus", "Policy": {"Version": "2012-10-17", "Statement": statements}}}}})
        };
        let deny = json!({"Sid": "NobodyPutsCreditsGranted", "Effect": "Deny", "Principal": "*",
            "Action": "events:PutEvents", "Resource": "arn:bus",
            "Condition": {"StringEquals": {"events:detail-type": "credits.granted"}}});
        let other = json!({"Sid": "NobodyPutsCreditsAdjusted", "Effect": "Deny", "Principal": "*",
            "Action": "events:PutEvents", "Resource": "arn:bus",
            "Condition": {"StringEquals": {"events:detail-type": "credits.adjusted"}}});
        let before = bus(json!([deny, other]));
        let found = diff(&before, &bus(json!([other])));
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].place.resource, "EventBus");
        assert_eq!(found[0].place.policy, "Policy");
        assert_eq!(found[0].place.sid, "NobodyPutsCreditsGranted");
        assert_eq!((found[0].kind, found[0].broadens), (Kind::Removed, true));
        // Adding it back narrows: no approval.
        assert!(!any_broadening(&diff(&bus(json!([other])), &before)));
    }

    #[test]
    fn globs_match_as_iam_does() {
        assert!(glob("s3:*", "s3:GetObject"));
        assert!(glob("s3:Get*", "s3:GetObject"));
        assert!(glob("s3:?etObject", "s3:GetObject"));
        assert!(!glob("s3:Put*", "s3:GetObject"));
        assert!(glob("*", "anything"));
        assert!(!glob("arn:table/a", "arn:table/ab"));
    }
}
