//! Parsed documents, kept by their text. Clients send the same few operations again and
//! again with new variables (a CRM's `logConversion`, a dashboard's queries), and parsing one
//! costs more than the rest of its request's GraphQL work: a document seen before is cloned
//! from here instead of parsed again.
//!
//! Innermost of the schema's extensions, this stands only in for the parser (and the
//! parser's own depth checks, which a kept document passed): every other extension still
//! sees each document, so the limits and the metrics apply to a kept one as to a new one.
//!
//! Only documents that parsed are kept, each of at most [`LONGEST`] bytes of text, and at
//! most [`BUDGET`] bytes of text in all, the least recently used going first. A parsed
//! document takes about 50 times its text (a 4 KiB document of bare fields, 215 KB), so the
//! budget holds this at a few megabytes whatever clients send.

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerResult, Variables};
use lru::LruCache;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Longest text kept, in bytes: a client's operations (the dashboard's largest is under
/// 1 KiB, GraphiQL's introspection 2 KiB), not a document built to fill memory.
pub const LONGEST: usize = 4 * 1024;
/// Text kept in all, in bytes.
pub const BUDGET: usize = 64 * 1024;

/// The schema extension; see the module's documentation.
#[derive(Clone, Default)]
pub struct ParsedDocuments(Arc<Mutex<Kept>>);

struct Kept {
    documents: LruCache<Box<str>, ExecutableDocument>,
    /// The length of every kept text, summed.
    bytes: usize,
}

impl Default for Kept {
    fn default() -> Self {
        Kept {
            documents: LruCache::unbounded(),
            bytes: 0,
        }
    }
}

impl ParsedDocuments {
    fn lock(&self) -> MutexGuard<'_, Kept> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, query: &str) -> Option<ExecutableDocument> {
        self.lock().documents.get(query).cloned()
    }

    fn keep(&self, query: &str, document: &ExecutableDocument) {
        let mut kept = self.lock();
        if kept.documents.put(query.into(), document.clone()).is_none() {
            kept.bytes += query.len();
        }
        while kept.bytes > BUDGET {
            let Some((text, _)) = kept.documents.pop_lru() else {
                break;
            };
            kept.bytes -= text.len();
        }
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

    impl ParsedDocuments {
        fn len(&self) -> usize {
            self.lock().documents.len()
        }
    }

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
    async fn the_least_recently_used_goes_first_past_the_budget() {
        let kept = ParsedDocuments::default();
        let schema = schema(&kept);
        // About 1 KiB each: the budget holds 64 of them, not 70.
        let text = |i: usize| format!("query Q{i} {{ __typename }}{}", " ".repeat(1000));
        for i in 0..60 {
            schema.execute(text(i)).await;
        }
        assert_eq!(kept.len(), 60);
        // The first, used again, outlives those after it.
        schema.execute(text(0)).await;
        for i in 60..70 {
            schema.execute(text(i)).await;
        }
        let kept_texts: usize = (0..70)
            .filter(|&i| kept.get(&text(i)).is_some())
            .map(|i| text(i).len())
            .sum();
        let bytes = kept.lock().bytes;
        assert_eq!(bytes, kept_texts);
        assert!(bytes <= BUDGET && bytes + text(0).len() > BUDGET, "{bytes}");
        assert!(kept.get(&text(0)).is_some());
        assert!(kept.get(&text(1)).is_none());
        assert!(kept.get(&text(69)).is_some());
    }
}
