#!/usr/bin/env bash
# Rewrites every citation of the old shared contract (`DESIGN.md §N`, `FAULTS P11`, `FAULTS.md §1.3`,
# `../shared/DESIGN.md`) into the repository's own docs: `docs/design.md §N`, `docs/faults.md P11`.
# The section numbers and IDs are the same in docs/, so only the file name changes.
#
# Usage: scripts/rewrite-contract-refs.sh [ROOT]   (default: the repository root)
#
# Idempotent: the rewritten names are lower case, which the patterns below never match again.
# Identifiers that merely contain the word (RAFTQ_TEST_STORAGE_FAULTS, FAULTS_ENV, *_DEFAULTS) are
# left alone: a match needs a non-identifier character on both sides.
set -euo pipefail

root="${1:-$(git -C "$(dirname "$0")" rev-parse --show-toplevel)}"
cd "$root"

# Where citations live (this script and the docs it points to are not rewritten).
scope=()
for p in src test docs bench deploy README.md eslint.config.js vitest.config.ts; do
  [ -e "$p" ] && scope+=("$p")
done

mapfile -t files < <(grep -rlIE '(^|[^A-Za-z0-9_])(DESIGN\.md|FAULTS)([^A-Za-z0-9_]|$)' "${scope[@]}" || true)
if [ "${#files[@]}" -eq 0 ]; then
  echo "rewrite-contract-refs: nothing to rewrite"
  exit 0
fi

sed -i -E \
  -e 's#The full contract is in `DESIGN\.md` of the project.s shared folder;#The design as built is in [docs/design.md](docs/design.md) and the faults we test in [docs/faults.md](docs/faults.md);#g' \
  -e 's#(\.\./)?shared/DESIGN\.md#docs/design.md#g' \
  -e 's#(\.\./)?shared/FAULTS\.md#docs/faults.md#g' \
  -e 's#(^|[^A-Za-z0-9_/.-])DESIGN\.md#\1docs/design.md#g' \
  -e 's#(^|[^A-Za-z0-9_/.-])FAULTS\.md#\1docs/faults.md#g' \
  -e 's#(^|[^A-Za-z0-9_/.-])FAULTS([^A-Za-z0-9_.]|$)#\1docs/faults.md\2#g' \
  "${files[@]}"

echo "rewrite-contract-refs: rewrote ${#files[@]} files"
grep -rnIE '(^|[^A-Za-z0-9_])(DESIGN\.md|FAULTS)([^A-Za-z0-9_]|$)' "${scope[@]}" || echo "rewrite-contract-refs: no citation of DESIGN.md / FAULTS left"
