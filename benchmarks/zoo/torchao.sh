#!/bin/bash
# The op-family fixtures: ONNX Runtime fp32, compress's default INT8 and torch.ao's INT8 of the same trained weights,
# at batch 1 and 32, 2 threads. torch.ao's model runs in two places: libtorch 2.7.1 through DJL (the one the toolkit
# ships), timed alternately with the ONNX models in one JVM (InterleavedLatency), and Debian's torch 1.13 that made it
# (time_torchscript.py). The two processes alternate ALT times; the summary takes per alternation the ratio of the
# INT8 ONNX time to torch 1.13's INT8 time, and prints their median.
# First: /usr/bin/python3 benchmarks/zoo/train_families.py --out DIR --save-torchscript DIR/ts
# Usage: benchmarks/zoo/torchao.sh DIR [family...]   (default: mbv2 mbv3 effnet convnext; writes into the current folder)
export DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=${C:-$ROOT/compress}; B=${B:-$ROOT/benchmarks/target}; F=${F:-$ROOT/calibration-data}
D=$1; shift
for f in ${@:-mbv2 mbv3 effnet convnext}; do
  cp $D/$f-fp32.onnx $f-fp32.onnx
  $C quantize --model $f-fp32.onnx --data $F/fashion-mnist/calib --out $f-int8.onnx --no-latency-check > $f-int8.log 2>&1
  cp $D/ts/$f-torchao-int8.pt $f-torchao-int8.pt
  for n in 1 32; do
    echo "== $f batch $n $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
    for a in $(seq ${ALT:-5}); do
      java -cp "$B/classes:$B/lib/*" dev.compress.benchmarks.InterleavedLatency 3 ${RUNS:-50} 2 $n,1,28,28 \
        $f-fp32.onnx $f-int8.onnx $f-torchao-int8.pt 2>&1 | grep ratio | awk '{print "ort", $1, $2}'
      /usr/bin/python3 "$ROOT/benchmarks/zoo/time_torchscript.py" 2 $n,1,28,28 ${RUNS:-50} $f-torchao-int8.pt \
        | awk '{print "torch-1.13", $1, $2}'
    done > $f-b$n.times
    /usr/bin/python3 - $f $n $f-b$n.times <<'PY'
import statistics as st, sys
f, n, rows = sys.argv[1], sys.argv[2], [l.split() for l in open(sys.argv[3])]
alts, cur = [], None
for who, name, ms in rows:
    if who == "ort" and name.endswith("fp32.onnx"):
        cur = {}; alts.append(cur)
    cur[("torch" if who != "ort" else "djl") if name.endswith(".pt") else name.split("-")[-1]] = float(ms)
med = lambda k: st.median(a[k] for a in alts)
ratio = lambda x, y: st.median(a[x] / a[y] for a in alts)
print(f"{f} b{n}: INT8/fp32 {ratio('int8.onnx', 'fp32.onnx'):.2f}; INT8 ONNX / torch.ao INT8 in torch 1.13"
      f" {ratio('int8.onnx', 'torch'):.3f}; torch.ao in DJL's libtorch / fp32 ONNX {ratio('djl', 'fp32.onnx'):.1f}"
      f" (medians of {len(alts)} alternations; ms: fp32 {med('fp32.onnx'):.3f}, INT8 {med('int8.onnx'):.3f},"
      f" torch.ao {med('torch'):.3f})")
PY
  done
done
