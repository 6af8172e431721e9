//! A cap on field aliases per document. Depth and complexity limits come with the library;
//! aliases do not, and they let one small document request the same expensive field many
//! times over (`a1: conversions … a500: conversions`), so we count them as the document is
//! parsed, before validation or execution.

use crate::error::AppError;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, ServerResult, Variables};
use std::sync::Arc;

/// Refuses documents with more than `max` aliased fields.
pub struct AliasLimit {
    pub max: usize,
}

impl ExtensionFactory for AliasLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AliasLimitExtension { max: self.max })
    }
}

struct AliasLimitExtension {
    max: usize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for AliasLimitExtension {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let aliases = count_aliases(&document);
        if aliases > self.max {
            let refused = AppError::invalid(
                "",
                format!(
                    "the document uses {aliases} field aliases; at most {} are allowed",
                    self.max
                ),
            );
            return Err(async_graphql::Error::from(refused).into_server_error(Pos::default()));
        }
        Ok(document)
    }
}

/// Every alias written in the document, in operations and fragment definitions alike (a
/// fragment's aliases are counted once, where it is defined).
pub fn count_aliases(document: &ExecutableDocument) -> usize {
    let operations = document
        .operations
        .iter()
        .map(|(_, op)| in_set(&op.node.selection_set.node));
    let fragments = document
        .fragments
        .values()
        .map(|fragment| in_set(&fragment.node.selection_set.node));
    operations.chain(fragments).sum()
}

fn in_set(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => {
                usize::from(field.node.alias.is_some()) + in_set(&field.node.selection_set.node)
            }
            Selection::InlineFragment(fragment) => in_set(&fragment.node.selection_set.node),
            Selection::FragmentSpread(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use async_graphql::parser::parse_query;

    #[test]
    fn aliases_are_counted_everywhere_they_are_written() {
        let document = parse_query(
            "query { a: __typename b: __typename ... on QueryRoot { c: __typename } ...F }
             fragment F on QueryRoot { d: __typename plain: __typename __typename }",
        )
        .expect("a valid document");
        assert_eq!(super::count_aliases(&document), 5);
    }
}
