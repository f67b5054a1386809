import { defineTable } from "../table-def.js";
import { passwd } from "./proc.js";

/** `users`: local accounts from /etc/passwd. /etc/shadow is never read, so no password hash can leak. */
export const usersTable = defineTable({
  name: "users",
  description: "Local user accounts from /etc/passwd (never /etc/shadow: no password hashes).",
  platforms: ["linux"],
  platformNote: "it reads /etc/passwd",
  columns: [
    { name: "uid", type: "INTEGER", description: "User id" },
    { name: "gid", type: "INTEGER", description: "Primary group id" },
    { name: "uid_signed", type: "INTEGER", description: "User id as a signed 32-bit number" },
    { name: "gid_signed", type: "INTEGER", description: "Primary group id as a signed 32-bit number" },
    { name: "username", type: "TEXT", description: "Login name" },
    { name: "description", type: "TEXT", description: "GECOS field (full name, contact)" },
    { name: "directory", type: "TEXT", description: "Home directory" },
    { name: "shell", type: "TEXT", description: "Login shell" },
    { name: "uuid", type: "TEXT", description: "Empty on Linux (a macOS UUID or Windows SID elsewhere)" },
    { name: "type", type: "TEXT", description: "Account type: local for every /etc/passwd entry", note: "osquery fills it on Windows only; Uplink says local" },
  ],
  *rows(ctx) {
    for (const e of passwd(ctx)) {
      yield {
        uid: e.uid,
        gid: e.gid,
        uid_signed: e.uid | 0,
        gid_signed: e.gid | 0,
        username: e.name,
        description: e.description,
        directory: e.home,
        shell: e.shell,
        uuid: "",
        type: "local",
      };
    }
  },
});
