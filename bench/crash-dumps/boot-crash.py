#!/usr/bin/env python3
"""Boot a corpus kernel under QEMU (pseries, TCG), drive the guest over its
console from a scenario file, and take dumps from the QEMU monitor (QMP).

usage: boot-crash.py --kernel VMLINUX --initrd INITRD --rundir DIR --outroot DIR
                     --scenario FILE [--append-extra 'k=v ...'] [--qemu CMD]

Adapted from /work/shared/corpus-tools/boot-and-dump.py (same machine, same
QMP dump calls). The guest /init (guest-init.sh) prints '=== CORPUS: READY ==='
and then evaluates each line it reads from the console. Scenario lines:

  run CMD             send CMD, wait until the guest has finished it
  dump CASE           stop the VM, dump to OUTROOT/CASE (vmcore.elf and the
                      kdump-zlib vmcore.kdump), copy console.log as it is now, cont
  crash CASE CMD      send CMD, wait for 'Kernel panic' on the console, let the
                      guest finish printing, stop, dump to OUTROOT/CASE
  sleep N             wait N seconds

Every CASE dir also gets qemu-cmdline.txt, crash-command.txt (crash only) and
steps.txt (the scenario lines run before its dump). The whole console of the
boot is RUNDIR/console.log.
"""
import argparse, json, os, shlex, shutil, socket, subprocess, sys, threading, time

ap = argparse.ArgumentParser()
ap.add_argument('--kernel', required=True)
ap.add_argument('--initrd', required=True)
ap.add_argument('--rundir', required=True)
ap.add_argument('--outroot', required=True)
ap.add_argument('--scenario', required=True)
ap.add_argument('--append-extra', default='')
ap.add_argument('--qemu', default=os.environ.get('QEMU', 'qemu-system-ppc64'))
ap.add_argument('--timeout', type=int, default=1800)
a = ap.parse_args()
rundir = os.path.abspath(a.rundir)
os.makedirs(rundir, exist_ok=True)
qmp_path = os.path.join(rundir, 'qmp.sock')
con_path = os.path.join(rundir, 'con.sock')
log = os.path.join(rundir, 'console.log')
for p in (qmp_path, con_path, log):
    if os.path.exists(p):
        os.unlink(p)
steps = []
for line in open(a.scenario):
    line = line.rstrip('\n')
    if line.strip() and not line.lstrip().startswith('#'):
        steps.append(line.strip())

# the corpus command line, plus oops=panic (sets panic_on_oops; 'panic_on_oops=1' is not a boot parameter) (and whatever the scenario adds)
append = 'console=hvc0 loglevel=5 panic=0 log_buf_len=16M oops=panic'
if a.append_extra:
    append += ' ' + a.append_extra
cmd = shlex.split(a.qemu) + ['-M', 'pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off', '-cpu', 'power9', '-smp', '2', '-m', '1G',
       '-nodefaults', '-vga', 'none', '-action', 'panic=pause', '-display', 'none', '-monitor', 'none', '-no-reboot',
       '-kernel', a.kernel, '-initrd', a.initrd, '-append', append,
       '-chardev', 'socket,id=con,path=%s,server=on,wait=off,logfile=%s' % (con_path, log),
       '-serial', 'chardev:con',
       '-qmp', 'unix:%s,server=on,wait=off' % qmp_path]
cmdline = ' '.join("'%s'" % c if (' ' in c or ',' in c) else c for c in cmd) + '\n'
open(os.path.join(rundir, 'qemu-cmdline.txt'), 'w').write(cmdline)
print(cmdline, flush=True)
qemu = subprocess.Popen(cmd, stdout=open(os.path.join(rundir, 'qemu-stdout.txt'), 'w'),
                        stderr=subprocess.STDOUT)
print('qemu pid', qemu.pid, flush=True)

def logtext():
    try:
        return open(log, errors='replace').read()
    except FileNotFoundError:
        return ''

def wait_for(text, timeout, start=0):
    """wait until text appears in the console log after offset start; return its end offset"""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if qemu.poll() is not None:
            sys.exit('qemu exited rc=%s' % qemu.returncode)
        i = logtext().find(text, start)
        if i >= 0:
            return i + len(text)
        time.sleep(1)
    sys.exit('timeout waiting for %r' % text)

while not os.path.exists(qmp_path):
    if qemu.poll() is not None:
        sys.exit('qemu exited rc=%s' % qemu.returncode)
    time.sleep(0.2)
