#!/usr/bin/env python3
"""example-truth.py TRUTH.json SUBJECT,... > testdata/example/arm64-livepatch/truth.json
   (and testdata/example/arm64-k64-va52 and arm64-k16-va52 from k64-va52-kaslr's and
   k16-va52-kaslr's truth.json)

Trims a livepatch dump's truth.json (make-truth.py: drgn 0.3.0 on the dump, checked
against the guest) to what the committed extract's tests read: the livepatch state
(klp_patches with every object and func, klp_ops with each func_stack,
klp_transition_patch), the guest's /sys/kernel/livepatch files, for each subject module
(and every module with enabled records) its struct module, MOD_TEXT, mod->arch.core
PLT counts and enabled ftrace records (ip,
symbol, flags, the words from ALIGN_DOWN(ip-12, 8) to ip+4, the CALL_OPS literal), the
vmlinux's enabled records, the total of enabled records, and the kprobes; the
layout (PAGESIZE, VA_BITS, TCR_EL1_T1SZ, KERNELPACMASK, KERNELOFFSET of VMCOREINFO),
/proc/modules (every module's text base) and drgn's page-table translations
(follow_phys(init_mm)) of the subject modules' memory regions."""
import json, os, sys

t = json.load(open(sys.argv[1]))
subjects = sys.argv[2].split(',')
d = t['dump']


def rec(r):
    return {k: r.get(k) for k in ('ip', 'sym', 'flags_decoded', 'words_at', 'words', 'literal', 'literal_sym', 'target', 'target_is')}


lp = d['livepatch']
out = {
    'source': 'bench/arm64-corpus/from-source/make-livepatch.sh %s: truth.json (drgn 0.3.0 on the ELF dump; checks_failed %s)' % (
        os.path.basename(os.path.dirname(os.path.abspath(sys.argv[1]))), t['checks_failed'] or 'none'),
    'vmcoreinfo': {k: d['vmcoreinfo'].get(k) for k in ('PAGESIZE', 'NUMBER(VA_BITS)', 'NUMBER(TCR_EL1_T1SZ)', 'NUMBER(KERNELPACMASK)', 'KERNELOFFSET')},
    'proc_modules': [{'name': m['name'], 'addr': m['addr']} for m in t['guest']['proc_modules']],
    'translations': [e for e in d['translations']['entries'] if 'pa' in e and e['what'].split(' ')[0] in subjects],
    'livepatch': {
        'patches': lp['patches'],
        'klp_ops': [{'klp_ops': o['klp_ops'], 'fops': o['fops'], 'fops_func': o['fops_func'],
                     'func_stack': [f['func'] for f in o['func_stack']]} for o in lp['klp_ops']],
        'klp_transition_patch': lp['klp_transition_patch'],
        'klp_target_state': lp['klp_target_state'],
    },
    'guest_livepatch': t['guest']['livepatch'],
    'modules': [],
    'vmlinux_enabled': [rec(r) for r in d['vmlinux_records'] if 'ENABLED' in r['flags_decoded']],
    'ftrace_records_enabled': d['ftrace_records_enabled'],
    'ftrace_list_ops': d['kernel']['symbols'].get('ftrace_list_ops'),
    'kprobes': [{k: p[k] for k in ('addr', 'sym', 'flags', 'opcode', 'word_at_addr')} for p in d['kprobes']],
}
for m in d['modules']:
    # the subjects, and every module with enabled records (KLP-FUNC is a
    # system rule: it checks every patched function)
    if m['name'] not in subjects and not any('ENABLED' in r['flags_decoded'] for r in m['ftrace_records']):
        continue
    out['modules'].append({
        'name': m['name'], 'struct_module': m['struct_module'], 'text': m['mem'][0]['base'],
        'plt_core': {k: m['arch']['core'][k] for k in ('plt_shndx', 'plt_num_entries', 'plt_max_entries')},
        'enabled': [rec(r) for r in m['ftrace_records'] if 'ENABLED' in r['flags_decoded']],
    })
json.dump(out, sys.stdout, indent=1)
print()
