import { useState } from "preact/hooks";
import { currentToken } from "../lib/auth";
import type { Period } from "../lib/period";

interface Props {
  period: Period;
  zone: string;
  workspaceId?: string;
  conversionType?: string;
}

const KINDS: { label: string; params: Record<string, string>; ext: string }[] = [
  { label: "Export CSV", params: { format: "csv" }, ext: "csv" },
  { label: "Export CSV for Excel", params: { format: "csv", excel: "true" }, ext: "csv" },
  { label: "Export Excel", params: { format: "xlsx" }, ext: "xlsx" },
];

function fileName(res: Response, fallback: string): string {
  const cd = res.headers.get("content-disposition") ?? "";
  const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
  return m ? decodeURIComponent(m[1]) : fallback;
}

/** §4.5: the view's conversions as a file, fetched with the bearer token and saved through a blob URL. */
export function ExportButtons(props: Props) {
  const [busy, setBusy] = useState<string | null>(null);
  const [message, setMessage] = useState("");
  const run = async (kind: (typeof KINDS)[number]) => {
    const q = new URLSearchParams({ ...kind.params, from_date: props.period.from, to_date: props.period.to, time_zone: props.zone });
    if (props.workspaceId) q.set("workspace_id", props.workspaceId);
    if (props.conversionType) q.set("conversion_type", props.conversionType);
    setBusy(kind.label);
    setMessage(`Preparing ${kind.ext}…`);
    try {
      const res = await fetch(`/conversions/export?${q}`, { headers: { Authorization: `Bearer ${currentToken() ?? ""}` } });
      if (!res.ok) {
        const problem = (await res.json().catch(() => ({}))) as { detail?: string; title?: string };
        throw new Error(problem.detail ?? problem.title ?? `export failed (${res.status})`);
      }
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = fileName(res, `convio-conversions.${kind.ext}`);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      setMessage(`Downloaded ${a.download}`);
    } catch (e) {
      setMessage((e as Error).message);
    } finally {
      setBusy(null);
    }
  };
  return (
    <div class="export" role="group" aria-label="Export">
      {KINDS.map((k) => (
        <button type="button" disabled={busy !== null} onClick={() => run(k)}>
          {k.label}
        </button>
      ))}
      <span role="status" class="muted">{message}</span>
    </div>
  );
}
