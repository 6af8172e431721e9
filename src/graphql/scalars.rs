//! `Decimal`: exact amounts. Output is a string with the currency's places ("25000.00").
//! Input is a string ("18500.50") or an integer (25000). GraphQL reads a number with a fraction
//! or an exponent as a binary double, whose exact digits are already lost: such a number is
//! refused where it is used, naming the field, rather than rounded. The text is parsed once,
//! by the domain's `Amount`, as REST does.

use crate::domain::Amount;
use crate::error::AppError;
use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};

/// An exact decimal amount, as text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decimal(pub String);

/// Leads the text of a number GraphQL read as a double, so that no amount is taken from it.
const INEXACT: char = '≈';

impl Decimal {
    /// The exact amount this input names, or a `field` error for a number read as a double.
    pub fn amount(&self, field: &str) -> Result<Amount, AppError> {
        if self.0.starts_with(INEXACT) {
            return Err(AppError::invalid(
                field,
                "must be sent as a string such as \"18500.50\" when it has a fraction or an \
                 exponent: GraphQL reads such a number as a binary double, which is not exact",
            ));
        }
        Amount::parse(field, &self.0)
    }
}

/// An exact decimal amount in its currency (a conversion's own; a total's reporting currency). Output: a string with the currency's
/// decimal places (`"25000.00"`). Input: a string of digits with an optional point
/// (`"18500.50"`, at most the currency's places, no sign, no exponent: a subset of XML
/// Schema's `decimal`) or an `Int` (`25000`). A number with a fraction or an exponent is
/// refused: GraphQL reads it as a binary double, which is not exact.
#[Scalar(
    name = "Decimal",
    specified_by_url = "https://www.w3.org/TR/xmlschema11-2/#decimal"
)]
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(s) => Ok(Decimal(s)),
            Value::Number(n) if n.is_u64() || n.is_i64() => Ok(Decimal(n.to_string())),
            Value::Number(n) => Ok(Decimal(format!("{INEXACT}{n}"))),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.clone())
    }
}
