#!/usr/bin/env bash
# Installs Debian's chromium (driven by playwright-core in BrowserAttackTests) when it is missing: run by the test
# project's build and by .ci/run.
command -v chromium >/dev/null 2>&1 && exit 0
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null \
    || echo "warning: could not install chromium (apt-get install chromium): the browser attack tests will fail"
