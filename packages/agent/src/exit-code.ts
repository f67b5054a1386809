/** How `uplink-agent` exits; the systemd unit refers to these too. */
export const ExitCode = {
  OK: 0,
  /** Enrollment refused, hub unreachable at enrollment, state file or unit unwritable, anything unexpected. */
  FAILURE: 1,
  /** A bad flag or environment variable, or bad usage. */
  USAGE: 2,
  /** The hub rejected the agent's key (401) or revoked the agent (403): re-enroll. */
  CREDENTIAL_REJECTED: 3,
} as const;
