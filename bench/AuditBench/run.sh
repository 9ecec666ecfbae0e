#!/usr/bin/env bash
# Issue 29, item 2: times `archnetc audit --target all` on each model tests/data fetches, and the PP-OCRv4 det
# legalization (`convert --target archnet`) at 640x640, and keeps each audit's JSON so that two CLIs (before and after a
# change) can be compared byte for byte: run.sh CLI_DLL OUT_DIR, then `cmp` the *.json of the two OUT_DIRs.
# Each line of OUT_DIR/times.txt: name, wall s, user s, sys s, max RSS, and the load average when it started.
# The --dim sizes are the ones a user would give: MiniLM batch 1 x 128 tokens, Silero VAD one 512-sample chunk,
# PP-OCRv4 det one 640x640 image.
set -euo pipefail
cli="${1:?CLI dll (e.g. artifacts/archnetc/archnetc.dll)}"; out="${2:?output folder}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"; m="$root/tests/data/cache/models"
mkdir -p "$out"
ocr=(--dim p2o.DynamicDimension.0=1 --dim p2o.DynamicDimension.1=640 --dim p2o.DynamicDimension.2=640)
run() {
  local name=$1; shift
  local load; load="$(cut -d' ' -f1-3 /proc/loadavg)"
  /usr/bin/time -f "%e %U %S %M" -o "$out/$name.time" dotnet "$cli" "$@" > "$out/$name.out" 2>&1
  echo "$name $(cat "$out/$name.time") load $load" >> "$out/times.txt"
}
run resnet18 audit "$m/resnet18.onnx" --target all --json "$out/resnet18.json"
run blazeface audit "$m/blazeface.onnx" --target all --json "$out/blazeface.json"
run silero_vad audit "$m/silero_vad.onnx" --target all --json "$out/silero_vad.json" --dim batch=1 --dim sequence=512
run minilm audit "$m/minilm.onnx" --target all --json "$out/minilm.json" --dim batch=1 --dim sequence=128
run ppocrv4_det audit "$m/ppocrv4_det.onnx" --target all --json "$out/ppocrv4_det.json" "${ocr[@]}"
run ppocrv4_det_convert convert "$m/ppocrv4_det.onnx" --target archnet -o "$out/ppocrv4_det.archnet.onnx" "${ocr[@]}"
cat "$out/times.txt"
