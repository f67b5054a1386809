import { readTextIfPresent } from "./proc.js";

/** A sysfs attribute, whitespace-trimmed; null when absent or unreadable. */
export function attr(path: string): string | null {
  const text = readTextIfPresent(path);
  return text === undefined ? null : text.trim();
}

/** Parses `KEY=value` lines (a sysfs uevent file, or the `E:` lines of a udev database record). */
export function parseKeyValues(text: string, prefix = ""): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    const eq = line.indexOf("=", prefix.length);
    if (eq < 0) continue;
    values.set(line.slice(prefix.length, eq), line.slice(eq + 1));
  }
  return values;
}

export const numberOrNull = (s: string | null): number | null => (s !== null && /^\d+$/.test(s) ? Number(s) : null);
