/**
 * A guard run before `JSON.parse` on every frame. V8 parses some shapes of JSON slowly enough for one
 * hostile peer to stall every other connection and request of the process: deep nesting (a 16 MiB frame
 * of brackets holds the event loop for about 18 s, 1 MiB for over a second) and objects with very many
 * keys (300,000 distinct keys take a second). The hub checks REST bodies the same way. No Uplink frame nests deeper than a handful of levels or
 * has more than a few hundred keys (query rows are arrays), so a frame past `MAX_FRAME_DEPTH` or
 * `MAX_FRAME_KEYS` is refused without parsing it.
 */
import { MAX_FRAME_DEPTH, MAX_FRAME_KEYS } from "./constants.js";

/** The top-level string fields a refused frame still names, so that the command it answers can fail at once. */
export interface ShallowFields {
  type?: string;
  sessionId?: string;
  session_id?: string;
  correlationId?: string;
}

const NAMED = new Set(["type", "sessionId", "session_id", "correlationId"]);
const LONGEST_NAME = "correlationId".length;
/** Longest string value kept from a refused frame (ids are at most 256 characters). */
const MAX_KEPT_CHARS = 512;

/** Why a frame is refused unparsed, and the top-level fields it still names. */
export interface ShapeRefusal {
  /** What is wrong, to follow the name of what was refused: `nests deeper than 32 levels`. */
  error: string;
  fields: ShallowFields;
}

/**
 * One linear pass over `text`: undefined when nothing nests deeper than `maxDepth` and the frame has at
 * most `maxKeys` object keys in all; otherwise why, with the top-level `type`, `sessionId`,
 * `session_id` and `correlationId` strings seen (before and after the offending part alike). The text
 * need not be valid JSON.
 *
 * Hot path (every frame, both ways): strings, the bulk of a frame, are skipped with native `indexOf`;
 * only the structural stretches between them are walked character by character.
 */
export function checkFrameShape(text: string, maxDepth = MAX_FRAME_DEPTH, maxKeys = MAX_FRAME_KEYS): ShapeRefusal | undefined {
  let depth = 0;
  let exceeded = false;
  let keys = 0;
  let key: string | undefined;
  let expectValue = false;
  // Where the named fields' strings are: decoded only for a refusal, so a frame that passes (nearly
  // every one) is not parsed twice.
  let spans: Array<[name: string, open: number, close: number]> | undefined;
  const n = text.length;
  let p = 0;
  while (p < n) {
    let quote = text.indexOf('"', p);
    if (quote === -1) quote = n;
    for (let i = p; i < quote; i++) {
      const c = text.charCodeAt(i);
      if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
        depth++;
        if (depth > maxDepth) exceeded = true;
        expectValue = false;
      } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
        depth--;
      } else if (c === 0x3a /* : */) {
        keys++;
        expectValue = depth === 1;
      } else if (c === 0x2c /* , */ && depth === 1) {
        expectValue = false;
        key = undefined;
      }
    }
    if (quote === n) break;
    const end = closingQuote(text, quote);
    if (depth === 1) {
      if (expectValue) {
        if (key !== undefined && NAMED.has(key) && end - quote <= MAX_KEPT_CHARS) (spans ??= []).push([key, quote, end]);
        expectValue = false;
        key = undefined;
      } else {
        // Only the four names matter, spelled plainly (an escaped spelling just forgoes the early answer);
        // comparing the raw text keeps a frame of many keys as cheap to check as any other.
        const length = end - quote - 1;
        key = length <= LONGEST_NAME ? text.slice(quote + 1, end) : undefined;
      }
    }
    p = end + 1;
  }
  if (exceeded) return { error: `nests deeper than ${maxDepth} levels`, fields: decodeFields(text, spans) };
  if (keys > maxKeys) return { error: `has ${keys} object keys, more than ${maxKeys}`, fields: decodeFields(text, spans) };
  return undefined;
}

/** The named fields' values from their string literals' spans (a later one of a name wins, as in JSON.parse). */
function decodeFields(text: string, spans: Array<[name: string, open: number, close: number]> = []): ShallowFields {
  const fields: Record<string, string> = {};
  for (const [name, open, close] of spans) {
    const value = decodeString(text.slice(open, close + 1));
    if (value !== undefined) fields[name] = value;
  }
  return fields;
}

/** The index of the quote closing the string that opens at `open` (an unclosed string runs to the end). */
function closingQuote(text: string, open: number): number {
  let at = open + 1;
  for (;;) {
    at = text.indexOf('"', at);
    if (at === -1) return text.length;
    // A quote preceded by an odd number of backslashes is escaped.
    let backslashes = 0;
    for (let b = at - 1; text.charCodeAt(b) === 0x5c; b--) backslashes++;
    if (backslashes % 2 === 0) return at;
    at++;
  }
}

function decodeString(literal: string): string | undefined {
  try {
    const value: unknown = JSON.parse(literal);
    return typeof value === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}
