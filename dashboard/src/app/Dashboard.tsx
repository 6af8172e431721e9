import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import { Controls } from "./widgets/Controls";
import { Overview } from "./widgets/Overview";
import { Funnel } from "./widgets/Funnel";
import { WorkspaceGrid } from "./widgets/WorkspaceGrid";
import { LiveFeed } from "./widgets/LiveFeed";
import { Timeline } from "./widgets/Timeline";
import { BucketDrillDown, StageDrillDown } from "./widgets/DrillDown";
import { ContactView } from "./widgets/ContactView";
import { ExportButtons } from "./widgets/ExportButtons";
import { useQuery } from "./lib/useQuery";
import { useView } from "./lib/view";
import { bucketOf, comparisonPeriod, viewPeriod } from "./lib/period";
import { DASHBOARD, type DashboardData, type FeedConversion, type ServiceInfo, type WorkspaceRef } from "./lib/queries";

const COMPARE_LABEL = { previous: "vs previous period", year: "vs a year earlier", none: "" };

/** Everything below the header: the view's controls and widgets, fed by one query per view change. */
export function Dashboard(props: { info: ServiceInfo; workspaces: WorkspaceRef[] }) {
  const { info, workspaces } = props;
  const [view, setView, bad, reject] = useView();
  const tz = view.tz ?? info.defaultTimeZone;
  // A `ws` the caller cannot see (a workspace key naming another workspace, or no such workspace) falls back
  // to the default, with the notice of any other refused URL value.
  const wsOk = !view.ws || (info.caller.isAdmin ? !workspaces.length || workspaces.some((w) => w.id === view.ws) : view.ws === info.caller.workspaceId);
  useEffect(() => {
    if (!wsOk) reject("ws", { ws: undefined });
  }, [wsOk]);
  const ws = (wsOk ? view.ws : undefined) ?? (info.caller.isAdmin ? undefined : info.caller.workspaceId ?? undefined);
  const period = viewPeriod(view, tz);
  const comparison = comparisonPeriod(period, view.compare);
  const names = useMemo(() => new Map(workspaces.map((w) => [w.id, w.name])), [workspaces]);

  const base = { timeZone: tz, weekStart: info.weekStart, workspaceId: ws, conversionType: view.type };
  const variables = {
    f: { ...base, fromDate: period.from, toDate: period.to },
    c: comparison ? { ...base, fromDate: comparison.from, toDate: comparison.to } : { ...base, fromDate: period.from, toDate: period.to },
    compare: comparison !== null,
    recent: { workspaceId: ws, conversionType: view.type },
    day: view.interval === "day",
    week: view.interval === "week",
    month: view.interval === "month",
  };
  // The feed says when conversions of this view arrive; the figures are re-read only when the user asks,
  // so an open dashboard does not spend the workspace's hourly request budget by itself.
  const [refresh, setRefresh] = useState(0);
  const [arrived, setArrived] = useState(0);
  const q = useQuery<DashboardData>(DASHBOARD, variables, refresh);
  useEffect(() => setArrived(0), [q.data]);
  const inView = (c: FeedConversion) => {
    const day = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(c.convertedAt));
    if (day >= period.from && day <= period.to) setArrived((n) => n + 1);
  };
  const d = q.data;
  const recent = useMemo(() => d?.recent.nodes ?? [], [d]);
  // Every type seen in any answer so far, so a type filter does not hide the other choices.
  const seenTypes = useRef(new Set<string>());
  const types = useMemo(() => {
    d?.current.byType.forEach((t) => seenTypes.current.add(t.conversionType));
    if (view.type) seenTypes.current.add(view.type);
    return [...seenTypes.current].sort();
  }, [d, view.type]);

  const openContact = (id: string) => setView({ contact: id });
  const [drillKind, drillArg] = view.drill?.split(/:(.*)/s) ?? [];
  const bucket = drillKind === "period" ? bucketOf(period, view.interval, info.weekStart, drillArg) : undefined;

  return (
    <>
      {bad.length > 0 && (
        <div class="notice" role="status" data-testid="url-notice">
          <p>
            The link's {bad.map((k, i) => <>{i ? ", " : ""}<code>{k}</code></>)} {bad.length === 1 ? "value was" : "values were"} not valid, so the
            default is shown instead.
          </p>
          <button type="button" onClick={() => reject(null)}>Dismiss</button>
        </div>
      )}
      <Controls view={view} setView={setView} period={period} tz={tz} info={info} workspaces={workspaces} types={types} workspace={ws} />
      <div class="statusline">
        <span role="status" aria-live="polite">
          {q.loading ? "Loading…" : q.error ? "" : `${period.from} to ${period.to} in ${tz}`}
        </span>
        {arrived > 0 && (
          <button type="button" onClick={() => setRefresh((n) => n + 1)}>
            Refresh figures ({arrived} new {arrived === 1 ? "conversion" : "conversions"})
          </button>
        )}
        <ExportButtons period={period} zone={tz} workspaceId={ws} conversionType={view.type} />
      </div>
      {q.error && (
        <div class="notice error" role="alert" data-testid="query-error">
          <p>The figures could not be loaded: {q.error}</p>
          <button type="button" onClick={() => setRefresh((n) => n + 1)}>Retry</button>
        </div>
      )}
      {d && (
        <div class="layout">
          <Overview summary={d.current.summary} previous={d.previous?.summary} currency={d.current.currency} compareLabel={COMPARE_LABEL[view.compare]} />
          <Funnel stages={d.current.funnel} selected={drillKind === "stage" ? drillArg : undefined} open={(s) => setView({ drill: `stage:${s}` })} />
          <LiveFeed initial={recent} workspaceId={ws} conversionType={view.type} names={names} openContact={openContact} onArrival={inView} />
          <WorkspaceGrid rows={d.current.byWorkspace} previous={d.previous?.byWorkspace} names={names} currency={d.current.currency}
            selected={view.ws} select={(id) => setView({ ws: id, drill: undefined, contact: undefined })} />
          <Timeline period={period} comparison={comparison} interval={view.interval} weekStart={info.weekStart} zone={d.current.timeZone}
            currency={d.current.currency} trends={d.current.trends} previous={d.previous?.trends}
            selected={drillKind === "period" ? drillArg : undefined} open={(label) => setView({ drill: `period:${label}` })} />
          {drillKind === "stage" && drillArg && (
            <StageDrillDown stage={drillArg} period={period} zone={tz} workspaceId={ws} openContact={openContact} close={() => setView({ drill: undefined })} />
          )}
          {bucket && (
            <BucketDrillDown bucket={bucket} zone={tz} workspaceId={ws} conversionType={view.type} names={names}
              openContact={openContact} close={() => setView({ drill: undefined })} />
          )}
          {view.contact && <ContactView id={view.contact} zone={tz} names={names} close={() => setView({ contact: undefined })} />}
        </div>
      )}
    </>
  );
}
