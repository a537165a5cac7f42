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
import argparse, json, os, shlex, socket, subprocess, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument('--kernel', required=True)
ap.add_argument('--initrd', required=True)
ap.add_argument('--outdir', required=True)
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
qmp_path = os.path.join(out, 'qmp.sock')
cmd_path = os.path.join(out, 'cmd.sock')
mon_path = os.path.join(out, 'mon.sock')
log = os.path.join(out, 'console.log')
for p in (qmp_path, cmd_path, mon_path, log):
    if os.path.exists(p):
        os.unlink(p)
qmplog = open(os.path.join(out, 'qmp.log'), 'a')

append = 'console=ttyAMA0 loglevel=7 panic=0 rdinit=/init ' + a.append
cmd = ['nice', '-n', '10'] + shlex.split(a.qemu) + [
    '-M', a.machine, '-accel', 'tcg', '-cpu', a.cpu, '-smp', a.smp, '-m', a.mem]
if not a.no_vmcoreinfo:
    cmd += ['-device', 'vmcoreinfo']
cmd += ['-nodefaults', '-display', 'none', '-no-reboot', '-no-shutdown',
        '-monitor', 'unix:%s,server=on,wait=off' % mon_path,
        '-kernel', a.kernel, '-initrd', a.initrd, '-append', append.strip(),
        # ttyAMA0: the console, straight into a file
        '-chardev', 'file,id=con,path=%s' % log, '-serial', 'chardev:con',
        # ttyAMA1 (the second PL011 of -M virt): commands to /init
        '-chardev', 'socket,id=cmd,path=%s,server=on,wait=off' % cmd_path, '-serial', 'chardev:cmd',
        '-qmp', 'unix:%s,server=on,wait=off' % qmp_path]
ver = subprocess.run(shlex.split(a.qemu) + ['--version'], capture_output=True, text=True).stdout.splitlines()[0]
with open(os.path.join(out, 'qemu-cmdline.txt'), 'w') as f:
    f.write('# %s\n' % ver)
    f.write(' '.join(shlex.quote(c) for c in cmd) + '\n')
print(ver, flush=True)
print(' '.join(shlex.quote(c) for c in cmd), flush=True)
qemu = subprocess.Popen(cmd, stdout=open(os.path.join(out, 'qemu-stdout.txt'), 'w'), stderr=subprocess.STDOUT)
t_start = time.time()


def console_text():
    try:
        return open(log, errors='replace').read()
    except FileNotFoundError:
        return ''


def wait_for(text, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if qemu.poll() is not None:
            sys.exit('qemu exited rc=%s' % qemu.returncode)
        if text in console_text():
            return time.time() - t0
        time.sleep(1)
    qemu.kill()
    sys.exit('timeout waiting for %r' % text)


while not os.path.exists(qmp_path):
    if qemu.poll() is not None:
        sys.exit('qemu exited rc=%s' % qemu.returncode)
    time.sleep(0.2)
time.sleep(0.5)
q = socket.socket(socket.AF_UNIX)
q.connect(qmp_path)
qf = q.makefile('rw')


def qmp(c, quiet=False, **args):
    msg = {'execute': c}
    if args:
        msg['arguments'] = args
    qmplog.write('> %s\n' % json.dumps(msg))
    qf.write(json.dumps(msg) + '\n')
    qf.flush()
    while True:
        r = json.loads(qf.readline())
        if 'return' in r or 'error' in r:
            qmplog.write('< %s\n' % json.dumps(r)[:4000])
            qmplog.flush()
            if not quiet:
                print('QMP', c, args.get('command-line', ''), '->', json.dumps(r)[:200], flush=True)
            return r
        qmplog.write('< event %s\n' % json.dumps(r))


def hmp(line):
    return qmp('human-monitor-command', quiet=True, **{'command-line': line}).get('return', '')


print(qf.readline().strip())
qmp('qmp_capabilities')
formats = qmp('query-dump-guest-memory-capability').get('return', {}).get('formats', [])
c = socket.socket(socket.AF_UNIX)
c.connect(cmd_path)


def drain():
    while True:
        try:
            if not c.recv(65536):
                return
        except OSError:
            return


threading.Thread(target=drain, daemon=True).start()

wait_for('KDI-READY', a.timeout)
la = ' '.join(open('/proc/loadavg').read().split()[:3])
print('KDI-READY after %.0fs (loadavg %s)' % (time.time() - t_start, la), flush=True)
with open(os.path.join(out, 'boot-time.txt'), 'w') as f:
    f.write('KDI-READY %.0f s after QEMU started (TCG), loadavg %s\n' % (time.time() - t_start, la))
time.sleep(3)


def dump(d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, 'cpu-registers.txt'), 'w') as f:
        f.write(hmp('info registers -a'))
    with open(os.path.join(d, 'query-cpus.json'), 'w') as f:
        json.dump(qmp('query-cpus-fast', quiet=True).get('return'), f, indent=1)
    t0 = time.time()
    qmp('dump-guest-memory', paging=False, protocol='file:' + os.path.join(d, 'vmcore.elf'), format='elf')
    print('  elf dump %.1fs' % (time.time() - t0), flush=True)
    # kdump-raw-zlib: the standard (diskdump) kdump-compressed file; kdump-zlib: QEMU
    # writes it in makedumpfile's *flattened* format (for a pipe)
    for fmt, name in (('kdump-raw-zlib', 'vmcore.kdump'), ('kdump-zlib', 'vmcore-flat.kdump')):
        if fmt in formats:
            t0 = time.time()
            qmp('dump-guest-memory', paging=False, protocol='file:' + os.path.join(d, name), format=fmt)
            print('  %s dump %.1fs' % (fmt, time.time() - t0), flush=True)


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

qmp('quit')
try:
    qemu.wait(timeout=60)
except subprocess.TimeoutExpired:
    qemu.kill()
if a.crash:
    # the crash directory gets the whole console; the first dump's console.log ends
    # where the console stood when that dump was taken
    full = open(log, 'rb').read()
    open(os.path.join(d2, 'console.log'), 'wb').write(full)
    open(log, 'wb').write(full[:console_len_at_dump])
print('done', flush=True)
