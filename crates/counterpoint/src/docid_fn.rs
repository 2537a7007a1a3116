//! Calling Counterpoint's own `dbo.fnGenDocId` where the database has it.
//!
//! NCR does not publish the function's signature, and it differs between versions, so cpbridge reads it from
//! `sys.parameters` and binds each parameter by what its name and type say it is (store, station, document type,
//! date, variation). A parameter it cannot place means the function is not called: cpbridge computes the same
//! layout itself ([`cpbridge_core::docid::gen_doc_id`]) and `doctor` says why.

use std::fmt;

use chrono::NaiveDateTime;
use cpbridge_core::docid::doc_type_digit;

use crate::value::{Row, Value};
use crate::{CpError, CpResult};

/// The query that reads the function's kind and parameters (one row per parameter, or one row with a NULL parameter
/// for a function without any). No row: the database has no such function, or cpbridge's login may not see it. The
/// type is the system type under any alias type (Counterpoint declares many columns and parameters with its own
/// `T_...` types).
pub const SIGNATURE_QUERY: &str = "SELECT o.type AS OBJ_TYPE, p.name AS PARAM_NAME, TYPE_NAME(p.system_type_id) AS \
     PARAM_TYPE, p.parameter_id AS POS FROM sys.objects o LEFT JOIN sys.parameters p ON p.object_id = o.object_id \
     AND p.parameter_id > 0 WHERE o.object_id = OBJECT_ID(N'dbo.fnGenDocId') ORDER BY p.parameter_id";

/// What one parameter of the function is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocIdArg {
    /// `PS_STR.STR_NO`.
    StoreNo,
    /// `PS_STR.STR_ID`.
    StoreId,
    /// `PS_STA.STA_NO`.
    StationNo,
    /// `PS_STA.STA_ID`.
    StationId,
    /// `DOC_TYP` as its letter.
    DocTypeLetter,
    /// `DOC_TYP` as the digit the id carries.
    DocTypeDigit,
    /// The store's local date and time of the document.
    At,
    /// The variation digit (0 first, then 1, 2, ... on a duplicate key).
    Variation,
}

/// A parameter as `sys.parameters` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocIdParam {
    pub name: String,
    pub type_name: String,
}

impl fmt::Display for DocIdParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.name, self.type_name)
    }
}

/// Where cpbridge's document ids come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DocIdSource {
    /// The database has no `dbo.fnGenDocId` (the replica, or an old version): cpbridge computes the layout.
    #[default]
    Formula,
    /// The function is called with these arguments, in order.
    Function { params: Vec<DocIdParam>, args: Vec<DocIdArg> },
    /// The function exists but cpbridge cannot call it; it computes the layout instead.
    Unusable { signature: String, reason: String },
}

impl DocIdSource {
    /// Reads the answer of [`SIGNATURE_QUERY`].
    ///
    /// # Errors
    /// A row the query cannot have produced.
    pub fn from_rows(rows: &[Row]) -> CpResult<DocIdSource> {
        let Some(first) = rows.first() else { return Ok(DocIdSource::Formula) };
        let kind = first.opt_text("OBJ_TYPE")?.unwrap_or_default();
        let mut params = Vec::new();
        for row in rows {
            if let Some(name) = row.opt_text("PARAM_NAME")? {
                params.push(DocIdParam { name, type_name: row.opt_text("PARAM_TYPE")?.unwrap_or_default() });
            }
        }
        Ok(Self::plan(kind.trim(), params))
    }

