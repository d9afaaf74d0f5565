/* Route atheris' coverage callbacks to its own libFuzzer when gcc's ASan runtime is preloaded.
 *
 * gcc builds the sanitized extension, so libasan must be preloaded into Python; libasan defines
 * weak no-op versions of libFuzzer's coverage entry points, and being first in the search
 * order it would receive atheris' calls: the fuzzer would run blind (no cov, no ft, every seed
 * "redundant"). Preloaded ahead of libasan, these definitions forward each call to the libFuzzer
 * inside atheris' core module, whose path run.py passes in FASTVRRP_ATHERIS_CORE. (clang users
 * preload atheris' asan_with_fuzzer.so instead; gcc has no such library.)
 *
 * The forwarders are tail calls (built with -O2), so libFuzzer still sees atheris' return
 * address where it records the caller of a comparison.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* The libFuzzer definition of `name`, or NULL until atheris has loaded its core: libasan's
 * memcmp interceptor calls the memcmp hook from the first moments of the process. */
static void *resolve(const char *name)
{
    static void *core;
    const char *path = getenv("FASTVRRP_ATHERIS_CORE");

    if (core == NULL && path != NULL)
        core = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    return core != NULL ? dlsym(core, name) : NULL;
}

#define FORWARD(name, params, args)                                     \
    void name params                                                    \
    {                                                                   \
        static void(*target) params;                                    \
        if (target == NULL)                                             \
            target = (void(*) params)resolve(#name);                    \
        if (target != NULL)                                             \
            target args;                                                \
    }

FORWARD(__sanitizer_cov_8bit_counters_init, (uint8_t *start, uint8_t *stop), (start, stop))
FORWARD(__sanitizer_cov_pcs_init, (const uintptr_t *begin, const uintptr_t *end), (begin, end))
FORWARD(__sanitizer_cov_trace_cmp8, (uint64_t a, uint64_t b), (a, b))
FORWARD(__sanitizer_cov_trace_const_cmp8, (uint64_t a, uint64_t b), (a, b))
FORWARD(__sanitizer_weak_hook_memcmp,
        (void *caller, const void *s1, const void *s2, size_t n, int result),
        (caller, s1, s2, n, result))
