// Builds dist/app (the dashboard at /dashboard), dist/graphiql (GraphiQL at /graphiql) and dist/docs
// (Swagger UI over /openapi.json at /docs).
// Output is deterministic: hashed names from esbuild, HTML written from the metafile, no timestamps,
// so CI can rebuild and diff against the committed dist/.
import { build } from "esbuild";
import { readdir, rm, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

const root = path.dirname(new URL(import.meta.url).pathname);

const common = {
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  legalComments: "eof",
  assetNames: "[name]-[hash]",
  metafile: true,
  write: true,
  charset: "utf8",
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
  loader: { ".woff": "file", ".woff2": "file", ".svg": "file", ".png": "file" },
};

const SYSTEM_SANS = 'system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';
const SYSTEM_MONO = 'ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo, Consolas, monospace';

/**
 * GraphiQL's stylesheet embeds Roboto and Fira Code as data: fonts, which `default-src 'self'` refuses (and
 * which weigh ~300 kB): drop the @font-face rules and use the system font stacks instead.
 */
const systemFontsForGraphiQL = {
  name: "graphiql-system-fonts",
  setup(b) {
    b.onLoad({ filter: /graphiql[\\/]graphiql\.css$/ }, async (args) => {
      const css = (await readFile(args.path, "utf8"))
        .replace(/@font-face\s*{[^}]*}/g, "")
        .replace(/'Roboto', sans-serif/g, SYSTEM_SANS)
        .replace(/'Fira Code', monospace/g, SYSTEM_MONO);
      return { contents: css, loader: "css" };
    });
  },
};

const pages = [
  {
    dir: "app",
    base: "/dashboard/assets/",
    entry: "src/app/main.tsx",
    title: "convio dashboard",
    body: '<div id="app"></div>',
    extra: { jsx: "automatic", jsxImportSource: "preact" },
  },
  {
    dir: "graphiql",
    base: "/graphiql/assets/",
    entry: "src/graphiql/graphiql.ts",
    title: "convio GraphiQL",
    body: '<div id="graphiql"></div>',
    extra: { plugins: [systemFontsForGraphiQL] },
  },
  {
    dir: "docs",
    base: "/docs/assets/",
    entry: "src/docs/docs.ts",
    title: "convio REST API",
    body: '<div id="docs"></div>',
    extra: {},
  },
];

/**
 * A leading comment with the name, version and licence text of every npm package bundled into a page (found from
 * a first, unwritten build's metafile), so the licences travel with the code; sorted, so output stays deterministic.
 */
async function licenceBanner(options) {
  const probe = await build({ ...options, write: false, metafile: true });
  const dirs = new Set();
  const used = Object.values(probe.metafile.outputs).flatMap((o) =>
    Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([name]) => name),
  );
  for (const input of used) {
    const m = input.match(/^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//);
    if (m) dirs.add(m[1]);
  }
  const parts = [];
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(await readFile(path.join(root, dir, "package.json"), "utf8"));
    const file = (await readdir(path.join(root, dir))).filter((f) => /^(licen[cs]e|copying)/i.test(f)).sort()[0];
    const text = file ? (await readFile(path.join(root, dir, file), "utf8")).trim() : `Licence: ${pkg.license ?? "see package"}`;
    parts.push(`${pkg.name} ${pkg.version} (${pkg.license ?? "?"})\n\n${text}`);
  }
  const body = parts.join("\n\n----------------------------------------\n\n").replaceAll("*/", "* /");
  return `/*! Bundled third-party software and its licences:\n\n${body}\n*/`;
}

for (const page of pages) {
  const outdir = path.join(root, "dist", page.dir);
  await rm(outdir, { recursive: true, force: true });
  await mkdir(path.join(outdir, "assets"), { recursive: true });
  const options = {
    ...common,
    ...page.extra,
    absWorkingDir: root,
    entryPoints: [page.entry],
    entryNames: `${page.dir}-[hash]`,
    outdir: path.join(outdir, "assets"),
    publicPath: page.base,
  };
  const result = await build({ ...options, banner: { js: await licenceBanner(options) } });
  const outputs = Object.entries(result.metafile.outputs).filter(([, o]) => o.entryPoint === page.entry);
  const [jsPath, js] = outputs[0];
  const name = (p) => page.base + path.basename(p);
  const css = js.cssBundle ? `<link rel="stylesheet" href="${name(js.cssBundle)}">` : "";
  const html =
    `<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n` +
    `<meta name="viewport" content="width=device-width, initial-scale=1">\n` +
    `<meta name="color-scheme" content="light dark">\n` +
    `<title>${page.title}</title>\n<link rel="icon" href="data:,">\n${css}\n` +
    `<script type="module" src="${name(jsPath)}"></script>\n</head>\n<body>\n${page.body}\n</body>\n</html>\n`;
  await writeFile(path.join(outdir, "index.html"), html);
}
