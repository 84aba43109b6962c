//! Change sets: proposing one for a template (inline or by URL) and
//! parameters, reading it with its property values (its rows, as data),
//! executing it (`RetainExceptOnCreate`, or `DisableRollback` for
//! `--no-rollback`) and following the stack to its end, discarding it. No
//! decisions and no printing beyond the progress of [`super::progress`]:
//! the deploy engine decides.

use std::collections::BTreeMap;
use std::time::Duration;

use std::fmt;

use anyhow::{Context, bail};
use aws_sdk_cloudformation::client::Waiters;
use aws_sdk_cloudformation::types::{
    Capability, ChangeAction, ChangeSetType, Parameter, ResourceToImport, StackStatus,
};

use super::{progress, stack, status};
use crate::aws::{Clients, sdk_error};

/// How long a change set may take to be computed.
const CHANGE_SET_WAIT: Duration = Duration::from_secs(10 * 60);

/// How the template reaches CloudFormation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// Inline (`TemplateBody`).
    Body(String),
    /// From a bucket (`TemplateURL`), for templates over the inline limit.
    Url(String),
}

/// What CloudFormation will do to a resource.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// Created.
    Add,
    /// Updated in place or replaced (see [`Replacement`]).
    Modify,
    /// Deleted (or, with `DeletionPolicy: Retain`, left behind unmanaged).
    Remove,
    /// Anything else CloudFormation reports (`Import`, `Dynamic`, …).
    Other(String),
}

impl Action {
    /// From CloudFormation's `ResourceChange.Action`.
    pub fn of(action: &ChangeAction) -> Action {
        match action {
            ChangeAction::Add => Action::Add,
            ChangeAction::Modify => Action::Modify,
            ChangeAction::Remove => Action::Remove,
            other => Action::Other(other.as_str().to_owned()),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Add => f.write_str("Add"),
            Action::Modify => f.write_str("Modify"),
            Action::Remove => f.write_str("Remove"),
            Action::Other(other) => f.write_str(other),
        }
    }
}

/// Whether a modified resource is replaced (a new physical resource: for a
/// table or a queue, a new, empty one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// Replaced.
    True,
    /// Replaced depending on values known only during the update.
    Conditional,
    /// Updated in place.
    False,
}

impl Replacement {
    /// From CloudFormation's `ResourceChange.Replacement`.
    pub fn of(replacement: &aws_sdk_cloudformation::types::Replacement) -> Option<Replacement> {
        use aws_sdk_cloudformation::types::Replacement as Sdk;
        match replacement {
            Sdk::True => Some(Replacement::True),
            Sdk::Conditional => Some(Replacement::Conditional),
            Sdk::False => Some(Replacement::False),
            _ => None,
        }
    }
}

impl fmt::Display for Replacement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Replacement::True => "True",
            Replacement::Conditional => "Conditional",
            Replacement::False => "False",
        })
    }
}

/// One row of a change set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceChange {
    /// What happens.
    pub action: Action,
    /// The logical id in the template.
    pub logical_id: String,
    /// `AWS::DynamoDB::Table`, …
    pub resource_type: String,
    /// For `Modify`: whether it is replaced. `None`: CloudFormation did not
    /// say (an emulator: moto reports no replacement details).
    pub replacement: Option<Replacement>,
    /// Why we know it is replaced, when we found out ourselves
    /// (`deploy::replacement::replacements`).
    pub evidence: Option<String>,
}

/// One detail of a change set (`ResourceChangeDetail.Target`), as the SDK
/// gives it: attribute (`Properties`, `Tags`, …), name, path
/// (`/Properties/Environment/Variables/X`), before and after values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Detail {
    pub attribute: Option<String>,
    pub name: Option<String>,
    pub path: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A change set, read (the default: an empty one).
#[derive(Clone, Debug, Default)]
pub struct ChangeSet {
    /// Its id (an ARN).
    pub id: String,
    /// One row per resource.
    pub rows: Vec<ResourceChange>,
    /// What the change set says of each modified resource's properties, by
    /// logical id (empty from an emulator).
    pub details: BTreeMap<String, Vec<Detail>>,
}

/// What a change set does to the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Creates it (a new stack).
    Create,
    /// Updates it.
    Update,
    /// Imports existing resources into it (a new stack, when it does not
    /// exist): every resource of the template is one of [`ToImport`].
    Import,
}

impl Kind {
    /// Whether the change set creates the stack (a `REVIEW_IN_PROGRESS`
    /// stack stands until it is executed, and goes if it is discarded).
    pub fn new_stack(self) -> bool {
        self != Kind::Update
    }

