//! DynamoDB's item-size rules, and the capacity units a request consumes:
//! what the cost figures (`cargo xtask bench`, docs/cost.md) are computed
//! from, from exactly what a request writes and reads.
//!
//! Sizes follow the published rules: an attribute is its name's UTF-8 bytes
//! plus its value's size; a string its UTF-8 bytes; a number one byte per two
//! significant digits plus one; a boolean or null one byte; a list or map
//! three bytes plus one byte per element plus its elements (a map's element
//! counts its name). A standard write costs one write unit per started KB,
//! a transactional one two; a strongly consistent read one read unit per
//! started 4 KB, a transactional one two.

use aws_sdk_dynamodb::types::AttributeValue;

use super::keys::Item;

/// An item's size in bytes, as DynamoDB counts it.
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn number_size(n: &str) -> usize {
    let digits: String = n
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .trim_start_matches('0')
        .trim_end_matches('0')
        .to_owned();
    digits.len().max(1).div_ceil(2) + 1
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

/// Write units of writing an item of `bytes` (at least one).
pub fn write_units(bytes: usize, transactional: bool) -> u32 {
    let units = bytes.div_ceil(1024).max(1) as u32;
    if transactional { 2 * units } else { units }
}

/// Read units of a strongly consistent read of an item of `bytes` (at
/// least one, also for an item that does not exist).
pub fn read_units(bytes: usize, transactional: bool) -> u32 {
    let units = bytes.div_ceil(4096).max(1) as u32;
    if transactional { 2 * units } else { units }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn sizes_follow_the_published_rules() {
        let item: Item = HashMap::from([
            ("pk".into(), AttributeValue::S("ACCOUNT#a".into())),
            ("n".into(), AttributeValue::N("12345".into())),
            (
                "l".into(),
                AttributeValue::L(vec![AttributeValue::N("7".into())]),
            ),
        ]);
        // pk: 2 + 9; n: 1 + (3 + 1); l: 1 + 3 + (1 + 2)
        assert_eq!(item_size(&item), 11 + 5 + 7);
        assert_eq!(number_size("100"), 2, "trailing zeroes do not count");
        assert_eq!(write_units(1024, false), 1);
        assert_eq!(write_units(1025, true), 4);
        assert_eq!(read_units(0, true), 2);
        assert_eq!(read_units(4097, false), 2);
    }
}
