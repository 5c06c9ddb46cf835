#!/bin/bash
# Latency fallback and ViT defaults, measured side by side: fp32, default INT8, INT8 with --latency-fallback.
# Usage: benchmarks/zoo/fallback.sh shuf effnet cls fam-effnet fam-mbv3 fam-convnext fam-mbv2 mbv3s regnet vit vit-old
# (zoo from benchmarks/zoo/README.md in Z; PP-OCR cls and data from benchmarks/ocr/README.md; writes into the current folder)
export DJL_OFFLINE=true OPT_OUT_TRACKING=true LC_ALL=C.UTF-8
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
C=${C:-$ROOT/compress}; B=${B:-$ROOT/benchmarks/target}; Z=${Z:-$ROOT/benchmarks/zoo}; F=${F:-$ROOT/calibration-data}

one() { # name model data shape extra...
  local n=$1 m=$2 d=$3 s=$4; shift 4
  cp $m $n-fp32.onnx
  $C quantize --model $m --data $d --out $n-int8.onnx --no-latency-check "$@" > $n-int8.log 2>&1
  $C quantize --model $m --data $d --out $n-fb.onnx --no-latency-check --latency-fallback "$@" > $n-fb.log 2>&1
  echo "== $n $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; grep "latency fallback: kept\|latency fallback: [0-9]* regions" $n-fb.log | cut -c1-400
  java -cp "$B/classes:$B/lib/*" dev.compress.benchmarks.InterleavedLatency 12 ${RUNS:-100} 2 $s $n-fp32.onnx $n-int8.onnx $n-fb.onnx 2>&1 | tail -3 | cut -c1-80
}
for x in "$@"; do case $x in
 shuf) one shuf $Z/models/shufflenet_v2_x1_0.onnx $Z/images/calib 1,3,224,224;;
 effnet) one effnet $Z/models/efficientnet_b0.onnx $Z/images/calib 1,3,224,224;;
 mbv3s) one mbv3s $Z/models/mobilenet_v3_small.onnx $Z/images/calib 1,3,224,224;;
 regnet) one regnet $Z/models/regnet_y_400mf.onnx $Z/images/calib 1,3,224,224;;
 vit) one vit $Z/models/vit_small_l4.onnx $Z/images/calib 1,3,224,224;;
 cls) one cls ${OCR:-/tmp/ocr/package/assets}/ch_ppocr_mobile_v2.0_cls_infer.onnx ${OCR_DATA:-/tmp/foreign/data}/cls/calib 1,3,48,192 --image-size 48x192 --mean 0.5 --std 0.5;;
 fam-*) f=${x#fam-}; one $x $F/models/families/$f-fp32.onnx $F/fashion-mnist/calib 1,1,28,28 --batch-size 1; RUNS=20 one $x-b32 $F/models/families/$f-fp32.onnx $F/fashion-mnist/calib 32,1,28,28 --batch-size 32;;
 vit-old) $C quantize --model $Z/models/vit_small_l4.onnx --data $Z/images/calib --out vit-old.onnx --no-latency-check --no-encoder-defaults > vit-old.log 2>&1
   echo "== vit old default vs new $(date +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"; grep fidelity vit-old.log vit-int8.log | cut -c1-250
   java -cp "$B/classes:$B/lib/*" dev.compress.benchmarks.InterleavedLatency 12 50 2 1,3,224,224 vit-fp32.onnx vit-old.onnx vit-int8.onnx 2>&1 | tail -3 | cut -c1-80;;
esac; done
