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
import argparse, json, os, shutil, sys, time

# the shared QEMU/QMP helpers: bench/lib beside this script's directory
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
import qemuqmp  # noqa: E402

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
qmp_path, con_path, log = qemuqmp.run_files(rundir, 'qmp.sock', 'con.sock', 'console.log')
steps = []
for line in open(a.scenario):
    line = line.rstrip('\n')
    if line.strip() and not line.lstrip().startswith('#'):
        steps.append(line.strip())

# the corpus command line, plus oops=panic (sets panic_on_oops; 'panic_on_oops=1' is not a boot parameter) (and whatever the scenario adds)
append = 'console=hvc0 loglevel=5 panic=0 log_buf_len=16M oops=panic'
if a.append_extra:
    append += ' ' + a.append_extra
cmd = qemuqmp.pseries_cmd(a.qemu, a.kernel, a.initrd, append, con_path, log, qmp_path)
cmdline = qemuqmp.corpus_quoted(cmd)
open(os.path.join(rundir, 'qemu-cmdline.txt'), 'w').write(cmdline)
print(cmdline, flush=True)
qemu = qemuqmp.start(cmd, rundir)
print('qemu pid', qemu.pid, flush=True)

def logtext():
    return qemuqmp.console_text(log)


def wait_for(text, timeout, start=0):
    """wait until text appears in the console log after offset start; return its end offset"""
    return qemuqmp.wait_for(qemu, log, text, timeout, start)


events = []
# c: the console socket, kept open (the output is captured by logfile=)
qmp, c = qemuqmp.connect(qemu, qmp_path, con_path, width=300, show_cmdline=False, print_events=True, events=events)

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
    qmp.dump(os.path.join(d, 'vmcore.elf'), 'elf', 'elf')
    qmp.dump(os.path.join(d, 'vmcore.kdump'), 'kdump-zlib', 'kdump')
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
qemuqmp.quit(qemu, qmp)
print('done', flush=True)
