// `node --require` preload for test/commands/platforms.test.ts: makes this process report another platform and CPU, so
// that npm's own EBADPLATFORM check (npm-install-checks reads process.platform / process.arch) runs as it would there.
// npm's --os/--cpu flags do not exercise that check for non-optional packages; this does.
"use strict";
const platform = process.env.OCSC_FAKE_PLATFORM;
const arch = process.env.OCSC_FAKE_ARCH;
if (platform) Object.defineProperty(process, "platform", { value: platform });
if (arch) Object.defineProperty(process, "arch", { value: arch });
