//! DynamoDB expressions, built one way: every condition, update and key
//! condition the adapter sends comes from an [`Expr`], with a placeholder for
//! every name and value, and [`assert_aws_grammar`] checks what they produce
//! against the rules AWS enforces (the emulator is laxer: it accepts chained
//! arithmetic, and answers arithmetic in a condition with a 500).

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    Update,
};

use super::keys::Item;

/// A number attribute value.
pub fn num(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A string attribute value.
pub fn text(s: impl Into<String>) -> AttributeValue {
    AttributeValue::S(s.into())
}

/// An expression under construction: conditions (joined with `AND`), `SET`
/// and `REMOVE` actions, key conditions, and their placeholders.
#[derive(Debug, Clone, Default)]
pub struct Expr {
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
    condition: Vec<String>,
    set: Vec<String>,
    remove: Vec<String>,
    key: Vec<String>,
}

impl Expr {
    pub fn new() -> Self {
        Expr::default()
    }

    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_owned());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn compare(mut self, attr: &str, op: &str, value: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.condition.push(format!("{n} {op} {v}"));
        self
    }

    /// Condition: `attribute_not_exists(attr)`.
    pub fn absent(mut self, attr: &str) -> Self {
        let n = self.name(attr);
        self.condition.push(format!("attribute_not_exists({n})"));
        self
    }

    /// Condition: `attr = value`.
    pub fn eq(self, attr: &str, value: AttributeValue) -> Self {
        self.compare(attr, "=", value)
    }

    /// Condition: `attr <= value`.
    pub fn at_most(self, attr: &str, value: AttributeValue) -> Self {
        self.compare(attr, "<=", value)
    }

    /// Condition: the attribute does not exist, or `attr op value` (`op`
    /// is `<` or `<=`: a marker that only moves forward; `=`: an attribute
    /// absent while it holds its default).
    pub fn absent_or(mut self, attr: &str, op: &str, value: AttributeValue) -> Self {
        debug_assert!(["<", "<=", "="].contains(&op));
        let (n, v) = (self.name(attr), self.value(value));
        self.condition
            .push(format!("(attribute_not_exists({n}) OR {n} {op} {v})"));
        self
    }

    /// Update: `SET attr = value`.
    pub fn set(mut self, attr: &str, value: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.set.push(format!("{n} = {v}"));
        self
    }

    /// Update: `REMOVE attr`.
    pub fn remove(mut self, attr: &str) -> Self {
        let n = self.name(attr);
        self.remove.push(n);
        self
    }

    /// Key condition: `attr = value`.
    pub fn key_eq(mut self, attr: &str, value: AttributeValue) -> Self {
        let (n, v) = (self.name(attr), self.value(value));
        self.key.push(format!("{n} = {v}"));
        self
    }

    /// Key condition on the sort key: `attr op value` (`<`, `<=`, `>`, `>=`).
    pub fn key_cmp(mut self, attr: &str, op: &str, value: AttributeValue) -> Self {
        debug_assert!(["<", "<=", ">", ">="].contains(&op));
        let (n, v) = (self.name(attr), self.value(value));
        self.key.push(format!("{n} {op} {v}"));
        self
    }

    /// Key condition on the sort key: `attr BETWEEN low AND high`.
    pub fn key_between(mut self, attr: &str, low: AttributeValue, high: AttributeValue) -> Self {
        let n = self.name(attr);
        let (l, h) = (self.value(low), self.value(high));
        self.key.push(format!("{n} BETWEEN {l} AND {h}"));
        self
    }

    /// The condition expression, if any.
    pub fn condition_expression(&self) -> Option<String> {
        (!self.condition.is_empty()).then(|| self.condition.join(" AND "))
    }

    /// The update expression, if any.
    pub fn update_expression(&self) -> Option<String> {
        let mut clauses = Vec::new();
        if !self.set.is_empty() {
            clauses.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.remove.is_empty() {
            clauses.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        (!clauses.is_empty()).then(|| clauses.join(" "))
    }

    /// The key condition expression, if any.
    pub fn key_condition_expression(&self) -> Option<String> {
        (!self.key.is_empty()).then(|| self.key.join(" AND "))
    }

    /// The name placeholders (`None` when there are none: DynamoDB refuses
    /// an empty map). Every request that sends an expression takes its
    /// placeholders from here, so the grammar is checked here too (debug
    /// builds): queries and single-item writes as well as transactions.
    pub fn names(&self) -> Option<HashMap<String, String>> {
        self.assert_grammar();
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    /// The value placeholders (`None` when there are none).
    pub fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }

    /// A transaction's `Put` of `item`, guarded by this condition; a failed
    /// guard returns the old item.
    pub fn put(self, table: &str, item: Item) -> TransactWriteItem {
        self.assert_grammar();
        let put = Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("a put with a table and an item is complete");
        TransactWriteItem::builder().put(put).build()
    }

    /// A transaction's `Update` of the item at `key`; a failed guard returns
    /// the old item.
    pub fn update(self, table: &str, key: Item) -> TransactWriteItem {
        TransactWriteItem::builder()
            .update(self.update_item(table, key))
            .build()
    }

    /// An `Update` of the item at `key` (also sent alone, as `UpdateItem`).
    pub fn update_item(self, table: &str, key: Item) -> Update {
        self.assert_grammar();
        Update::builder()
            .table_name(table)
            .set_key(Some(key))
            .update_expression(self.update_expression().unwrap_or_default())
            .set_condition_expression(self.condition_expression())
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("an update with a table, a key and an expression is complete")
    }

    /// A transaction's `ConditionCheck` of the item at `key`; a failed check
    /// returns the item.
    pub fn check(self, table: &str, key: Item) -> TransactWriteItem {
        self.assert_grammar();
        let check = ConditionCheck::builder()
            .table_name(table)
            .set_key(Some(key))
            .condition_expression(self.condition_expression().unwrap_or_default())
            .set_expression_attribute_names(self.names())
            .set_expression_attribute_values(self.values())
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .expect("a condition check with a table, a key and a condition is complete");
        TransactWriteItem::builder().condition_check(check).build()
    }

    /// Checks this expression against AWS's grammar in debug builds (the
    /// tests build every request the adapter sends).
    fn assert_grammar(&self) {
        if cfg!(debug_assertions) {
            assert_aws_grammar(
                self.update_expression().as_deref(),
                self.condition_expression()
                    .as_deref()
                    .or(self.key_condition_expression().as_deref()),
                &self.names,
                &self.values,
            );
        }
    }
}

/// Panics unless an expression follows DynamoDB's grammar as AWS enforces
/// it: every name and value through a placeholder, every placeholder used
/// and defined, at most one `+`/`-` per SET action, no arithmetic in a
/// condition, no path updated twice.
pub fn assert_aws_grammar(
    update: Option<&str>,
    condition: Option<&str>,
    names: &HashMap<String, String>,
    values: &HashMap<String, AttributeValue>,
) {
    let text = format!("{} {}", update.unwrap_or(""), condition.unwrap_or(""));
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '#' || c == ':'))
        .filter(|t| !t.is_empty())
        .collect();
    const KEYWORDS: [&str; 8] = [
        "SET",
        "REMOVE",
        "AND",
        "OR",
        "BETWEEN",
        "attribute_not_exists",
        "attribute_exists",
        "begins_with",
    ];
    for t in &tokens {
        if t.starts_with('#') {
            assert!(
                names.contains_key(*t),
                "name {t} is not defined in {text:?}"
            );
        } else if t.starts_with(':') {
            assert!(
                values.contains_key(*t),
                "value {t} is not defined in {text:?}"
            );
        } else {
            assert!(
                KEYWORDS.contains(t),
                "bare word {t:?} (attribute names go through placeholders) in {text:?}"
            );
        }
    }
    for placeholder in names.keys().chain(values.keys()) {
        assert!(
            tokens.contains(&placeholder.as_str()),
            "placeholder {placeholder} defined but unused in {text:?}"
        );
    }
    if let Some(cond) = condition {
        assert!(
            !cond.contains('+') && !cond.contains(" - "),
            "arithmetic in a condition: {cond:?}"
        );
    }
    if let Some(update) = update {
        let mut paths = Vec::new();
        for clause in update.split(" REMOVE ") {
            let clause = clause
                .trim_start_matches("SET ")
                .trim_start_matches("REMOVE ");
            for action in clause.split(", ") {
                let (path, value) = action.split_once(" = ").unwrap_or((action, ""));
                let ops = value.matches(" + ").count() + value.matches(" - ").count();
                assert!(ops <= 1, "chained arithmetic in {action:?}");
                assert!(
                    !paths.contains(&path),
                    "path {path} updated twice in {update:?}"
                );
                paths.push(path);
            }
        }
    }
}

