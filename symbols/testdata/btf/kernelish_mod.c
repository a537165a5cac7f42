/* A module's own types over kernelish.c's (make.sh encodes its BTF split
 * over kernelish-{le,be}.btf, as a module's .BTF is split over vmlinux's):
 * struct list_head and u32 come from the base, struct mod_private is the
 * module's. */
typedef unsigned int u32;
struct list_head { struct list_head *next, *prev; };

struct mod_private {
	struct list_head node;
	u32 count;
	u32 flags:3;
	u32 mode:5;
	const char *label;
};

struct mod_private kernelish_mod_state;

u32 kernelish_mod_count(struct mod_private *p)
{
	return p->count + p->flags;
}
