//! A contact's personal details as both doors take them: the rules for `name`, `email` and
//! `phone`, written once. Empty text reads as absent.

use super::optional_text;
use crate::error::AppError;

fn text(field: &str, raw: Option<String>, max: usize) -> Result<Option<String>, AppError> {
    raw.map(|t| optional_text(field, &t, max))
        .transpose()
        .map(|t| t.filter(|t| !t.is_empty()))
}

/// Full name: at most 200 characters.
pub fn name(raw: Option<String>) -> Result<Option<String>, AppError> {
    text("name", raw, 200)
}

/// Phone number, as written: at most 50 characters.
pub fn phone(raw: Option<String>) -> Result<Option<String>, AppError> {
    text("phone", raw, 50)
}

/// Email address: at most 254 characters, one `@`-bearing word without spaces.
pub fn email(raw: Option<String>) -> Result<Option<String>, AppError> {
    let email = text("email", raw, 254)?;
    if let Some(email) = &email
        && (!email.contains('@') || email.contains(char::is_whitespace))
    {
        return Err(AppError::invalid("email", "is not an email address"));
    }
    Ok(email)
}
