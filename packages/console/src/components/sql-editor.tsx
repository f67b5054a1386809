import { useRef, useState } from "preact/hooks";
import type { HubSchema } from "@uplink/protocol";

/** Suggestions shown at most. */
const MAX_SUGGESTIONS = 8;

interface Suggestion {
  text: string;
  kind: "table" | "column";
  detail: string;
}

/**
 * A textarea with completion of table and column names: the word before the caret is matched against the
 * tables, and against the columns of the tables the query names (after `FROM`/`JOIN`, or before a dot).
 * ↑/↓ choose, Tab or Enter accepts, Escape closes; Ctrl/Cmd+Enter is left to `onRun`.
 */
export function SqlEditor({ value, onChange, onRun, schema }: { value: string; onChange: (v: string) => void; onRun: () => void; schema: HubSchema | null }) {
  const area = useRef<HTMLTextAreaElement>(null);
  const [suggestions, setSuggestions] = useState<Suggestion[]>([]);
  const [selected, setSelected] = useState(0);

  function update(text: string, caret: number): void {
    onChange(text);
    setSuggestions(suggest(text, caret, schema));
    setSelected(0);
  }

  function accept(s: Suggestion): void {
    const element = area.current!;
    const caret = element.selectionStart;
    const word = wordBefore(value, caret);
    const next = value.slice(0, caret - word.length) + s.text + value.slice(caret);
    onChange(next);
    setSuggestions([]);
    const at = caret - word.length + s.text.length;
    requestAnimationFrame(() => {
      element.focus();
      element.setSelectionRange(at, at);
    });
  }

  function onKeyDown(event: KeyboardEvent): void {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      setSuggestions([]);
      onRun();
      return;
    }
    if (suggestions.length === 0) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      setSelected((selected + step + suggestions.length) % suggestions.length);
    } else if (event.key === "Tab" || event.key === "Enter") {
      event.preventDefault();
      accept(suggestions[selected]!);
    } else if (event.key === "Escape") {
      setSuggestions([]);
    }
  }

  return (
    <div class="sql-editor">
      <textarea
        ref={area}
        value={value}
        spellcheck={false}
        aria-label="SQL"
        data-testid="sql"
        rows={6}
        onInput={(e) => update(e.currentTarget.value, e.currentTarget.selectionStart)}
        onKeyDown={onKeyDown}
        onBlur={() => setTimeout(() => setSuggestions([]), 150)}
      />
      {suggestions.length > 0 && (
        <ul class="completions" role="listbox" data-testid="completions">
          {suggestions.map((s, i) => (
            <li role="option" aria-selected={i === selected} class={i === selected ? "selected" : undefined} onMouseDown={(e) => (e.preventDefault(), accept(s))}>
              <span class={`kind kind-${s.kind}`}>{s.kind === "table" ? "T" : "C"}</span>
              <span class="name">{s.text}</span>
              <span class="muted">{s.detail}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The identifier being typed just before the caret ("" when none). */
function wordBefore(text: string, caret: number): string {
  return /[A-Za-z_][\w]*$/.exec(text.slice(0, caret))?.[0] ?? "";
}

/** Completion candidates for the word before the caret. */
export function suggest(text: string, caret: number, schema: HubSchema | null): Suggestion[] {
  if (schema === null) return [];
  const word = wordBefore(text, caret);
  if (word === "") return [];
  const before = text.slice(0, caret - word.length);
  const lower = word.toLowerCase();
  const tables = new Map(schema.tables.map((t) => [t.name.toLowerCase(), t]));

  // `alias.` or `table.`: only that table's columns.
  const dotted = /([A-Za-z_]\w*)\.$/.exec(before);
  const named = [...text.matchAll(/\b(?:from|join)\s+([A-Za-z_]\w*)(?:\s+(?:as\s+)?([A-Za-z_]\w*))?/gi)];
  let scope = named.map((m) => tables.get(m[1]!.toLowerCase())).filter((t) => t !== undefined);
  if (dotted !== null) {
    const name = dotted[1]!.toLowerCase();
    const aliased = named.find((m) => m[2]?.toLowerCase() === name)?.[1]?.toLowerCase();
    const table = tables.get(aliased ?? name);
    scope = table === undefined ? [] : [table];
  }

  const out: Suggestion[] = [];
  const afterTableKeyword = /\b(from|join)\s+$/i.test(before);
  for (const table of scope) {
    if (afterTableKeyword) break;
    for (const column of table.columns) {
      if (column.name.toLowerCase().startsWith(lower) && column.name !== word && !out.some((s) => s.text === column.name)) {
        out.push({ text: column.name, kind: "column", detail: `${table.name}${column.type ? " · " + column.type : ""}` });
      }
    }
  }
  if (dotted === null) {
    for (const table of schema.tables) {
      if (table.name.toLowerCase().startsWith(lower) && table.name !== word) out.push({ text: table.name, kind: "table", detail: `${table.columns.length} columns` });
    }
  }
  return out.slice(0, MAX_SUGGESTIONS);
}