    /// Decides how to call a function of this kind (`sys.objects.type`) and these parameters.
    pub fn plan(kind: &str, params: Vec<DocIdParam>) -> DocIdSource {
        let signature =
            format!("dbo.fnGenDocId({})", params.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "));
        if kind != "FN" {
            return DocIdSource::Unusable {
                signature,
                reason: format!("it is not a scalar function (sys.objects.type {kind})"),
            };
        }
        let mut args = Vec::with_capacity(params.len());
        for param in &params {
            match arg_for(param) {
                Some(arg) if !args.contains(&arg) => args.push(arg),
                Some(_) => {
                    return DocIdSource::Unusable {
                        signature,
                        reason: format!("parameter {param} repeats what another one already carries"),
                    };
                }
                None => {
                    return DocIdSource::Unusable {
                        signature,
                        reason: format!("cpbridge does not know what to pass as {param}"),
                    };
                }
            }
        }
        let knows_store = args.iter().any(|a| matches!(a, DocIdArg::StoreNo | DocIdArg::StoreId));
        let knows_station = args.iter().any(|a| matches!(a, DocIdArg::StationNo | DocIdArg::StationId));
        if !knows_store || !knows_station {
            return DocIdSource::Unusable {
                signature,
                reason: "it takes no store or no station, so its ids would not be cpbridge's station's".into(),
            };
        }
        DocIdSource::Function { params, args }
    }

    /// Whether the function is called for each new document.
    pub fn calls_function(&self) -> bool {
        matches!(self, DocIdSource::Function { .. })
    }

    /// Whether the function takes the variation digit: without it, the next variation is the id plus one.
    pub fn takes_variation(&self) -> bool {
        matches!(self, DocIdSource::Function { args, .. } if args.contains(&DocIdArg::Variation))
    }

    /// The statement that asks the function for an id.
    pub fn call_sql(&self) -> Option<String> {
        let DocIdSource::Function { args, .. } = self else { return None };
        let placeholders: Vec<String> = (1..=args.len()).map(|i| format!("@P{i}")).collect();
        Some(format!("SELECT dbo.fnGenDocId({}) AS DOC_ID", placeholders.join(", ")))
    }

    /// The values for [`DocIdSource::call_sql`].
    pub fn call_args(&self, doc: &DocIdInputs<'_>, variation: u8) -> Vec<Value> {
        let DocIdSource::Function { args, .. } = self else { return Vec::new() };
        args.iter()
            .map(|arg| match arg {
                DocIdArg::StoreNo => Value::Int(doc.str_no),
                DocIdArg::StoreId => Value::Text(doc.str_id.to_owned()),
                DocIdArg::StationNo => Value::Int(doc.sta_no),
                DocIdArg::StationId => Value::Text(doc.sta_id.to_owned()),
                DocIdArg::DocTypeLetter => Value::Text(doc.doc_typ.to_string()),
                DocIdArg::DocTypeDigit => Value::Int(doc_type_digit(doc.doc_typ)),
                DocIdArg::At => Value::DateTime(doc.at),
                DocIdArg::Variation => Value::Int(i64::from(variation % 10)),
            })
            .collect()
    }

    /// Reads the function's answer.
    ///
    /// # Errors
    /// `Invalid` when it returned no positive id.
    pub fn read_answer(rows: Vec<Row>) -> CpResult<i64> {
        let id = rows.into_iter().next().map(|r| r.opt_i64("DOC_ID")).transpose()?.flatten();
        id.filter(|id| *id > 0)
            .ok_or_else(|| CpError::Invalid { what: "DOC_ID".into(), detail: "dbo.fnGenDocId returned no id".into() })
    }
}

impl fmt::Display for DocIdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DocIdSource::Formula => {
                f.write_str("document ids follow Counterpoint's layout (the database has no dbo.fnGenDocId)")
            }
            DocIdSource::Function { params, .. } => write!(
                f,
                "document ids come from dbo.fnGenDocId({})",
                params.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
            ),
            DocIdSource::Unusable { signature, reason } => write!(
                f,
                "{signature} is not called ({reason}); document ids follow Counterpoint's layout, computed by cpbridge"
            ),
        }
    }
}

/// What a document id is made of.
#[derive(Debug, Clone, Copy)]
pub struct DocIdInputs<'a> {
    pub str_no: i64,
    pub str_id: &'a str,
    pub sta_no: i64,
    pub sta_id: &'a str,
    pub doc_typ: char,
    pub at: NaiveDateTime,
}

fn is_number(type_name: &str) -> bool {
    matches!(type_name.to_ascii_lowercase().as_str(), "tinyint" | "smallint" | "int" | "bigint" | "numeric" | "decimal")
}

fn is_text(type_name: &str) -> bool {
    type_name.to_ascii_lowercase().contains("char")
}

fn is_date(type_name: &str) -> bool {
    let t = type_name.to_ascii_lowercase();
    t.contains("date") || t == "time"
}

