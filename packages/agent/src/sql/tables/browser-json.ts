/** Reading fields out of the JSON files browsers keep (manifests, preferences, extension lists): never throws. */

export type Json = Record<string, unknown>;

/** Parses JSON text into an object, or undefined when it is not a JSON object (a truncated or foreign file). */
export function jsonObject(text: string | undefined): Json | undefined {
  if (text === undefined) return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** `v` as an object, or undefined when it is not one. */
export const obj = (v: unknown): Json | undefined => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Json) : undefined);
/** `v` as text (numbers and booleans spelled out), or null. */
export const str = (v: unknown): string | null => (typeof v === "string" ? v : typeof v === "number" || typeof v === "boolean" ? String(v) : null);
