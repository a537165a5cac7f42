# shellcheck shell=bash
# bench/lib/drgn-script.sh (sourced): a truth-drgn.py of bench/ imports its
# helpers from the lib/ directory beside its own directory (bench/lib/,
# drgntruth.py). A script run in a chroot that does not see the repository
# runs from a copy; copy_drgn_script makes that copy with the same layout.

# copy_drgn_script DEST SCRIPT: copies bench/DIR/SCRIPT to DEST/DIR/ and
# bench/lib/*.py to DEST/lib/, and prints the copy's path.
copy_drgn_script() {
  local dest=$1 script=$2 dir
  dir=$(basename "$(dirname "$script")")
  mkdir -p "$dest/$dir" "$dest/lib"
  cp "$script" "$dest/$dir/"
  cp "$(dirname "$script")"/../lib/*.py "$dest/lib/"
  echo "$dest/$dir/$(basename "$script")"
}
