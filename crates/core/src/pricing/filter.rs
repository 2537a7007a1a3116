//! The SQL predicates Counterpoint stores in `CUST_FILT` and `ITEM_FILT`, parsed once and evaluated in memory.
//!
//! The subset Counterpoint writes: comparisons (`=`, `<>`, `!=`, `<`, `<=`, `>`, `>=`), `IN (...)`, `LIKE`,
//! `BETWEEN ... AND ...`, `IS [NOT] NULL`, `AND`/`OR`/`NOT` and parentheses, over `IM_ITEM` and `AR_CUST` columns
//! (with or without the table name). Comparison follows SQL Server's default collation: text compares without
//! regard to case or trailing spaces, numbers compare as numbers, and anything compared with NULL is false.

use std::fmt;

use rust_decimal::Decimal;

/// A filter that could not be parsed: the text and where it went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read the filter {text:?} at character {at}: {reason}")]
pub struct FilterError {
    pub text: String,
    pub at: usize,
    pub reason: String,
}

/// A column, as `TABLE.COLUMN` (upper case; the table is empty when the filter did not name one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub table: String,
    pub name: String,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.table.is_empty() { write!(f, "{}", self.name) } else { write!(f, "{}.{}", self.table, self.name) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// No filter: everything matches (`***All***`).
    All,
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Cmp(Column, CmpOp, String),
    In(Column, Vec<String>),
    Like(Column, String),
    Between(Column, String, String),
    IsNull(Column),
}

/// Where a filter reads its values: `value("IM_ITEM", "CATEG_COD")`. `None` is SQL's NULL.
pub trait Row {
    fn value(&self, table: &str, column: &str) -> Option<String>;
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Text(String),
    Number(String),
    Op(String),
    Open,
    Close,
    Comma,
}