/// [`assert_aws_grammar`] on a built transaction item.
pub fn assert_write_grammar(item: &TransactWriteItem) {
    let (update, condition, names, values) = if let Some(p) = item.put() {
        (
            None,
            p.condition_expression(),
            p.expression_attribute_names(),
            p.expression_attribute_values(),
        )
    } else if let Some(u) = item.update() {
        (
            Some(u.update_expression()),
            u.condition_expression(),
            u.expression_attribute_names(),
            u.expression_attribute_values(),
        )
    } else if let Some(c) = item.condition_check() {
        (
            None,
            Some(c.condition_expression()),
            c.expression_attribute_names(),
            c.expression_attribute_values(),
        )
    } else {
        panic!("unexpected write {item:?}")
    };
    assert_aws_grammar(
        update,
        condition,
        &names.cloned().unwrap_or_default(),
        &values.cloned().unwrap_or_default(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_unique_and_used() {
        let e = Expr::new()
            .eq("status", text("HELD"))
            .set("status", text("DEBITED"))
            .remove("open_kind");
        assert_eq!(e.condition_expression().as_deref(), Some("#status = :v0"));
        assert_eq!(
            e.update_expression().as_deref(),
            Some("SET #status = :v1 REMOVE #open_kind")
        );
        e.assert_grammar();
        let q = Expr::new().key_eq("pk", text("ACCOUNT#a")).key_between(
            "sk",
            text("ENTRY#1"),
            text("ENTRY#9"),
        );
        assert_eq!(
            q.key_condition_expression().as_deref(),
            Some("#pk = :v0 AND #sk BETWEEN :v1 AND :v2")
        );
        q.assert_grammar();
    }

    #[test]
    #[should_panic(expected = "chained arithmetic")]
    fn chained_arithmetic_is_refused() {
        let values = HashMap::from([(":a".to_string(), num(1)), (":b".to_string(), num(2))]);
        let names = HashMap::from([("#x".to_string(), "x".to_string())]);
        assert_aws_grammar(Some("SET #x = #x + :a - :b"), None, &names, &values);
    }

    #[test]
    #[should_panic(expected = "arithmetic in a condition")]
    fn arithmetic_in_a_condition_is_refused() {
        let values = HashMap::from([(":a".to_string(), num(1))]);
        let names = HashMap::from([("#x".to_string(), "x".to_string())]);
        assert_aws_grammar(None, Some("#x + :a = #x"), &names, &values);
    }

    /// An expression that updates one path twice is refused as it is
    /// built into a request (debug builds): the grammar is checked there.
    #[test]
    #[should_panic(expected = "updated twice")]
    fn a_request_built_from_a_bad_expression_is_refused() {
        let _ = Expr::new()
            .set("x", num(1))
            .set("x", num(2))
            .update_item("t", Item::new());
    }

    /// A transaction item built by hand with a bare attribute name is
    /// refused by the check every test applies to what the adapter sends.
    #[test]
    #[should_panic(expected = "bare word")]
    fn a_transaction_item_with_a_bare_name_is_refused() {
        let check = ConditionCheck::builder()
            .table_name("t")
            .set_key(Some(Item::new()))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .unwrap();
        assert_write_grammar(&TransactWriteItem::builder().condition_check(check).build());
    }
}
