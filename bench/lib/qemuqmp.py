"""What the QEMU drivers of bench/ share (x86-corpus/boot-and-dump.py,
arm64-corpus/boot-and-dump.py, ppc64-build/boot-and-dump.py,
crash-dumps/boot-crash.py): starting QEMU, waiting for the guest's
console, the QMP monitor (commands, events, HMP through it, dumps), and
keeping the guest's serial socket drained.

Not installed anywhere: each script puts its own directory's sibling lib/
on sys.path (bench/lib/) and imports it. The scripts keep their own
command lines, QEMU arguments and messages; where the drivers printed or
logged QMP traffic differently, the QMP object is told which way.
"""
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
import time


def arg_parser():
    """the drivers' command line: --kernel, --initrd and --outdir (each
    driver adds its own options)"""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument('--kernel', required=True)
    ap.add_argument('--initrd', required=True)
    ap.add_argument('--outdir', required=True)
    return ap


def run_files(d, *names):
    """the paths of names (sockets, the console log) in the run directory d,
    what a previous run left of them removed"""
    paths = [os.path.join(d, n) for n in names]
    for p in paths:
        if os.path.exists(p):
            os.unlink(p)
    return paths


def kdi_serial_args(log, cmd_path, qmp_path):
    """the serial ports and QMP of the x86 and arm64 corpus guests: the first
    serial port is the console, straight into the file log (a socket
    chardev with logfile= duplicates characters in the log whenever the
    socket write returns EAGAIN and the UART retries them); the second takes
    commands for the guest's /init from the socket cmd_path; QMP on the
    socket qmp_path"""
    return ['-chardev', 'file,id=con,path=%s' % log, '-serial', 'chardev:con',
            '-chardev', 'socket,id=cmd,path=%s,server=on,wait=off' % cmd_path, '-serial', 'chardev:cmd',
            '-qmp', 'unix:%s,server=on,wait=off' % qmp_path]


def pseries_cmd(qemu, kernel, initrd, append, con_path, log, qmp_path):
    """the QEMU command of the ppc64 corpus (corpus-tools/boot-and-dump.py):
    pseries with the Spectre capabilities off (TCG has none), POWER9, 2 CPUs,
    1 GiB, pause on a guest panic; the console hvc0 on the socket con_path,
    logged to log; QMP on qmp_path"""
    return shlex.split(qemu) + ['-M', 'pseries,cap-cfpc=broken,cap-sbbc=broken,cap-ibs=broken,cap-ccf-assist=off', '-cpu', 'power9', '-smp', '2', '-m', '1G',
                                '-nodefaults', '-vga', 'none', '-action', 'panic=pause', '-display', 'none', '-monitor', 'none', '-no-reboot',
                                '-kernel', kernel, '-initrd', initrd, '-append', append,
                                '-chardev', 'socket,id=con,path=%s,server=on,wait=off,logfile=%s' % (con_path, log),
                                '-serial', 'chardev:con',
                                '-qmp', 'unix:%s,server=on,wait=off' % qmp_path]


def corpus_quoted(cmd):
    """a command as corpus-tools' qemu-cmdline.txt writes it: words with a
    space or a comma in single quotes, a newline at the end"""
    return ' '.join("'%s'" % c if (' ' in c or ',' in c) else c for c in cmd) + '\n'


def qemu_version(qemu):
    """the first line of `QEMU --version` (QEMU: the command, split as a shell would)"""
    return subprocess.run(shlex.split(qemu) + ['--version'], capture_output=True, text=True).stdout.splitlines()[0]


def record_cmdline(out, qemu, cmd):
    """write OUT/qemu-cmdline.txt ("# VERSION" and the shell-quoted command)
    and print both"""
    ver = qemu_version(qemu)
    with open(os.path.join(out, 'qemu-cmdline.txt'), 'w') as f:
        f.write('# %s\n' % ver)
        f.write(' '.join(shlex.quote(c) for c in cmd) + '\n')
    print(ver, flush=True)
    print(' '.join(shlex.quote(c) for c in cmd), flush=True)


def start(cmd, out):
    """start QEMU, its stdout and stderr into OUT/qemu-stdout.txt"""
    return subprocess.Popen(cmd, stdout=open(os.path.join(out, 'qemu-stdout.txt'), 'w'),
                            stderr=subprocess.STDOUT)


def console_text(log):
    """the console log so far ('' before QEMU made it)"""
    try:
        return open(log, errors='replace').read()
    except FileNotFoundError:
        return ''