    fn sdk(self) -> ChangeSetType {
        match self {
            Kind::Create => ChangeSetType::Create,
            Kind::Update => ChangeSetType::Update,
            Kind::Import => ChangeSetType::Import,
        }
    }

    /// The status a successful execution ends in.
    fn complete(self) -> StackStatus {
        match self {
            Kind::Create => StackStatus::CreateComplete,
            Kind::Update => StackStatus::UpdateComplete,
            Kind::Import => StackStatus::ImportComplete,
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Update => "update",
            Kind::Import => "import",
        }
    }
}

/// An existing resource an `IMPORT` change set brings into the stack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToImport {
    /// Its logical id in the template.
    pub logical_id: String,
    /// Its type.
    pub resource_type: String,
    /// Its primary identifier: property → value (`TableName` → the name).
    pub identifier: BTreeMap<String, String>,
}

/// A change set, or nothing to do.
#[derive(Clone, Debug)]
pub enum Proposal {
    NoChanges,
    Changes(ChangeSet),
}

/// CloudFormation's ways of saying "nothing to do": a failed change set
/// (AWS), or a refused request (moto, `UpdateStack`).
fn means_no_changes(message: &str) -> bool {
    message.contains("didn't contain changes") || message.contains("No updates are to be performed")
}

/// Creates a change set of `kind` for the template and parameters (and,
/// for an import, the resources to import) with `description`, waits until
/// it is computed, and reads it. A change set without changes is deleted and reported as
/// [`Proposal::NoChanges`].
///
/// # Errors
/// CloudFormation refused the template, or the change set failed.
pub async fn propose(
    clients: &Clients,
    stack: &str,
    template: &TemplateSource,
    parameters: &BTreeMap<String, String>,
    kind: Kind,
    imports: &[ToImport],
    description: &str,
) -> anyhow::Result<Proposal> {
    let cfn = &clients.cfn;
    // Unique even for two deploys in the same millisecond.
    let mut nonce = [0u8; 4];
    getrandom::fill(&mut nonce).context("read the system's randomness")?;
    let name = format!(
        "xtask-{}-{}",
        crate::base::when::now_ms(),
        hex::encode(nonce)
    );
    let mut request = cfn
        .create_change_set()
        .stack_name(stack)
        .change_set_name(&name)
        .change_set_type(kind.sdk())
        .set_resources_to_import((kind == Kind::Import).then(|| {
            imports
                .iter()
                .map(|r| {
                    ResourceToImport::builder()
                        .resource_type(&r.resource_type)
                        .logical_resource_id(&r.logical_id)
                        .set_resource_identifier(Some(r.identifier.clone().into_iter().collect()))
                        .build()
                })
                .collect()
        }))
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| {
                    Parameter::builder()
                        .parameter_key(k)
                        .parameter_value(v)
                        .build()
                })
                .collect(),
        ))
        .capabilities(Capability::CapabilityIam)
        .description(description);
    request = match template {
        TemplateSource::Body(body) => request.template_body(body),
        TemplateSource::Url(url) => request.template_url(url),
    };
    let id = match request.send().await {
        Ok(out) => out.id().unwrap_or(&name).to_owned(),
        Err(e) => {
            if means_no_changes(&crate::aws::chain(&e)) {
                return Ok(Proposal::NoChanges);
            }
            bail!("create a change set for {stack}: {}", sdk_error(&e));
        }
    };
    let waited = cfn
        .wait_until_change_set_create_complete()
        .stack_name(stack)
        .change_set_name(&id)
        .wait(CHANGE_SET_WAIT)
        .await;
    if waited.is_err() {
        return not_created(clients, stack, &id, kind.new_stack()).await;
    }
    Ok(Proposal::Changes(read(clients, stack, &id).await?))
}

/// A change set that did not reach `CREATE_COMPLETE`: dropped; nothing to
/// do when CloudFormation says so, else the error with its status and
/// reason.
async fn not_created(
    clients: &Clients,
    stack: &str,
    id: &str,
    create: bool,
) -> anyhow::Result<Proposal> {
    let out = described(clients, stack, id).await?;
    let reason = out
        .status_reason()
        .unwrap_or("(no reason given)")
        .to_owned();
    let status = out
        .status()
        .map(|s| s.as_str().to_owned())
        .unwrap_or_default();
    discard(clients, stack, id, create).await;
    if means_no_changes(&reason) {
        return Ok(Proposal::NoChanges);
    }
    bail!("the change set for {stack} is {status}: {reason}");
}

