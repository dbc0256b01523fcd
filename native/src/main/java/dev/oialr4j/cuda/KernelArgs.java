package dev.oialr4j.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The {@code kernelParams} array of {@code cuLaunchKernel}, reused for every launch: {@code cuLaunchKernel}
 * takes a {@code void*[]} whose entry k points at the value of argument k, and copies the values before
 * it returns, so one buffer serves all launches of a thread. Each argument gets an 8-byte slot (a device
 * pointer, a 64-bit integer, or a 4-byte int or float at the start of its slot, which is where the driver
 * reads it: it copies as many bytes as the kernel's parameter declares, from the pointed-to address).
 *
 * <p>Not thread-safe: owned by one {@link CudaBackend}, whose launches are serialised.
 */
final class KernelArgs {

    static final int MAX_ARGS = 24;

    private final MemorySegment values;
    private final MemorySegment pointers;
    private int count;

    KernelArgs(Arena arena) {
        values = arena.allocate(8L * MAX_ARGS, 16);
        pointers = arena.allocate(ADDRESS.byteSize() * MAX_ARGS, 16);
        for (int k = 0; k < MAX_ARGS; k++) {
            pointers.setAtIndex(ADDRESS, k, values.asSlice(8L * k, 8));
        }
    }

    /** Starts a new argument list. */
    KernelArgs reset() {
        count = 0;
        return this;
    }

    private long slot() {
        if (count == MAX_ARGS) {
            throw new IllegalStateException("more than " + MAX_ARGS + " kernel arguments");
        }
        long off = 8L * count++;
        values.set(JAVA_LONG, off, 0L);
        return off;
    }

    /** A device pointer ({@code float*}, {@code int*}, ...); 0 for a null pointer. */
    KernelArgs ptr(long devicePointer) {
        values.set(JAVA_LONG, slot(), devicePointer);
        return this;
    }

    KernelArgs i32(int v) {
        values.set(JAVA_INT, slot(), v);
        return this;
    }

    /** A {@code long long} or {@code unsigned long long}. */
    KernelArgs i64(long v) {
        values.set(JAVA_LONG, slot(), v);
        return this;
    }

    KernelArgs f32(float v) {
        values.set(JAVA_FLOAT, slot(), v);
        return this;
    }

    int count() {
        return count;
    }

    MemorySegment array() {
        return pointers;
    }
}
