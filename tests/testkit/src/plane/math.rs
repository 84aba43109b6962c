//! CloudWatch metric math, the part an alarm on an expression needs, as
//! documented on
//! <https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html>.
//!
//! An expression is parsed once ([`parse`]) and evaluated over named series
//! ([`Expr::evaluate`]), each a `Vec<Option<f64>>` aligned by period (`None`
//! = no datapoint at that timestamp). Supported:
//! - numbers, ids (a lowercase letter, then letters, digits, `_`), `( )`;
//! - `+ - * / ^` with the usual precedence (`^` binds tightest, right to
//!   left; unary `-` below it), on scalars, series and arrays `[a, b]`;
//! - comparisons `== != <= >= < >` (1 or 0) and `AND`/`&&`, `OR`/`||`;
//! - `SUM`, `MAX`, `MIN`, `AVG` of an array (a series) or of a series (a
//!   scalar), `FILL(series, number | series)`, `IF(condition, a[, b])`.
//!
//! Missing values, as the page says them:
//! - "Missing values in a time series are treated as 0" (basic arithmetic),
//!   and for comparisons "only one of the time series has a value … treats
//!   the missing value in the other time series as 0". So between two
//!   series a timestamp where one has a value and the other not counts the
//!   missing one as 0; where neither has one the result has none; a series
//!   with a scalar keeps its gaps.
//! - `AVG` of an array: "Missing values are treated as 0." The page says
//!   nothing for `SUM`, `MAX`, `MIN`; they follow the same rule here (for
//!   `SUM` the choice makes no difference): at a timestamp where at least one
//!   series has a value, the others count as 0; where none has, no value.
//! - "If the value of a data point causes a function to attempt to divide by
//!   zero, the data point is dropped."
//! - `IF` follows the page's tables: a missing condition drops the point; a
//!   true condition whose series lacks the point gives 0; a false one whose
//!   series lacks it (or with no third argument) drops the point.
//!
//! Anything else (`FILL(m, REPEAT)`, `RATE`, `METRICS()`, …) is refused at
//! parse time with an error naming it. The final result must be one time
//! series: "Using a function that returns only a scalar number is not
//! valid", and an alarm watches one series, not an array.

use std::collections::BTreeMap;

/// A parsed metric math expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Number(f64),
    Id(String),
    Neg(Box<Node>),
    Binary(Op, Box<Node>, Box<Node>),
    Array(Vec<Node>),
    Call(Func, Vec<Node>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Eq,
    Ne,
    Le,
    Ge,
    Lt,
    Gt,
    And,
    Or,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Sum,
    Max,
    Min,
    Avg,
    Fill,
    If,
}

/// A series: one optional value per period, oldest first (`None`: no
/// datapoint in that period).
pub type Series = Vec<Option<f64>>;

/// What a node evaluates to.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    /// `None`: a scalar with no value (the average of an empty series).
    Scalar(Option<f64>),
    Series(Series),
    Array(Vec<Series>),
}

/// Parses an expression.
///
/// # Errors
/// A syntax error, an unknown function or word, or a wrong number of
/// arguments: one line naming the expression and what is wrong.
pub fn parse(text: &str) -> Result<Expr, String> {
    let tokens = lex(text).map_err(|why| format!("metric math {text:?}: {why}"))?;
    let mut parser = Parser { tokens, at: 0 };
    let node = parser
        .or()
        .and_then(|node| match parser.peek() {
            None => Ok(node),
            Some(token) => Err(format!("unexpected {token} after a complete expression")),
        })
        .map_err(|why| format!("metric math {text:?}: {why}"))?;
    Ok(Expr(node))
}

