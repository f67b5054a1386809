import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { NotFoundError } from "../errors.js";
import { acceptedEncodings } from "./http.js";
import type { Route } from "./route.js";

/** Headers of the console's page and assets: no inline script, no framing, no referrer, no sniffing. */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
};

/** An asset name the build writes: no path separator, no leading dot, no `..`. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

function contentType(name: string): string {
  const dot = name.lastIndexOf(".");
  return (dot < 0 ? undefined : CONTENT_TYPES[name.slice(dot)]) ?? "application/octet-stream";
}

/** The build's codings, best first: each file has `.br` and `.gz` siblings made at build. */
const CODINGS = [
  { coding: "br", suffix: ".br" },
  { coding: "gzip", suffix: ".gz" },
] as const;

/**
 * The web console's files (`--console-dir`, what the console's build writes): `GET /` answers index.html
 * (revalidated on every load) and `GET /assets/<file>` the content-hashed assets (cached for a year,
 * immutable), each in the best coding the request accepts among the precompressed siblings. Nothing else
 * of the directory is reachable: asset names are plain file names. The console routes with `#/…`, so no
 * other path needs the page. These are not REST operations (the OpenAPI description leaves them out).
 *
 * Assets are read once and kept (their names change with their content); the page is read on every
 * load, so a console rebuilt while the hub runs is served at once, with the assets it names.
 */
export function consoleRoutes(dir: string): Route[] {
  const files = new Map<string, Promise<Buffer | undefined>>();
  const load = (name: string, fresh: boolean): Promise<Buffer | undefined> => {
    if (fresh) return readFile(join(dir, name)).catch(() => undefined);
    let file = files.get(name);
    if (file === undefined) {
      file = readFile(join(dir, name)).catch(() => undefined);
      // A missing file is not remembered: the console may be built while the hub runs.
      void file.then((buffer) => buffer === undefined && files.delete(name));
      files.set(name, file);
    }
    return file;
  };

  async function serve(res: Parameters<Route["handle"]>[0]["res"], accept: Set<string>, name: string, cacheControl: string): Promise<boolean> {
    const fresh = name === "index.html";
    const identity = await load(name, fresh);
    if (identity === undefined) return false;
    let body = identity;
    let coding: string | undefined;
    for (const c of CODINGS) {
      if (!accept.has(c.coding) && !accept.has("*")) continue;
      const encoded = await load(name + c.suffix, fresh);
      if (encoded === undefined) continue;
      body = encoded;
      coding = c.coding;
      break;
    }
    res.writeHead(200, {
      ...CONSOLE_SECURITY_HEADERS,
      "Content-Type": contentType(name),
      "Content-Length": body.length,
      "Cache-Control": cacheControl,
      Vary: "Accept-Encoding",
      ...(coding === undefined ? {} : { "Content-Encoding": coding }),
    });
    res.end(body);
    return true;
  }

  return [
    {
      method: "GET",
      path: "/",
      scope: null,
      async handle({ req, res }) {
        if (!(await serve(res, acceptedEncodings(req.headers["accept-encoding"]), "index.html", "no-cache"))) {
          throw new NotFoundError(`the web console is not built (no index.html in ${dir}): run pnpm build`);
        }
      },
    },
    {
      method: "GET",
      path: "/assets/:file",
      scope: null,
      async handle({ req, res, params }) {
        const name = params.file ?? "";
        const plain = ASSET_NAME.test(name) && !name.includes("..") && !CODINGS.some((c) => name.endsWith(c.suffix));
        if (!plain || !(await serve(res, acceptedEncodings(req.headers["accept-encoding"]), `assets/${name}`, "public, max-age=31536000, immutable"))) {
          throw new NotFoundError(`no console asset ${name.slice(0, 64)}`);
        }
      },
    },
  ];
}
