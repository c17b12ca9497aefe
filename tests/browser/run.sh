#!/usr/bin/env bash
# Run Herald's browser test: installs playwright-core from the npm registry
# (no browser download; it drives Debian's /usr/bin/chromium) and runs the
# node:test files (browser.test.mjs: the browser side; console.test.mjs: the
# admin console on a seeded database; rich.test.mjs: buttons, images, languages and
# clicks per button, issue 16) against target/debug/herald (override with HERALD_BIN).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ -f package-lock.json ]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
exec node --test browser.test.mjs console.test.mjs rich.test.mjs
