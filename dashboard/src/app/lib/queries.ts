//! Every GraphQL document the dashboard sends, with hand-written types of their answers.

export interface ServiceInfo {
  currency: string;
  defaultTimeZone: string;
  rollupTimeZones: string[];
  weekStart: "MONDAY" | "SUNDAY";
  maxPageSize: number;
  tokenTtlSeconds: number;
  caller: { workspaceId: string | null; isAdmin: boolean };
}
export interface WorkspaceRef {
  id: string;
  name: string;
}

/** Once after sign-in: the server's settings and the workspaces the caller may see. */
export const BOOT = `query Boot {
  serviceInfo { currency defaultTimeZone rollupTimeZones weekStart maxPageSize tokenTtlSeconds caller { workspaceId isAdmin } }
  workspaces { id name }
}`;
export interface BootData {
  serviceInfo: ServiceInfo;
  workspaces: WorkspaceRef[];
}

export interface Summary {
  totalConversions: number;
  conversionRate: number | null;
  averageValue: string | null;
  /** Null while a conversion lacks a rate into the reporting currency (as every total below). */
  totalValue: string | null;
  contactsReceived: number;
}
export interface FunnelStage {
  stage: "leads_received" | "qualified" | "appointments" | "conversions";
  count: number;
  percent: number | null;
}
export interface WorkspaceFigures {
  workspaceId: string;
  contactsReceived: number;
  conversions: number;
  conversionRate: number | null;
  totalValue: string | null;
  averageValue: string | null;
}
export interface TrendPoint {
  period: string;
  conversions: number;
  /** Null while one of the bucket's conversions lacks a rate into the reporting currency. */
  totalValue: string | null;
}
export interface Trends {
  daily?: TrendPoint[];
  weekly?: TrendPoint[];
  monthly?: TrendPoint[];
}
/** The fields every conversion list of the dashboard shows (see widgets/ConversionTable). */
export interface ConversionRow {
  id: string;
  convertedAt: string;
  conversionType: string;
  conversionValue: string | null;
  currency: string;
  workspaceId: string;
}
export interface FeedConversion extends ConversionRow {
  createdAt: string;
  contactId: string;
  /** `RETRACTED` conversions are listed but count in no figure. */
  status: "ACTIVE" | "RETRACTED";
}
const FEED_FIELDS = "id createdAt convertedAt conversionType conversionValue currency contactId workspaceId status";

const ANALYTICS = `summary { totalConversions conversionRate averageValue totalValue contactsReceived }
    byWorkspace { workspaceId contactsReceived conversions conversionRate totalValue averageValue }
    trends { daily @include(if: $day) { ...P } weekly @include(if: $week) { ...P } monthly @include(if: $month) { ...P } }`;

/**
 * The one document behind a view: overview, funnel, grid and timeline for the period, the same for the
 * comparison period (aliased, skipped when there is none), the conversion types, and the feed's latest items.
 */
export const DASHBOARD = `query Dashboard($f: AnalyticsFilter!, $c: AnalyticsFilter!, $compare: Boolean!, $recent: ConversionFilter!,
  $day: Boolean!, $week: Boolean!, $month: Boolean!) {
  current: conversionAnalytics(filter: $f) {
    currency timeZone
    ${ANALYTICS}
    funnel { stage count percent }
    byType { conversionType conversions totalValue }
  }
  previous: conversionAnalytics(filter: $c) @include(if: $compare) {
    ${ANALYTICS}
  }
  recent: conversions(first: 20, filter: $recent) { nodes { ${FEED_FIELDS} } }
}
fragment P on TrendPoint { period conversions totalValue }`;

export interface Analytics {
  summary: Summary;
  byWorkspace: WorkspaceFigures[];
  trends: Trends;
}
export interface DashboardData {
  current: Analytics & {
    currency: string;
    timeZone: string;
    funnel: FunnelStage[];
    byType: { conversionType: string; conversions: number; totalValue: string | null }[];
  };
  previous?: Analytics | null;
  recent: { nodes: FeedConversion[] };
}

export const FEED = `subscription Feed($ws: ID, $types: [String!]) {
  conversionFeed(workspaceId: $ws, conversionTypes: $types) { kind conversion { ${FEED_FIELDS} } }
}`;
export interface FeedEvent {
  conversionFeed: { kind: "LOGGED" | "ADJUSTED" | "RETRACTED"; conversion: FeedConversion };
}

/** What the feed missed while its socket was down. */
export const MISSED = `query Missed($filter: ConversionFilter!, $after: String) {
  conversions(first: 200, after: $after, filter: $filter) { totalCount pageInfo { hasNextPage endCursor } nodes { ${FEED_FIELDS} } }
}`;
export interface MissedData {
  conversions: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; nodes: FeedConversion[] };
}

export interface PageInfo {
  hasNextPage: boolean;
  endCursor: string | null;
}

/** One page of a timeline bucket's conversions. */
export const BUCKET_CONVERSIONS = `query BucketConversions($filter: ConversionFilter!, $after: String) {
  conversions(first: 25, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { ${FEED_FIELDS} }
  }
}`;
export interface BucketConversionsData {
  conversions: { totalCount: number; pageInfo: PageInfo; nodes: FeedConversion[] };
}

/** One page of the contacts behind a funnel stage. */
export const STAGE_CONTACTS = `query StageContacts($filter: ContactFilter!, $after: String) {
  contacts(first: 25, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes { id name conversionStatus lifetimeValue currency conversionCount }
  }
}`;
export interface ContactRow {
  id: string;
  name: string | null;
  conversionStatus: string;
  lifetimeValue: string;
  currency: string;
  conversionCount: number;
}
export interface StageContactsData {
  contacts: { totalCount: number; pageInfo: PageInfo; nodes: ContactRow[] };
}

export const CONTACT = `query Contact($id: ID!, $after: String) {
  contact(id: $id) {
    id name email phone conversionStatus lifetimeValue currency conversionCount createdAt updatedAt
    sentFromWorkspace convertedFromWorkspace convertedTimestamp erasedAt customMetadata
    conversions(first: 25, after: $after) {
      totalCount
      nodes { id convertedAt conversionType conversionValue currency workspaceId convertedBy }
      pageInfo { hasNextPage endCursor }
    }
  }
}`;
export interface ContactDetail extends ContactRow {
  email: string | null;
  phone: string | null;
  createdAt: string;
  updatedAt: string;
  sentFromWorkspace: string | null;
  convertedFromWorkspace: string | null;
  convertedTimestamp: string | null;
  erasedAt: string | null;
  customMetadata: unknown;
  conversions: {
    totalCount: number;
    nodes: (ConversionRow & { convertedBy: string })[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}
export interface ContactData {
  contact: ContactDetail | null;
}
