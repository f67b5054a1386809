import type { HubSchema } from "@uplink/protocol";
import { useRef, useState } from "preact/hooks";
import { suggest, wordBefore, type Suggestion } from "../lib/completion.js";

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
