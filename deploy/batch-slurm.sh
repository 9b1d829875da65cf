#!/usr/bin/env bash
# A Slurm job array that splits one manifest over N tasks with no coordinator: array task I runs
# `prelabel batch --shard I/N`. Submit with: sbatch deploy/batch-slurm.sh /shared/videos.jsonl /shared/labels
# Resubmitting (or `--array=2` for one failed task) skips videos whose label row already exists.
#SBATCH --job-name=prelabel-batch
#SBATCH --array=0-3
#SBATCH --cpus-per-task=8
#SBATCH --mem=8G
#SBATCH --output=prelabel-batch-%A_%a.log
set -euo pipefail
manifest="${1:?usage: sbatch batch-slurm.sh MANIFEST OUT_DIR [MODEL]}"
out_dir="${2:?usage: sbatch batch-slurm.sh MANIFEST OUT_DIR [MODEL]}"
model="${3:-models/ssdlite_mobilenet_v2_coco_300.onnx}"
shards=$(( SLURM_ARRAY_TASK_MAX + 1 ))
exec prelabel batch --manifest "$manifest" --out-dir "$out_dir" --model "$model" \
  --shard "${SLURM_ARRAY_TASK_ID}/${shards}" --threads "${SLURM_CPUS_PER_TASK}" --track
