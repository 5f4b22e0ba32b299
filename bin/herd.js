#!/usr/bin/env node
// The `herd` command: registers tsx so the TypeScript entry point runs as-is.
// herd pins its AWS SDK through package-lock.json, so the SDK's notice that its *future*
// releases will need Node 22 says nothing about this install; keep it off operators' screens.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('tsx/cjs');
require('./herd.ts');
