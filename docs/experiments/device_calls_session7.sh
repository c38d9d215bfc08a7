#!/usr/bin/env bash
# Session 7, CALL=1..3 on two H200s: two 25k schedules run from step 0 to their end in ONE process each
# (started under setsid in call 1, so they outlive the call; calls 2-3 only watch and pack).
# A (GPU0): 1,024 records a step, lr 3e-3, cosine over 8 epochs. B (GPU1): the same at lr 5e-3, 10% warm-up.
# As run: B diverged in call 1, so call 2 began with `kill $(cat /root/g/b.pid)` and started B2 on GPU1 (the
# same flags with group_by_length=false) before watching; call 3 began by stopping B2, which diverged too.
source /root/stage/env.sh
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
END=$((SECONDS + ${LIMIT:-570}))
P=/root/g/pack
if [ "$CALL" = 1 ]; then
  rm -rf /root/g && mkdir -p /root/g/src $P && tar --exclude=./.devcarry --exclude=./.devdata -cf - . | tar -xf - -C /root/g/src
fi
cd /root/g/src && export PYTHONPATH=$PWD:$PYTHONPATH
pack() {
  for a in a b; do
    d=$(ls -d /root/g/runs-$a/*/ 2>/dev/null | head -1)
    [ -n "$d" ] && for f in curve.jsonl training.json manifest.json; do cp $d/$f $P/$a-$f 2>/dev/null; done
  done
  for f in /root/g/*.log; do [ -f "$f" ] && grep -v "recall curve" $f > $P/$(basename $f); done
  nvidia-smi --query-gpu=index,utilization.gpu,memory.used --format=csv,noheader | sed "s/^/$(date +%T) /" >> $P/smi.txt 2>&1
  tar czf $OUT/g$CALL.tgz -C /root/g pack
}
if [ "$CALL" = 1 ]; then
  nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv > $P/gpus.txt 2>&1
  git log --oneline -1 > $P/commit.txt 2>&1
  python -c "import torch, transformers, trl, peft, bitsandbytes; print(torch.__version__, transformers.__version__, trl.__version__, peft.__version__, bitsandbytes.__version__)" > $P/versions.txt 2>&1
  ( time python -m harness evalset build --rows 25000 --out /root/g/evalsets/syn25k ) > $P/build25k.log 2>&1 &
  ( time python -c "from harness.models import resolve_model; print(resolve_model('gemma-3-270m'))" ) > $P/convert.log 2>&1
  wait
  C="--evalset /root/g/evalsets/syn25k --set group_by_length=true --set packing=false --set torch_compile=true --set optimizer=adamw_torch_fused --set batch_size=1024 --set epochs=8 --set save_steps=500 --curve 16"
  CUDA_VISIBLE_DEVICES=0 setsid nohup python -m harness train $C --set learning_rate=3e-3 --runs-dir /root/g/runs-a > /root/g/a.log 2>&1 < /dev/null &
  echo $! > /root/g/a.pid
  CUDA_VISIBLE_DEVICES=1 setsid nohup python -m harness train $C --set learning_rate=5e-3 --set warmup_ratio=0.1 --runs-dir /root/g/runs-b > /root/g/b.log 2>&1 < /dev/null &
  echo $! > /root/g/b.pid
fi
alive() { for a in a b; do kill -0 $(cat /root/g/$a.pid) 2>/dev/null && return 0; done; return 1; }
while alive && [ $SECONDS -lt $((END - 15)) ]; do sleep 20; pack; done
pack
for a in a b; do echo "== $a"; kill -0 $(cat /root/g/$a.pid) 2>/dev/null && echo running || echo stopped; grep -v "recall curve" /root/g/$a.log | tail -3; tail -1 /root/g/runs-$a/*/curve.jsonl; done
grep -h real $P/*.log
