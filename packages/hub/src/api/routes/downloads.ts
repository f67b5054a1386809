import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { BadRequestError, NotFoundError } from "../../errors.js";
import { publicUrlFor } from "../../downloads/install-line.js";
import type { Route } from "../route.js";
import type { ApiServices } from "../services.js";

/** The install script shipped with the hub package; `@HUB_URL@` becomes the hub's public URL. */
const INSTALL_SCRIPT = fileURLToPath(new URL("../../../install/install.sh", import.meta.url));
/** A file name the packages directory may hold: no path separator, no leading dot, nothing a shell reads. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,199}$/;

/** Content types by file ending; anything else is served as bytes. */
function contentType(name: string): string {
  if (name === "SHA256SUMS" || name.endsWith(".md") || name.endsWith(".txt")) return "text/plain; charset=utf-8";
  if (name.endsWith(".tar.gz") || name.endsWith(".tgz")) return "application/gzip";
  if (name.endsWith(".deb")) return "application/vnd.debian.binary-package";
  return "application/octet-stream";
}

/**
 * `GET /install.sh` and `GET /downloads/<file>` (SHA256SUMS among them), no token: what a host needs to
 * install the agent from this hub. Files come from `--packages-dir` only, by plain names.
 */
export function downloadRoutes(s: ApiServices): Route[] {
  const tls = s.config.tlsCert !== undefined;
  return [
    {
      method: "GET",
      path: "/install.sh",
      scope: null,
      async handle({ req, res }) {
        const hub = publicUrlFor(req, s.config.publicUrl, tls);
        if (hub === undefined) throw new BadRequestError("the Host header is not a plain host[:port]; set the hub's --public-url");
        const script = (await readFile(INSTALL_SCRIPT, "utf8")).replaceAll("@HUB_URL@", hub);
        res.writeHead(200, { "Content-Type": "text/x-shellscript; charset=utf-8", "Content-Length": Buffer.byteLength(script), "Cache-Control": "no-store" });
        res.end(script);
      },
    },
    {
      method: "GET",
      path: "/downloads/:file",
      scope: null,
      async handle({ res, params, log }) {
        const name = params.file ?? "";
        if (!SAFE_NAME.test(name) || name.includes("..")) throw new BadRequestError(`"${name.slice(0, 64)}" is not a package file name`);
        const path = join(s.config.packagesDir, name);
        const info = await stat(path).catch(() => undefined);
        if (info === undefined || !info.isFile()) {
          throw new NotFoundError(`no file ${name} in the hub's packages directory (build it with pnpm package, or set --packages-dir)`);
        }
        res.writeHead(200, { "Content-Type": contentType(name), "Content-Length": info.size, "Cache-Control": "no-cache" });
        const stream = createReadStream(path);
        stream.on("error", (err) => {
          log.warn({ err, file: name }, "download failed");
          res.destroy();
        });
        res.on("close", () => stream.destroy());
        stream.pipe(res);
      },
    },
  ];
}
