// The end-to-end differential fuzzer of the gate (test/gate/gate-fuzz.ts) with the budget of `npm test`: every mode, a
// fixed number of cases, a seed that changes per run unless FUZZ_SEED is set (it is printed, so a failure replays).
// `npm run fuzz -- --long` runs the same with 20,000 cases per mode.
import { expect, it } from "vitest";
import { describeViolation, runGateFuzz } from "./gate-fuzz.ts";

const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const casesPerMode = Number(process.env.FUZZ_CASES ?? 600);

it(`gate fuzz: ${casesPerMode} cases per mode through the real sidecar to an llhttp upstream (seed ${seed})`, async () => {
  const result = await runGateFuzz({ seed, casesPerMode });
  process.stdout.write(
    `gate-fuzz: seed ${seed} (FUZZ_SEED), ${result.cases} cases, ${result.upstreamRequests} upstream requests checked (${result.assertedIdentities} with a generated identity), allow-list ${result.allowList.passed} let in and ${result.allowList.refused} refused, ${result.identitySources.cases} identity-source cases (${result.identitySources.granted} granted), ${result.violations.length} violations, ${(result.ms / 1000).toFixed(1)} s\n`,
  );
  // attribution, identity, local, identity with the token-field login, identity with generated assertion claims,
  // identity behind a trusted hop with allowedClients
  expect(result.cases).toBe(casesPerMode * 6);
  // The oracle must have had something to judge: requests reached the gateway in every run, generated identities too.
  expect(result.upstreamRequests).toBeGreaterThan(casesPerMode / 2);
  expect(result.assertedIdentities).toBeGreaterThan(casesPerMode / 20);
  expect(Math.min(result.allowList.passed, result.allowList.refused)).toBeGreaterThan(casesPerMode / 20);
  expect(result.identitySources.granted).toBeGreaterThan(result.identitySources.cases / 4);
  expect(result.violations.map((v) => describeViolation(v, seed))).toEqual([]);
}, 180_000);