/// Reads every page of a change set, with property values.
///
/// # Errors
/// CloudFormation refused (no such change set, for one).
pub async fn read(clients: &Clients, stack: &str, id: &str) -> anyhow::Result<ChangeSet> {
    let mut pages = clients
        .cfn
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .include_property_values(true)
        .into_paginator()
        .send();
    let mut set = ChangeSet {
        id: id.to_owned(),
        rows: Vec::new(),
        details: BTreeMap::new(),
    };
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| anyhow::anyhow!("read the change set: {}", sdk_error(&e)))?;
        for change in page.changes() {
            let Some(rc) = change.resource_change() else {
                continue;
            };
            let logical_id = rc.logical_resource_id().unwrap_or("?").to_owned();
            let details: Vec<Detail> = rc
                .details()
                .iter()
                .filter_map(|d| d.target())
                .map(|t| Detail {
                    attribute: t.attribute().map(|a| a.as_str().to_owned()),
                    name: t.name().map(str::to_owned),
                    path: t.path().map(str::to_owned),
                    before: t.before_value().map(str::to_owned),
                    after: t.after_value().map(str::to_owned),
                })
                .collect();
            if !details.is_empty() {
                set.details.insert(logical_id.clone(), details);
            }
            set.rows.push(ResourceChange {
                action: rc.action().map_or(Action::Other("?".into()), Action::of),
                logical_id,
                resource_type: rc.resource_type().unwrap_or("?").to_owned(),
                replacement: rc.replacement().and_then(Replacement::of),
                evidence: None,
            });
        }
    }
    Ok(set)
}

/// A change set as `deploy --execute` checks it before executing it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Described {
    /// The stack it belongs to (an ARN).
    pub stack_id: String,
    /// `CREATE_COMPLETE` when it can be executed.
    pub status: String,
    /// `AVAILABLE` when it can be executed.
    pub execution_status: String,
    /// What its creator wrote in it.
    pub description: String,
    /// The parameters it deploys.
    pub parameters: BTreeMap<String, String>,
    /// The template it deploys.
    pub template: serde_json::Value,
}

/// A change set's first page, as CloudFormation describes it.
async fn described(
    clients: &Clients,
    stack: &str,
    id: &str,
) -> anyhow::Result<aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput>
{
    clients
        .cfn
        .describe_change_set()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("read the change set {id} of {stack}: {}", sdk_error(&e)))
}

/// A change set's state, parameters and template (`GetTemplate` with its
/// name).
///
/// # Errors
/// No such change set for the stack, or CloudFormation refused.
pub async fn describe(clients: &Clients, stack: &str, id: &str) -> anyhow::Result<Described> {
    let out = described(clients, stack, id).await?;
    let template = clients
        .cfn
        .get_template()
        .stack_name(stack)
        .change_set_name(id)
        .send()
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "read the template of the change set {id}: {}",
                sdk_error(&e)
            )
        })?;
    Ok(Described {
        stack_id: out.stack_id().unwrap_or_default().to_owned(),
        status: out
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        execution_status: out
            .execution_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        description: out.description().unwrap_or_default().to_owned(),
        parameters: stack::parameter_map(out.parameters()),
        template: serde_json::from_str(template.template_body().unwrap_or("{}"))
            .context("the change set's template is not JSON")?,
    })
}

/// Drops a change set that will not be executed; a stack created just for
/// it (a `CREATE` change set) goes too. Best effort: what is left is
/// harmless (a change set expires; the next deploy recreates an empty
/// stack, see [`status::holds_nothing`]).
pub async fn discard(clients: &Clients, stack: &str, change_set_id: &str, created_stack: bool) {
    let _ = clients
        .cfn
        .delete_change_set()
        .stack_name(stack)
        .change_set_name(change_set_id)
        .send()
        .await;
    if created_stack {
        let _ = clients.cfn.delete_stack().stack_name(stack).send().await;
    }
}

/// How a change set is executed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Execution {
    /// What it does.
    pub kind: Kind,
    /// `--no-rollback`: a failure leaves the stack as it is, to debug in
    /// place. Otherwise a failure rolls back with `RetainExceptOnCreate`:
    /// what this operation created is deleted even when its policy retains
    /// it, so a failed first create leaves no table or queue behind to
    /// block the next create with its name.
    pub disable_rollback: bool,
    /// The number of resources, for the progress bar.
    pub resources: usize,
}