time.sleep(0.5)
q = socket.socket(socket.AF_UNIX); q.connect(qmp_path)
qf = q.makefile('rw')
events = []
def qmp(cmd, **args):
    msg = {'execute': cmd}
    if args:
        msg['arguments'] = args
    qf.write(json.dumps(msg) + '\n'); qf.flush()
    while True:
        r = json.loads(qf.readline())
        if 'return' in r or 'error' in r:
            print('QMP', cmd, '->', json.dumps(r)[:300], flush=True)
            return r
        events.append(r)
        print('QMP event', json.dumps(r)[:200], flush=True)
print(qf.readline().strip())
qmp('qmp_capabilities')
c = socket.socket(socket.AF_UNIX); c.connect(con_path)   # keep the console socket open
def drain():    # keep reading the console socket (the output is captured by logfile=)
    while True:
        try:
            if not c.recv(65536):
                return
        except OSError:
            return
threading.Thread(target=drain, daemon=True).start()

t0 = time.time()
pos = wait_for('=== CORPUS: READY ===', a.timeout)
print('READY after %.0fs' % (time.time() - t0), flush=True)
time.sleep(3)

def send(line):
    c.sendall(line.encode() + b'\n')

def dump(case, crash_cmd=None, done=()):
    d = os.path.join(os.path.abspath(a.outroot), case)
    os.makedirs(d, exist_ok=True)
    qmp('stop')
    st = qmp('query-status')
    # a new dump: drop this case's old dumps and everything finalize.sh/check.sh derived from them
    for f in ('vmcore.elf', 'vmcore.kdump', 'vmcore.elf.zst', 'vmcore-vmcoreinfo.kdump', 'truth-drgn.json',
              'drgn.log', 'oops.txt', 'truth.txt', 'truth-guest.json', 'crash-command.txt'):
        if os.path.exists(os.path.join(d, f)):
            os.unlink(os.path.join(d, f))
    shutil.rmtree(os.path.join(d, 'check'), ignore_errors=True)
    t1 = time.time()
    qmp('dump-guest-memory', paging=False, protocol='file:' + os.path.join(d, 'vmcore.elf'), format='elf')
    print('elf dump %.1fs' % (time.time() - t1), flush=True)
    t1 = time.time()
    qmp('dump-guest-memory', paging=False, protocol='file:' + os.path.join(d, 'vmcore.kdump'), format='kdump-zlib')
    print('kdump dump %.1fs' % (time.time() - t1), flush=True)
    shutil.copyfile(log, os.path.join(d, 'console.log'))
    open(os.path.join(d, 'qemu-cmdline.txt'), 'w').write(cmdline)
    open(os.path.join(d, 'qemu-status.txt'), 'w').write(json.dumps(st.get('return')) + '\n' +
        ''.join(json.dumps(e) + '\n' for e in events))
    open(os.path.join(d, 'steps.txt'), 'w').write(''.join(s + '\n' for s in done))
    if crash_cmd is not None:
        open(os.path.join(d, 'crash-command.txt'), 'w').write(crash_cmd + '\n')
    return st.get('return', {}).get('status')

done = []
n = 0
for s in steps:
    verb, _, rest = s.partition(' ')
    print('STEP', s, flush=True)
    if verb == 'run':
        n += 1
        start = len(logtext())
        # the marker is printed by echo, so the echoed command line itself does not match it
        send('%s; echo "=== CRASHDUMP: STEP" %d "DONE ==="' % (rest, n))
        pos = wait_for('=== CRASHDUMP: STEP %d DONE ===' % n, 600, start)
    elif verb == 'sleep':
        time.sleep(float(rest))
    elif verb == 'dump':
        status = dump(rest.strip(), done=done)
        qmp('cont')
    elif verb == 'crash':
        case, _, ccmd = rest.partition(' ')
        start = len(logtext())
        send(ccmd)
        try:
            wait_for('Kernel panic', 300, start)
        except SystemExit as e:
            print('panic wait:', e, flush=True)
        time.sleep(10)           # let the panicking CPU finish printing
        dump(case, crash_cmd=ccmd, done=done)
        done.append(s)
        break                    # the guest is dead
    else:
        sys.exit('bad scenario line: ' + s)
    done.append(s)
qmp('quit')
qemu.wait(timeout=60)
print('done', flush=True)
