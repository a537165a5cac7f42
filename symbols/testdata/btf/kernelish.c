/* Kernel-shaped types for the BTF fixtures (make.sh compiles this for
 * ppc64 little- and big-endian, and pahole encodes BTF from the DWARF):
 * every kind GCC's DWARF gives pahole, bitfields of the shapes struct
 * printk_info and struct page use, enums of both signs and 64 bits,
 * flexible arrays at the end and inside a union, anonymous members,
 * a forward-declared struct and union, a per-CPU variable (VAR, DATASEC),
 * and struct btf_module / struct btf as kernel/bpf/btf.c (7.2.13) defines
 * them, for the in-memory BTF reader's tests (kernel/btf_test.go). */
#include <stdarg.h>

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long s64;
typedef _Bool bool;

struct list_head { struct list_head *next, *prev; };
struct hlist_node { struct hlist_node *next, **pprev; };

struct opaque;            /* never defined: FWD */
union opaque_u;           /* never defined: FWD with kind_flag */

enum mod_mem_type { MOD_TEXT = 0, MOD_DATA, MOD_RODATA, MOD_RO_AFTER_INIT, MOD_MEM_NUM_TYPES };
enum signed_e { NEG = -2, ZERO = 0, POS = 7 };
enum unsigned_e { BIG = 0xffffffffu, SMALL = 1 };
enum wide_e { WIDE = 0x123456789aLL, WIDENEG = -0x100000000LL };
enum __attribute__((packed)) tiny_e { T0, T1, T2 };

struct printk_info {
	u64 seq;
	u64 ts_nsec;
	u16 text_len;
	u8 facility;
	u8 flags:5;
	u8 level:3;
	u32 caller_id;
};

struct bits {
	unsigned int a:1;
	int b:7;
	unsigned long long wide:40;
	unsigned int cross:12;     /* straddles a byte boundary */
	signed char c;
	unsigned short s:9;
	bool flag:1;
	enum mod_mem_type kind:4;  /* an enum bitfield */
};

struct page_like {
	unsigned long flags;
	union {
		struct {
			struct list_head lru;
			void *mapping;
			unsigned long index;
		};
		struct {
			unsigned long compound_head;
			unsigned char compound_order;
		};
		struct {
			unsigned long _pad;
			union { unsigned long x; void *p; } inner;
		};
	};
	union { int _mapcount; unsigned int page_type; };
	int _refcount;
};

struct flex_tail {
	u32 n;
	u64 items[];               /* trailing flexible array */
};

struct flex_union {
	u32 kind;
	union {
		struct { u32 pad; u8 raw[]; };
		u64 words[4];
	};
};

typedef struct { int counter; } atomic_t;
typedef const volatile atomic_t cv_atomic_t;

struct ops {
	int (*open)(struct opaque *, const char *restrict, ...);
	void (*release)(union opaque_u *);
	long (*ioctl)(void *, unsigned int, unsigned long);
	struct ops *(*self)(const struct ops *);
};

struct module_memory { void *base; unsigned int size; };

struct module_like {
	int state;
	struct list_head list;
	char name[56];
	struct module_memory mem[MOD_MEM_NUM_TYPES];
	u64 matrix[2][3];
	const struct ops *ops;
	struct opaque *opaque;
	union opaque_u *opaque_u;
	cv_atomic_t refcnt;
	struct bits bits;
	struct printk_info info;
	struct page_like page;
	struct flex_tail *tail;
	struct flex_union fu;
	enum signed_e se;
	enum unsigned_e ue;
	enum wide_e we;
	enum tiny_e te;
	float f;
	double d;
	long double ld;
	__int128 i128;
	unsigned __int128 u128;
	char c;
	signed char sc;
	unsigned char uc;
	volatile int *volatile vp;
	struct hlist_node hnode;
	void (*cb)(void);
};

/* kernel/bpf/btf.c, include/uapi/linux/btf.h, 7.2.13 */
struct btf_header {
	u16 magic;
	u8 version;
	u8 flags;
	u32 hdr_len;
	u32 type_off, type_len, str_off, str_len, layout_off, layout_len;
};
typedef struct { atomic_t refs; } refcount_t;
struct rcu_head { struct rcu_head *next; void (*func)(struct rcu_head *); };
struct btf_type;
struct btf_kfunc_set_tab;
struct btf_id_dtor_kfunc_tab;
struct btf_struct_metas;
struct btf_struct_ops_tab;
struct btf_layout;
struct bin_attribute;
struct module;
struct btf {
	void *data;
	struct btf_type **types;
	u32 *resolved_ids;
	u32 *resolved_sizes;
	const char *strings;
	void *nohdr_data;
	struct btf_header hdr;
	u32 nr_types;
	u32 named_start_id;
	u32 types_size;
	u32 data_size;
	refcount_t refcnt;
	u32 id;
	struct rcu_head rcu;
	struct btf_kfunc_set_tab *kfunc_set_tab;
	struct btf_id_dtor_kfunc_tab *dtor_kfunc_tab;
	struct btf_struct_metas *struct_meta_tab;
	struct btf_struct_ops_tab *struct_ops_tab;
	struct btf_layout *layout;
	struct btf *base_btf;
	u32 start_id;
	u32 start_str_off;
	char name[56];
	bool kernel_btf;
	u32 *base_id_map;
};
struct btf_module {
	struct list_head list;
	struct module *module;
	struct btf *btf;
	struct bin_attribute *sysfs_attr;
	int flags;
};
struct btf_module kernelish_btf_module;

__attribute__((section(".data..percpu"))) struct module_like percpu_mod;
__attribute__((section(".data..percpu"))) unsigned long percpu_counter;
struct module_like global_mod;

int kernelish_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	va_end(ap);
	return fmt[0];
}

long kernelish_use(struct module_like *m, struct ops *o, enum mod_mem_type t)
{
	return (long)m->mem[t].base + (long)o + global_mod.bits.wide + percpu_counter + percpu_mod.state;
}
