#!/usr/bin/env bash
# How the session-5 figures in docs/training-notes.md and docs/distributed-notes.md were taken: run on the lent
# two-GPU machine after staging (../shared/device/README.md) as `CALL=1 LIMIT=585 bash THIS`, then CALL=2, then
# `CALL=3 LIMIT=400 DDP_S=170`, back to back while the machine stays warm.
# One script for device calls 1-3 (two H200s), CALL=1..3. GPU0: the 25,000-anime recall curve (QLoRA, 1,024 records
# a step, lr 3e-3, 6-epoch cosine: last session's eager recipe) with compiled layers when the first compiled speed
# run worked, resumed across calls. GPU1: a queue of 40-step speed runs on 5,000 anime, compiled and eager, QLoRA
# and bf16 LoRA, each in its own process, continued across calls. Call 3 ends with DDP (one GPU, two GPUs).
# Results are packed into $OUT every 20 s, so a call cut at its limit still returns them.
source /root/stage/env.sh
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
END=$((SECONDS + ${LIMIT:-585}))
if [ "$CALL" = 1 ]; then
  rm -rf /root/g && mkdir -p /root/g/src /root/g/pack && tar --exclude=./.devcarry -cf - . | tar -xf - -C /root/g/src
fi
cd /root/g/src && export PYTHONPATH=$PWD:$PYTHONPATH
P=/root/g/pack
pack() {
  cp /root/g/runs-25k/*/curve.jsonl $P/curve-25k.jsonl 2>/dev/null; cp /root/g/runs-25k/*/training.json $P/training-25k.json 2>/dev/null
  cp /root/g/runs-25k/*/manifest.json $P/manifest-25k.json 2>/dev/null
  for f in /root/g/25k-*.log; do [ -f "$f" ] && grep -v "recall curve" $f | tail -80 > $P/$(basename $f); done
  nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader >> $P/smi.txt 2>&1
  tar czf $OUT/g$CALL.tgz -C /root/g pack
}
if [ "$CALL" = 1 ]; then
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv > $P/gpus.txt 2>&1
  python -c "import torch, transformers, trl, peft, bitsandbytes; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__, bitsandbytes.__version__)" > $P/versions.txt 2>&1
  ( time python -c "from harness.models import resolve_model; print(resolve_model('gemma-3-270m'))" ) > $P/convert.log 2>&1
  ( time python -m harness evalset build --rows 5000 --out /root/g/evalsets/syn5k ) > $P/build5k.log 2>&1
  ( time python -m harness evalset build --rows 25000 --out /root/g/evalsets/syn25k ) > $P/build25k.log 2>&1 &
  BUILD=$!
fi
S="--evalset /root/g/evalsets/syn5k --set batch_size=1024 --set group_by_length=true --set packing=false --set max_steps=40 --set save_steps=1000 --curve 0"
speed() {  # name gpus args...: one 40-step training, its figures copied into the pack
  local name=$1 gpus=$2; shift 2
  [ -f $P/training-$name.json ] && return 0
  [ $((END - SECONDS)) -lt ${MINLEFT:-170} ] && return 1
  CUDA_VISIBLE_DEVICES=$gpus timeout $((END - SECONDS - 10)) python -m harness train $S --runs-dir /root/g/$name "$@" > $P/$name.log 2>&1
  cp /root/g/$name/*/training.json $P/training-$name.json 2>/dev/null; touch $P/$name.done; pack
}
queue() {
  CQ="--set torch_compile=true"; B="--set load_in_4bit=false"
  TORCH_LOGS=recompiles speed cq1 1 $CQ; speed cb1 1 $CQ $B; speed eq1 1; speed eb1 1 $B
  speed cq2 1 $CQ; speed cb2 1 $CQ $B; speed eq2 1; speed eb2 1 $B
  speed cq3 1 $CQ; speed eq3 1; speed cb3 1 $CQ $B; speed eb3 1 $B
}
( [ "$CALL" = 3 ] && END=$((END - ${DDP_S:-170})); queue ) &
Q=$!
# GPU0 waits for the first compiled run (and the 25k evalset) on call 1.
if [ "$CALL" = 1 ]; then
  while [ ! -f $P/cq1.done ] && kill -0 $Q 2>/dev/null; do sleep 5; done
  wait $BUILD
  C="--set torch_compile=true"; [ -f $P/training-cq1.json ] || C=""
  echo "25k compile: ${C:-off}" > $P/mode.txt
  R="--evalset /root/g/evalsets/syn25k --set batch_size=1024 --set group_by_length=true --set packing=false --set epochs=6 --set learning_rate=3e-3 --set save_steps=100 --curve 30 $C"
  CUDA_VISIBLE_DEVICES=0 timeout $((END - SECONDS)) python -m harness train $R --runs-dir /root/g/runs-25k > /root/g/25k-1.log 2>&1 &
else
  lim=$((END - SECONDS)); [ "$CALL" = 3 ] && lim=$((END - SECONDS - ${DDP_S:-170}))
  CUDA_VISIBLE_DEVICES=0 timeout $lim python -m harness train --resume $(ls -d /root/g/runs-25k/*/ | head -1) > /root/g/25k-$CALL.log 2>&1 &
fi
T=$!
while kill -0 $T 2>/dev/null; do sleep 20; pack; done
wait $T; pack
if [ "$CALL" = 3 ]; then
  wait $Q
  MINLEFT=75 speed ddp1 0,1; MINLEFT=75 speed ddp2 0,1 --gpus 2
fi
wait; pack
for f in $P/training-*.json; do python -c 'import json,sys; t=json.load(open(sys.argv[1])); th=t.get("throughput") or {}; print(sys.argv[1].rsplit("/",1)[1], t["world_size"], t["steps"], th.get("tokens_per_second"), th.get("seconds_per_step"), t["peak_gpu_gib"], t["train_seconds"])' $f; done
cat $P/mode.txt; grep -h real $P/*.log; tail -3 $P/25k-$CALL.log; tail -2 $P/curve-25k.jsonl
