import { defineTable } from "../table-def.js";
import { passwd } from "./proc.js";

/** `users`: local accounts from /etc/passwd. /etc/shadow is never read, so no password hash can leak. */
export const usersTable = defineTable({
  name: "users",
  description: "Local user accounts from /etc/passwd (never /etc/shadow: no password hashes).",
  platforms: ["linux"],
  platformNote: "it reads /etc/passwd",
  columns: [
    { name: "name", type: "TEXT", description: "Login name" },
    { name: "uid", type: "INTEGER", description: "User id" },
    { name: "gid", type: "INTEGER", description: "Primary group id" },
    { name: "description", type: "TEXT", description: "GECOS field (full name, contact)" },
    { name: "home", type: "TEXT", description: "Home directory" },
    { name: "shell", type: "TEXT", description: "Login shell" },
  ],
  *rows(ctx) {
    yield* passwd(ctx);
  },
});
