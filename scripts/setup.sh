#!/usr/bin/env bash
# Installs what archnetc and its tests need on Debian 12 (run as root or with sudo):
# the .NET 10 SDK check, a C compiler for the C backend, npm for test data, Chromium for the HTML report's test, and the test data itself.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v cmake >/dev/null || need+=(cmake)
command -v npm >/dev/null || need+=(npm)
command -v unzip >/dev/null || need+=(unzip)
# The report test opens report.html in headless Chromium; the charts' text is measured with a font installed.
command -v chromium >/dev/null || need+=(chromium)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
# Arm NN (CpuRef backend, TFLite parser, Python binding for Debian's /usr/bin/python3): the tflite backend's oracle.
/usr/bin/python3 -c 'import pyarmnn, numpy' 2>/dev/null || need+=(python3-pyarmnn libarmnn-cpuref-backend22 libarmnntfliteparser22 python3-numpy)
if ((${#need[@]})); then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
if ! dotnet --list-sdks 2>/dev/null | grep -q '^10\.'; then
  # Debian 12 does not package .NET; Microsoft's Debian feed does (dotnet-sdk-10.0).
  if apt-cache policy dotnet-sdk-10.0 2>/dev/null | grep -q Candidate; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dotnet-sdk-10.0
  else
    echo "setup: the .NET 10 SDK is required: add Microsoft's package feed for Debian 12 and install dotnet-sdk-10.0" >&2
    exit 1
  fi
fi
bash tests/data/fetch.sh
if [[ "${1:-}" != "--deps-only" ]]; then
  # ReadyToRun, as ./archnetc publishes it.
  dotnet publish src/Cli/ArchNet.Cli.csproj -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
    -o artifacts/archnetc -nologo -v quiet -clp:ErrorsOnly
fi
