import type { Scope, TokenCreated, TokenKind, TokenList, TokenView } from "@uplink/protocol";
import { useEffect, useState } from "preact/hooks";
import { api, describeError } from "../lib/api.js";
import { formatLabels, formatTime, parseLabels } from "../lib/format.js";

/** Tokens (admin): the list (never a secret), create (the secret shown once, with copy), revoke. */
export function TokensPage() {
  const [tokens, setTokens] = useState<TokenView[] | null>(null);
  const [created, setCreated] = useState<TokenCreated | null>(null);
  const [error, setError] = useState("");
  const [confirming, setConfirming] = useState("");

  const load = () => api<TokenList>("GET", "/api/v1/tokens").then((list) => setTokens(list.tokens), (err: unknown) => setError(describeError(err)));
  useEffect(() => void load(), []);

  async function revoke(id: string): Promise<void> {
    setConfirming("");
    try {
      await api("DELETE", `/api/v1/tokens/${encodeURIComponent(id)}`);
      await load();
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <section class="page tokens">
      <div class="page-head">
        <h1>Tokens</h1>
      </div>
      <CreateToken
        onCreated={(token) => {
          setCreated(token);
          void load();
        }}
      />
      {created !== null && <CreatedToken token={created} onClose={() => setCreated(null)} />}
      {error !== "" && <p class="error">{error}</p>}
      {tokens === null ? (
        <p class="muted">Loading…</p>
      ) : (
        <table class="grid-table" data-testid="tokens-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Kind</th>
              <th>Scope</th>
              <th>Labels</th>
              <th>Uses</th>
              <th>Created</th>
              <th>Expires</th>
              <th>State</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {[...tokens].reverse().map((t) => (
              <tr data-testid="token-row">
                <td>{t.name}</td>
                <td>{t.kind}</td>
                <td>{t.scope ?? "—"}</td>
                <td>{t.labels === null ? "—" : formatLabels(t.labels)}</td>
                <td>{t.kind === "enroll" ? `${t.uses}${t.maxUses === null ? "" : ` / ${t.maxUses}`}` : "—"}</td>
                <td>{formatTime(t.createdAt)}</td>
                <td>{t.expiresAt === null ? "never" : formatTime(t.expiresAt)}</td>
                <td>{t.revokedAt !== null ? <span class="badge q-error">revoked</span> : t.expiresAt !== null && t.expiresAt < Date.now() ? <span class="badge q-timeout">expired</span> : <span class="badge q-ok">active</span>}</td>
                <td class="actions">
                  {t.revokedAt === null &&
                    (confirming === t.id ? (
                      <>
                        <button type="button" class="danger" onClick={() => void revoke(t.id)}>
                          Revoke {t.name}
                        </button>
                        <button type="button" onClick={() => setConfirming("")}>
                          Keep
                        </button>
                      </>
                    ) : (
                      <button type="button" onClick={() => setConfirming(t.id)}>
                        Revoke…
                      </button>
                    ))}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function CreateToken({ onCreated }: { onCreated: (token: TokenCreated) => void }) {
  const [kind, setKind] = useState<TokenKind>("api");
  const [scope, setScope] = useState<Scope>("read");
  const [name, setName] = useState("");
  const [ttlHours, setTtlHours] = useState("");
  const [labelText, setLabelText] = useState("");
  const [error, setError] = useState("");

  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    setError("");
    const body: Record<string, unknown> = { kind, name: name.trim() };
    if (kind === "api") body.scope = scope;
    if (ttlHours.trim() !== "") body.ttlSeconds = Math.round(Number(ttlHours) * 3600);
    if (kind === "enroll" && labelText.trim() !== "") body.labels = parseLabels(labelText);
    try {
      onCreated(await api<TokenCreated>("POST", "/api/v1/tokens", body));
      setName("");
    } catch (err) {
      setError(describeError(err));
    }
  }

  return (
    <form class="filters create-token" onSubmit={(e) => void submit(e)}>
      <label>
        Kind
        <select value={kind} onChange={(e) => setKind(e.currentTarget.value as TokenKind)} data-testid="token-kind">
          <option value="api">API</option>
          <option value="enroll">Enrollment</option>
        </select>
      </label>
      {kind === "api" ? (
        <label>
          Scope
          <select value={scope} onChange={(e) => setScope(e.currentTarget.value as Scope)} data-testid="token-scope">
            <option value="read">read</option>
            <option value="query">query</option>
            <option value="admin">admin</option>
          </select>
        </label>
      ) : (
        <label>
          Labels
          <input type="text" placeholder="env=prod" value={labelText} onInput={(e) => setLabelText(e.currentTarget.value)} />
        </label>
      )}
      <label class="grow">
        Name
        <input type="text" value={name} onInput={(e) => setName(e.currentTarget.value)} required data-testid="token-name" />
      </label>
      <label>
        Expires in (h)
        <input type="number" min="0" step="any" class="short" value={ttlHours} onInput={(e) => setTtlHours(e.currentTarget.value)} placeholder={kind === "enroll" ? "default" : "never"} />
      </label>
      <button type="submit" class="primary" disabled={name.trim() === ""}>
        Create
      </button>
      {error !== "" && <p class="error">{error}</p>}
    </form>
  );
}

/** The new token's secret, shown this once, with copy buttons (and the install line of an enroll token). */
function CreatedToken({ token, onClose }: { token: TokenCreated; onClose: () => void }) {
  return (
    <div class="card created" data-testid="created-token">
      <p>
        <strong>{token.name}</strong>: copy the token now, it is not shown again.
      </p>
      <CopyLine text={token.token} testId="created-secret" />
      {token.installLine !== undefined && (
        <>
          <p>Install an agent with this token:</p>
          <CopyLine text={token.installLine} testId="install-line" />
        </>
      )}
      <button type="button" class="link" onClick={onClose}>
        Done
      </button>
    </div>
  );
}

function CopyLine({ text, testId }: { text: string; testId: string }) {
  const [copied, setCopied] = useState(false);
  async function copy(): Promise<void> {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  }
  return (
    <div class="copy-line">
      <code data-testid={testId}>{text}</code>
      <button type="button" onClick={() => void copy()}>
        {copied ? "Copied" : "Copy"}
      </button>
    </div>
  );
}
