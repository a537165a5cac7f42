# modarch_common.mk: included by the extmod Makefiles of bench/ppc64-build and
# bench/arm64-corpus (a link to this file): modarch_dump's feature detection
# from the kernel's source tree for what modarch_common.h reads
ifneq ($(shell grep -s 'unsigned long address;' $(srctree)/kernel/module/sysfs.c),)
CFLAGS_modarch_dump.o += -DMODARCH_SECT_ATTR_ADDRESS
endif
ifneq ($(shell grep -s 'bool is_rox;' $(srctree)/include/linux/module.h),)
CFLAGS_modarch_dump.o += -DMODARCH_HAVE_IS_ROX
endif
