import { afterEach, describe, expect, it } from "vitest";
import { NO_CONSTRAINTS } from "../table-def.js";
import { aptSourcesTable, debianRevision, debPackagesTable, parseControlParagraphs, parseDeb822Sources, parseSourcesList } from "./deb-packages.js";
import { fakeHost, type FakeHost } from "../../../test/fake-host.js";

const STATUS = `Package: libc6
Status: install ok installed
Priority: optional
Section: libs
Installed-Size: 12988
Maintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>
Architecture: amd64
Multi-Arch: same
Source: glibc
Version: 2.36-9+deb12u10
Description: GNU C Library: Shared libraries
 Contains the standard libraries that are used by nearly all programs on
 the system.

Package: old-thing
Status: purge ok not-installed
Priority: optional
Architecture: all

Package: conf-left
Status: deinstall ok config-files
Architecture: all
Version: 1:2.0
Installed-Size: 10

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b8
Source: bash (5.2.15-2)
`;

describe("parseControlParagraphs", () => {
  it("splits paragraphs, joins continuation lines and keeps field case", () => {
    const [libc] = parseControlParagraphs(STATUS);
    expect(libc?.get("Package")).toBe("libc6");
    expect(libc?.get("Description")).toBe("GNU C Library: Shared libraries\nContains the standard libraries that are used by nearly all programs on\nthe system.");
    expect(parseControlParagraphs(STATUS)).toHaveLength(4);
  });

  it("finds the Debian revision after the last hyphen", () => {
    expect(debianRevision("2.36-9+deb12u10")).toBe("9+deb12u10");
    expect(debianRevision("1:1.2-3-4")).toBe("4");
    expect(debianRevision("20230311")).toBe("");
  });
});

describe("deb_packages", () => {
  let host: FakeHost;
  afterEach(() => host.remove());

  it("lists every package of the dpkg status file except the not-installed ones", () => {
    host = fakeHost();
    host.write("/var/lib/dpkg/status", STATUS);
    const rows = [...debPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)];
    expect(rows.map((r) => r.name)).toEqual(["libc6", "conf-left", "bash"]);
    expect(rows[0]).toEqual({
      name: "libc6",
      version: "2.36-9+deb12u10",
      source: "glibc",
      size: "12988",
      arch: "amd64",
      revision: "9+deb12u10",
      status: "install ok installed",
      maintainer: "GNU Libc Maintainers <debian-glibc@lists.debian.org>",
      section: "libs",
      priority: "optional",
      admindir: "/var/lib/dpkg",
    });
    expect(rows[1]).toMatchObject({ status: "deinstall ok config-files", version: "1:2.0", revision: "" });
    expect(rows[2]).toMatchObject({ source: "bash (5.2.15-2)", size: null });
  });

  it("answers no rows on a host without dpkg", () => {
    host = fakeHost();
    expect([...debPackagesTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([]);
  });
});

describe("apt sources", () => {
  it("parses one-line entries with options, comments and flat repositories", () => {
    const text = [
      "# comment",
      "deb http://deb.debian.org/debian/ bookworm main contrib # trailing",
      "deb-src http://deb.debian.org/debian bookworm main",
      "deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] https://download.example.com/linux/debian bookworm stable",
      "deb https://repo.example.org/flat ./",
      "deb not-a-uri bookworm main",
    ].join("\n");
    expect(parseSourcesList(text)).toEqual([
      { baseUri: "http://deb.debian.org/debian", name: "deb.debian.org/debian bookworm", listPrefix: "deb.debian.org_debian_dists_bookworm" },
      {
        baseUri: "https://download.example.com/linux/debian",
        name: "download.example.com/linux/debian bookworm",
        listPrefix: "download.example.com_linux_debian_dists_bookworm",
      },
      { baseUri: "https://repo.example.org/flat", name: "repo.example.org/flat ./", listPrefix: "repo.example.org_flat_." },
    ]);
  });

  it("parses deb822 stanzas: every URI times every suite, skipping deb-src only and disabled stanzas", () => {
    const text = [
      "Types: deb deb-src",
      "# a comment inside",
      "URIs: http://deb.debian.org/debian",
      "Suites: bookworm bookworm-updates",
      "Components: main",
      "",
      "Types: deb-src",
      "URIs: http://deb.debian.org/debian",
      "Suites: bookworm",
      "",
      "Types: deb",
      "URIs: http://off.example.org/debian",
      "Suites: bookworm",
      "Enabled: no",
    ].join("\n");
    expect(parseDeb822Sources(text).map((s) => s.name)).toEqual(["deb.debian.org/debian bookworm", "deb.debian.org/debian bookworm-updates"]);
  });

  describe("apt_sources table", () => {
    let host: FakeHost;
    afterEach(() => host.remove());

    it("describes each configured repository from its cached (In)Release file and leaves out unfetched ones", () => {
      host = fakeHost();
      host.write("/etc/apt/sources.list", "deb http://deb.debian.org/debian bookworm main\ndeb http://never.fetched.example/debian sid main\n");
      host.write("/etc/apt/sources.list.d/sec.sources", "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n");
      host.write("/etc/apt/sources.list.d/ignored.txt", "deb http://deb.debian.org/ignored bookworm main\n");
      host.write(
        "/var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
        "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA512\n\nOrigin: Debian\nCodename: bookworm\nVersion: 12.15\nComponents: main contrib\nArchitectures: all amd64\n-----BEGIN PGP SIGNATURE-----\nxyz\n",
      );
      host.write("/var/lib/apt/lists/deb.debian.org_debian-security_dists_bookworm-security_Release", "Origin: Debian\nCodename: bookworm-security\nVersion: 12\n");
      expect([...aptSourcesTable.rows(host.ctx(), NO_CONSTRAINTS)]).toEqual([
        {
          name: "deb.debian.org/debian bookworm",
          source: "/etc/apt/sources.list",
          base_uri: "http://deb.debian.org/debian",
          release: "bookworm",
          version: "12.15",
          maintainer: "Debian",
          components: "main contrib",
          architectures: "all amd64",
        },
        {
          name: "deb.debian.org/debian-security bookworm-security",
          source: "/etc/apt/sources.list.d/sec.sources",
          base_uri: "http://deb.debian.org/debian-security",
          release: "bookworm-security",
          version: "12",
          maintainer: "Debian",
          components: null,
          architectures: null,
        },
      ]);
    });
  });
});
