//! What a webhook endpoint subscribes to and where it is: event types by their Standard
//! Webhooks names (`conversion.logged`, …) and an `http`/`https` URL, parsed at the edge.

use crate::error::AppError;
use std::fmt;

/// Longest endpoint URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// An event an endpoint may subscribe to; its wire name is the payload's `type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    /// A conversion was logged (`data`: the conversion, as `GET /conversions/{id}` shows it).
    ConversionLogged,
    /// A conversion was restated (new value or type).
    ConversionAdjusted,
    /// A conversion was retracted.
    ConversionRetracted,
    /// A contact's conversion fields were changed (`PATCH /contacts/{id}/conversion`).
    ContactUpdated,
}

impl EventType {
    pub const ALL: [EventType; 4] = [
        EventType::ConversionLogged,
        EventType::ConversionAdjusted,
        EventType::ConversionRetracted,
        EventType::ContactUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ConversionLogged => "conversion.logged",
            EventType::ConversionAdjusted => "conversion.adjusted",
            EventType::ConversionRetracted => "conversion.retracted",
            EventType::ContactUpdated => "contact.updated",
        }
    }

    /// Parses one wire name; anything else is `BAD_USER_INPUT` naming `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| {
                AppError::invalid(
                    field,
                    format!(
                        "unknown event type '{}': use {}",
                        raw.chars().take(64).collect::<String>(),
                        Self::ALL.map(Self::as_str).join(", ")
                    ),
                )
            })
    }

    /// A non-empty list of wire names, duplicates dropped, in the canonical order.
    pub fn parse_list(field: &str, raw: &[String]) -> Result<Vec<Self>, AppError> {
        if raw.is_empty() {
            return Err(AppError::invalid(
                field,
                "must name at least one event type",
            ));
        }
        let mut types = raw
            .iter()
            .map(|t| Self::parse(field, t))
            .collect::<Result<Vec<_>, _>>()?;
        types.sort();
        types.dedup();
        Ok(types)
    }

    /// Its bit in an endpoint's stored `event_mask`.
    pub fn bit(self) -> i64 {
        1 << (self as u8)
    }

    pub fn mask(types: &[EventType]) -> i64 {
        types.iter().fold(0, |mask, t| mask | t.bit())
    }

    pub fn from_mask(mask: i64) -> Vec<EventType> {
        Self::ALL
            .into_iter()
            .filter(|t| mask & t.bit() != 0)
            .collect()
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An endpoint URL: absolute `http` or `https`, with a host, without credentials or a
/// fragment, at most [`MAX_URL_LEN`] bytes. Where it points is checked separately
/// (`service::webhooks::target`), at registration and again at every delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointUrl(url::Url);

impl EndpointUrl {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let refuse = |why: &str| AppError::invalid(field, why.to_owned());
        if raw.len() > MAX_URL_LEN {
            return Err(refuse("must be at most 2048 bytes"));
        }
        let url = url::Url::parse(raw.trim()).map_err(|_| refuse("must be an absolute URL"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse("must be an http or https URL"));
        }
        if url.host().is_none() {
            return Err(refuse("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry credentials"));
        }
        if url.fragment().is_some() {
            return Err(refuse("must not have a fragment"));
        }
        Ok(EndpointUrl(url))
    }

    /// A URL stored by `parse` earlier.
    pub fn from_stored(raw: &str) -> Result<Self, AppError> {
        url::Url::parse(raw)
            .map(EndpointUrl)
            .map_err(|_| AppError::Internal("a stored endpoint URL does not parse".into()))
    }

    pub fn url(&self) -> &url::Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_round_trip_through_their_mask() {
        let types = EventType::parse_list(
            "event_types",
            &[
                "contact.updated".into(),
                "conversion.logged".into(),
                "contact.updated".into(),
            ],
        )
        .unwrap();
        assert_eq!(
            types,
            [EventType::ConversionLogged, EventType::ContactUpdated]
        );
        assert_eq!(EventType::from_mask(EventType::mask(&types)), types);
        assert!(EventType::parse_list("event_types", &[]).is_err());
        let err = EventType::parse_list("event_types", &["conversion.deleted".into()]).unwrap_err();
        assert_eq!(err.field(), Some("event_types"));
    }

    #[test]
    fn only_plain_http_urls_are_endpoints() {
        assert!(EndpointUrl::parse("url", "https://hooks.example.com/convio?x=1").is_ok());
        for bad in [
            "ftp://example.com/",
            "example.com/hook",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
            "",
        ] {
            let err = EndpointUrl::parse("url", bad).unwrap_err();
            assert_eq!(err.field(), Some("url"), "{bad}");
        }
    }
}
