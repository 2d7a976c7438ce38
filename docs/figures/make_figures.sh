#!/usr/bin/env bash
# Regenerates the report figures shown in the documentation (about half a minute on two CPU
# cores): a short comparison on the synthetic teacher network, whose report figures are
# copied here with their colours reduced to a 256-colour palette to keep the site small.
# Run from anywhere with the package installed: bash docs/figures/make_figures.sh
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
bayeslstm compare --methods pf,ekf,dpf,dekf --steps 300 --nodes 6 --no-progress --seed 0 --average --out "$out"
for name in tae ess weights network average; do
    python - "$out/$name.png" "$here/$name.png" <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("RGB").quantize(colors=256).save(sys.argv[2], optimize=True)
PY
done
ls -l "$here"/*.png
