//! Parsed documents, kept by their text. Clients send the same few operations again and
//! again with new variables (a CRM's `logConversion`, a dashboard's queries), and parsing one
//! costs more than the rest of its request's GraphQL work: a document seen before is cloned
//! from here instead of parsed again.
//!
//! Innermost of the schema's extensions, this stands only in for the parser (and the
//! parser's own depth checks, which a kept document passed): every other extension still
//! sees each document, so the limits and the metrics apply to a kept one as to a new one.
//! Only documents that parsed are kept; at most [`ENTRIES`] of them, each at most
//! [`LONGEST`] bytes of text, the least recently used going first.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

/// Documents kept at most.
pub const ENTRIES: usize = 256;
/// Longest text kept, in bytes: a client's operations, not a document built to fill memory.
pub const LONGEST: usize = 8 * 1024;

/// The schema extension; see the module's documentation.
#[derive(Clone)]
pub struct ParsedDocuments(Arc<Mutex<LruCache<Box<str>, ExecutableDocument>>>);

impl Default for ParsedDocuments {
    fn default() -> Self {
        let entries = NonZeroUsize::new(ENTRIES).expect("ENTRIES is not 0");
        ParsedDocuments(Arc::new(Mutex::new(LruCache::new(entries))))
    }
}

impl ParsedDocuments {
    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.get(query).cloned()
    }

    fn keep(&self, query: &str, document: &ExecutableDocument) {
        let mut kept = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        kept.put(query.into(), document.clone());
    }

    /// Documents kept now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

impl ExtensionFactory for ParsedDocuments {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ParsedDocuments {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        if query.len() > LONGEST {
            return next.run(ctx, query, variables).await;
        }
        if let Some(document) = self.get(query) {
            return Ok(document);
        }
        let document = next.run(ctx, query, variables).await?;
        self.keep(query, &document);
        Ok(document)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn schema(kept: &ParsedDocuments) -> crate::graphql::ConvioSchema {
        let limits = crate::Config::parse_from(["convio"]).hardening;
        crate::graphql::limited(crate::graphql::schema(), &limits)
            .extension(kept.clone())
            .finish()
    }

    #[tokio::test]
    async fn a_document_is_parsed_once_and_answered_alike_after() {
        let kept = ParsedDocuments::default();
        let schema = schema(&kept);
        let first = schema.execute("query Q { __typename }").await;
        let again = schema.execute("query Q { __typename }").await;
        assert!(first.errors.is_empty(), "{:?}", first.errors);
        assert_eq!(again.data, first.data);
        assert_eq!(kept.len(), 1);
        schema.execute("{ __typename }").await;
        assert_eq!(kept.len(), 2);
    }

    #[tokio::test]
    async fn a_kept_document_still_meets_the_limits() {
        let kept = ParsedDocuments::default();
        let schema = schema(&kept);
        let deep = format!("{{ {}__typename{} }}", "a { ".repeat(25), " }".repeat(25));
        for _ in 0..2 {
            let response = schema.execute(deep.as_str()).await;
            let message = &response.errors.first().expect("refused").message;
            assert!(message.contains("nested too deep"), "{message}");
        }
        // Kept (it parsed), and refused again from there by the limits outside.
        assert_eq!(kept.len(), 1);
    }

    #[tokio::test]
    async fn neither_long_nor_unparsable_text_is_kept() {
        let kept = ParsedDocuments::default();
        let schema = schema(&kept);
        let long = format!("{{ __typename }}{}", " ".repeat(LONGEST));
        assert!(schema.execute(long.as_str()).await.errors.is_empty());
        let broken = schema.execute("{ __typename").await;
        assert!(!broken.errors.is_empty());
        assert_eq!(kept.len(), 0);
    }

    #[tokio::test]
    async fn the_least_recently_used_goes_first() {
        let kept = ParsedDocuments::default();
        let schema = schema(&kept);
        for i in 0..=ENTRIES {
            schema.execute(format!("query Q{i} {{ __typename }}")).await;
        }
        assert_eq!(kept.len(), ENTRIES);
        assert!(kept.get("query Q0 { __typename }").is_none());
        assert!(
            kept.get(&format!("query Q{ENTRIES} {{ __typename }}"))
                .is_some()
        );
    }
}
