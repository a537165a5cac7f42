#!/bin/bash
# After boot-and-dump.py: add artifacts, VMCOREINFO-note copy, drgn + guest truth.
# usage: finalize-dump.sh STAGE_DIR OUT_DIR     (run on the host; drgn runs in the sid chroot)
set -e
S=${1:?}; O=${2:?}
T=$(cd "$(dirname "$0")" && pwd)
CH=${PB_BUILD:?scratch build dir}/sid-root
# truth-drgn.py runs in the chroot from a copy under $PB_BUILD, with bench/lib/drgntruth.py beside it
# shellcheck source=../lib/drgn-script.sh
. "$T/../lib/drgn-script.sh"
drgn_script=$(copy_drgn_script "$PB_BUILD/tools" "$T/truth-drgn.py")
mkdir -p "$O/modules"
ln -f "$S/vmlinux" "$O/vmlinux" 2>/dev/null || cp "$S/vmlinux" "$O/vmlinux"
cp "$S/System.map" "$O/"; cp "$S/config" "$O/.config"; cp "$S/initramfs.cpio.gz" "$O/"
for k in "$S"/modules/*.ko; do ln -f "$k" "$O/modules/" 2>/dev/null || cp "$k" "$O/modules/"; done
cp "$S/klp_stub_bug.ko.unconverted" "$O/modules/klp_stub_bug.ko.unconverted"
python3 "$T/parse-console.py" "$O/console.log" "$O/truth-guest.json"
read PADDR SIZE < <(sed -n '/=== CORPUS: BEGIN vmcoreinfo ===/{n;p}' "$O/console.log" | tr -d '\r')
echo "vmcoreinfo paddr=$PADDR size=$SIZE"
echo "$PADDR $SIZE" > "$O/vmcoreinfo-location.txt"
for d in "$O" "$O/panic"; do
	[ -f "$d/vmcore.elf" ] || continue
	rm -f "$d/truth-drgn.json"
	python3 "$T/add-vmcoreinfo-note.py" "$d/vmcore.elf" "$d/vmcore-vmcoreinfo.elf" "$PADDR" "$SIZE"
	# drgn sees the host paths through the chroot's bind mounts (${PB_OUT:?output dir}, ${PB_TOOLS_MNT:-/pb-tools},
	# $PB_BUILD: the copy of truth-drgn.py and its helpers, bench/lib/drgntruth.py, made above)
	chroot $CH drgn -c "$d/vmcore-vmcoreinfo.elf" -s "$O/vmlinux" $(for k in "$O"/modules/*.ko; do echo -s $k; done) \
		"$drgn_script" "$d/truth-drgn.json" "$O/modules" > "$d/drgn.log" 2>&1 || echo "drgn FAILED (see $d/drgn.log)"
	rm -f "$d/truth-pgtable.json"
	chroot $CH python3 ${PB_TOOLS_MNT:-/pb-tools}/pgtable-truth.py "$d/vmcore-vmcoreinfo.elf" "$O/vmlinux" "$d/truth-pgtable.json" "$O/modules" > "$d/pgtable-truth.log" 2>&1 || echo "pgtable-truth FAILED (see $d/pgtable-truth.log)"
	# kdump: QEMU's kdump-zlib output is makedumpfile's *flattened* format; reassemble it
	# (makedumpfile -R) and add VMCOREINFO + utsname so libkdumpfile/drgn can open it
	rm -f "$d/vmcore-raw.kdump" "$d/vmcore-vmcoreinfo.kdump" "$d/truth-kdump.json"
	if [ -f "$d/vmcore.kdump" ]; then
		makedumpfile -R "$d/vmcore-raw.kdump" < "$d/vmcore.kdump" > "$d/makedumpfile-R.log" 2>&1
		UN=$(tr -d '\r' < "$O/console.log" | sed -n '/=== CORPUS: BEGIN uname ===/{n;p}')
		python3 "$T/add-vmcoreinfo-kdump.py" "$d/vmcore-raw.kdump" "$d/vmcore-vmcoreinfo.kdump" "$d/vmcore-vmcoreinfo.elf" "$UN"
		chmod 644 "$d"/vmcore*
		chroot $CH python3 ${PB_TOOLS_MNT:-/pb-tools}/pgtable-truth.py "$d/vmcore-vmcoreinfo.elf" "$O/vmlinux" "$d/truth-kdump.json" "$O/modules" \
			--kdump "$d/vmcore-vmcoreinfo.kdump" > "$d/pgtable-truth-kdump.log" 2>&1 || echo "kdump truth FAILED (see $d/pgtable-truth-kdump.log)"
	fi
	extra=""; [ "$d" = "$O/panic" ] && extra=--guest-stale
	if [ -f "$d/truth-drgn.json" ]; then DJ="$d/truth-drgn.json"; else DJ=-; fi
	python3 "$T/make-truth.py" "$DJ" "$O/truth-guest.json" "$d/truth.json" $extra --drgn-log="$d/drgn.log" --alt="$d/truth-pgtable.json" --kdump-json="$d/truth-kdump.json" | tee "$d/truth-summary.txt"
done
