#!/usr/bin/env bash
# Run in session 8, one call on one H200 with the last 291 s of the device time (too few for the 7-call
# model staging): where the compiled step's time goes at 256 records a step, past its recompiles (--wait 6).
# The model is Gemma-3-270M's own config and tokenizer with random weights, built on the machine: a step's
# kernels, launches and syncs follow the shapes, not the weights' values, so the profile is the embedded
# model's. Carried: .devcarry/p (the wheels' files unpacked, bitsandbytes' CUDA 13 libraries only, as one
# tar.xz; the config and the tokenizer). Prints the tables; the log and the gzipped trace go to $OUT/p.tgz.
set -u
T0=$(date +%s)
M=/root/rand270m
mkdir -p /tmp/site $M /root/pack && cp .devcarry/p/*.json .devcarry/p/*.jinja $M/ || exit 1
python3 -c "
import lzma, shutil, tarfile
tarfile.open('.devcarry/p/site.tar.xz').extractall('/tmp/site')
with lzma.open('.devcarry/p/tokenizer.json.xz') as src, open('$M/tokenizer.json', 'wb') as dst:
    shutil.copyfileobj(src, dst)
" || exit 1
export PYTHONPATH=/tmp/site:$PWD HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
python3 -c "
import torch, transformers
torch.manual_seed(0)
config = transformers.AutoConfig.from_pretrained('$M')
transformers.AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained('$M')
print('torch', torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))
" || exit 1
echo "staged in $(( $(date +%s) - T0 )) s"
git log --oneline -1 2>/dev/null
python3 docs/experiments/profile_step.py --model $M --anime 2000 --set batch_size=256 --set group_by_length=true \
  --set packing=false --set torch_compile=true --set optimizer=adamw_torch_fused --wait 6 --rows 25 \
  --out /root/prof256 > /root/pack/prof256.log 2>&1
echo "profile exit $? at $(( $(date +%s) - T0 )) s"
grep -v "^step\|recall\|it/s\]" /root/pack/prof256.log | tail -95
gzip -c /root/prof256/trace.json > /root/pack/trace256.json.gz 2>/dev/null
tar czf $OUT/p.tgz -C /root pack
