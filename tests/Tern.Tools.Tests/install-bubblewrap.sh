#!/usr/bin/env bash
# Installs bubblewrap (the shell tool's sandbox) when it is missing: run by the test project's build and by .ci/run.
command -v bwrap >/dev/null 2>&1 && exit 0
SUDO=$([ "$(id -u)" -eq 0 ] || echo sudo)
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq bubblewrap >/dev/null \
    || echo "warning: could not install bubblewrap (apt-get install bubblewrap): the shell sandbox tests will fail"
