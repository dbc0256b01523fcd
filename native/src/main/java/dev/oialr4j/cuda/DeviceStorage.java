package dev.oialr4j.cuda;

import dev.oialr4j.tensor.Device;
import dev.oialr4j.tensor.Storage;
import java.lang.ref.Cleaner;

/**
 * Float32 device memory behind a tensor of the {@link CudaBackend}. The block comes from the backend's
 * {@link CachingAllocator} and goes back to it when this storage becomes unreachable (a
 * {@link Cleaner} action, which does not reference the storage). Host code never reads it directly:
 * {@code Backend.toHost} copies it out.
 */
public final class DeviceStorage implements Storage {

    private static final Cleaner CLEANER = Cleaner.create();

    private final CudaBackend owner;
    private final long address;
    private final int length;

    private record Release(CachingAllocator allocator, long address, long sizeClass) implements Runnable {
        @Override
        public void run() {
            allocator.release(address, sizeClass);
        }
    }

    DeviceStorage(CudaBackend owner, CachingAllocator allocator, int length) {
        this.owner = owner;
        this.length = length;
        long bytes = 4L * Math.max(1, length);
        this.address = allocator.allocate(bytes);
        CLEANER.register(this, new Release(allocator, address, CachingAllocator.sizeClass(bytes)));
    }

    @Override
    public Device device() {
        return owner.device();
    }

    @Override
    public int length() {
        return length;
    }

    /** The device address of element 0. */
    public long address() {
        return address;
    }

    CudaBackend owner() {
        return owner;
    }

    @Override
    public String toString() {
        return "DeviceStorage[" + length + " floats @0x" + Long.toHexString(address) + " on " + device() + "]";
    }
}
