import { useEffect, useRef, useState } from "preact/hooks";
import { Section } from "./Section";
import { startFeed, type FeedStatus } from "../lib/feed";
import { formatMoney, relativeTime } from "../lib/format";
import type { FeedConversion } from "../lib/queries";

const MAX_ITEMS = 50;

interface Props {
  initial: FeedConversion[];
  workspaceId?: string;
  conversionType?: string;
  names: Map<string, string>;
  openContact: (id: string) => void;
  /** Told of every conversion that arrives live (not of the initial list). */
  onArrival?: (c: FeedConversion) => void;
}

const byNewest = (a: FeedConversion, b: FeedConversion) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0);

/** New arrivals (already deduplicated) go on top, newest first among themselves. */
function merge(list: FeedConversion[], fresh: FeedConversion[]): FeedConversion[] {
  if (!fresh.length) return list;
  return [...[...fresh].sort(byNewest), ...list].slice(0, MAX_ITEMS);
}

/** §4.4: conversions pushed as they are stored, newest first; Pause holds new ones back until Resume. */
export function LiveFeed(props: Props) {
  const [items, setItems] = useState(props.initial);
  const [held, setHeld] = useState<FeedConversion[]>([]);
  const [paused, setPaused] = useState(false);
  const [status, setStatus] = useState<FeedStatus>("Connecting…");
  const [missedMore, setMissedMore] = useState(0);
  const [, tick] = useState(0);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;
  const seen = useRef(new Set<string>());
  const arrival = useRef(props.onArrival);
  arrival.current = props.onArrival;

  useEffect(() => {
    seen.current = new Set(props.initial.map((c) => c.id));
    setItems(props.initial);
    setHeld([]);
    setMissedMore(0);
    return startFeed({
      onMissedMore: setMissedMore,
      workspaceId: props.workspaceId,
      conversionType: props.conversionType,
      onStatus: setStatus,
      onAdjusted: (c) => {
        const update = (list: FeedConversion[]) => list.map((item) => (item.id === c.id ? { ...item, ...c } : item));
        setItems(update);
        setHeld(update);
      },
      onItems: (more) => {
        // An id already shown or held is dropped here, synchronously, so it shows (and counts) once.
        const fresh = more.filter((c) => !seen.current.has(c.id) && (seen.current.add(c.id), true));
        if (!fresh.length) return;
        fresh.forEach((c) => arrival.current?.(c));
        if (pausedRef.current) setHeld((h) => merge(h, fresh));
        else setItems((l) => merge(l, fresh));
      },
    });
  }, [props.initial, props.workspaceId, props.conversionType]);

  useEffect(() => {
    const t = setInterval(() => tick((n) => n + 1), 15_000);
    return () => clearInterval(t);
  }, []);

  const toggle = () => {
    if (paused) {
      setItems((l) => [...held, ...l].slice(0, MAX_ITEMS));
      setHeld([]);
    }
    setPaused(!paused);
  };
  const shown = paused ? "Paused" : status;
  return (
    <Section
      id="feed"
      title="Live feed"
      actions={
        <div class="feed-actions">
          <span role="status" class={`pill ${shown === "Live" ? "live" : ""}`}>
            {shown}
          </span>
          {paused && held.length > 0 && <span class="muted">{held.length} new</span>}
          <button type="button" onClick={toggle}>
            {paused ? "Resume" : "Pause"}
          </button>
        </div>
      }
    >
      {missedMore > 0 && (
        <p class="muted" data-testid="feed-missed-more" data-count={missedMore}>
          {missedMore} more missed while disconnected — refresh the page to see them.
        </p>
      )}
      <ol class="feed" aria-label="Live feed">
        {items.map((c) => (
          <li data-conversion-id={c.id} data-status={c.status} class={c.status === "RETRACTED" ? "retracted" : undefined}>
            <time dateTime={c.createdAt} title={c.createdAt}>
              {relativeTime(c.createdAt)}
            </time>
            <span class="type">
              {c.conversionType}
              {c.status === "RETRACTED" && <span class="badge"> retracted</span>}
            </span>
            <span class="money" data-value={c.conversionValue ?? ""}>
              {c.conversionValue == null ? "no value" : formatMoney(c.conversionValue, c.currency)}
            </span>
            <button type="button" class="link" onClick={() => props.openContact(c.contactId)}>
              Contact #{c.contactId}
            </button>
            <span class="muted">{props.names.get(c.workspaceId) ?? c.workspaceId}</span>
          </li>
        ))}
        {items.length === 0 && <li class="muted empty">No conversions yet; new ones appear here as they are logged.</li>}
      </ol>
    </Section>
  );
}
