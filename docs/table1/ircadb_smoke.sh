#!/usr/bin/env bash
# 3D-IRCADb real-data smoke of docs/table1.md: prepare patient 1.1, train briefly on it,
# predict patient 1.7 (its own geometry), evaluate against its masks. Run from the repository
# root with the data in ../shared/data/3Dircadb1 (or D=/path/to/3Dircadb1).
set -euo pipefail
D=${D:-../shared/data/3Dircadb1}
O=${O:-results/ircadb}
V=.venv/bin
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

# 1. the training patient on the prepared grid: liver box (+10 mm), 64 x 80 x 80 isotropic voxels
$V/vesselnet prepare "$D" --patients 1 --out "$O/prepared_1.1" --target-shape 64 80 80 --quiet

# 2. brief training of multitask-contrastive (one case: batches of 1, contrast between voxels)
$V/vesselnet train --preset multitask-contrastive --data "$O/prepared_1.1" --out "$O/run" --overwrite \
  --epochs 150 --set model.depth=3 --set model.base_channels=4 --set model.proj_dim=16 \
  --set optim.lr=1.0e-3 --set data.batch_size=1 --set data.drop_last=false \
  --set loss.contrastive_mode=voxel --set run.val_every=0 --set run.tensorboard=false --quiet

# 3. the other CT patient, predicted from its DICOM zips (liver crop from its MASKS_DICOM.zip)
$V/vesselnet predict "$O/run/checkpoints/last.pt" "$D/3Dircadb1.7" --out "$O/pred" --quiet

# 4. ground truth: portal vein + venous system (all of it, and inside the liver only)
$V/python - "$D" "$O" <<'PY'
import sys
from vesseltree.io import load_volume, save_volume
d, o = sys.argv[1:3]
for name, kw in (("gt_all", {}), ("gt_liver", {"restrict_to": "liver"})):
    v = load_volume(f"{d}/3Dircadb1.7/MASKS_DICOM.zip", **kw)
    save_volume(f"{o}/{name}/3Dircadb1.7.nii.gz", v.data, v.spacing, v.affine)
PY

# 5. vesselnet evaluate, in the patient's original geometry
$V/vesselnet evaluate "$O/pred/masks" "$O/gt_all" --out "$O/eval_all" --figures --name "1.7, all vessels" --quiet
$V/vesselnet evaluate "$O/pred/masks" "$O/gt_liver" --out "$O/eval_liver" --figures --name "1.7, vessels in liver" --quiet
