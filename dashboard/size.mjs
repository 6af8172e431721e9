// Prints the gzip -9 size of every file of the dashboard page (dist/app) and their total; fails above 150 kB.
import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
const files = ["dist/app/index.html", ...readdirSync("dist/app/assets").map((f) => `dist/app/assets/${f}`)];
let total = 0;
for (const f of files) {
  const n = gzipSync(readFileSync(f), { level: 9 }).length;
  total += n;
  console.log(`${String(n).padStart(7)}  ${f}`);
}
console.log(`${String(total).padStart(7)}  total (gzip -9), budget 150000`);
if (total > 150_000) process.exit(1);
