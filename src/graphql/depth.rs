//! How deep a document may nest, with introspection bounded on its own terms.
//!
//! The library's depth limit counts every field alike, so the standard introspection query of
//! graphql-js (`__schema { types { fields { args { type { ofType ×9 …` — 15 levels) fails
//! at any limit a data API should have, and GraphiQL, code generators and IDE plugins lose the
//! schema. Introspection is cheap and bounded by the schema itself, not by the data, so its
//! subtrees (`__schema`, `__type`) get their own fixed bound, while ordinary selections keep
//! `--graphql-max-depth`. Depth is measured with fragments expanded (each fragment measured
//! once, so a fragment "bomb" costs no more to measure than to read), as the document is
//! parsed, before validation or execution (the check itself is `limits::DocumentLimits`).

use async_graphql::Name;
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use std::collections::HashMap;

/// Deepest an introspection subtree may nest, counting `__schema` or `__type` as level 1:
/// room for graphql-js's standard query (15 levels with its default `typeDepth` of 9) and a
/// few more wrappers, far below anything that could hurt.
pub const MAX_INTROSPECTION_DEPTH: usize = 20;

/// The deepest nesting of a document's operations, fragments expanded.
#[derive(Debug, PartialEq, Eq)]
pub struct Depths {
    /// Ordinary selections; an introspection field counts as one level here.
    pub ordinary: usize,
    /// The deepest `__schema` or `__type` subtree, that field included.
    pub introspection: usize,
}

impl Depths {
    pub fn of(document: &ExecutableDocument) -> Depths {
        let mut walk = Walk {
            document,
            memo: HashMap::new(),
            open: Vec::new(),
        };
        let mut depths = Depths {
            ordinary: 0,
            introspection: 0,
        };
        for (_, operation) in document.operations.iter() {
            let d = walk.set(&operation.node.selection_set.node);
            depths.ordinary = depths.ordinary.max(d.ordinary);
            depths.introspection = depths.introspection.max(d.introspection);
        }
        depths
    }
}

/// Both depths of a selection set: `ordinary` as above, `full` counting every field, and the
/// deepest introspection subtree inside it.
#[derive(Clone, Copy, Default)]
struct SetDepth {
    ordinary: usize,
    full: usize,
    introspection: usize,
}

impl SetDepth {
    fn max(self, other: SetDepth) -> SetDepth {
        SetDepth {
            ordinary: self.ordinary.max(other.ordinary),
            full: self.full.max(other.full),
            introspection: self.introspection.max(other.introspection),
        }
    }
}

struct Walk<'a> {
    document: &'a ExecutableDocument,
    /// Each fragment's depths, measured once.
    memo: HashMap<&'a Name, SetDepth>,
    /// Fragments being measured: a spread of one of them is a cycle, which validation refuses
    /// later; here it adds nothing.
    open: Vec<&'a Name>,
}

impl<'a> Walk<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> SetDepth {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => {
                    let inner = self.set(&field.node.selection_set.node);
                    let full = inner.full + 1;
                    if is_introspection(field.node.name.node.as_str()) {
                        SetDepth {
                            ordinary: 1,
                            full,
                            introspection: inner.introspection.max(full),
                        }
                    } else {
                        SetDepth {
                            ordinary: inner.ordinary + 1,
                            full,
                            introspection: inner.introspection,
                        }
                    }
                }
                Selection::InlineFragment(fragment) => self.set(&fragment.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            })
            .fold(SetDepth::default(), SetDepth::max)
    }

    fn fragment(&mut self, name: &'a Name) -> SetDepth {
        if let Some(known) = self.memo.get(name) {
            return *known;
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            return SetDepth::default();
        };
        if self.open.contains(&name) {
            return SetDepth::default();
        }
        self.open.push(name);
        let depth = self.set(&fragment.node.selection_set.node);
        self.open.pop();
        self.memo.insert(name, depth);
        depth
    }
}

/// The root fields that read the schema rather than data.
fn is_introspection(field: &str) -> bool {
    matches!(field, "__schema" | "__type")
}

#[cfg(test)]
mod tests {
    use super::Depths;
    use async_graphql::parser::parse_query;

    fn depths(query: &str) -> (usize, usize) {
        let d = Depths::of(&parse_query(query).expect("a valid document"));
        (d.ordinary, d.introspection)
    }

    #[test]
    fn fragments_count_where_they_are_spread() {
        assert_eq!(depths("{ a { b { c } } }"), (3, 0));
        assert_eq!(
            depths("{ a { ...F } } fragment F on T { b { ... on T { c { d } } } }"),
            (4, 0)
        );
        assert_eq!(
            depths("{ a { ...F } } fragment F on T { b { ...F } }"),
            (2, 0)
        );
    }

    #[test]
    fn introspection_is_measured_apart() {
        assert_eq!(
            depths("{ a { b } __type(name: \"Q\") { ofType { ofType { name } } } }"),
            (2, 4)
        );
        assert_eq!(
            depths("{ __schema { types { ...T } } } fragment T on __Type { fields { name } }"),
            (1, 4)
        );
    }

    #[test]
    fn the_standard_introspection_query_fits_its_bound() {
        let query = include_str!("../../tests/api/introspection_query.graphql");
        let (ordinary, introspection) = depths(query);
        assert_eq!(ordinary, 1);
        assert_eq!(introspection, 15);
        assert!(introspection <= super::MAX_INTROSPECTION_DEPTH);
    }
}
