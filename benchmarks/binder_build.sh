#!/usr/bin/env bash
# Emulate the Binder (repo2docker) build of this repository without Docker, then run the notebooks as a session would.
#
# The steps follow the Dockerfile `jupyter-repo2docker --no-build .` prints (tests/test_binder.py checks those lines):
#   1. a fresh Python of the version in binder/runtime.txt (here: a new virtualenv);
#   2. the repository copied into the notebook user's HOME (repo2docker's REPO_DIR is ${HOME});
#   3. from there: `pip install --no-cache-dir -r binder/requirements.txt`;
#   4. `./binder/postBuild` with HOME set to that folder and no KERAS_HOME, so the dataset lands in ~/.keras;
#   5. every notebooks/*.ipynb executed top to bottom (nbconvert --execute) with that HOME, as a Binder session would.
#
# Offline, the pre-fetch in postBuild cannot download: pass --seed DIR (default: ../shared/datasets/fashion-mnist
# beside the checkout, when it exists) and its *.gz files are put in the fresh ~/.keras/datasets/fashion-mnist first,
# where the real Keras loader then finds them. --seed none leaves the cache empty (postBuild then downloads).
#
# Usage: benchmarks/binder_build.sh [--seed DIR|none] [--keep]
# Prints the time of each step and one line per notebook; exits non-zero if any step or notebook fails.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
seed="$root/../shared/datasets/fashion-mnist"
[[ -d "$seed" ]] || seed=none
keep=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --seed) seed="$2"; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

runtime="$(tr -d '[:space:]' < "$root/binder/runtime.txt")"
version="${runtime#python-}"
python_bin="$(command -v "python$version" || true)"
if [[ -z "$python_bin" ]]; then
    echo "binder/runtime.txt asks for $runtime but python$version is not on PATH" >&2
    exit 1
fi

work="$(mktemp -d -t binder-build-XXXXXX)"
if [[ "$keep" == 1 ]]; then
    trap 'echo "kept: $work"' EXIT
else
    trap 'rm -rf "$work"' EXIT
fi
home="$work/home/jovyan"   # repo2docker: HOME=/home/${NB_USER}, REPO_DIR=${HOME}
mkdir -p "$home"

step_start=$SECONDS
step() { echo "== [$((SECONDS - step_start)) s] $*"; }

step "1. fresh virtualenv with $("$python_bin" --version) ($runtime)"
"$python_bin" -m venv "$work/venv"
export PATH="$work/venv/bin:$PATH"
export VIRTUAL_ENV="$work/venv"
python -m pip install --quiet --upgrade pip 2> >(grep -v "^WARNING: Location '.*' is ignored" >&2)

step "2. repository copied into $home (the files git sees: tracked and untracked-but-not-ignored)"
(cd "$root" && git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do if [[ -e "$f" ]]; then printf '%s\0' "$f"; fi; done \
    | tar --null -T - -cf -) | tar -xf - -C "$home"

step "3. pip install --no-cache-dir -r binder/requirements.txt (from the repository root, as repo2docker)"
# pip keeps the machine's own HOME here only so it finds its configured package indexes; it writes nothing there.
(cd "$home" && python -m pip install --quiet --no-cache-dir -r binder/requirements.txt \
    2> >(grep -v "^WARNING: Location '.*' is ignored" >&2))

if [[ "$seed" != none ]]; then
    step "   offline: seeding $home/.keras/datasets/fashion-mnist from $seed"
    mkdir -p "$home/.keras/datasets/fashion-mnist"
    cp "$seed"/*.gz "$home/.keras/datasets/fashion-mnist/"
fi

session_env=(env -u KERAS_HOME -u JUPYTER_CONFIG_DIR -u CLIPPING_TESTS_KERAS_HOME -u MPLBACKEND
    HOME="$home" USER=jovyan TF_CPP_MIN_LOG_LEVEL=2 TF_ENABLE_ONEDNN_OPTS=0)

step "4. ./binder/postBuild as the notebook user (HOME=$home)"
(cd "$home" && "${session_env[@]}" ./binder/postBuild)
for name in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    test -s "$home/.keras/datasets/fashion-mnist/$name" || { echo "postBuild left no $name in ~/.keras" >&2; exit 1; }
done
default_url="$(cd "$home" && "${session_env[@]}" jupyter lab --show-config 2>/dev/null | grep -m1 default_url || true)"
echo "   JupyterLab config in the image: ${default_url:-no default_url set}"

step "5. executing every notebook as a Binder session would"
shopt -s nullglob
notebooks=("$home"/notebooks/*.ipynb)
if [[ ${#notebooks[@]} -eq 0 ]]; then
    echo "no notebooks/*.ipynb to execute" >&2
    exit 1
fi
failed=0
mkdir -p "$work/executed"
for nb in "${notebooks[@]}"; do
    start=$SECONDS
    if (cd "$home/notebooks" && "${session_env[@]}" jupyter nbconvert --to notebook --execute \
            --ExecutePreprocessor.timeout=600 --output-dir "$work/executed" "$nb" > "$work/nbconvert.log" 2>&1); then
        echo "   ok     $((SECONDS - start)) s  $(basename "$nb")"
    else
        echo "   FAILED $((SECONDS - start)) s  $(basename "$nb")"
        tail -n 25 "$work/nbconvert.log" | sed 's/^/      /'
        failed=1
    fi
done
step "done: ${#notebooks[@]} notebook(s), $([[ $failed == 0 ]] && echo all ran || echo SOME FAILED)"
exit "$failed"
