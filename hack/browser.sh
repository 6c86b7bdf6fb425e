#!/usr/bin/env bash
# Makes sure headless Chromium (Debian's chromium package) is there for the
# dashboard's browser test (cmd/ocm-gitops TestDashboard). When it cannot be
# installed this says why and exits 0: the test then skips, saying so.
set -uo pipefail
for b in chromium chromium-browser; do
  command -v "$b" >/dev/null 2>&1 && exit 0
done
if ! command -v apt-get >/dev/null 2>&1; then
  echo ">> chromium is not installed and there is no apt-get: the dashboard's browser test will skip (install chromium to run it)"
  exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then sudo="sudo -n"; else
    echo ">> chromium is not installed and apt-get needs root: the dashboard's browser test will skip (run: sudo apt-get install chromium)"
    exit 0
  fi
fi
echo ">> installing chromium (Debian package) for the dashboard's browser test"
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium; } >/tmp/ocm-gitops-chromium.log 2>&1; then
  echo ">> chromium could not be installed (see /tmp/ocm-gitops-chromium.log): the dashboard's browser test will skip"
fi
exit 0
