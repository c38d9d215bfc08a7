#!/usr/bin/env bash
# Written in session 6, not yet run: CALL=1..3 on two H200s: the 25k schedule run to its end, LoRA r=64 against r=256 (capacity).
# A (GPU0): 1,024 records a step, lr 3e-3, 6 epochs, r=64. B (GPU1): the same with r=256, alpha 128.
# Both QLoRA, compiled layers, fused AdamW, from step 0 to the end. Results packed into $OUT every 20 s.
source /root/stage/env.sh
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
END=$((SECONDS + ${LIMIT:-585}))
TEND=$((END - ${DDP_S:-0}))
if [ "$CALL" = 1 ]; then
  rm -rf /root/g && mkdir -p /root/g/src /root/g/pack && tar --exclude=./.devcarry -cf - . | tar -xf - -C /root/g/src
fi
cd /root/g/src && export PYTHONPATH=$PWD:$PYTHONPATH
P=/root/g/pack
pack() {
  for a in a b; do
    d=$(ls -d /root/g/runs-$a/*/ 2>/dev/null | head -1)
    [ -n "$d" ] && for f in curve.jsonl training.json manifest.json; do cp $d/$f $P/$a-$f 2>/dev/null; done
  done
  for f in /root/g/*.log; do [ -f "$f" ] && grep -v "recall curve" $f | tail -120 > $P/$(basename $f); done
  nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader >> $P/smi.txt 2>&1
  tar czf $OUT/g$CALL.tgz -C /root/g pack
}
if [ "$CALL" = 1 ]; then
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv > $P/gpus.txt 2>&1
  python -c "import torch, transformers, trl, peft, bitsandbytes; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__, bitsandbytes.__version__)" > $P/versions.txt 2>&1
  ( time python -m harness evalset build --rows 25000 --out /root/g/evalsets/syn25k ) > $P/build25k.log 2>&1 &
  ( time python -c "from harness.models import resolve_model; print(resolve_model('gemma-3-270m'))" ) > $P/convert.log 2>&1
  wait
  C="--evalset /root/g/evalsets/syn25k --set group_by_length=true --set packing=false --set torch_compile=true --set optimizer=adamw_torch_fused --curve 12"
  CUDA_VISIBLE_DEVICES=0 timeout $((TEND - SECONDS)) python -m harness train $C --set batch_size=1024 --set learning_rate=3e-3 --set epochs=6 --set save_steps=100 --runs-dir /root/g/runs-a > /root/g/a-1.log 2>&1 &
  CUDA_VISIBLE_DEVICES=1 timeout $((TEND - SECONDS)) python -m harness train $C --set batch_size=1024 --set learning_rate=3e-3 --set epochs=6 --set save_steps=100 --set lora_r=256 --set lora_alpha=128 --runs-dir /root/g/runs-b > /root/g/b-1.log 2>&1 &
else
  for a in a b; do
    d=$(ls -d /root/g/runs-$a/*/ | head -1); g=0; [ $a = b ] && g=1
    if grep -q '"status": "finished"' $d/manifest.json 2>/dev/null || [ -f $d/training.json ]; then continue; fi
    CUDA_VISIBLE_DEVICES=$g timeout $((TEND - SECONDS)) python -m harness train --resume $d > /root/g/$a-$CALL.log 2>&1 &
  done
fi
while [ -n "$(jobs -r)" ]; do sleep 20; pack; done
wait; pack
if [ "${DDP_S:-0}" -gt 0 ] && [ ! -f /root/g/evalsets/syn5k/manifest.json ]; then
  python -m harness evalset build --rows 5000 --out /root/g/evalsets/syn5k > $P/build5k.log 2>&1
fi
S="--evalset /root/g/evalsets/syn5k --set batch_size=1024 --set group_by_length=true --set packing=false --set max_steps=40 --set save_steps=1000 --curve 0 --set torch_compile=true --set optimizer=adamw_torch_fused"
if [ "${DDP_S:-0}" -gt 0 ]; then
  CUDA_VISIBLE_DEVICES=0,1 timeout $((END - SECONDS - 5)) python -m harness train $S --runs-dir /root/g/ddp1 > /root/g/ddp1.log 2>&1
  CUDA_VISIBLE_DEVICES=0,1 timeout $((END - SECONDS - 5)) python -m harness train $S --gpus 2 --runs-dir /root/g/ddp2 > /root/g/ddp2.log 2>&1
  for n in ddp1 ddp2; do cp /root/g/$n/*/training.json $P/training-$n.json 2>/dev/null; done; pack
fi
for f in $P/*training*.json; do [ -f $f ] && python -c 'import json,sys; t=json.load(open(sys.argv[1])); th=t.get("throughput") or {}; print(sys.argv[1].rsplit("/",1)[1], t["world_size"], t["steps"], th.get("tokens_per_second"), th.get("seconds_per_step"), t["peak_gpu_gib"], t["train_seconds"])' $f; done
grep -h real $P/*.log; for a in a b; do tail -4 /root/g/$a-$CALL.log; tail -2 $P/$a-curve.jsonl; done
