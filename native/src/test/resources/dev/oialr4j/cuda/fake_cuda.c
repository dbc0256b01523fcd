/*
 * A stand-in for libcuda.so.1 with the few driver functions oialr4j binds, returning fixed answers.
 * FakeDriverTest compiles it and points -Doialr4j.cuda.library at it, so that the Java bindings
 * (signatures, out-parameters, 64-bit sizes, string returns) are exercised on machines without a GPU.
 * FAKE_CUDA_NO_DEVICE=1 in the environment makes it behave like a driver on a machine with no GPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>

static int no_device(void) { return getenv("FAKE_CUDA_NO_DEVICE") != NULL; }

int cuInit(unsigned int flags) {
    if (flags != 0) return 1;            /* CUDA_ERROR_INVALID_VALUE */
    return no_device() ? 100 : 0;        /* CUDA_ERROR_NO_DEVICE */
}
int cuDriverGetVersion(int* v) { *v = 13000; return 0; }
int cuDeviceGetCount(int* c) { *c = no_device() ? 0 : 2; return 0; }
int cuDeviceGet(int* d, int ordinal) {
    if (ordinal < 0 || ordinal >= 2) return 101; /* CUDA_ERROR_INVALID_DEVICE */
    *d = 10 + ordinal;
    return 0;
}
int cuDeviceGetName(char* name, int len, int dev) { snprintf(name, (size_t)len, "Fake GPU %d", dev); return 0; }
int cuDeviceGetAttribute(int* v, int attr, int dev) {
    if (dev < 10 || dev > 11) return 101;
    if (attr == 75) { *v = 9; return 0; }
    if (attr == 76) { *v = dev - 10; return 0; }
    return 1;
}
int cuDeviceTotalMem_v2(size_t* bytes, int dev) { *bytes = (size_t)80 << 30; (void)dev; return 0; }
int cuGetErrorName(int e, const char** s) {
    switch (e) {
        case 0: *s = "CUDA_SUCCESS"; return 0;
        case 1: *s = "CUDA_ERROR_INVALID_VALUE"; return 0;
        case 100: *s = "CUDA_ERROR_NO_DEVICE"; return 0;
        case 101: *s = "CUDA_ERROR_INVALID_DEVICE"; return 0;
        default: *s = NULL; return 1;
    }
}