def wait_for(qemu, log, text, timeout, start=0, interval=1, kill=False):
    """wait until text appears in the console log after offset start; return
    the offset just past it. Exits when QEMU does, or after timeout seconds
    (killing QEMU first if kill)."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if qemu.poll() is not None:
            sys.exit('qemu exited rc=%s' % qemu.returncode)
        i = console_text(log).find(text, start)
        if i >= 0:
            return i + len(text)
        time.sleep(interval)
    if kill:
        qemu.kill()
    sys.exit('timeout waiting for %r' % text)


def wait_socket(qemu, path):
    """wait until QEMU has made the socket at path (exits when QEMU does),
    then half a second more"""
    while not os.path.exists(path):
        if qemu.poll() is not None:
            sys.exit('qemu exited rc=%s' % qemu.returncode)
        time.sleep(0.2)
    time.sleep(0.5)


def connect(qemu, qmp_path, serial_path, **qmp_opts):
    """once QEMU has made its QMP socket: the QMP connection (QMP(qmp_path,
    **qmp_opts)) and the serial socket at serial_path, drained"""
    wait_socket(qemu, qmp_path)
    qmp = QMP(qmp_path, **qmp_opts)
    return qmp, drained(serial_path)


def drained(path):
    """connect to the serial socket at path and keep reading it in a thread
    (the guest's tty echo; the console itself is logged by QEMU); return the
    socket, for sending"""
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)

    def drain():
        while True:
            try:
                if not c.recv(65536):
                    return
            except OSError:
                return
    threading.Thread(target=drain, daemon=True).start()
    return c


class QMP:
    """a QMP connection: prints the greeting and enters command mode.

    log: a file that gets every command ("> "), reply ("< ", cut at
    log_width) and event ("< event "); printed: each reply of a command not
    quiet, as "QMP CMD [COMMAND-LINE] -> REPLY" (cut at width; the
    command-line argument of human-monitor-command only with
    show_cmdline), and with print_events each event ("QMP event", cut at
    200); events: a list that gets every event."""

    def __init__(self, path, log=None, log_width=2000, width=200, show_cmdline=True, print_events=False, events=None):
        self.log, self.log_width, self.width = log, log_width, width
        self.show_cmdline, self.print_events, self.events = show_cmdline, print_events, events
        q = socket.socket(socket.AF_UNIX)
        q.connect(path)
        self.f = q.makefile('rw')
        print(self.f.readline().strip())
        self('qmp_capabilities')

    def __call__(self, cmd, quiet=False, **args):
        msg = {'execute': cmd}
        if args:
            msg['arguments'] = args
        if self.log:
            self.log.write('> %s\n' % json.dumps(msg))
        self.f.write(json.dumps(msg) + '\n')
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'return' in r or 'error' in r:
                if self.log:
                    self.log.write('< %s\n' % json.dumps(r)[:self.log_width])
                    self.log.flush()
                if not quiet:
                    if self.show_cmdline:
                        print('QMP', cmd, args.get('command-line', ''), '->', json.dumps(r)[:self.width], flush=True)
                    else:
                        print('QMP', cmd, '->', json.dumps(r)[:self.width], flush=True)
                return r
            if self.log:
                self.log.write('< event %s\n' % json.dumps(r))
            if self.events is not None:
                self.events.append(r)
            if self.print_events:
                print('QMP event', json.dumps(r)[:200], flush=True)

    def hmp(self, line):
        """an HMP command through QMP; its output"""
        return self('human-monitor-command', quiet=True, **{'command-line': line}).get('return', '')

    def dump_formats(self):
        """the dump-guest-memory formats this QEMU writes"""
        return self('query-dump-guest-memory-capability').get('return', {}).get('formats', [])

    def dump(self, path, fmt, what):
        """dump-guest-memory (paging off) in format fmt to path; prints
        "WHAT dump SECONDSs" """
        t0 = time.time()
        self('dump-guest-memory', paging=False, protocol='file:' + path, format=fmt)
        print('%s dump %.1fs' % (what, time.time() - t0), flush=True)


def quit(qemu, qmp):
    """QMP quit; QEMU killed if it has not exited a minute later"""
    qmp('quit')
    try:
        qemu.wait(timeout=60)
    except subprocess.TimeoutExpired:
        qemu.kill()


def ready_time(out, t_start):
    """write OUT/boot-time.txt (seconds from QEMU's start to now, the load
    average); return (seconds, load average)"""
    la = ' '.join(open('/proc/loadavg').read().split()[:3])
    dt = time.time() - t_start
    with open(os.path.join(out, 'boot-time.txt'), 'w') as f:
        f.write('KDI-READY %.0f s after QEMU started (TCG), loadavg %s\n' % (dt, la))
    return dt, la
