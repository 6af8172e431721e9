//! Limits on one GraphQL document, checked as it is parsed, before validation or execution:
//! how deep it nests (see `depth.rs`: introspection is bounded on its own terms) and how many
//! field aliases it uses. Complexity comes with the library; aliases do not, and they let one
//! small document request the same expensive field many times over (`a1: conversions …
//! a500: conversions`).

use super::depth::{Depths, MAX_INTROSPECTION_DEPTH};
use crate::error::AppError;
use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{Pos, ServerResult, Variables};
use std::sync::Arc;

/// Refuses documents with more than `max_aliases` aliased fields, ordinary selections nested
/// deeper than `max_depth`, or introspection nested deeper than [`MAX_INTROSPECTION_DEPTH`]
/// (`BAD_USER_INPUT`, saying which limit and by how much).
#[derive(Clone, Copy)]
pub struct DocumentLimits {
    pub max_depth: usize,
    pub max_aliases: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimits {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        match self.refusal(&document) {
            Some(message) => Err(async_graphql::Error::from(AppError::invalid("", message))
                .into_server_error(Pos::default())),
            None => Ok(document),
        }
    }
}

impl DocumentLimits {
    /// Why `document` is refused, or `None` when it is within every limit.
    fn refusal(&self, document: &ExecutableDocument) -> Option<String> {
        let aliases = count_aliases(document);
        if aliases > self.max_aliases {
            return Some(format!(
                "the document uses {aliases} field aliases; at most {} are allowed",
                self.max_aliases
            ));
        }
        let depths = Depths::of(document);
        if depths.ordinary > self.max_depth {
            return Some(format!(
                "the query is nested too deep: {} levels, at most {} are allowed",
                depths.ordinary, self.max_depth
            ));
        }
        (depths.introspection > MAX_INTROSPECTION_DEPTH).then(|| {
            format!(
                "the introspection query is nested too deep: {} levels, at most \
                 {MAX_INTROSPECTION_DEPTH} are allowed",
                depths.introspection
            )
        })
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
