import { useEffect, useState } from "preact/hooks";

/**
 * Hash routing (`/#/fleet`, `/#/agents/<id>`, …): the hub serves one index.html, so every page is a
 * fragment of it, and a reload or a shared link opens the same page.
 */

/** The route's path segments, decoded: `#/agents/a%2Fb` → ["agents", "a/b"]. */
export function currentRoute(): string[] {
  const path = location.hash.replace(/^#\/?/, "");
  return path === "" ? [] : path.split("/").map((s) => decodeURIComponent(s));
}

/** The current route, re-rendering on every hash change. */
export function useRoute(): string[] {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const update = () => setRoute(currentRoute());
    addEventListener("hashchange", update);
    return () => removeEventListener("hashchange", update);
  }, []);
  return route;
}

/** The href of a route: `href("agents", id)` → `#/agents/<id encoded>`. */
export function href(...segments: string[]): string {
  return "#/" + segments.map((s) => encodeURIComponent(s)).join("/");
}

/** Goes to a route. */
export function navigate(...segments: string[]): void {
  location.hash = href(...segments).slice(1);
}
