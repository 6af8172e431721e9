//! The /graphiql page: GraphiQL (React 18, codemirror 5) with the docs explorer, served offline.
import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { GraphiQL } from "graphiql";
import "graphiql/graphiql.css";
import "./page.css";
import { createFetcher } from "./fetcher";
import { headerlessStorage } from "./storage";

const DEFAULT_HEADERS = '{"Authorization": "Bearer <key>"}';
const DEFAULT_QUERY = `# Put your key (or a JWT from POST /auth/token) in the Headers tab below.
# Subscriptions (e.g. conversionFeed) go over /graphql/ws with those headers as connection_init.
query Overview {
  serviceInfo { currency defaultTimeZone }
  conversionAnalytics(filter: { fromDate: "2024-01-01" }) {
    summary { totalConversions totalValue conversionRate }
  }
}
`;

const container = document.getElementById("graphiql");
if (container) {
  createRoot(container).render(
    createElement(GraphiQL, {
      fetcher: createFetcher("/graphql"),
      defaultHeaders: DEFAULT_HEADERS,
      defaultQuery: DEFAULT_QUERY,
      defaultEditorToolsVisibility: "headers",
      shouldPersistHeaders: false,
      storage: headerlessStorage(),
      isHeadersEditorEnabled: true,
    }),
  );
}