/// Executes the change set and follows the stack to its end.
///
/// # Errors
/// The execution was refused, or the stack did not end complete (each
/// failed resource is in the error).
pub async fn execute(
    clients: &Clients,
    stack: &str,
    change_set_id: &str,
    how: Execution,
) -> anyhow::Result<StackStatus> {
    let cfn = &clients.cfn;
    let after = progress::latest_event_id(cfn, stack).await?;
    let id = stack::describe_stack(cfn, stack)
        .await?
        .and_then(|s| s.stack_id().map(str::to_owned))
        .unwrap_or_else(|| stack.to_owned());
    let mut request = cfn
        .execute_change_set()
        .stack_name(stack)
        .change_set_name(change_set_id);
    request = if how.disable_rollback {
        request.disable_rollback(true)
    } else {
        request.retain_except_on_create(true)
    };
    if let Err(e) = request.send().await {
        let status = stack::status(cfn, &id).await.ok().flatten();
        bail!(
            "executing the change set for {stack} failed: {}; the stack is {}{}",
            sdk_error(&e),
            status.as_ref().map_or("gone", StackStatus::as_str),
            status.as_ref().map_or("", recovery_hint)
        );
    }
    let finished =
        progress::follow(cfn, &id, after.as_deref(), how.resources, how.kind.verb()).await?;
    if finished.status != how.kind.complete() {
        bail!(
            "deploying {stack} failed: the stack is {}{}{}",
            finished.status,
            recovery_hint(&finished.status),
            progress::failures(&finished.failures)
        );
    }
    Ok(finished.status)
}

fn recovery_hint(status: &StackStatus) -> &'static str {
    if status::holds_nothing(status) {
        " (it holds no resources: the next deploy deletes it and creates it again)"
    } else if status::kept_failure(status) {
        " (not rolled back, as asked: fix the cause and deploy again)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_cloudformation::operation::create_change_set::CreateChangeSetOutput;
    use aws_sdk_cloudformation::operation::describe_change_set::DescribeChangeSetOutput;
    use aws_sdk_cloudformation::types::{Change, ChangeSetStatus, ResourceChange as SdkChange};
    use aws_smithy_mocks::mock;

    use crate::aws::mocks;

    /// What AWS receives for an import (moto plays it too, but only our
    /// patch of it reads the request): the type, and each resource with its
    /// identifier; the rows come back as `Import`.
    #[tokio::test]
    async fn an_import_names_each_resource_by_its_identifier() {
        let create = mock!(aws_sdk_cloudformation::Client::create_change_set)
            .match_requests(|r| {
                let imports = r.resources_to_import();
                r.change_set_type() == Some(&ChangeSetType::Import)
                    && r.description() == Some("cargo xtask deploy")
                    && imports.len() == 1
                    && imports[0].resource_type() == Some("AWS::DynamoDB::Table")
                    && imports[0].logical_resource_id() == Some("LedgerTable")
                    && imports[0]
                        .resource_identifier()
                        .and_then(|i| i.get("TableName"))
                        .map(String::as_str)
                        == Some("ledger_prod")
            })
            .then_output(|| CreateChangeSetOutput::builder().id("arn:cs").build());
        let described = mock!(aws_sdk_cloudformation::Client::describe_change_set)
            .match_requests(|r| r.change_set_name() == Some("arn:cs"))
            .then_output(|| {
                DescribeChangeSetOutput::builder()
                    .status(ChangeSetStatus::CreateComplete)
                    .changes(
                        Change::builder()
                            .resource_change(
                                SdkChange::builder()
                                    .action(ChangeAction::Import)
                                    .logical_resource_id("LedgerTable")
                                    .resource_type("AWS::DynamoDB::Table")
                                    .build(),
                            )
                            .build(),
                    )
                    .build()
            });
        let mut clients = mocks::clients();
        clients.cfn = mocks::cfn(&[&create, &described]);
        let imports = [ToImport {
            logical_id: "LedgerTable".into(),
            resource_type: "AWS::DynamoDB::Table".into(),
            identifier: BTreeMap::from([("TableName".to_owned(), "ledger_prod".to_owned())]),
        }];
        let template = TemplateSource::Body("{}".into());
        let proposal = propose(
            &clients,
            "s",
            &template,
            &BTreeMap::new(),
            Kind::Import,
            &imports,
            "cargo xtask deploy",
        )
        .await
        .unwrap();
        let Proposal::Changes(set) = proposal else {
            panic!("an import proposes changes");
        };
        assert_eq!(set.id, "arn:cs");
        assert_eq!(set.rows[0].action, Action::Other("Import".into()));
        assert_eq!(create.num_calls(), 1);
    }
}
