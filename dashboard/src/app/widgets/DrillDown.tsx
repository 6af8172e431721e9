import { Section } from "./Section";
import { Pager } from "./Pager";
import { ConversionTable } from "./ConversionTable";
import { STAGE_LABELS } from "./Funnel";
import { useQuery } from "../lib/useQuery";
import { usePages } from "../lib/usePages";
import { formatInt, formatMoney } from "../lib/format";
import {
  BUCKET_CONVERSIONS, STAGE_CONTACTS, type BucketConversionsData, type StageContactsData,
} from "../lib/queries";
import type { Bucket, Period } from "../lib/period";

const PAGE = 25;

interface Common {
  zone: string;
  workspaceId?: string;
  openContact: (id: string) => void;
  close: () => void;
}

function CloseButton(props: { close: () => void }) {
  return (
    <button type="button" onClick={props.close}>
      Close drill-down
    </button>
  );
}

/** The conversions of one timeline bucket, paged; a conversion opens its contact. */
export function BucketDrillDown(props: Common & { bucket: Bucket; conversionType?: string; names: Map<string, string> }) {
  const filter: Record<string, unknown> = { fromDate: props.bucket.from, toDate: props.bucket.to, timeZone: props.zone };
  if (props.workspaceId) filter.workspaceId = props.workspaceId;
  if (props.conversionType) filter.conversionType = props.conversionType;
  const pages = usePages(JSON.stringify(filter));
  const q = useQuery<BucketConversionsData>(BUCKET_CONVERSIONS, { filter, after: pages.after });
  const conn = q.data?.conversions;
  const span = props.bucket.from === props.bucket.to ? props.bucket.from : `${props.bucket.from} to ${props.bucket.to}`;
  return (
    <Section id="drill" title="Drill-down" focusOnOpen actions={<CloseButton close={props.close} />}>
      <p>
        Conversions from {span} ({props.zone})
      </p>
      {q.error && <p role="alert" class="error">{q.error}</p>}
      {conn && (
        <>
          <Pager page={pages.page} size={PAGE} shown={conn.nodes.length} total={conn.totalCount} hasNext={conn.pageInfo.hasNextPage}
            prev={pages.prev} next={() => pages.next(conn.pageInfo.endCursor)} />
          <ConversionTable caption="Conversions in the bucket" rows={conn.nodes} zone={props.zone} names={props.names}
            last={["Contact", (c) => (
              <button type="button" class="link" onClick={() => props.openContact(c.contactId)}>Contact #{c.contactId}</button>
            )]} />
        </>
      )}
      {q.loading && <p class="muted">Loading…</p>}
    </Section>
  );
}

/** The contacts behind one funnel stage, paged. */
export function StageDrillDown(props: Common & { stage: string; period: Period }) {
  const filter: Record<string, unknown> = {
    receivedFrom: props.period.from, receivedTo: props.period.to, timeZone: props.zone, reachedStage: props.stage.toUpperCase(),
  };
  if (props.workspaceId) filter.workspaceId = props.workspaceId;
  const pages = usePages(JSON.stringify(filter));
  const q = useQuery<StageContactsData>(STAGE_CONTACTS, { filter, after: pages.after });
  const conn = q.data?.contacts;
  return (
    <Section id="drill" title="Drill-down" focusOnOpen actions={<CloseButton close={props.close} />}>
      <p>
        Contacts received {props.period.from} to {props.period.to} ({props.zone}) that reached “{STAGE_LABELS[props.stage] ?? props.stage}”
      </p>
      {q.error && <p role="alert" class="error">{q.error}</p>}
      {conn && (
        <>
          <Pager page={pages.page} size={PAGE} shown={conn.nodes.length} total={conn.totalCount} hasNext={conn.pageInfo.hasNextPage}
            prev={pages.prev} next={() => pages.next(conn.pageInfo.endCursor)} />
          <div class="table-wrap">
            <table>
              <caption class="sr-only">Contacts at the stage</caption>
              <thead>
                <tr><th scope="col">Contact</th><th scope="col">Status</th><th scope="col">Conversions</th><th scope="col">Lifetime value</th></tr>
              </thead>
              <tbody>
                {conn.nodes.map((c) => (
                  <tr data-contact-id={c.id}>
                    <td>
                      <button type="button" class="link" onClick={() => props.openContact(c.id)}>
                        {c.name ?? "Contact"} #{c.id}
                      </button>
                    </td>
                    <td>{c.conversionStatus.toLowerCase()}</td>
                    <td data-value={c.conversionCount}>{formatInt(c.conversionCount)}</td>
                    <td data-value={c.lifetimeValue}>{formatMoney(c.lifetimeValue, c.currency)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
      {q.loading && <p class="muted">Loading…</p>}
    </Section>
  );
}
