import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";

/**
 * A scrolling list that renders only the rows in view (plus a few either side): 10,000 agents cost the
 * DOM about forty rows. Rows have one fixed height; the spacer gives the scrollbar the whole length.
 * `render` must keep no state of its own per row: a row element shows whichever item is in its slot.
 */
export function VirtualList<T>({
  items,
  rowHeight,
  render,
  label,
  onRange,
}: {
  items: T[];
  rowHeight: number;
  render: (item: T, index: number) => ComponentChildren;
  label: string;
  /** Told the rows in view (plus overscan) after each render: where a paged list asks for more. */
  onRange?: (first: number, last: number) => void;
}) {
  const viewport = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [height, setHeight] = useState(600);

  useEffect(() => {
    const element = viewport.current!;
    const observer = new ResizeObserver(() => setHeight(element.clientHeight));
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  const overscan = 8;
  const first = Math.max(0, Math.floor(scrollTop / rowHeight) - overscan);
  const last = Math.min(items.length, Math.ceil((scrollTop + height) / rowHeight) + overscan);
  useEffect(() => onRange?.(first, last), [first, last, onRange]);
  const rows: ComponentChildren[] = [];
  for (let i = first; i < last; i++) {
    // Keyed by slot (position in the window), not by item: scrolling moves each slot's element and
    // rewrites its text instead of creating rows at one end and removing them at the other.
    rows.push(
      <div class="vrow" role="row" key={i - first} style={{ transform: `translateY(${i * rowHeight}px)`, height: `${rowHeight}px` }}>
        {render(items[i] as T, i)}
      </div>,
    );
  }

  return (
    <div class="viewport" ref={viewport} role="rowgroup" aria-label={label} onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}>
      <div class="spacer" style={{ height: `${items.length * rowHeight}px` }}>
        {rows}
      </div>
    </div>
  );
}
