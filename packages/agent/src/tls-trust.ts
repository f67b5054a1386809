import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { ConfigError } from "./errors.js";

/**
 * How the agent verifies an `https://` hub: the system CAs (Node's bundled list) always, plus the PEM
 * certificates of `--ca FILE` when given (a private CA, or the hub's own self-signed certificate).
 * Verification is never turned off. Returns the list to hand to `tls.connect` as `ca`, or undefined
 * without a file (Node's defaults). Throws ConfigError naming `--ca / UPLINK_CA` when the file cannot be
 * read or holds no certificate.
 */
export function loadTrust(caFile: string | undefined): string[] | undefined {
  if (caFile === undefined) return undefined;
  let pem: string;
  try {
    pem = readFileSync(caFile, "utf8");
  } catch (err) {
    throw new ConfigError("--ca / UPLINK_CA", `cannot read ${caFile}: ${(err as Error).message}`);
  }
  const certificates = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (certificates === null) throw new ConfigError("--ca / UPLINK_CA", `${caFile} holds no PEM certificate`);
  // Setting `ca` replaces Node's default list, so the system CAs are added back explicitly.
  return [...rootCertificates, ...certificates];
}

/** OpenSSL verification results that mean "signed by nobody this agent trusts". */
const UNTRUSTED = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "INVALID_CA",
]);

/**
 * One line for an operator when `err` is a failure to verify the hub's certificate, naming the hub and
 * the TLS reason and saying what to do; undefined for any other error (refused, reset, DNS, ...).
 */
export function describeTlsFailure(hubUrl: string, err: unknown): string | undefined {
  const code = tlsCode(err);
  if (code === undefined) return undefined;
  if (UNTRUSTED.has(code)) return `cannot verify the hub's certificate at ${hubUrl} (${code}): pass --ca FILE with the CA that signed it`;
  if (code === "CERT_HAS_EXPIRED") return `the hub's certificate at ${hubUrl} has expired (${code}): renew it on the hub`;
  if (code === "CERT_NOT_YET_VALID") return `the hub's certificate at ${hubUrl} is not valid yet (${code}): check the clocks of both hosts`;
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    const host = safeHost(hubUrl);
    return `the hub's certificate at ${hubUrl} does not name ${host} (${code}): use a hub address the certificate lists`;
  }
  return `cannot verify the hub's certificate at ${hubUrl} (${code}): ${(err as Error).message}`;
}

/** The verification code of a TLS certificate error, looking through `cause` (fetch, ws wrap them). */
function tlsCode(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 3; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code !== "string") continue;
    if (UNTRUSTED.has(code) || code.startsWith("CERT_") || code === "ERR_TLS_CERT_ALTNAME_INVALID") return code;
  }
  return undefined;
}

function safeHost(url: string): string {
  try {
    return new URL(url).hostname;
  } catch {
    return url;
  }
}
