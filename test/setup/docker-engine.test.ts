// The choices init makes from what the Docker engine says (issue 25 §6): the internal subnet against a list of taken
// subnets, Docker's default address pools included; the descriptor limit against the engine's hard limit; and the
// reading of /proc/<pid>/limits.
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SUBNET,
  type Engine,
  WANTED_NOFILE,
  chooseNofile,
  chooseSubnet,
  hardNofileOf,
  overlaps,
} from "../../src/setup/docker-engine.ts";

/** Everything Docker's default pools can hand out: 172.17.0.0/16 … 172.31.0.0/16, and 192.168.0.0/16 in /20s. */
const DEFAULT_POOLS = [
  ...Array.from({ length: 15 }, (_, i) => `172.${17 + i}.0.0/16`),
  ...Array.from({ length: 16 }, (_, i) => `192.168.${i * 16}.0/20`),
];
const held = (...subnets: string[]) => subnets.map((subnet, i) => ({ subnet, by: `network n${i}` }));

describe("chooseSubnet", () => {
  it("the default cannot meet any of Docker's default address pools", () => {
    for (const pool of DEFAULT_POOLS) expect(overlaps(pool, DEFAULT_SUBNET), pool).toBe(false);
    expect(chooseSubnet(held(...DEFAULT_POOLS), "checked")).toEqual({
      subnet: "10.119.0.0/24",
      sidecarAddress: "10.119.0.10",
      note: "internal network 10.119.0.0/24 (sidecar 10.119.0.10): checked.",
    });
  });

  it("nor Tailscale's 100.64.0.0/10, nor the 10.x blocks common LANs, VPNs and Kubernetes use", () => {
    for (const other of [
      "100.64.0.0/10",
      "10.0.0.0/16",
      "10.8.0.0/24",
      "10.42.0.0/16",
      "10.96.0.0/12",
      "10.244.0.0/16",
      "10.88.0.0/16",
      "10.128.0.0/9",
    ])
      expect(overlaps(other, DEFAULT_SUBNET), other).toBe(false);
  });

  it("the default taken: the next free /24 of 10.119.0.0/16, with the sidecar at .10 and who holds the default", () => {
    expect(chooseSubnet(held("172.18.0.0/16", "10.119.0.0/24", "10.119.1.128/25"), "checked")).toEqual({
      subnet: "10.119.2.0/24",
      sidecarAddress: "10.119.2.10",
      note: "internal network 10.119.2.0/24 (sidecar 10.119.2.10), not the default 10.119.0.0/24, which is taken (network n1 holds 10.119.0.0/24).",
    });
  });

  it("a wider network over the default counts (overlap, not equality)", () => {
    expect(chooseSubnet(held("10.0.0.0/8"), "c")).toBeUndefined();
    expect(chooseSubnet(held("10.119.0.0/17"), "c")?.subnet).toBe("10.119.128.0/24");
  });

  it("IPv6 and unparsable subnets never clash", () => {
    expect(chooseSubnet(held("fd00::/64", "nonsense"), "c")?.subnet).toBe("10.119.0.0/24");
  });

  it("overlaps is symmetric and exact at the edges", () => {
    expect(overlaps("10.119.0.0/24", "10.119.0.255/32")).toBe(true);
    expect(overlaps("10.119.1.0/32", "10.119.0.0/24")).toBe(false);
    expect(overlaps("10.118.255.0/24", "10.119.0.0/24")).toBe(false);
    expect(overlaps("10.0.0.0/8", "10.119.7.0/24")).toBe(true);
  });
});

describe("chooseNofile", () => {
  const engine = (limit: number): Engine => ({
    reachable: true,
    host: "unix:///var/run/docker.sock",
    subnets: [],
    nofile: { limit, source: "dockerd pid 1" },
  });

  it("an engine that allows 65,536 or more: 65,536", () => {
    expect(chooseNofile(engine(1048576))).toEqual({
      nofile: WANTED_NOFILE,
      note: "ulimits.nofile 65536 for the sidecar: the engine allows up to 1048576 (dockerd pid 1).",
    });
    expect(chooseNofile(engine(65536)).nofile).toBe(65536);
  });

  it("a lower hard limit (runc would fail: error setting rlimit type 7): exactly the engine's limit", () => {
    const c = chooseNofile(engine(20000));
    expect(c.nofile).toBe(20000);
    expect(c.note).toBe(
      `ulimits.nofile 20000 for the sidecar, not 65536: the engine's hard limit is 20000 (dockerd pid 1) and a container cannot exceed it ("error setting rlimit type 7"); that holds ~10000 WebSockets; raise the engine's own limit (dockerd's LimitNOFILE) and set 65536 for up to ~32768 WebSockets.`,
    );
  });

  it("a limit no better than the default 1,024: left out", () => {
    expect(chooseNofile(engine(1024)).nofile).toBeUndefined();
    expect(chooseNofile(engine(512)).note).toMatch(/^ulimits\.nofile left out: the engine's hard limit is 512/);
    expect(chooseNofile(engine(1025)).nofile).toBe(1025);
  });

  it("unknown (remote engine, no engine): 65,536 and how to fix a failing `up`", () => {
    const remote = chooseNofile({
      reachable: true,
      host: "ssh://box",
      subnets: [],
      nofileUnknown: "the engine at ssh://box is remote: its limits cannot be read from here",
    });
    expect(remote.nofile).toBe(65536);
    expect(remote.note).toBe(
      `ulimits.nofile 65536 for the sidecar, not checked: the engine at ssh://box is remote: its limits cannot be read from here; if \`up\` fails with "error setting rlimit type 7", set it to the engine's \`ulimit -Hn\` or remove it.`,
    );
    expect(chooseNofile({ reachable: false, reason: "no engine" }).nofile).toBe(65536);
  });
});

describe("hardNofileOf", () => {
  it("reads the hard column of Max open files", () => {
    const limits = [
      "Limit                     Soft Limit           Hard Limit           Units     ",
      "Max cpu time              unlimited            unlimited            seconds   ",
      "Max open files            20000                20000                files     ",
      "Max locked memory         8388608              8388608              bytes     ",
    ].join("\n");
    expect(hardNofileOf(limits)).toBe(20000);
    expect(hardNofileOf(limits.replace("20000                20000", "1024                 524288"))).toBe(524288);
    expect(hardNofileOf("nothing")).toBeUndefined();
  });
});
