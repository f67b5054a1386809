import { createHash } from "node:crypto";
import type Database from "better-sqlite3";

/** osquery caps a regex at 256 bytes (its `regex_max_size` flag): a bounded pattern is a bounded compile. */
const REGEX_MAX_BYTES = 256;

type Arg = string | number | bigint | Buffer | null;

const text = (v: Arg): string => (Buffer.isBuffer(v) ? v.toString("utf8") : String(v));

function compileRegex(pattern: string): RegExp {
  if (Buffer.byteLength(pattern) > REGEX_MAX_BYTES) throw new Error(`Invalid regex: too big, max size is ${REGEX_MAX_BYTES} bytes`);
  try {
    return new RegExp(pattern);
  } catch {
    throw new Error("Invalid regex");
  }
}

/** osquery's `split(str, tokens, index)`: splits on any character of `tokens`, drops empty pieces, picks one. */
export function splitAt(input: string, tokens: string, index: number): string | null {
  if (tokens === "") throw new Error("Invalid input to split function");
  const pieces: string[] = [];
  let current = "";
  for (const ch of input) {
    if (tokens.includes(ch)) {
      if (current !== "") pieces.push(current.trim());
      current = "";
    } else current += ch;
  }
  if (current !== "") pieces.push(current.trim());
  return pieces[index] ?? null;
}

/** IPv4 dotted quad to its 32-bit value, as inet_aton(3); null for anything else. */
export function inetAton(address: string): number | null {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(address.trim());
  if (m === null) return null;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return null;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

/** True when every byte is printable ASCII or common whitespace: osquery's conditional_to_base64 leaves those alone. */
function isPrintable(buf: Buffer): boolean {
  for (const b of buf) if (!(b === 9 || b === 10 || b === 13 || (b >= 32 && b < 127))) return false;
  return true;
}

/**
 * Registers the SQL functions osquery adds to SQLite (osquery/sql/sqlite_{string,encoding,hashing,math}.cpp),
 * where this SQLite lacks them or differs: `split`, `regex_split`, `regex_match`, `inet_aton`, `concat_ws`
 * (nulls skipped), `to_base64`, `from_base64`, `conditional_to_base64`, `md5`, `sha1`, `sha256`, `cot`,
 * and one-argument `log` as the natural logarithm (SQLite's is base 10). The other math functions
 * (`sqrt`, `log10`, `power`, `ceil`, `floor`, trigonometry, `degrees`, `radians`, `pi`) are SQLite's own.
 * Every function is deterministic, so SQLite may fold and reuse its results.
 */
export function registerOsqueryFunctions(db: Database.Database): void {
  const opts = { deterministic: true } as const;
  db.function("split", opts, (input: Arg, tokens: Arg, index: Arg) =>
    input === null || tokens === null || index === null ? null : splitAt(text(input), text(tokens), Number(index)),
  );
  db.function("regex_split", opts, (input: Arg, pattern: Arg, index: Arg) => {
    if (input === null || pattern === null || index === null) return null;
    if (text(pattern) === "") throw new Error("Invalid input to split function");
    return text(input).split(compileRegex(text(pattern)))[Number(index)] ?? null;
  });
  db.function("regex_match", opts, (input: Arg, pattern: Arg, index: Arg) => {
    if (input === null || pattern === null || index === null) return null;
    const m = compileRegex(text(pattern)).exec(text(input));
    return m?.[Number(index)] ?? null;
  });
  db.function("inet_aton", opts, (address: Arg) => (address === null ? null : inetAton(text(address))));
  db.function("concat_ws", { ...opts, varargs: true }, (sep: Arg, ...values: Arg[]) => {
    const present = values.filter((v) => v !== null).map(text);
    return present.join(sep === null ? "" : text(sep));
  });
  db.function("to_base64", opts, (v: Arg) => (v === null ? null : Buffer.from(Buffer.isBuffer(v) ? v : text(v)).toString("base64")));
  db.function("from_base64", opts, (v: Arg) => (v === null ? null : Buffer.from(text(v), "base64").toString("utf8")));
  db.function("conditional_to_base64", opts, (v: Arg) => {
    if (v === null) return null;
    const buf = Buffer.isBuffer(v) ? v : Buffer.from(text(v));
    return isPrintable(buf) ? buf.toString("utf8") : buf.toString("base64");
  });
  for (const algorithm of ["md5", "sha1", "sha256"]) {
    db.function(algorithm, opts, (v: Arg) => (v === null ? null : createHash(algorithm).update(Buffer.isBuffer(v) ? v : text(v)).digest("hex")));
  }
  db.function("cot", opts, (v: Arg) => (v === null ? null : 1 / Math.tan(Number(v))));
  db.function("log", opts, (v: Arg) => (v === null ? null : Math.log(Number(v))));
}
