//! The stack's outputs, typed. Operator commands read deployed names from
//! the stack's outputs ([`StackOutputs::from_outputs`]) instead of
//! rebuilding them. One list (the `stack_outputs!` macro below) declares each output once:
//! its key, the [`StackOutputs`] field and the template value, so the struct
//! and the template's `Outputs` cannot drift.

use std::collections::BTreeMap;
use std::fmt;

use crate::model::Expr;
use crate::names;
use crate::stack::ids;
use crate::stage::StageConfig;

/// Declares the outputs: the key constants ([`keys`]), [`StackOutputs`]
/// and the template values ([`definitions`]).
macro_rules! stack_outputs {
    (
        required {
            $( $(#[$doc:meta])* $field:ident: $key_const:ident = $key:literal, $description:literal, $value:expr; )*
        }
        optional {
            $( $(#[$odoc:meta])* $ofield:ident: $okey_const:ident = $okey:literal, $odescription:literal, $ovalue:expr; )*
        }
    ) => {
        /// The output keys (the names in the template's `Outputs`).
        pub mod keys {
            $( $(#[$doc])* pub const $key_const: &str = $key; )*
            $( $(#[$odoc])* pub const $okey_const: &str = $okey; )*
        }

        /// Every output of a deployed stack, by meaning.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct StackOutputs {
            $( $(#[$doc])* pub $field: String, )*
            $( $(#[$odoc])* pub $ofield: Option<String>, )*
        }

        impl StackOutputs {
            /// The keys every stage's stack has.
            pub const REQUIRED_KEYS: &'static [&'static str] = &[$($key),*];
            /// The keys only some stages (or only newer stacks) have (see each field).
            pub const OPTIONAL_KEYS: &'static [&'static str] = &[$($okey),*];

            /// The typed outputs of a stack's outputs (key → value, as
            /// `DescribeStacks` gives them). Unknown keys are ignored (a newer
            /// stack may have more).
            ///
            /// # Errors
            /// Every required key that is missing.
            pub fn from_outputs(outputs: &BTreeMap<String, String>) -> Result<Self, MissingOutputs> {
                let mut missing = Vec::new();
                let mut required = |key: &str| {
                    outputs.get(key).cloned().unwrap_or_else(|| {
                        missing.push(key.to_owned());
                        String::new()
                    })
                };
                let parsed = Self {
                    $( $field: required($key), )*
                    $( $ofield: outputs.get($okey).cloned(), )*
                };
                if missing.is_empty() {
                    Ok(parsed)
                } else {
                    Err(MissingOutputs(missing))
                }
            }

            /// Back to key → value (the inverse of [`Self::from_outputs`]).
            pub fn to_outputs(&self) -> BTreeMap<String, String> {
                let mut outputs = BTreeMap::new();
                $( outputs.insert($key.to_owned(), self.$field.clone()); )*
                $( if let Some(value) = &self.$ofield {
                    outputs.insert($okey.to_owned(), value.clone());
                } )*
                outputs
            }
        }

        /// The outputs of `cfg`'s template: (key, description, value).
        pub(crate) fn definitions(cfg: &StageConfig) -> Vec<(&'static str, &'static str, Expr)> {
            let mut definitions = Vec::new();
            $(
                let value: fn(&StageConfig) -> Expr = $value;
                definitions.push(($key, $description, value(cfg)));
            )*
            $(
                let value: fn(&StageConfig) -> Option<Expr> = $ovalue;
                if let Some(value) = value(cfg) {
                    definitions.push(($okey, $odescription, value));
                }
            )*
            definitions
        }
    };
}

stack_outputs! {
    required {
        /// The ledger table's name.
        ledger_table_name: LEDGER_TABLE_NAME = "LedgerTableName", "The ledger table.",
            |_| Expr::reference(ids::LEDGER_TABLE);
        /// The event bus's name.
        bus_name: BUS_NAME = "BusName", "The stage's event bus.",
            |_| Expr::get_att(ids::EVENT_BUS, "Name");
        /// The event bus's ARN.
        bus_arn: BUS_ARN = "BusArn", "The stage's event bus ARN.",
            |_| Expr::get_att(ids::EVENT_BUS, "Arn");
        /// The rule sending the ledger events to the handler: its name.
        ledger_events_rule_name: LEDGER_EVENTS_RULE_NAME = "LedgerEventsRuleName",
            "The rule sending the ledger events to the handler.",
            |_| names::LEDGER_EVENTS_RULE.expr();
        /// The ledger-events rule's ARN (replays target it).
        ledger_events_rule_arn: LEDGER_EVENTS_RULE_ARN = "LedgerEventsRuleArn",
            "The ledger-events rule ARN (the filter of archive replays).",
            |_| Expr::get_att(ids::LEDGER_EVENTS_RULE, "Arn");
        /// The rule catching every other event on the bus: its name.
        unrouted_events_rule_name: UNROUTED_EVENTS_RULE_NAME = "UnroutedEventsRuleName",
            "The rule sending every other event on the bus to the unrouted queue.",
            |_| names::UNROUTED_EVENTS_RULE.expr();
        /// The archive of the ledger events: its name.
        archive_name: ARCHIVE_NAME = "ArchiveName", "The archive of the ledger events.",
            |_| names::ARCHIVE.expr();
        /// The archive's ARN.
        archive_arn: ARCHIVE_ARN = "ArchiveArn", "The archive ARN.",
            |_| Expr::get_att(ids::EVENT_ARCHIVE, "Arn");
        /// The dead-letter queue's URL.
        dead_letter_queue_url: DEAD_LETTER_QUEUE_URL = "DeadLetterQueueUrl",
            "The dead-letter queue URL.",
            |_| Expr::reference(ids::DEAD_LETTER_QUEUE);
        /// The dead-letter queue's ARN.
        dead_letter_queue_arn: DEAD_LETTER_QUEUE_ARN = "DeadLetterQueueArn",
            "The dead-letter queue ARN.",
            |_| Expr::get_att(ids::DEAD_LETTER_QUEUE, "Arn");
        /// The dead-letter queue's name.
        dead_letter_queue_name: DEAD_LETTER_QUEUE_NAME = "DeadLetterQueueName",
            "The dead-letter queue name.",
            |_| Expr::get_att(ids::DEAD_LETTER_QUEUE, "QueueName");
        /// The unrouted queue's URL.
        unrouted_queue_url: UNROUTED_QUEUE_URL = "UnroutedQueueUrl",
            "The queue of unrouted events: URL.",
            |_| Expr::reference(ids::UNROUTED_QUEUE);
        /// The unrouted queue's ARN.
        unrouted_queue_arn: UNROUTED_QUEUE_ARN = "UnroutedQueueArn",
            "The queue of unrouted events: ARN.",
            |_| Expr::get_att(ids::UNROUTED_QUEUE, "Arn");
        /// The unrouted queue's name.
        unrouted_queue_name: UNROUTED_QUEUE_NAME = "UnroutedQueueName",
            "The queue of unrouted events: name.",
            |_| Expr::get_att(ids::UNROUTED_QUEUE, "QueueName");
        /// The ops-alerts topic's ARN.
        ops_alerts_topic_arn: OPS_ALERTS_TOPIC_ARN = "OpsAlertsTopicArn",
            "The ops-alerts topic ARN.",
            |_| Expr::reference(ids::OPS_ALERTS_TOPIC);
        /// The handler function's name.
        handler_function_name: HANDLER_FUNCTION_NAME = "HandlerFunctionName",
            "The handler function.",
            |_| Expr::reference(ids::HANDLER_FUNCTION);
        /// The sweep function's name.
        sweep_function_name: SWEEP_FUNCTION_NAME = "SweepFunctionName",
            "The sweep function.",
            |_| Expr::reference(ids::SWEEP_FUNCTION);
        /// The handler's log group.
        handler_log_group_name: HANDLER_LOG_GROUP_NAME = "HandlerLogGroupName",
            "The handler's log group.",
            |_| Expr::reference(ids::HANDLER_LOG_GROUP);
        /// The sweep's log group.
        sweep_log_group_name: SWEEP_LOG_GROUP_NAME = "SweepLogGroupName",
            "The sweep's log group.",
            |_| Expr::reference(ids::SWEEP_LOG_GROUP);
        /// The handler errors alarm (`cc-agent-reconciler-errors-<stage>`).
        errors_alarm_name: ERRORS_ALARM_NAME = "ErrorsAlarmName",
            "The handler errors alarm.",
            |_| names::ERRORS_ALARM.expr();
        /// The stage's alarms' names, comma-joined, in the order of [`crate::names::ALARMS`].
        alarm_names: ALARM_NAMES = "AlarmNames",
            "Every alarm of the stage, comma-separated.",
            names::alarm_names_expr;
        /// The dashboard's name.
        dashboard_name: DASHBOARD_NAME = "DashboardName", "The stage's dashboard.",
            |_| names::DASHBOARD.expr();
    }
    optional {
        /// The customer managed key's ARN: only where the stage has one
        /// ([`crate::StageConfig::customer_managed_key`]; staging and prod), `None`
        /// on dev.
        kms_key_arn: KMS_KEY_ARN = "KmsKeyArn",
            "The stage's customer managed KMS key ARN.",
            |cfg| cfg.customer_managed_key.then(|| Expr::get_att(ids::STAGE_KEY, "Arn"));
        /// The replay rules' names, comma-joined in `DETAIL_TYPES` order:
        /// every stage has them, a stack deployed before them does not (the
        /// commands that do not need them keep working against it).
        replay_rule_names: REPLAY_RULE_NAMES = "ReplayRuleNames",
            "The rules replays of one detail-type go to (cargo xtask replay --detail-type).",
            |_| Some(names::replay_rule_names_expr());
    }
}

impl StackOutputs {
    /// The alarm names of [`Self::alarm_names`], split.
    pub fn alarm_name_list(&self) -> Vec<&str> {
        self.alarm_names
            .split(',')
            .filter(|name| !name.is_empty())
            .collect()
    }
}

/// Required outputs a stack does not have (e.g. deployed before they existed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingOutputs(pub Vec<String>);

impl fmt::Display for MissingOutputs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the stack lacks the outputs {} (deployed by an older version? deploy again)",
            self.0.join(", ")
        )
    }
}

impl std::error::Error for MissingOutputs {}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_key() -> BTreeMap<String, String> {
        StackOutputs::REQUIRED_KEYS
            .iter()
            .chain(StackOutputs::OPTIONAL_KEYS)
            .map(|key| ((*key).to_owned(), format!("value of {key}")))
            .collect()
    }

    #[test]
    fn every_key_fills_its_field_and_back() {
        let outputs = every_key();
        let parsed = StackOutputs::from_outputs(&outputs).unwrap();
        assert_eq!(parsed.ledger_table_name, "value of LedgerTableName");
        assert_eq!(parsed.kms_key_arn.as_deref(), Some("value of KmsKeyArn"));
        assert_eq!(parsed.to_outputs(), outputs);
    }

    #[test]
    fn missing_keys_are_all_named() {
        let mut outputs = every_key();
        outputs.remove(keys::DEAD_LETTER_QUEUE_URL);
        outputs.remove(keys::ALARM_NAMES);
        outputs.remove(keys::KMS_KEY_ARN);
        let error = StackOutputs::from_outputs(&outputs).unwrap_err();
        assert_eq!(
            error,
            MissingOutputs(vec!["DeadLetterQueueUrl".into(), "AlarmNames".into()])
        );
        assert!(error.to_string().contains("DeadLetterQueueUrl, AlarmNames"));
    }

    #[test]
    fn alarm_names_split() {
        let mut outputs = every_key();
        outputs.insert(keys::ALARM_NAMES.into(), "a,b".into());
        let parsed = StackOutputs::from_outputs(&outputs).unwrap();
        assert_eq!(parsed.alarm_name_list(), ["a", "b"]);
    }
}