fn tokens(text: &str) -> Result<Vec<(usize, Token)>, FilterError> {
    let err = |at: usize, reason: &str| FilterError { text: text.to_owned(), at, reason: reason.to_owned() };
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push((start, Token::Open));
            i += 1;
        } else if c == ')' {
            out.push((start, Token::Close));
            i += 1;
        } else if c == ',' {
            out.push((start, Token::Comma));
            i += 1;
        } else if c == '\'' || (c == 'N' && chars.get(i + 1) == Some(&'\'')) {
            i += if c == 'N' { 2 } else { 1 };
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(err(start, "a text value is not closed")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        value.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push((start, Token::Text(value)));
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            i += 1;
            while chars.get(i).is_some_and(|ch| ch.is_ascii_digit() || *ch == '.') {
                i += 1;
            }
            out.push((start, Token::Number(chars[start..i].iter().collect())));
        } else if c.is_alphabetic() || c == '_' || c == '[' {
            let mut ident = String::new();
            while let Some(ch) = chars.get(i) {
                if ch.is_alphanumeric() || matches!(ch, '_' | '.' | '[' | ']' | '#' | '$' | '@') {
                    if !matches!(ch, '[' | ']') {
                        ident.push(ch.to_ascii_uppercase());
                    }
                    i += 1;
                } else {
                    break;
                }
            }
            out.push((start, Token::Ident(ident)));
        } else if "=<>!".contains(c) {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = if matches!(two.as_str(), "<>" | "!=" | "<=" | ">=") { two } else { c.to_string() };
            if op == "!" {
                return Err(err(start, "\"!\" must be followed by \"=\""));
            }
            i += op.len();
            out.push((start, Token::Op(op)));
        } else {
            return Err(err(start, &format!("unexpected {c:?}")));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<(usize, Token)>,
    pos: usize,
    /// AND, OR and NOT nodes so far, and the parentheses open now: the tree is evaluated (and dropped) by
    /// recursion, so its depth is bounded.
    operators: usize,
    nesting: usize,
}

/// Real filters have a handful of terms; these bounds only stop a hostile one from exhausting the stack.
const MAX_OPERATORS: usize = 1_000;
const MAX_NESTING: usize = 64;

impl Parser<'_> {
    fn operator(&mut self) -> Result<(), FilterError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(self.err("the condition has more than 1000 AND, OR and NOT"));
        }
        Ok(())
    }

    fn err(&self, reason: &str) -> FilterError {
        let at = self.tokens.get(self.pos).map_or(self.text.chars().count(), |(at, _)| *at);
        FilterError { text: self.text.to_owned(), at, reason: reason.to_owned() }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|(_, t)| t)
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Ident(w)) if w == word) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            self.operator()?;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, FilterError> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            self.operator()?;
            left = Filter::And(Box::new(left), Box::new(self.not()?));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Filter, FilterError> {
        if self.keyword("NOT") {
            self.operator()?;
            return Ok(Filter::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn literal(&mut self) -> Result<String, FilterError> {
        match self.peek().cloned() {
            Some(Token::Text(v) | Token::Number(v)) => {
                self.pos += 1;
                Ok(v)
            }
            _ => Err(self.err("expected a value ('text' or a number)")),
        }
    }

    fn primary(&mut self) -> Result<Filter, FilterError> {
        match self.peek().cloned() {
            Some(Token::Open) => {
                if self.nesting >= MAX_NESTING {
                    return Err(self.err("parentheses nested more than 64 deep"));
                }
                self.pos += 1;
                self.nesting += 1;
                let inner = self.or()?;
                self.nesting -= 1;
                if self.peek() != Some(&Token::Close) {
                    return Err(self.err("expected \")\""));
                }
                self.pos += 1;
                Ok(inner)
            }
            Some(Token::Ident(name)) if !matches!(name.as_str(), "AND" | "OR" | "NOT") => {
                self.pos += 1;
                let column = match name.split_once('.') {
                    Some((table, col)) => {
                        let table = table.rsplit('.').next().unwrap_or(table).to_owned();
                        Column { table, name: col.rsplit('.').next().unwrap_or(col).to_owned() }
                    }
                    None => Column { table: String::new(), name },
                };
                self.predicate(column)
            }
            _ => Err(self.err("expected a column or \"(\"")),
        }
    }

    fn predicate(&mut self, column: Column) -> Result<Filter, FilterError> {
        let negated = self.keyword("NOT");
        let filter = if self.keyword("IN") {
            if self.peek() != Some(&Token::Open) {
                return Err(self.err("expected \"(\" after IN"));
            }
            self.pos += 1;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            if self.peek() != Some(&Token::Close) {
                return Err(self.err("expected \")\" to close IN"));
            }
            self.pos += 1;
            Filter::In(column, values)
        } else if self.keyword("LIKE") {
            Filter::Like(column, self.literal()?)
        } else if self.keyword("BETWEEN") {
            let low = self.literal()?;
            if !self.keyword("AND") {
                return Err(self.err("expected AND in BETWEEN"));
            }
            Filter::Between(column, low, self.literal()?)
        } else if !negated && self.keyword("IS") {
            let not_null = self.keyword("NOT");
            if !self.keyword("NULL") {
                return Err(self.err("expected NULL after IS"));
            }
            let filter = Filter::IsNull(column);
            return Ok(if not_null { Filter::Not(Box::new(filter)) } else { filter });
        } else if !negated && let Some(Token::Op(op)) = self.peek().cloned() {
            self.pos += 1;
            let op = match op.as_str() {
                "=" => CmpOp::Eq,
                "<>" | "!=" => CmpOp::Ne,
                "<" => CmpOp::Lt,
                "<=" => CmpOp::Le,
                ">" => CmpOp::Gt,
                _ => CmpOp::Ge,
            };
            Filter::Cmp(column, op, self.literal()?)
        } else {
            return Err(self.err("expected a comparison, IN, LIKE, BETWEEN or IS NULL"));
        };
        Ok(if negated { Filter::Not(Box::new(filter)) } else { filter })
    }
}

impl Filter {
    /// Parses a stored filter; empty or absent means everything matches.
    ///
    /// # Errors
    /// [`FilterError`] naming where the text stops making sense.
    pub fn parse(text: Option<&str>) -> Result<Filter, FilterError> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(Filter::All) };
        let mut parser = Parser { text, tokens: tokens(text)?, pos: 0, operators: 0, nesting: 0 };
        let filter = parser.or()?;
        if parser.pos < parser.tokens.len() {
            return Err(parser.err("unexpected text after the end of the condition"));
        }
        Ok(filter)
    }

    /// Every column the filter names, in the order written.
    pub fn columns(&self) -> Vec<&Column> {
        match self {
            Filter::All => Vec::new(),
            Filter::And(a, b) | Filter::Or(a, b) => {
                let mut out = a.columns();
                out.extend(b.columns());
                out
            }
            Filter::Not(f) => f.columns(),
            Filter::Cmp(c, _, _)
            | Filter::In(c, _)
            | Filter::Like(c, _)
            | Filter::Between(c, _, _)
            | Filter::IsNull(c) => {
                vec![c]
            }
        }
    }

    /// Whether `row` passes. A column the row does not know is NULL.
    pub fn matches(&self, row: &dyn Row) -> bool {
        self.eval(row) == Some(true)
    }

    /// SQL's three-valued logic: `None` is UNKNOWN.
    fn eval(&self, row: &dyn Row) -> Option<bool> {
        let get = |c: &Column| row.value(&c.table, &c.name);
        match self {
            Filter::All => Some(true),
            Filter::And(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Filter::Or(a, b) => match (a.eval(row), b.eval(row)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Filter::Not(inner) => inner.eval(row).map(|v| !v),
            Filter::IsNull(c) => Some(get(c).is_none()),
            Filter::Cmp(c, op, lit) => {
                let ord = compare(&get(c)?, lit);
                Some(match op {
                    CmpOp::Eq => ord.is_eq(),
                    CmpOp::Ne => ord.is_ne(),
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    CmpOp::Ge => ord.is_ge(),
                })
            }
            Filter::In(c, values) => {
                let v = get(c)?;
                Some(values.iter().any(|lit| compare(&v, lit).is_eq()))
            }
            Filter::Between(c, low, high) => {
                let v = get(c)?;
                Some(compare(&v, low).is_ge() && compare(&v, high).is_le())
            }
            Filter::Like(c, pattern) => Some(like(&fold(&get(c)?), &fold(pattern))),
        }
    }
}

/// Text as SQL Server's default collation compares it: case-insensitive, trailing spaces ignored.
fn fold(text: &str) -> String {
    text.trim_end().to_uppercase()
}

fn compare(value: &str, literal: &str) -> std::cmp::Ordering {
    match (value.trim().parse::<Decimal>(), literal.trim().parse::<Decimal>()) {
        (Ok(a), Ok(b)) => a.cmp(&b),
        _ => fold(value).cmp(&fold(literal)),
    }
}

/// `LIKE` with `%` (any run) and `_` (one character); `[...]` classes are taken literally.
fn like(value: &str, pattern: &str) -> bool {
    let (v, p): (Vec<char>, Vec<char>) = (value.chars().collect(), pattern.chars().collect());
    // Dynamic programming over (value position, pattern position).
    let mut reach = vec![false; v.len() + 1];
    reach[0] = true;
    for pc in &p {
        let mut next = vec![false; v.len() + 1];
        match pc {
            '%' => {
                let mut seen = false;
                for i in 0..=v.len() {
                    seen |= reach[i];
                    next[i] = seen;
                }
            }
            _ => {
                for i in 0..v.len() {
                    if reach[i] && (*pc == '_' || *pc == v[i]) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        reach = next;
    }
    reach[v.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    struct Fields(HashMap<&'static str, &'static str>);

    impl Row for Fields {
        fn value(&self, _table: &str, column: &str) -> Option<String> {
            self.0.get(column).map(|v| (*v).to_owned())
        }
    }

    fn row() -> Fields {
        Fields(HashMap::from([
            ("CATEG_COD", "SPORTS"),
            ("ITEM_NO", "TOY-000286"),
            ("PRC_1", "12.50"),
            ("PROF_COD_1", "gold "),
        ]))
    }

    fn check(text: &str) -> bool {
        Filter::parse(Some(text)).unwrap_or_else(|e| panic!("{e}")).matches(&row())
    }

    #[test]
    fn hostile_depth_is_refused_not_a_stack_overflow() {
        let deep = format!("{}CATEG_COD = 'X'{}", "(".repeat(5_000), ")".repeat(5_000));
        assert!(Filter::parse(Some(&deep)).expect_err("too deep").to_string().contains("nested more than 64"));
        let nots = format!("{}CATEG_COD = 'X'", "NOT ".repeat(5_000));
        assert!(Filter::parse(Some(&nots)).is_err());
        let chain = vec!["CATEG_COD = 'X'"; 5_000].join(" OR ");
        assert!(Filter::parse(Some(&chain)).is_err());
        let fine = vec!["CATEG_COD = 'X'"; 200].join(" OR ") + " OR CATEG_COD = 'SPORTS'";
        assert!(check(&fine), "a long but sane filter still works");
        assert!(check(&format!("{}CATEG_COD = 'SPORTS'{}", "(".repeat(60), ")".repeat(60))));
    }

    #[test]
    fn what_counterpoint_writes_is_read() {
        assert!(check("(IM_ITEM.CATEG_COD = 'SPORTS')"));
        assert!(!check("(IM_ITEM.CATEG_COD = 'TOYS')"));
        assert!(check("(AR_CUST.PROF_COD_1 = 'GOLD')"), "case and trailing spaces do not count");
        assert!(check("(IM_ITEM.ITEM_NO IN ('A', 'TOY-000286'))"));
        assert!(check("(IM_ITEM.ITEM_NO LIKE 'TOY-%') AND NOT (IM_ITEM.CATEG_COD <> 'SPORTS')"));
        assert!(check("IM_ITEM.ITEM_NO LIKE 'TOY-00028_'"));
        assert!(!check("IM_ITEM.ITEM_NO NOT LIKE 'TOY%'"));
        assert!(check("IM_ITEM.PRC_1 BETWEEN 10 AND 20"), "numbers compare as numbers");
        assert!(check("IM_ITEM.PRC_1 > 9"), "12.50 > 9 as numbers, not as text");
        assert!(check("(IM_ITEM.CATEG_COD = 'X') OR (IM_ITEM.CATEG_COD = 'SPORTS')"));
        assert!(check("IM_ITEM.SUBCAT_COD IS NULL") && !check("IM_ITEM.SUBCAT_COD IS NOT NULL"));
        assert!(check("[IM_ITEM].[CATEG_COD] = N'SPORTS'"));
        let quoted = Filter::parse(Some("CATEG_COD = 'O''Brien'")).expect("quote");
        assert_eq!(
            quoted,
            Filter::Cmp(Column { table: String::new(), name: "CATEG_COD".into() }, CmpOp::Eq, "O'Brien".into())
        );
        assert!(Filter::parse(None).expect("empty").matches(&row()));
    }

    #[test]
    fn null_is_unknown_not_false() {
        // SUBCAT_COD is NULL: "= 'X'" is unknown, and NOT unknown is still unknown, so neither matches.
        assert!(!check("IM_ITEM.SUBCAT_COD = 'X'"));
        assert!(!check("NOT (IM_ITEM.SUBCAT_COD = 'X')"));
        assert!(check("NOT (IM_ITEM.SUBCAT_COD = 'X') OR IM_ITEM.CATEG_COD = 'SPORTS'"));
    }

    #[test]
    fn what_cannot_be_read_says_where() {
        let err = Filter::parse(Some("(IM_ITEM.CATEG_COD = 'SPORTS'")).expect_err("unclosed");
        assert!(err.to_string().contains("expected \")\""), "{err}");
        let err = Filter::parse(Some("IM_ITEM.CATEG_COD ~ 'X'")).expect_err("operator");
        assert_eq!(err.at, 18, "{err}");
        let err = Filter::parse(Some("IM_ITEM.CATEG_COD = 'X' garbage")).expect_err("trailing");
        assert!(err.reason.contains("after the end"), "{err}");
    }
}
