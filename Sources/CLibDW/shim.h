#include <elfutils/libdwfl.h>
#include <elfutils/libdw.h>
#include <gelf.h>
#include <dwarf.h>
