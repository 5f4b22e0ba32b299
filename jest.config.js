// herd pins its AWS SDK through package-lock.json, so the SDK's notice that its *future*
// releases will need Node 22 says nothing about this install; set before the workers start,
// it keeps one copy per worker out of the test output (bin/herd.js does the same).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type checking is `npm run lint`'s job; tests only transpile (tsconfig's `isolatedModules`
    // makes ts-jest transpile each file alone), which keeps them fast.
    '^.+\\.tsx?$': ['ts-jest', { diagnostics: false }],
  },
  testTimeout: 120000,
};