impl Expr {
    /// The expression's series over `series` (id → values). Every series
    /// must have the same length, which the result has too.
    ///
    /// # Errors
    /// An id not in `series`, series of different lengths, or a result that
    /// is not one time series.
    pub fn evaluate(&self, series: &BTreeMap<String, Series>) -> Result<Series, String> {
        let mut lengths = series.iter().map(|(id, s)| (id, s.len()));
        let len = lengths.next().map_or(0, |(_, len)| len);
        if let Some((id, other)) = lengths.find(|(_, l)| *l != len) {
            return Err(format!(
                "series {id} has {other} values where the others have {len}: the series must be \
                 aligned on the same periods"
            ));
        }
        match eval(&self.0, series, len)? {
            Value::Series(result) => Ok(result),
            Value::Scalar(_) => Err(
                "the expression gives a single number, not a time series (an alarm needs a time \
                 series, e.g. m1 - AVG(m1))"
                    .into(),
            ),
            Value::Array(_) => Err(
                "the expression gives several time series; an alarm watches one (e.g. \
                 SUM([m1, m2]))"
                    .into(),
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Id(String),
    Word(String),
    Sym(&'static str),
}

impl std::fmt::Display for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Token::Number(n) => write!(f, "number {n}"),
            Token::Id(id) => write!(f, "id {id}"),
            Token::Word(w) => write!(f, "{w}"),
            Token::Sym(s) => write!(f, "{s:?}"),
        }
    }
}

const SYMBOLS: &[&str] = &[
    "==", "!=", "<=", ">=", "&&", "||", "<", ">", "+", "-", "*", "/", "^", "(", ")", "[", "]", ",",
];

fn lex(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut rest = text.trim_start();
    while let Some(c) = rest.chars().next() {
        let len = if c.is_ascii_digit() || c == '.' {
            let len = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let number = &rest[..len];
            let value = number
                .parse()
                .map_err(|_| format!("{number:?} is not a number"))?;
            tokens.push(Token::Number(value));
            len
        } else if c.is_ascii_alphabetic() {
            let len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let word = rest[..len].to_owned();
            tokens.push(if c.is_ascii_lowercase() {
                Token::Id(word)
            } else {
                Token::Word(word)
            });
            len
        } else if let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            tokens.push(Token::Sym(sym));
            sym.len()
        } else {
            return Err(format!("unexpected character {c:?}"));
        };
        rest = rest[len..].trim_start();
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    /// Consumes the next token if it is one of `symbols` (or the words
    /// `AND`/`OR` for `&&`/`||`), giving it.
    fn eat(&mut self, symbols: &[&'static str]) -> Option<&'static str> {
        let found = match self.peek()? {
            Token::Sym(s) => symbols.iter().find(|want| *want == s).copied(),
            Token::Word(w) if w == "AND" && symbols.contains(&"&&") => Some("&&"),
            Token::Word(w) if w == "OR" && symbols.contains(&"||") => Some("||"),
            _ => None,
        }?;
        self.at += 1;
        Some(found)
    }

    fn expect(&mut self, symbol: &'static str) -> Result<(), String> {
        match self.eat(&[symbol]) {
            Some(_) => Ok(()),
            None => Err(match self.peek() {
                Some(token) => format!("expected {symbol:?}, found {token}"),
                None => format!("expected {symbol:?} at the end"),
            }),
        }
    }

    /// One precedence level of left-associative binary operators.
    fn level(
        &mut self,
        symbols: &[&'static str],
        next: fn(&mut Parser) -> Result<Node, String>,
    ) -> Result<Node, String> {
        let mut left = next(self)?;
        while let Some(symbol) = self.eat(symbols) {
            let right = next(self)?;
            left = Node::Binary(op(symbol), Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn or(&mut self) -> Result<Node, String> {
        self.level(&["||"], Parser::and)
    }

    fn and(&mut self) -> Result<Node, String> {
        self.level(&["&&"], Parser::comparison)
    }

    fn comparison(&mut self) -> Result<Node, String> {
        self.level(&["==", "!=", "<=", ">=", "<", ">"], Parser::sum)
    }

    fn sum(&mut self) -> Result<Node, String> {
        self.level(&["+", "-"], Parser::product)
    }

    fn product(&mut self) -> Result<Node, String> {
        self.level(&["*", "/"], Parser::unary)
    }

    fn unary(&mut self) -> Result<Node, String> {
        if self.eat(&["-"]).is_some() {
            return Ok(Node::Neg(Box::new(self.unary()?)));
        }
        let base = self.primary()?;
        if self.eat(&["^"]).is_some() {
            let exponent = self.unary()?;
            return Ok(Node::Binary(Op::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn primary(&mut self) -> Result<Node, String> {
        let token = self
            .peek()
            .cloned()
            .ok_or("the expression ends where a value is expected")?;
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Node::Number(n)),
            Token::Id(id) => Ok(Node::Id(id)),
            Token::Sym("(") => {
                let inner = self.or()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Sym("[") => Ok(Node::Array(self.list("]")?)),
            Token::Word(word) => self.call(&word),
            Token::Sym(s) => Err(format!("unexpected {s:?} where a value is expected")),
        }
    }

    /// Comma-separated expressions up to `close` (consumed).
    fn list(&mut self, close: &'static str) -> Result<Vec<Node>, String> {
        let mut items = vec![self.or()?];
        while self.eat(&[","]).is_some() {
            items.push(self.or()?);
        }
        self.expect(close)?;
        Ok(items)
    }

    fn call(&mut self, word: &str) -> Result<Node, String> {
        let (func, arity) = match word {
            "SUM" => (Func::Sum, 1..=1),
            "MAX" => (Func::Max, 1..=1),
            "MIN" => (Func::Min, 1..=1),
            "AVG" => (Func::Avg, 1..=1),
            "FILL" => (Func::Fill, 2..=2),
            "IF" => (Func::If, 2..=3),
            "REPEAT" | "LINEAR" => {
                return Err(format!(
                    "FILL(…, {word}) is not supported by the local plane: fill with a number or a \
                     series"
                ));
            }
            _ => {
                return Err(format!(
                    "unknown function or word {word}: the local plane evaluates SUM, MAX, MIN, \
                     AVG, FILL, IF, AND and OR"
                ));
            }
        };
        self.expect("(")?;
        let args = self.list(")")?;
        if !arity.contains(&args.len()) {
            let takes = match (arity.start(), arity.end()) {
                (1, 1) => "1 argument".to_owned(),
                (a, b) if a == b => format!("{a} arguments"),
                (a, b) => format!("{a} or {b} arguments"),
            };
            return Err(format!("{word} takes {takes}, not {}", args.len()));
        }
        Ok(Node::Call(func, args))
    }
}

impl Func {
    fn name(self) -> &'static str {
        match self {
            Func::Sum => "SUM",
            Func::Max => "MAX",
            Func::Min => "MIN",
            Func::Avg => "AVG",
            Func::Fill => "FILL",
            Func::If => "IF",
        }
    }
}

fn op(symbol: &str) -> Op {
    match symbol {
        "+" => Op::Add,
        "-" => Op::Sub,
        "*" => Op::Mul,
        "/" => Op::Div,
        "^" => Op::Pow,
        "==" => Op::Eq,
        "!=" => Op::Ne,
        "<=" => Op::Le,
        ">=" => Op::Ge,
        "<" => Op::Lt,
        ">" => Op::Gt,
        "&&" => Op::And,
        _ => Op::Or,
    }
}

fn eval(node: &Node, series: &BTreeMap<String, Series>, len: usize) -> Result<Value, String> {
    match node {
        Node::Number(n) => Ok(Value::Scalar(Some(*n))),
        Node::Id(id) => series.get(id).cloned().map(Value::Series).ok_or_else(|| {
            let known: Vec<&str> = series.keys().map(String::as_str).collect();
            format!(
                "unknown id {id}: the alarm's metrics are {}",
                known.join(", ")
            )
        }),
        Node::Neg(inner) => {
            let zero = Value::Scalar(Some(0.0));
            binary(Op::Sub, zero, eval(inner, series, len)?)
        }
        Node::Binary(op, left, right) => {
            binary(*op, eval(left, series, len)?, eval(right, series, len)?)
        }
        Node::Array(items) => {
            let mut array = Vec::new();
            for item in items {
                match eval(item, series, len)? {
                    Value::Series(s) => array.push(s),
                    Value::Array(more) => array.extend(more),
                    Value::Scalar(_) => {
                        return Err("an array [ … ] holds time series, not numbers".into());
                    }
                }
            }
            Ok(Value::Array(array))
        }
        Node::Call(func, args) => {
            let args = args
                .iter()
                .map(|arg| eval(arg, series, len))
                .collect::<Result<Vec<_>, _>>()?;
            call(*func, args, len)
        }
    }
}

/// `left op right`, per timestamp; arrays apply the operation to each series.
fn binary(op: Op, left: Value, right: Value) -> Result<Value, String> {
    use Value::{Array, Scalar, Series};
    Ok(match (left, right) {
        (Scalar(a), Scalar(b)) => Scalar(a.zip(b).and_then(|(a, b)| apply(op, a, b))),
        (Series(a), Series(b)) => Series(pairwise(op, &a, &b)),
        (Series(a), Scalar(b)) => Series(
            a.iter()
                .map(|x| x.zip(b).and_then(|(x, b)| apply(op, x, b)))
                .collect(),
        ),
        (Scalar(a), Series(b)) => Series(
            b.iter()
                .map(|x| a.zip(*x).and_then(|(a, x)| apply(op, a, x)))
                .collect(),
        ),
        (Array(array), other) => Array(
            array
                .into_iter()
                .map(|s| series_of(binary(op, Series(s), other.clone())))
                .collect::<Result<_, _>>()?,
        ),
        (other, Array(array)) => Array(
            array
                .into_iter()
                .map(|s| series_of(binary(op, other.clone(), Series(s))))
                .collect::<Result<_, _>>()?,
        ),
    })
}

fn series_of(value: Result<Value, String>) -> Result<Series, String> {
    match value? {
        Value::Series(s) => Ok(s),
        _ => Err("an operation between two arrays of time series is not supported".into()),
    }
}

/// Two series: a value missing on one side only counts as 0.
fn pairwise(op: Op, a: &Series, b: &Series) -> Series {
    a.iter()
        .zip(b)
        .map(|(x, y)| match (x, y) {
            (None, None) => None,
            _ => apply(op, x.unwrap_or(0.0), y.unwrap_or(0.0)),
        })
        .collect()
}

/// One datapoint; `None` when it is dropped (division by zero).
fn apply(op: Op, a: f64, b: f64) -> Option<f64> {
    let truth = |t: bool| Some(if t { 1.0 } else { 0.0 });
    match op {
        Op::Add => Some(a + b),
        Op::Sub => Some(a - b),
        Op::Mul => Some(a * b),
        Op::Div if b == 0.0 => None,
        Op::Div => Some(a / b),
        Op::Pow => Some(a.powf(b)).filter(|v| v.is_finite()),
        Op::Eq => truth(a == b),
        Op::Ne => truth(a != b),
        Op::Le => truth(a <= b),
        Op::Ge => truth(a >= b),
        Op::Lt => truth(a < b),
        Op::Gt => truth(a > b),
        Op::And => truth(a != 0.0 && b != 0.0),
        Op::Or => truth(a != 0.0 || b != 0.0),
    }
}

fn call(func: Func, mut args: Vec<Value>, len: usize) -> Result<Value, String> {
    match func {
        Func::Sum | Func::Max | Func::Min | Func::Avg => match args.pop() {
            Some(Value::Array(array)) => Ok(Value::Series(
                (0..len)
                    .map(|i| aggregate(func, &across(&array, i)))
                    .collect(),
            )),
            Some(Value::Series(s)) => Ok(Value::Scalar(aggregate(
                func,
                &s.iter().flatten().copied().collect::<Vec<_>>(),
            ))),
            _ => Err(format!(
                "{} takes a time series or an array of them",
                func.name()
            )),
        },
        Func::Fill => fill(args),
        Func::If => if_(args, len),
    }
}

/// The values of an array's series at one timestamp: none when every series
/// lacks it, else the missing ones as 0.
fn across(array: &[Series], i: usize) -> Vec<f64> {
    let values: Vec<Option<f64>> = array.iter().map(|s| s.get(i).copied().flatten()).collect();
    if values.iter().all(Option::is_none) {
        return Vec::new();
    }
    values.into_iter().map(|v| v.unwrap_or(0.0)).collect()
}

fn aggregate(func: Func, values: &[f64]) -> Option<f64> {
    let first = *values.first()?;
    Some(match func {
        Func::Max => values.iter().copied().fold(first, f64::max),
        Func::Min => values.iter().copied().fold(first, f64::min),
        Func::Avg => values.iter().sum::<f64>() / values.len() as f64,
        _ => values.iter().sum(),
    })
}

/// `FILL(series | array, number | series)`.
fn fill(args: Vec<Value>) -> Result<Value, String> {
    let mut args = args.into_iter();
    let (Some(target), Some(with)) = (args.next(), args.next()) else {
        return Err("FILL takes 2 arguments".into());
    };
    let filled = |s: Series| -> Result<Series, String> {
        match &with {
            Value::Scalar(v) => Ok(s.into_iter().map(|x| x.or(*v)).collect()),
            Value::Series(w) => Ok(s.into_iter().zip(w).map(|(x, w)| x.or(*w)).collect()),
            Value::Array(_) => {
                Err("FILL fills with a number or a time series, not an array".into())
            }
        }
    };
    match target {
        Value::Series(s) => filled(s).map(Value::Series),
        Value::Array(array) => array
            .into_iter()
            .map(filled)
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Scalar(_) => Err("FILL fills a time series, not a number".into()),
    }
}

/// `IF(condition, a[, b])`, as the page's tables say.
fn if_(args: Vec<Value>, len: usize) -> Result<Value, String> {
    let mut args = args.into_iter();
    let (Some(condition), Some(then)) = (args.next(), args.next()) else {
        return Err("IF takes 2 or 3 arguments".into());
    };
    let otherwise = args.next();
    if [Some(&condition), Some(&then), otherwise.as_ref()]
        .iter()
        .any(|v| matches!(v, Some(Value::Array(_))))
    {
        return Err("IF takes numbers and time series, not arrays".into());
    }
    let at = |v: &Value, i: usize| match v {
        Value::Scalar(s) => *s,
        Value::Series(s) => s.get(i).copied().flatten(),
        Value::Array(_) => None,
    };
    match condition {
        Value::Scalar(c) => Ok(match (c.is_some_and(|c| c != 0.0), otherwise) {
            (true, _) => then,
            (false, Some(b)) => b,
            (false, None) => Value::Series(vec![None; len]),
        }),
        condition => Ok(Value::Series(
            (0..len)
                .map(|i| {
                    if at(&condition, i)? != 0.0 {
                        Some(at(&then, i).unwrap_or(0.0))
                    } else {
                        otherwise.as_ref().and_then(|b| at(b, i))
                    }
                })
                .collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: Option<f64> = None;

    fn series(pairs: &[(&str, Vec<Option<f64>>)]) -> BTreeMap<String, Series> {
        pairs
            .iter()
            .map(|(id, s)| ((*id).to_owned(), s.clone()))
            .collect()
    }

    fn run(expr: &str, over: &BTreeMap<String, Series>) -> Series {
        parse(expr)
            .unwrap_or_else(|e| panic!("{e}"))
            .evaluate(over)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
    }

    // "Comparison and logical operators" on the page (URL in the header):
    // metric1 = [30, 20, 0, 0], metric2 = [20, -, 20, -].
    #[test]
    fn the_pages_comparison_table() {
        let over = series(&[
            (
                "metric1",
                vec![Some(30.0), Some(20.0), Some(0.0), Some(0.0)],
            ),
            ("metric2", vec![Some(20.0), M, Some(20.0), M]),
        ]);
        for (expr, output) in [
            ("(metric1 < metric2)", [0.0, 0.0, 1.0, 0.0]),
            ("(metric1 >= 30)", [1.0, 0.0, 0.0, 0.0]),
            ("(metric1 > 15 AND metric2 > 15)", [1.0, 0.0, 0.0, 0.0]),
            ("(metric1 > 15 && metric2 > 15)", [1.0, 0.0, 0.0, 0.0]),
        ] {
            assert_eq!(run(expr, &over), output.map(Some).to_vec(), "{expr}");
        }
    }

    // "Using IF expressions": metric1 = [1, 1, 0, 0, -], metric2 = [30, -, 0,
    // 0, 30], metric3 = [0, 0, 20, -, 20].
    #[test]
    fn the_pages_if_tables() {
        let over = series(&[
            (
                "metric1",
                vec![Some(1.0), Some(1.0), Some(0.0), Some(0.0), M],
            ),
            (
                "metric2",
                vec![Some(30.0), M, Some(0.0), Some(0.0), Some(30.0)],
            ),
            (
                "metric3",
                vec![Some(0.0), Some(0.0), Some(20.0), M, Some(20.0)],
            ),
        ]);
        for (expr, output) in [
            (
                "IF(metric1, metric2, metric3)",
                vec![Some(30.0), Some(0.0), Some(20.0), M, M],
            ),
            (
                "IF(metric1, 5, metric3)",
                vec![Some(5.0), Some(5.0), Some(20.0), M, M],
            ),
            (
                "IF(metric1, metric2, 5)",
                vec![Some(30.0), Some(0.0), Some(5.0), Some(5.0), M],
            ),
            ("IF(metric1, metric2)", vec![Some(30.0), Some(0.0), M, M, M]),
            // "IF(metric1<400, 10, 2)": a comparison as the condition.
            (
                "IF(metric2 < 10, 10, 2)",
                vec![Some(2.0), M, Some(10.0), Some(10.0), Some(2.0)],
            ),
            // A scalar condition picks a whole series.
            (
                "IF(1, metric2, metric3)",
                vec![Some(30.0), M, Some(0.0), Some(0.0), Some(30.0)],
            ),
            ("IF(0, metric2)", vec![M, M, M, M, M]),
        ] {
            assert_eq!(run(expr, &over), output, "{expr}");
        }
    }

    // The page's arithmetic examples: "5 * m1", "m1 - m2",
    // "SUM(100/[m1, m2])", "AVG([m1,m2]/m3)", "-5*m1", "SUM(-[m1, m2])".
    #[test]
    fn arithmetic_with_precedence_and_the_pages_examples() {
        let over = series(&[
            ("m1", vec![Some(1.0), Some(4.0), M, Some(2.0)]),
            ("m2", vec![Some(3.0), M, M, Some(2.0)]),
            ("m3", vec![Some(2.0), Some(4.0), Some(1.0), Some(0.0)]),
        ]);
        for (expr, output) in [
            ("5 * m1", vec![Some(5.0), Some(20.0), M, Some(10.0)]),
            ("-5*m1", vec![Some(-5.0), Some(-20.0), M, Some(-10.0)]),
            ("m1 - m2", vec![Some(-2.0), Some(4.0), M, Some(0.0)]),
            ("1 + 2 * m1", vec![Some(3.0), Some(9.0), M, Some(5.0)]),
            ("(1 + 2) * m1", vec![Some(3.0), Some(12.0), M, Some(6.0)]),
            ("m1 - 1 - 1", vec![Some(-1.0), Some(2.0), M, Some(0.0)]),
            ("2 ^ m1 ^ 1", vec![Some(2.0), Some(16.0), M, Some(4.0)]),
            ("-m1 ^ 2", vec![Some(-1.0), Some(-16.0), M, Some(-4.0)]),
            (
                "SUM(100/[m1, m2])",
                vec![Some(100.0 + 100.0 / 3.0), Some(25.0), M, Some(100.0)],
            ),
            // Division by zero drops the point: m1/m3 at the 4th period.
            ("m1 / m3", vec![Some(0.5), Some(1.0), Some(0.0), M]),
            ("AVG([m1,m2]/m3)", vec![Some(1.0), Some(0.5), Some(0.0), M]),
            (
                "SUM(-[m1, m2])",
                vec![Some(-4.0), Some(-4.0), M, Some(-4.0)],
            ),
            (
                "m1 - AVG(m1)",
                vec![
                    Some(-1.333_333_333_333_333_5),
                    Some(1.666_666_666_666_666_5),
                    M,
                    Some(-0.333_333_333_333_333_5),
                ],
            ),
        ] {
            let got = run(expr, &over);
            assert_eq!(got.len(), output.len(), "{expr}");
            for (g, o) in got.iter().zip(&output) {
                match (g, o) {
                    (Some(g), Some(o)) => assert!((g - o).abs() < 1e-9, "{expr}: {got:?}"),
                    _ => assert_eq!(g, o, "{expr}: {got:?}"),
                }
            }
        }
    }

    #[test]
    fn array_functions_count_a_missing_value_as_zero_where_another_series_has_one() {
        let over = series(&[
            ("handler", vec![Some(2.0), M, M, Some(-4.0)]),
            ("sweep", vec![Some(1.0), Some(3.0), M, M]),
        ]);
        for (expr, output) in [
            // The stack's throttles alarm.
            (
                "SUM([handler, sweep])",
                vec![Some(3.0), Some(3.0), M, Some(-4.0)],
            ),
            (
                "MAX([handler, sweep])",
                vec![Some(2.0), Some(3.0), M, Some(0.0)],
            ),
            (
                "MIN([handler, sweep])",
                vec![Some(1.0), Some(0.0), M, Some(-4.0)],
            ),
            (
                "AVG([handler, sweep])",
                vec![Some(1.5), Some(1.5), M, Some(-2.0)],
            ),
            // Of one series: a scalar over its existing points.
            ("handler - MAX(handler)", vec![Some(0.0), M, M, Some(-6.0)]),
            ("sweep / SUM(sweep)", vec![Some(0.25), Some(0.75), M, M]),
        ] {
            assert_eq!(run(expr, &over), output, "{expr}");
        }
    }

    #[test]
    fn fill_replaces_missing_values() {
        let over = series(&[
            ("m1", vec![Some(1.0), M, M, Some(4.0)]),
            ("m2", vec![Some(9.0), Some(8.0), M, Some(7.0)]),
        ]);
        for (expr, output) in [
            (
                "FILL(m1, 10)",
                vec![Some(1.0), Some(10.0), Some(10.0), Some(4.0)],
            ),
            (
                "FILL(m1, 0)",
                vec![Some(1.0), Some(0.0), Some(0.0), Some(4.0)],
            ),
            (
                "FILL(m1, MIN(m1))",
                vec![Some(1.0), Some(1.0), Some(1.0), Some(4.0)],
            ),
            ("FILL(m1, m2)", vec![Some(1.0), Some(8.0), M, Some(4.0)]),
            (
                "SUM(FILL([m1, m2], 0))",
                vec![Some(10.0), Some(8.0), Some(0.0), Some(11.0)],
            ),
        ] {
            assert_eq!(run(expr, &over), output, "{expr}");
        }
    }

    #[test]
    fn unsupported_or_malformed_expressions_are_refused_with_their_reason() {
        for (expr, says) in [
            ("RATE(m1)", "unknown function or word RATE"),
            ("METRICS()", "unknown function or word METRICS"),
            ("FILL(m1, REPEAT)", "FILL(…, REPEAT) is not supported"),
            ("FILL(m1, LINEAR)", "FILL(…, LINEAR) is not supported"),
            ("FILL(m1)", "FILL takes 2 arguments, not 1"),
            ("IF(m1)", "IF takes 2 or 3 arguments, not 1"),
            ("SUM(m1, m2)", "SUM takes 1 argument, not 2"),
            ("(m1 + 2", "expected \")\" at the end"),
            ("m1 +", "ends where a value is expected"),
            ("m1 m2", "unexpected id m2 after a complete expression"),
            ("m1 % 2", "unexpected character '%'"),
            ("1..2 * m1", "\"1..2\" is not a number"),
            ("SUM[m1]", "expected \"(\""),
        ] {
            let error = parse(expr).unwrap_err();
            assert!(error.contains(says), "{expr}: {error}");
            assert!(error.contains(expr), "names the expression: {error}");
        }
    }

    #[test]
    fn evaluation_refuses_what_is_not_one_time_series() {
        let over = series(&[
            ("m1", vec![Some(1.0), Some(2.0)]),
            ("m2", vec![Some(1.0), M]),
        ]);
        for (expr, says) in [
            ("AVG(m1)", "gives a single number"),
            ("2 * 3", "gives a single number"),
            ("[m1, m2]", "gives several time series"),
            ("m1 + m3", "unknown id m3: the alarm's metrics are m1, m2"),
            ("[m1, 2]", "holds time series, not numbers"),
            ("[m1] + [m2]", "between two arrays"),
            ("IF([m1], m2)", "not arrays"),
        ] {
            let error = parse(expr).unwrap().evaluate(&over).unwrap_err();
            assert!(error.contains(says), "{expr}: {error}");
        }
        let misaligned = series(&[("m1", vec![Some(1.0)]), ("m2", vec![Some(1.0), M])]);
        let error = parse("m1 + m2").unwrap().evaluate(&misaligned).unwrap_err();
        assert!(
            error.contains("series m2 has 2 values where the others have 1"),
            "{error}"
        );
    }
}