/// What a parameter carries, judged by its name (Counterpoint's column words: `STR`, `STA`, `TYP`, `DAT`, `DT`) and
/// its type. `None` when it says nothing cpbridge can give.
fn arg_for(param: &DocIdParam) -> Option<DocIdArg> {
    let name = param.name.trim_start_matches('@').to_ascii_uppercase();
    let words: Vec<&str> = name.split(|c: char| c == '_' || !c.is_ascii_alphanumeric()).collect();
    let has = |w: &str| words.contains(&w) || name.starts_with(w);
    let t = param.type_name.as_str();
    if is_date(t) {
        return Some(DocIdArg::At);
    }
    // A number or a code, by the parameter's type.
    let by_type = |number: DocIdArg, text: DocIdArg| {
        if is_number(t) {
            Some(number)
        } else if is_text(t) {
            Some(text)
        } else {
            None
        }
    };
    if has("STR") || has("STORE") {
        return by_type(DocIdArg::StoreNo, DocIdArg::StoreId);
    }
    if has("STA") || has("STATION") {
        return by_type(DocIdArg::StationNo, DocIdArg::StationId);
    }
    if has("TYP") || has("DOCTYP") || has("TYPE") {
        return by_type(DocIdArg::DocTypeDigit, DocIdArg::DocTypeLetter);
    }
    if (has("VAR") || has("VARIATION") || has("SEQ") || has("SEQ_NO")) && is_number(t) {
        return Some(DocIdArg::Variation);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, type_name: &str) -> DocIdParam {
        DocIdParam { name: name.into(), type_name: type_name.into() }
    }

    #[test]
    fn parameters_are_bound_by_name_and_type() {
        let source = DocIdSource::plan(
            "FN",
            vec![p("@STR_NO", "smallint"), p("@STA_ID", "varchar"), p("@DOC_TYP", "varchar"), p("@DT", "datetime")],
        );
        let DocIdSource::Function { args, .. } = &source else { panic!("not callable: {source}") };
        assert_eq!(args, &[DocIdArg::StoreNo, DocIdArg::StationId, DocIdArg::DocTypeLetter, DocIdArg::At]);
        assert!(!source.takes_variation());
        assert_eq!(source.call_sql().as_deref(), Some("SELECT dbo.fnGenDocId(@P1, @P2, @P3, @P4) AS DOC_ID"));
        let at = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).and_then(|d| d.and_hms_opt(9, 30, 0)).expect("date");
        let inputs = DocIdInputs { str_no: 3, str_id: "MAIN", sta_no: 90, sta_id: "WEB", doc_typ: 'O', at };
        assert_eq!(
            source.call_args(&inputs, 2),
            vec![Value::Int(3), Value::Text("WEB".into()), Value::Text("O".into()), Value::DateTime(at)]
        );
    }

    #[test]
    fn a_variation_parameter_gets_the_digit() {
        let source = DocIdSource::plan(
            "FN",
            vec![p("@STORE", "int"), p("@STATION", "int"), p("@DOC_TYP", "tinyint"), p("@VAR", "tinyint")],
        );
        assert!(source.takes_variation(), "{source}");
        let at = chrono::NaiveDateTime::default();
        let inputs = DocIdInputs { str_no: 1, str_id: "1", sta_no: 2, sta_id: "2", doc_typ: 'O', at };
        assert_eq!(source.call_args(&inputs, 13), vec![Value::Int(1), Value::Int(2), Value::Int(1), Value::Int(3)]);
    }

    #[test]
    fn an_unknown_parameter_or_kind_keeps_the_formula_and_says_why() {
        let unknown = DocIdSource::plan("FN", vec![p("@STR_NO", "smallint"), p("@SEED", "uniqueidentifier")]);
        assert!(!unknown.calls_function());
        assert!(unknown.to_string().contains("@SEED uniqueidentifier"), "{unknown}");
        let table_valued = DocIdSource::plan("IF", vec![p("@STR_NO", "smallint"), p("@STA_NO", "smallint")]);
        assert!(table_valued.to_string().contains("not a scalar function"), "{table_valued}");
        let no_station = DocIdSource::plan("FN", vec![p("@STR_NO", "smallint"), p("@DT", "datetime")]);
        assert!(!no_station.calls_function(), "{no_station}");
        assert_eq!(DocIdSource::from_rows(&[]).ok(), Some(DocIdSource::Formula));
    }
}
