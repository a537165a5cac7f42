#!/usr/bin/env python3
"""Boot an arm64 kernel under QEMU (-M virt, TCG) and dump it over QMP.

usage: boot-and-dump.py --kernel IMAGE --initrd CPIO --outdir DIR [options]

The guest's /init (bench/arm64-corpus/guestinit) prints its ground truth and
KDI-READY on the first PL011 (ttyAMA0, a file chardev: DIR/console.log) and
takes commands on the second (ttyAMA1, a socket). On KDI-READY: `stop`,
`info registers -a` (DIR/cpu-registers.txt), `dump-guest-memory` ELF
(DIR/vmcore.elf), kdump-raw-zlib (DIR/vmcore.kdump: the standard kdump-compressed
format) and kdump-zlib (DIR/vmcore-flat.kdump: QEMU writes this one in makedumpfile's
flattened format) of the same stopped state.

--crash CMD DIR2: afterwards `cont`, send CMD (crash-sysrq, crash-klp) to the
guest, wait for "Kernel panic" on the console and 5 s more (the other CPUs
stop), then `stop`, registers, and the same two dumps into DIR2.

QEMU runs under `nice -n 10`; QMP traffic goes to DIR/qmp.log.
"""
import json, os, shlex, sys, time

# the shared QEMU/QMP helpers: bench/lib beside this script's directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import qemuqmp  # noqa: E402

ap = qemuqmp.arg_parser()
ap.add_argument('--append', default='')
ap.add_argument('--cpu', default='max,pauth-impdef=on')
ap.add_argument('--machine', default='virt,gic-version=3')
ap.add_argument('--smp', default='2')
ap.add_argument('--mem', default='1G')
ap.add_argument('--qemu', default=os.environ.get('QEMU', 'qemu-system-aarch64'))
ap.add_argument('--timeout', type=int, default=5400)
ap.add_argument('--no-vmcoreinfo', action='store_true', help='no -device vmcoreinfo')
ap.add_argument('--crash', nargs=2, metavar=('CMD', 'DIR2'))
a = ap.parse_args()

out = os.path.abspath(a.outdir)
os.makedirs(out, exist_ok=True)
qmp_path, cmd_path, mon_path, log = qemuqmp.run_files(out, 'qmp.sock', 'cmd.sock', 'mon.sock', 'console.log')
qmplog = open(os.path.join(out, 'qmp.log'), 'a')

append = 'console=ttyAMA0 loglevel=7 panic=0 rdinit=/init ' + a.append
cmd = ['nice', '-n', '10'] + shlex.split(a.qemu) + [
    '-M', a.machine, '-accel', 'tcg', '-cpu', a.cpu, '-smp', a.smp, '-m', a.mem]
if not a.no_vmcoreinfo:
    cmd += ['-device', 'vmcoreinfo']
cmd += ['-nodefaults', '-display', 'none', '-no-reboot', '-no-shutdown',
        '-monitor', 'unix:%s,server=on,wait=off' % mon_path,
        '-kernel', a.kernel, '-initrd', a.initrd, '-append', append.strip()]
# ttyAMA0: the console; ttyAMA1 (the second PL011 of -M virt): commands to /init
cmd += qemuqmp.kdi_serial_args(log, cmd_path, qmp_path)
qemuqmp.record_cmdline(out, a.qemu, cmd)
qemu = qemuqmp.start(cmd, out)
t_start = time.time()


def console_text():
    return qemuqmp.console_text(log)


qmp, c = qemuqmp.connect(qemu, qmp_path, cmd_path, log=qmplog, log_width=4000)
formats = qmp.dump_formats()

qemuqmp.wait_for(qemu, log, 'KDI-READY', a.timeout, kill=True)
dt, la = qemuqmp.ready_time(out, t_start)
print('KDI-READY after %.0fs (loadavg %s)' % (dt, la), flush=True)
time.sleep(3)


def dump(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'cpu-registers.txt'), 'w') as f:
        f.write(qmp.hmp('info registers -a'))
    with open(os.path.join(d, 'query-cpus.json'), 'w') as f:
        json.dump(qmp('query-cpus-fast', quiet=True).get('return'), f, indent=1)
    qmp.dump(os.path.join(d, 'vmcore.elf'), 'elf', '  elf')
    # kdump-raw-zlib: the standard (diskdump) kdump-compressed file; kdump-zlib: QEMU
    # writes it in makedumpfile's *flattened* format (for a pipe)
    for fmt, name in (('kdump-raw-zlib', 'vmcore.kdump'), ('kdump-zlib', 'vmcore-flat.kdump')):
        if fmt in formats:
            qmp.dump(os.path.join(d, name), fmt, '  ' + fmt)


qmp('stop')
dump(out)
console_len_at_dump = len(open(log, 'rb').read())

if a.crash:
    ccmd, d2 = a.crash
    d2 = os.path.abspath(d2)
    qmp('cont')
    n0 = len(console_text())
    c.sendall((ccmd + '\n').encode())
    t0 = time.time()
    while time.time() - t0 < 900:
        if 'Kernel panic' in console_text()[n0:]:
            break
        time.sleep(1)
    else:
        print('no panic within 900 s', flush=True)
    time.sleep(5)
    qmp('stop')
    dump(d2)
    with open(os.path.join(d2, 'crash.txt'), 'w') as f:
        f.write('command %r sent on ttyAMA1 after the dump of %s; panic seen %.0f s later\n' % (ccmd, out, time.time() - t0 - 5))

qemuqmp.quit(qemu, qmp)
if a.crash:
    # the crash directory gets the whole console; the first dump's console.log ends
    # where the console stood when that dump was taken
    full = open(log, 'rb').read()
    open(os.path.join(d2, 'console.log'), 'wb').write(full)
    open(log, 'wb').write(full[:console_len_at_dump])
print('done', flush=True)
