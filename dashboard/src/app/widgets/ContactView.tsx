import { useState } from "preact/hooks";
import { Section } from "./Section";
import { MetaTree, MetaValue } from "./Metadata";
import { ConversionTable } from "./ConversionTable";
import { useQuery } from "../lib/useQuery";
import { usePages } from "../lib/usePages";
import { Pager } from "./Pager";
import { formatInt, formatMoney } from "../lib/format";
import { CONTACT, type ContactData } from "../lib/queries";

/** Conversions per page; the CONTACT query asks for as many. */
const PAGE = 25;

interface Props {
  id: string;
  zone: string;
  names: Map<string, string>;
  close: () => void;
}

/** §4.6: one contact: status, lifetime value, conversions, and its metadata by type (or raw JSON). */
export function ContactView(props: Props) {
  const pages = usePages(props.id);
  const q = useQuery<ContactData>(CONTACT, { id: props.id, after: pages.after });
  const [raw, setRaw] = useState(false);
  const c = q.data?.contact;
  return (
    <Section
      id="contact"
      title="Contact"
      focusOnOpen
      actions={
        <button type="button" onClick={props.close}>
          Close contact
        </button>
      }
    >
      {q.error && <p role="alert" class="error">{q.error}</p>}
      {q.data && !c && <p>Contact #{props.id} does not exist or is not yours.</p>}
      {c && (
        <>
          <h3>
            <bdi>{c.name ?? "Unnamed contact"}</bdi> <span class="muted">#{c.id}</span>
          </h3>
          <dl class="facts">
            <div><dt>Status</dt><dd data-testid="contact-status" data-value={c.conversionStatus}>{c.conversionStatus.toLowerCase()}</dd></div>
            <div><dt>Lifetime value</dt><dd data-testid="contact-lifetime-value" data-value={c.lifetimeValue}>{formatMoney(c.lifetimeValue, c.currency)}</dd></div>
            <div><dt>Conversions</dt><dd data-testid="contact-conversion-count" data-value={c.conversionCount}>{formatInt(c.conversionCount)}</dd></div>
            {c.email && <div><dt>Email</dt><dd><bdi>{c.email}</bdi></dd></div>}
            {c.phone && <div><dt>Phone</dt><dd><bdi>{c.phone}</bdi></dd></div>}
            {c.sentFromWorkspace && <div><dt>Sent from</dt><dd>{props.names.get(c.sentFromWorkspace) ?? c.sentFromWorkspace}</dd></div>}
            {c.convertedFromWorkspace && <div><dt>Converted by workspace</dt><dd>{props.names.get(c.convertedFromWorkspace) ?? c.convertedFromWorkspace}</dd></div>}
            {c.erasedAt && <div><dt>Erased</dt><dd><MetaValue name="erased" value={c.erasedAt} /></dd></div>}
          </dl>
          <div class="card-head">
            <h3>Custom metadata</h3>
            <button type="button" aria-pressed={raw} onClick={() => setRaw(!raw)}>
              Raw JSON
            </button>
          </div>
          {raw ? (
            <pre class="raw" data-testid="raw-json" tabIndex={0}>{JSON.stringify(c.customMetadata ?? null, null, 2)}</pre>
          ) : c.customMetadata && typeof c.customMetadata === "object" && !Array.isArray(c.customMetadata) ? (
            <div class="meta-scroll"><MetaTree data={c.customMetadata as Record<string, unknown>} /></div>
          ) : c.customMetadata == null ? (
            <p class="muted">No metadata.</p>
          ) : (
            <MetaValue name="metadata" value={c.customMetadata} />
          )}
          <h3>Its conversions</h3>
          {c.conversions.totalCount < c.conversionCount && (
            <p class="muted" data-testid="conversions-partial">
              {formatInt(c.conversions.totalCount)} of {formatInt(c.conversionCount)} conversions are yours; the rest were logged by other workspaces.
            </p>
          )}
          {c.conversions.totalCount > PAGE && (
            <Pager testId="contact-conversions-total" page={pages.page} size={PAGE} shown={c.conversions.nodes.length}
              total={c.conversions.totalCount} hasNext={c.conversions.pageInfo.hasNextPage}
              prev={pages.prev} next={() => pages.next(c.conversions.pageInfo.endCursor)} />
          )}
          <ConversionTable caption="The contact's conversions" rows={c.conversions.nodes} zone={props.zone} names={props.names}
            last={["By", (v) => v.convertedBy]} />
        </>
      )}
      {q.loading && <p class="muted">Loading…</p>}
    </Section>
  );
}
