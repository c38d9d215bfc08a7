#!/usr/bin/env bash
# Not yet run (planned for the next device session), one call on two H200s: where the compiled step's time
# goes at 256 and 1,024 records a step, each alone on its own GPU (torch profiler after the recompiles:
# --wait 8), the traces packed into $OUT. Staging first, as in device_calls_session7.sh.
source /root/stage/env.sh
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
P=/root/g/pack
rm -rf /root/g && mkdir -p /root/g/src $P && tar --exclude=./.devcarry --exclude=./.devdata -cf - . | tar -xf - -C /root/g/src
cd /root/g/src && export PYTHONPATH=$PWD:$PYTHONPATH
git log --oneline -1 > $P/commit.txt 2>&1
( time python -c "from harness.models import resolve_model; print(resolve_model('gemma-3-270m'))" ) > $P/convert.log 2>&1
S="--anime 5000 --set group_by_length=true --set packing=false --set torch_compile=true --set optimizer=adamw_torch_fused --wait 8 --rows 40"
for b in 256 1024; do
  g=0; [ $b = 1024 ] && g=1
  CUDA_VISIBLE_DEVICES=$g timeout 400 python docs/experiments/profile_step.py $S --set batch_size=$b --out /root/g/prof$b > $P/prof$b.log 2>&1 &
done
wait
for b in 256 1024; do gzip -c /root/g/prof$b/trace.json > $P/trace$b.json.gz 2>/dev/null; done
tar czf $OUT/g1.tgz -C /root/g pack
for b in 256 1024; do head -70 $P/prof$b.log | grep -v "^step\|recall"; done
