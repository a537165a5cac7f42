#!/usr/bin/env python3
"""Boot an x86_64 kernel under QEMU (q35, TCG) and dump it from the monitor (QMP).

usage: boot-and-dump.py --kernel BZIMAGE --initrd CPIO --outdir DIR [options]

The guest's /init (bench/x86-corpus/guestinit) prints its ground truth and
KDI-READY on the serial console (a socket chardev logged to DIR/console.log).
Steady dump: `stop`, `info registers -a` (DIR/cpu-registers.txt),
`dump-guest-memory` ELF (DIR/vmcore.elf), kdump-zlib (DIR/vmcore.kdump: the
makedumpfile flattened format, on every QEMU) and, where QEMU offers
kdump-raw-zlib (8.2 and later), the normal kdump file (DIR/vmcore-raw.kdump),
the same stopped state for all.

--inflight N: afterwards `cont`, send "loop" to the guest (it empties
set_ftrace_filter and toggles current_tracer function/nop forever), then
up to N times: sleep a random 0.3-3 s, `stop`, read text_poke_array.nr_entries
with `xp` (physical address computed from the guest's printed kallsyms,
phys_base and page_offset_base); when non-zero, read every CPU's
text_poke_array_refs, `info registers -a`, and dump ELF to
DIR/inflight-NN/vmcore.elf (plus kdump-zlib for the first); `cont`. Stops
after --keep dumps, at most half of them of one kind ("queued": entries
queued, every CPU's refs 0; "int3-window": refs set) until the other kind
was seen. Every try is logged to DIR/inflight-tries.jsonl.

All QEMU runs under `nice -n 10`. QMP commands are logged to DIR/qmp.log.
"""
import json, os, random, re, shlex, sys, time

# the shared QEMU/QMP helpers: bench/lib beside this script's directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import qemuqmp  # noqa: E402

ap = qemuqmp.arg_parser()
ap.add_argument('--append', default='')
ap.add_argument('--cpu', default='')
ap.add_argument('--vmcoreinfo', action='store_true', help='add -device vmcoreinfo')
ap.add_argument('--smp', default='2')
ap.add_argument('--mem', default='1G')
ap.add_argument('--qemu', default=os.environ.get('QEMU', 'qemu-system-x86_64'))
ap.add_argument('--timeout', type=int, default=3600)
ap.add_argument('--no-kdump', action='store_true')
ap.add_argument('--inflight', type=int, default=0, help='max tries')
ap.add_argument('--keep', type=int, default=4, help='in-flight dumps to keep')
ap.add_argument('--nr-entries-offset', type=lambda s: int(s, 0), default=None,
                help='offsetof(struct smp_text_poke_array, nr_entries)')
ap.add_argument('--loop-warmup', type=float, default=20.0,
                help='seconds to let the loop run before the first try')
a = ap.parse_args()

out = os.path.abspath(a.outdir)
os.makedirs(out, exist_ok=True)
qmp_path, con_path, log = qemuqmp.run_files(out, 'qmp.sock', 'cmd.sock', 'console.log')
qmplog = open(os.path.join(out, 'qmp.log'), 'a')

append = 'console=ttyS0,115200 loglevel=7 panic=0 rdinit=/init ' + a.append
cmd = ['nice', '-n', '10'] + shlex.split(a.qemu) + [
    '-M', 'q35', '-accel', 'tcg', '-smp', a.smp, '-m', a.mem]
if a.cpu:
    cmd += ['-cpu', a.cpu]
if a.vmcoreinfo:
    cmd += ['-device', 'vmcoreinfo']
mon_path = os.path.join(out, 'mon.sock')  # a spare HMP monitor, for looking in by hand
cmd += ['-nodefaults', '-display', 'none', '-monitor', 'unix:%s,server=on,wait=off' % mon_path, '-no-reboot',
        '-kernel', a.kernel, '-initrd', a.initrd, '-append', append.strip()]
cmd += qemuqmp.kdi_serial_args(log, con_path, qmp_path)  # ttyS0: the console; ttyS1: commands to the guest's /init
qemuqmp.record_cmdline(out, a.qemu, cmd)
qemu = qemuqmp.start(cmd, out)
t_start = time.time()


def console_text():
    return qemuqmp.console_text(log)


qmp, c = qemuqmp.connect(qemu, qmp_path, con_path, log=qmplog)  # c: the command port
formats = qmp.dump_formats()

qemuqmp.wait_for(qemu, log, 'KDI-READY', a.timeout, interval=2, kill=True)
dt, la = qemuqmp.ready_time(out, t_start)
print('KDI-READY after %.0fs (QEMU start to READY; loadavg %s)' % (dt, la.split()), flush=True)
time.sleep(3)


