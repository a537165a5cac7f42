#!/usr/bin/env bash
# Regenerates the BTF fixtures of this directory (see README.md).
#
# Needs: powerpc64le-linux-gnu-gcc (Debian: gcc-powerpc64le-linux-gnu;
# -mbig-endian gives the big-endian object), pahole (dwarves, 1.24 on
# bookworm) to encode BTF from DWARF, bpftool (the independent reader
# whose raw dumps are the truth files), zstd, and ../../../../shared/corpus
# for the two corpus modules.
set -euo pipefail
cd "$(dirname "$0")"
corpus=${CORPUS:-../../../../shared/corpus}
mods=$corpus/kernels/7.2.13-fixed/modules
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# 1. kernelish.c for ppc64 little- and big-endian: the object (its DWARF is
#    what the BTF is compared with) and the BTF pahole encodes from it.
for e in le be; do
  flag=-mlittle-endian; [ $e = be ] && flag=-mbig-endian
  powerpc64le-linux-gnu-gcc $flag -fdebug-prefix-map="$PWD"=. -g -gdwarf-5 -O1 -c kernelish.c -o kernelish-$e.o
  pahole --btf_gen_floats --btf_encode_detached=kernelish-$e.btf kernelish-$e.o
  bpftool btf dump file kernelish-$e.btf format raw > kernelish-$e.bpftool.txt
  # kernelish_mod.c as a module: split BTF over kernelish-$e.btf.
  powerpc64le-linux-gnu-gcc $flag -fdebug-prefix-map="$PWD"=. -g -gdwarf-5 -O1 -c kernelish_mod.c -o "$tmp/kernelish_mod-$e.o"
  pahole --btf_gen_floats --btf_base=kernelish-$e.btf --btf_encode_detached=kernelish_mod-$e.split.btf "$tmp/kernelish_mod-$e.o"
  bpftool -B kernelish-$e.btf btf dump file kernelish_mod-$e.split.btf format raw > kernelish_mod-$e.split.bpftool.txt
done

# 2. A corpus module's types as base BTF (struct module and everything it
#    reaches, as the 7.2.13-fixed kernel defines them), and a second module
#    as split BTF over it (type IDs and string offsets continue the base's).
cp "$mods/modarch_dump.ko" "$mods/livepatch-sample.ko" "$tmp/"
pahole --btf_gen_floats --btf_encode_detached="$tmp/modarch_dump.btf" "$tmp/modarch_dump.ko"
pahole --btf_gen_floats --btf_base="$tmp/modarch_dump.btf" --btf_encode_detached=livepatch-sample.split.btf "$tmp/livepatch-sample.ko"
bpftool btf dump file "$tmp/modarch_dump.btf" format raw | zstd -19 -q -f -o modarch_dump.bpftool.txt.zst
bpftool -B "$tmp/modarch_dump.btf" btf dump file livepatch-sample.split.btf format raw > livepatch-sample.split.bpftool.txt
zstd -19 -q -f "$tmp/modarch_dump.btf" -o modarch_dump.btf.zst
chmod 644 ./*.btf ./*.zst