def dump(d, kdump):
    os.makedirs(d, exist_ok=True)
    qmp.dump(os.path.join(d, 'vmcore.elf'), 'elf', '  elf')
    if kdump and 'kdump-zlib' in formats:
        # the makedumpfile *flattened* format (what `dump-guest-memory -z` writes on every QEMU)
        qmp.dump(os.path.join(d, 'vmcore.kdump'), 'kdump-zlib', '  kdump-zlib')
    if kdump and 'kdump-raw-zlib' in formats:
        # QEMU >= 8.2: a normal (seekable, "reassembled") kdump file (`dump-guest-memory -z -R`)
        qmp.dump(os.path.join(d, 'vmcore-raw.kdump'), 'kdump-raw-zlib', '  kdump-raw-zlib')


qmp('stop')
with open(os.path.join(out, 'cpu-registers.txt'), 'w') as f:
    f.write(qmp.hmp('info registers -a'))
dump(out, not a.no_kdump)

if a.inflight:
    # addresses from the guest's truth
    txt = console_text()
    ks = {}
    for m in re.finditer(r'^kallsyms_vmlinux\| ([0-9a-f]{16}) \S+ (\S+)', txt, re.M):
        ks.setdefault(m.group(2), int(m.group(1), 16))
    var = {}
    for m in re.finditer(r'^variables\| (\S+) ([0-9a-f]{16}) ([0-9a-f]{16})', txt, re.M):
        var[m.group(1)] = int(m.group(3), 16)
    pcpu = [int(m.group(2), 16) for m in re.finditer(r'^percpu\| cpu(\d+) ([0-9a-f]{16})', txt, re.M)]
    START_KERNEL_map = 0xffffffff80000000

    def phys(v):  # modulo 2^64: phys_base can be "negative" (kernel loaded below its link address)
        if v >= START_KERNEL_map:
            return (v - START_KERNEL_map + var['phys_base']) & 0xffffffffffffffff
        return (v - var['page_offset_base']) & 0xffffffffffffffff

    tpa = ks['text_poke_array']
    refs_sym = ks['text_poke_array_refs']
    nr_phys = phys(tpa + a.nr_entries_offset)
    # per-CPU address = symbol + __per_cpu_offset[cpu], modulo 2^64 (x86_64
    # per-CPU symbols are not zero-based: the offsets wrap)
    refs_phys = [phys((off + refs_sym) & 0xffffffffffffffff) for off in pcpu]
    print('text_poke_array %#x nr_entries phys %#x; refs phys %s' % (
        tpa, nr_phys, [hex(x) for x in refs_phys]), flush=True)

    def xp32(p):
        r = qmp.hmp('xp /1wx %#x' % p)
        m = re.search(r':\s*0x([0-9a-f]+)', r)
        return int(m.group(1), 16) if m else None

    qmp('cont')
    c.sendall(b'loop\n')
    time.sleep(a.loop_warmup)
    tries = open(os.path.join(out, 'inflight-tries.jsonl'), 'a')
    kept = 0
    kinds = {}
    for i in range(a.inflight):
        time.sleep(random.uniform(0.3, 3.0))
        qmp('stop', quiet=True)
        nr = xp32(nr_phys)
        rec = {'try': i, 'time': time.time(), 'nr_entries': nr}
        if nr:
            rec['text_poke_array_refs'] = [xp32(p) for p in refs_phys]
            # two kinds: entries queued, no int3 written yet (every CPU's refs
            # 0), and the int3 window (refs set): keep at most half of --keep
            # of one kind while the other is missing
            kind = 'int3-window' if any(rec['text_poke_array_refs']) else 'queued'
            rec['kind'] = kind
            if kinds.get(kind, 0) >= (a.keep + 1) // 2 and len(kinds) < 2:
                rec['kept'] = False
                tries.write(json.dumps(rec) + '\n')
                tries.flush()
                print('try %d: nr_entries=%d %s (enough of this kind)' % (i, nr, kind), flush=True)
                qmp('cont', quiet=True)
                continue
            kinds[kind] = kinds.get(kind, 0) + 1
            rec['kept'] = True
            regs = qmp.hmp('info registers -a')
            rec['rip'] = re.findall(r'RIP=([0-9a-f]+)', regs)
            rec['cpl'] = re.findall(r'CPL=(\d)', regs)
            kept += 1
            d = os.path.join(out, 'inflight-%02d' % kept)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, 'cpu-registers.txt'), 'w') as f:
                f.write(regs)
            with open(os.path.join(d, 'monitor.json'), 'w') as f:
                json.dump(rec, f, indent=1)
            print('try %d: nr_entries=%d refs=%s rip=%s -> %s' % (
                i, nr, rec['text_poke_array_refs'], rec['rip'], d), flush=True)
            dump(d, kept == 1 and not a.no_kdump)
            # the dump saw the same stopped state: nr_entries again, for the record
            rec['nr_entries_after_dump'] = xp32(nr_phys)
            rec['dir'] = os.path.basename(d)
            with open(os.path.join(d, 'monitor.json'), 'w') as f:
                json.dump(rec, f, indent=1)
        tries.write(json.dumps(rec) + '\n')
        tries.flush()
        qmp('cont', quiet=True)
        if kept >= a.keep:
            break
    print('in-flight: %d tries, %d kept' % (i + 1, kept), flush=True)
    qmp('stop')

qemuqmp.quit(qemu, qmp)
print('done', flush=True)
